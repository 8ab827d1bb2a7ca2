#!/usr/bin/env bash
# eval and convert on one process vs Spark local[2] (two executor task slots in one JVM), wall time of each command as a
# user runs it (JVM and Spark start-up included), with the machine's load average beside every figure.
#   mvn -q -DskipTests package && benchmarks/spark/run.sh [DOCS] [SAMPLES]
# 1. eval: DOCS (default 24) POPE-schema docs over the llava fixture's image, 16 new tokens each;
# 2. convert --step all --d-kv 16: SAMPLES (default 8) calibration records (2 in 3 with a 336x336 image: 576 image
#    tokens) on a random LLaVA of 4 decoder layers, d 1024, 16 heads (llava-mid.json, written by `mha2mla init`).
# Single-process runs use ND4J's default threads (one per core); local[2] runs give each task one (OMP_NUM_THREADS=1).
set -euo pipefail
# Transparent huge pages for ND4J's large allocations, as the mha2mla launcher sets them (see its comment).
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
docs=${1:-24}
samples=${2:-8}
work="$root/benchmarks/spark/target"
rm -rf "$work" && mkdir -p "$work"
fixture="$root/test-fixtures/src/main/resources/hf/llava"
# POPE docs over the fixture's image; calibration records with it resized to the mid model's 336x336 input
java -cp "$root/spark/target/lib/*" spark/src/test/scripts/PopeData.java "$work/data" "$fixture/image0.png" "$docs" 0 > /dev/null
java -cp "$root/spark/target/lib/*" spark/src/test/scripts/PopeData.java "$work/calib" "$fixture/image0.png" 1 "$samples" 336 > /dev/null
./mha2mla init --config benchmarks/spark/llava-mid.json --out "$work/llava-mid" --dtype f32 --no-progress > "$work/init.log" 2>&1
grep -h "^wrote" "$work/init.log"

results="$work/results.md"
echo "| run | wall s | load before (1 min) | load after (1 min) |" > "$results"
echo "|---|---:|---:|---:|" >> "$results"
timed() {   # timed LABEL LOG command...
  local label=$1 log=$2
  shift 2
  local before after t0 t1
  before=$(cut -d' ' -f1 /proc/loadavg)
  t0=$(date +%s.%N)
  "$@" > "$work/$log" 2>&1 || { tail -20 "$work/$log" >&2; exit 1; }
  t1=$(date +%s.%N)
  after=$(cut -d' ' -f1 /proc/loadavg)
  printf '| %s | %.1f | %s | %s |\n' "$label" "$(echo "$t1 - $t0" | bc)" "$before" "$after" | tee -a "$results"
}
cat "$results"

eval_args=(--model "$fixture" --tasks pope --data-root "$work/data" --max-new-tokens 16 --no-progress)
timed "eval, $docs docs, one process" eval-one.log ./mha2mla eval "${eval_args[@]}" --out "$work/eval-one"
OMP_NUM_THREADS=1 timed "eval, $docs docs, --spark local[2]" eval-spark.log \
  ./mha2mla eval "${eval_args[@]}" --out "$work/eval-spark" --spark 'local[2]'

convert_args=(--model "$work/llava-mid" --d-kv 16 --calib "$work/calib/calib.json" --calib-samples "$samples" --no-progress)
timed "convert, $samples samples, one process" convert-one.log ./mha2mla convert "${convert_args[@]}" --out "$work/convert-one"
OMP_NUM_THREADS=1 timed "convert, $samples samples, --spark local[2]" convert-spark.log \
  ./mha2mla convert "${convert_args[@]}" --out "$work/convert-spark" --spark 'local[2]'

echo
grep -h "^[0-9.]* s: " "$work/convert-one.log" "$work/convert-spark.log" | sed 's/^/convert phases: /'
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
ea, eb = (json.load(open(f"{w}/{d}/results.json"))["results"] for d in ("eval-one", "eval-spark"))
print("eval: results.json scores", "equal" if ea == eb else "DIFFERENT")
a, b = (json.load(open(f"{w}/{d}/conversion_report.json")) for d in ("convert-one", "convert-spark"))
same = all(x["kept_pairs"] == y["kept_pairs"] for x, y in zip(a["layers"], b["layers"]))
worst = max(abs(x["split_loss"] - y["split_loss"]) / abs(x["split_loss"]) for x, y in zip(a["layers"], b["layers"]))
print(f"convert: kept pairs {'identical' if same else 'DIFFERENT'}, MD-SVD losses within {worst:.1e} relative "
      "(the runs use different ND4J thread counts: float32 activations differ in the last bits)")
PY
echo "uptime at the end: $(uptime)"
