#!/usr/bin/env bash
# Decode-step cost and logit fidelity of every cache policy (see GenerationBenchmark.java for the flags). Run from anywhere:
#   benchmarks/generation/run.sh                            # the tiny llava test fixture, 256-token prompt, 32 steps
#   benchmarks/generation/run.sh --model DIR --prompt 512   # any model folder (text prompt)
set -euo pipefail
# Transparent huge pages for ND4J's large allocations, as the mha2mla launcher sets them (see its comment).
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}"
cd "$(dirname "$0")/../.."
mvn -o -q -pl samediff-layers -am compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
CP="samediff-layers/target/classes:$(cat samediff-layers/target/classpath.txt)"
exec java --add-modules jdk.incubator.vector -Xmx4g -cp "$CP" benchmarks/generation/GenerationBenchmark.java "$@"
