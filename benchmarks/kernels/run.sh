#!/usr/bin/env bash
# Matrix-vector GB/s of the project's kernels (float32, bf16 and f16 weights) against ND4J's mmul (see KernelsBenchmark.java).
# Run from anywhere:
#   benchmarks/kernels/run.sh                       # W [18944, 3584], batch 1 and 16
#   benchmarks/kernels/run.sh --batch 1 --reps 21
set -euo pipefail
# Transparent huge pages for ND4J's large allocations, as the mha2mla launcher sets them (see its comment).
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}"
cd "$(dirname "$0")/../.."
mvn -o -q -pl core -am compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
CP="core/target/classes:$(cat core/target/classpath.txt)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(uptime | sed 's/.*load/load/')"
java --add-modules jdk.incubator.vector -Xmx3g -cp "$CP" benchmarks/kernels/KernelsBenchmark.java "$@" 2>&1 | grep -v "^WARNING: Using incubator\|SLF4J"
echo "$(uptime | sed 's/.*load/load/')"
