#!/usr/bin/env bash
# Training tokens/s of the PEFT stages (see TrainerBenchmark.java for the flags). Run from anywhere:
#   benchmarks/trainer/run.sh                      # stage 1 on a random Qwen2.5-VL-shaped model, batch 1 and 4
#   benchmarks/trainer/run.sh --mla-model DIR      # also stage 2 on a converted (MLA) model
set -euo pipefail
cd "$(dirname "$0")/../.."
mvn -o -q -pl trainer -am compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
CP="trainer/target/classes:$(cat trainer/target/classpath.txt)"
exec java -Xmx6g -Dorg.bytedeco.javacpp.maxbytes=10G -cp "$CP" benchmarks/trainer/TrainerBenchmark.java "$@"
