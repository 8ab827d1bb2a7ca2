#!/usr/bin/env bash
# Step times of the demo's pretraining and evaluation (see PretrainBenchmark.java). Run from anywhere:
#   benchmarks/pretrain/run.sh            # the full demo settings
#   benchmarks/pretrain/run.sh --quick    # the --quick settings
#   benchmarks/pretrain/run.sh --rmsnorm  # RMSNorm forward + backward, matmul spreading vs broadcasting
#   JAVA_OPTS=-Dmha2mla.products=nd4j benchmarks/pretrain/run.sh --quick   # JVM options, e.g. the products on ND4J's BLAS call
set -euo pipefail
# Transparent huge pages for ND4J's large allocations, as the mha2mla launcher sets them (see its comment).
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}"
cd "$(dirname "$0")/../.."
mvn -o -q -pl cli -am compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
CP="cli/target/classes:trainer/target/classes:evaluation/target/classes:samediff-layers/target/classes:importers/target/classes:core/target/classes:$(cat cli/target/classpath.txt)"
if [ "${1:-}" = "--rmsnorm" ]; then exec java -Xmx2g -cp "$CP" benchmarks/pretrain/RmsNormBenchmark.java; fi
exec java ${JAVA_OPTS:-} -Xmx6g -Dorg.bytedeco.javacpp.maxbytes=10G -cp "$CP" benchmarks/pretrain/PretrainBenchmark.java "$@"
