#!/usr/bin/env bash
# Real-size runs: every command on random-weight checkpoints of the three paper models (made by `mha2mla init` from the
# hub configs bundled with the project), each under /usr/bin/time -v; prints one line per step with the wall time,
# the peak resident set (RSS, anonymous + file-mapped pages) and the command's own figures. Usage:
#   benchmarks/scale/run.sh [MODELS_DIR] [qwen|next|llava ...]      (default /work/models, all three)
# Needs ~17 GB of disk per model folder plus one converted folder at a time (deleted after its runs).
set -uo pipefail
cd "$(dirname "$0")/../.."
MODELS=${1:-/work/models}; shift || true
WHICH=${*:-qwen next llava}
OUT=target/scale; mkdir -p "$OUT"
[ -f cli/target/mha2mla-cli.jar ] || mvn -q -o -DskipTests package
CP="cli/target/mha2mla-cli.jar"
DATA="$OUT/data"
[ -f "$DATA/calibration.json" ] || java -cp "$CP" benchmarks/scale/ScaleData.java "$DATA"
IMAGE=$(ls "$DATA"/images/* | head -1)
export MHA2MLA_JAVA_OPTS="${MHA2MLA_JAVA_OPTS:--Xmx6g}"
# the launcher's environment (./mha2mla, whose comments say why) for the harnesses run by java directly
LAUNCHER_ENV="OMP_WAIT_POLICY=PASSIVE GLIBC_TUNABLES=glibc.malloc.hugetlb=1 OPENBLAS_THREAD_TIMEOUT=4"

step() {   # step NAME LOGFILE -- command...: runs it under /usr/bin/time -v and prints wall, peak RSS and the tail
  local name=$1 log=$2; shift 3
  /usr/bin/time -v "$@" > "$log" 2>&1; local rc=$?
  local wall rss
  wall=$(grep "Elapsed (wall clock)" "$log" | awk '{print $NF}')
  rss=$(grep "Maximum resident set size" "$log" | awk '{printf "%.1f GB", $NF/1048576}')
  printf '%-28s rc %d  wall %-9s peak RSS %-8s | %s\n' "$name" "$rc" "$wall" "$rss" "$(grep -v '^\s' "$log" | grep -E "$FIGURES" | tail -2 | tr '\n' ' ')"
}
FIGURES='MD-SVD|tokens/s|prefill|decode|vision|parameters|KV cache|calibration layer pass|s:|update|results|accuracy|samples/s|ms'

for m in $WHICH; do
  case $m in
    qwen)  DIR=$MODELS/qwen2.5-vl-7b-instruct; DKV=64; SVD="896 3584 256 257 2064"; PROMPT=282 ;;
    next)  DIR=$MODELS/llama3-llava-next-8b;   DKV=32; SVD="1792 4096 256 34 2928"; PROMPT=2959 ;;
    llava) DIR=$MODELS/llava-1.5-7b;           DKV=16; SVD="7168 4096 512 304 4608"; PROMPT=607 ;;
  esac
  [ -d "$DIR" ] || { echo "$DIR missing: ./mha2mla init --config <name> --out $DIR"; continue; }
  echo "== $m ($DIR), $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GB, load $(cut -d' ' -f1-3 /proc/loadavg)"
  step "inspect" "$OUT/$m-inspect.log" -- ./mha2mla inspect "$DIR"
  step "generate 448² image, 16 tok" "$OUT/$m-generate.log" -- ./mha2mla generate --model "$DIR" --image "$IMAGE" \
      --prompt "What shapes are in the image?" --max-new-tokens 16
  step "decode step alone" "$OUT/$m-decode-step.log" -- env $LAUNCHER_ENV \
      java --add-modules jdk.incubator.vector $MHA2MLA_JAVA_OPTS -cp "$CP" benchmarks/scale/DecodeStep.java "$DIR"
  # the decoder's prefill of the generate prompt's length alone, each layer's wall time (random hidden states)
  step "prefill layer by layer" "$OUT/$m-prefill-layers.log" -- env $LAUNCHER_ENV \
      java --add-modules jdk.incubator.vector $MHA2MLA_JAVA_OPTS -cp "$CP" benchmarks/scale/PrefillLayers.java "$DIR" $PROMPT
  # MD-SVD of one layer at this model's shape (W [rows, d], rank n_kv·d_kv, its calibration's token counts), alone
  step "MD-SVD of one layer" "$OUT/$m-mdsvd.log" -- java $MHA2MLA_JAVA_OPTS -cp "$CP" benchmarks/scale/MdSvdLayer.java $SVD
  # beside it, the authors' float32 Alg. 1 in PyTorch on the same shapes (needs python3-torch; see ../shared/bench)
  [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import torch' 2>/dev/null && step "MD-SVD, PyTorch anchor" \
      "$OUT/$m-mdsvd-torch.log" -- /usr/bin/python3 benchmarks/scale/anchor_mdsvd_torch.py $SVD 2
  for s in 2norm mkl; do
    rm -rf "$OUT/$m-mla-$s"
    step "convert all $s d_kv $DKV" "$OUT/$m-convert-$s.log" -- ./mha2mla convert --model "$DIR" --out "$OUT/$m-mla-$s" \
        --step all --strategy $s --d-kv $DKV --calib "$DATA/calibration.json" --calib-samples 8 --no-progress
    [ $s = 2norm ] && rm -rf "$OUT/$m-mla-2norm"
  done
  rm -rf "$OUT/$m-s2"
  # train writes a whole model folder beside the converted one: refuse to start without room for it
  need=$(du -sk "$OUT/$m-mla-mkl" 2>/dev/null | awk '{print $1 + 1048576}')
  free=$(df -k --output=avail "$OUT" | tail -1)
  if [ -n "$need" ] && [ "$free" -gt "$need" ]; then
    step "train --stage 2 --steps 2" "$OUT/$m-train.log" -- ./mha2mla train --stage 2 --model "$OUT/$m-mla-mkl" \
        --data "$DATA/train.json" --out "$OUT/$m-s2" --steps 2 --batch 1 --no-progress
  else
    echo "train --stage 2 --steps 2      skipped: $((free / 1048576)) GB free, the output needs $((${need:-0} / 1048576)) GB"
  fi
  rm -rf "$OUT/$m-s2" "$OUT/$m-eval"
  step "eval --limit 2" "$OUT/$m-eval.log" -- ./mha2mla eval --model "$DIR" --tasks synthetic_shapes --data-root "$DATA" \
      --limit 2 --out "$OUT/$m-eval"
  rm -rf "$OUT/$m-mla-mkl" "$OUT/$m-eval"
done
