#!/usr/bin/env bash
# Seconds per image of the paper vision towers at real shapes (see VisionBenchmark.java for the flags). Run from anywhere:
#   benchmarks/vision/run.sh                                   # Qwen2.5-VL-7B, LLaVA-1.5 CLIP, LLaVA-NeXT 5 tiles; random weights
#   benchmarks/vision/run.sh --tower qwen --path layerwise,whole --depth 8
#   benchmarks/vision/run.sh --tower qwen --model /work/models/qwen2.5-vl-7b-instruct --profile
set -euo pipefail
# Transparent huge pages for ND4J's large allocations, as the mha2mla launcher sets them (see its comment).
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}"
cd "$(dirname "$0")/../.."
mvn -o -q -pl samediff-layers -am compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
CP="samediff-layers/target/classes:$(cat samediff-layers/target/classpath.txt)"
exec java ${JAVA_OPTS:-} --add-modules jdk.incubator.vector -Xmx4g -Dorg.bytedeco.javacpp.maxbytes=12G -Dorg.bytedeco.javacpp.maxphysicalbytes=16G -cp "$CP" \
  benchmarks/vision/VisionBenchmark.java "$@"
