#!/usr/bin/env bash
# Training tokens/s of the PEFT stages against PyTorch on the same machine, in one run (see TrainerBenchmark.java and
# README.md). Run from anywhere:
#   benchmarks/trainer/run.sh                          # stages 1 and 2, both gradient sources, batch 1 and 4, + anchors
#   benchmarks/trainer/run.sh --batch 1 --sources graph --stages 1
# The anchors (PyTorch CPU, 2 threads, the default shape only; the scripts beside this one) need /usr/bin/python3 with torch; set ANCHOR=0 to skip them.
# Both sides run under the same OMP_WAIT_POLICY (PASSIVE unless set): on a shared machine torch's default spinning
# made its updates up to 6x slower (README.md). Each anchor runs twice: the lm_head over every position (HF's loss) and
# over the supervised positions only (the project's arithmetic, MaskedCrossEntropy); the table gives both ratios.
# The project's side times 12 updates after 20 warm-up ones (its first updates run before the JIT has compiled
# SameDiff's session code, which takes the first ≈ 20 updates of a run; README.md, "Steady state"), the anchors as
# many after their one warm-up update.
set -euo pipefail
# Transparent huge pages for ND4J's large allocations, as the mha2mla launcher sets them (see its comment).
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
cd "$(dirname "$0")/../.."
mvn -o -q -pl trainer -am compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
CP="trainer/target/classes:samediff-layers/target/classes:importers/target/classes:core/target/classes:$(cat trainer/target/classpath.txt)"
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
java --add-modules jdk.incubator.vector ${JAVA_OPTS:-} -Xmx8g -Dorg.bytedeco.javacpp.maxbytes=12G -cp "$CP" \
    benchmarks/trainer/TrainerBenchmark.java "$@" 2>&1 | grep -v "^WARNING: Using incubator" | tee "$OUT"

BATCHES=$(grep '^RESULT' "$OUT" | awk '{print $4}' | sort -un | tr '\n' ' ')
SEQ=256
STEPS=12   # TrainerBenchmark's default; the anchors time as many updates (after their one warm-up update)
for ((i = 1; i <= $#; i++)); do
    [ "${!i}" = "--seq" ] && { j=$((i + 1)); SEQ=${!j}; }
    [ "${!i}" = "--steps" ] && { j=$((i + 1)); STEPS=${!j}; }
done
[ "${ANCHOR:-1}" = "0" ] && exit 0
echo
echo "PyTorch anchors (same machine, right after; $(nproc) cores, OMP_WAIT_POLICY=$OMP_WAIT_POLICY, load $(cut -d' ' -f1-3 /proc/loadavg)):"
declare -A TORCH TORCH_SUP
for b in $BATCHES; do
    for stage in 1 2; do
        if [ "$stage" = 1 ]; then script=benchmarks/trainer/anchor_train_torch.py; else script=benchmarks/trainer/anchor_train_mla_torch.py; fi
        line=$(/usr/bin/python3 "$script" "$b" "$SEQ" "$STEPS" all)
        echo "  $line"
        TORCH[$stage,$b]=$(echo "$line" | sed -E 's/.* ([0-9.]+) tokens\/s/\1/')
        line=$(/usr/bin/python3 "$script" "$b" "$SEQ" "$STEPS" supervised)
        echo "  $line"
        TORCH_SUP[$stage,$b]=$(echo "$line" | sed -E 's/.* ([0-9.]+) tokens\/s/\1/')
    done
done
echo "load after the anchors: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '%-6s %-8s %6s %10s %16s %6s %16s %6s\n' stage source batch "tokens/s" "torch, all rows" ratio "torch, sup. rows" ratio
ratio() { if [ -n "$2" ]; then awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; else echo "-"; fi; }
grep '^RESULT' "$OUT" | while read -r _ stage source batch ms tps; do
    t=${TORCH[$stage,$batch]:-}
    u=${TORCH_SUP[$stage,$batch]:-}
    printf '%-6s %-8s %6s %10s %16s %6s %16s %6s\n' "$stage" "$source" "$batch" "$tps" "${t:--}" "$(ratio "$tps" "$t")" "${u:--}" "$(ratio "$tps" "$u")"
done
