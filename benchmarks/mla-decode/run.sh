#!/usr/bin/env bash
# Decode steps/s of a Qwen2.5-VL-7B-shaped layer: original GQA vs absorbed MLA (see MlaDecodeBenchmark.java). Run from anywhere:
#   benchmarks/mla-decode/run.sh                                  # batch 1 and 16, contexts 1K/4K/16K
#   benchmarks/mla-decode/run.sh --batch 16 --context 16384 --steps 3
set -euo pipefail
cd "$(dirname "$0")/../.."
mvn -o -q -pl samediff-layers -am compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
CP="samediff-layers/target/classes:$(cat samediff-layers/target/classpath.txt)"
exec java ${JAVA_OPTS:-} -Xmx4g -Dorg.bytedeco.javacpp.maxbytes=14G -Dorg.bytedeco.javacpp.maxphysicalbytes=18G -cp "$CP" \
  benchmarks/mla-decode/MlaDecodeBenchmark.java "$@"
