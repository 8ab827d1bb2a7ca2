#!/usr/bin/env bash
# Decode steps/s of a Qwen2.5-VL-7B-shaped layer, GQA vs absorbed MLA, beside the PyTorch anchor run in the same script
# (see MlaDecodeBenchmark.java and README.md). Run from anywhere:
#   benchmarks/mla-decode/run.sh                                   # batch 1 (1K/4K/16K/32K) and batch 16 (1K/4K/16K)
#   benchmarks/mla-decode/run.sh --batch 16 --context 16384 --steps 3   # one configuration, no anchor
#   benchmarks/mla-decode/run.sh --prefill 512 --steps 5        # the layer's prefill only, no anchor
# The default run ends with the prefill of 512 tokens through the layer, beside anchor_prefill_torch.py (this folder).
# ANCHOR=path/to/anchor_decode_torch.py (default benchmarks/mla-decode/anchor_decode_torch.py); NO_ANCHOR=1 skips it.
set -euo pipefail
# Transparent huge pages for ND4J's large allocations, as the mha2mla launcher sets them (see its comment).
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}"
# OpenBLAS's workers asleep right after each product, as the launcher sets them: the prefill's graph runs its large
# products on oneDNN's OpenMP threads, and a worker spinning on sched_yield between OpenBLAS's products (attention's)
# holds the core they need (benchmarks/trainer/README.md, "One OpenBLAS thread beside oneDNN's"). The decode step
# does not use OpenBLAS.
export OPENBLAS_THREAD_TIMEOUT="${OPENBLAS_THREAD_TIMEOUT:-4}"
cd "$(dirname "$0")/../.."
mvn -o -q -pl samediff-layers -am compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
CP="samediff-layers/target/classes:$(cat samediff-layers/target/classpath.txt)"
ANCHOR="${ANCHOR:-benchmarks/mla-decode/anchor_decode_torch.py}"
bench() {   # the project's side: ND4J's OpenMP threads wait passively, as the ./mha2mla launcher sets it
  OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" java --add-modules jdk.incubator.vector ${JAVA_OPTS:-} -Xmx6g -Dorg.bytedeco.javacpp.maxbytes=8G -Dorg.bytedeco.javacpp.maxphysicalbytes=14G \
    -cp "$CP" benchmarks/mla-decode/MlaDecodeBenchmark.java "$@" 2>&1 | grep -v "^WARNING: Using incubator"
}
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(uptime | sed 's/.*load/load/')"
if [ $# -gt 0 ] || [ -n "${NO_ANCHOR:-}" ] || [ ! -f "$ANCHOR" ]; then
  [ $# -eq 0 ] && [ ! -f "$ANCHOR" ] && echo "(no anchor at $ANCHOR)"
  bench "$@"
else
  out="$(mktemp)"
  trap 'rm -f "$out"' EXIT
  for b in 1 16; do
    ctx=$([ "$b" = 1 ] && echo 1024,4096,16384,32768 || echo 1024,4096,16384)
    echo "== PyTorch anchor, batch $b: /usr/bin/python3 $ANCHOR 64 $b"
    /usr/bin/python3 "$ANCHOR" 64 "$b" | tee "$out"
    echo "== project, batch $b ($(uptime | sed 's/.*load/load/'))"
    bench --batch "$b" --context "$ctx" --anchor "$out"
  done
  echo "== prefill of 512 tokens through the layer ($(uptime | sed 's/.*load/load/'))"
  /usr/bin/python3 benchmarks/mla-decode/anchor_prefill_torch.py 512
  bench --prefill 512 --steps 5 --warmup 1
fi
echo "$(uptime | sed 's/.*load/load/')"
