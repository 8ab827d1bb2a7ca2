#!/usr/bin/env bash
# A one-node Spark standalone cluster on the loopback address (a master and a worker of 2 one-core executors, started
# from Spark's own jars out of the local Maven repository), and spark-submit of mha2mla-spark-submit.jar on it:
# eval and convert on the cluster must give what the single-process ./mha2mla gives on the llava fixture.
#   mvn -q -DskipTests package && spark/src/test/scripts/standalone.sh
# Leaves its files under spark/target/standalone/ and stops the master and worker it started.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)"
cd "$root"
submit_jar="$root/spark/target/mha2mla-spark-submit.jar"
[ -f "$submit_jar" ] || { echo "standalone.sh: $submit_jar is missing; build with: mvn -q -DskipTests package" >&2; exit 2; }
work="$root/spark/target/standalone"
rm -rf "$work" && mkdir -p "$work"
model="$root/test-fixtures/src/main/resources/hf/llava"
port=${SPARK_TEST_PORT:-17077}

# SPARK_HOME as a distribution lays it out: RELEASE and jars/ holding spark-core's runtime class path, nothing else
# (the worker builds its executors' class path from it; the application's classes come from the submit jar).
spark_version=$(sed -n 's:.*<spark.version>\(.*\)</spark.version>.*:\1:p' spark/pom.xml)
export SPARK_HOME="$work/spark-home" SPARK_SCALA_VERSION=2.13   # what a distribution's bin/ scripts would set
mkdir -p "$SPARK_HOME/jars" && touch "$SPARK_HOME/RELEASE"
cat > "$work/spark-dist.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>local</groupId><artifactId>spark-dist</artifactId><version>1</version>
  <dependencies><dependency><groupId>org.apache.spark</groupId><artifactId>spark-core_2.13</artifactId>
    <version>$spark_version</version></dependency></dependencies></project>
EOF
mvn -q -o -f "$work/spark-dist.xml" dependency:copy-dependencies -DoutputDirectory="$SPARK_HOME/jars" -Dmdep.includeScope=runtime
echo "SPARK_HOME: Spark $spark_version, $(ls "$SPARK_HOME/jars" | wc -l) jars"

opens=()
for p in java.lang java.lang.invoke java.lang.reflect java.io java.net java.nio java.util java.util.concurrent \
         java.util.concurrent.atomic jdk.internal.ref sun.nio.ch sun.nio.cs sun.security.action sun.util.calendar; do
  opens+=("--add-opens=java.base/$p=ALL-UNNAMED")
done
export SPARK_LOCAL_IP=127.0.0.1
spark_java() { java "${opens[@]}" -cp "$SPARK_HOME/jars/*" "$@"; }
daemon() { exec java "${opens[@]}" -cp "$SPARK_HOME/jars/*" "$@"; }   # in a background subshell: its pid is the JVM's

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
daemon -Xmx512m org.apache.spark.deploy.master.Master --host 127.0.0.1 --port "$port" --webui-port $((port + 1)) \
  > "$work/master.log" 2>&1 &
pids+=($!)
daemon -Xmx512m org.apache.spark.deploy.worker.Worker --host 127.0.0.1 --cores 2 --memory 6g --webui-port $((port + 2)) \
  --work-dir "$work/worker" "spark://127.0.0.1:$port" > "$work/worker.log" 2>&1 &
pids+=($!)
for i in $(seq 60); do grep -q "Registering worker" "$work/master.log" && break; sleep 1; done
grep -q "Registering worker" "$work/master.log" || { echo "standalone.sh: the worker did not register" >&2; cat "$work/master.log" >&2; exit 1; }
echo "cluster: master spark://127.0.0.1:$port, one worker of 2 cores"

# spark-submit in client mode (the driver in this JVM); two one-core executors, each with its own model.
submit() {
  spark_java --add-modules jdk.incubator.vector -Xmx2g org.apache.spark.deploy.SparkSubmit --master "spark://127.0.0.1:$port" \
    --conf spark.executor.cores=1 --conf spark.executor.memory=2g --conf spark.executorEnv.OMP_NUM_THREADS=1 \
    --conf "spark.executor.extraJavaOptions=--add-modules=jdk.incubator.vector" "$submit_jar" "$@"
}

data="$work/data"
java -cp "$root/spark/target/lib/*" spark/src/test/scripts/PopeData.java "$data" "$model/image0.png" 6 4
common_eval=(--model "$model" --tasks pope --data-root "$data" --max-new-tokens 6 --no-progress)
# The references on one ND4J thread as the executors: float32 sums over other thread counts differ in the last bits.
OMP_NUM_THREADS=1 ./mha2mla eval "${common_eval[@]}" --out "$work/eval-one" > "$work/eval-one.log" 2>&1
submit eval "${common_eval[@]}" --spark --partitions 3 --out "$work/eval-cluster" > "$work/eval-cluster.log" 2>&1 \
  || { tail -40 "$work/eval-cluster.log" >&2; exit 1; }
common_convert=(--model "$model" --d-kv 4 --rope-dim 4 --calib "$data/calib.json" --calib-samples 4 --dtype f32 --no-progress)
OMP_NUM_THREADS=1 ./mha2mla convert "${common_convert[@]}" --out "$work/convert-one" > "$work/convert-one.log" 2>&1
submit convert "${common_convert[@]}" --spark --out "$work/convert-cluster" > "$work/convert-cluster.log" 2>&1 \
  || { tail -40 "$work/convert-cluster.log" >&2; exit 1; }
grep -h "on Spark:" "$work/eval-cluster.log" "$work/convert-cluster.log"
echo "executors the worker ran: $(find "$work/worker" -mindepth 2 -maxdepth 2 -type d | wc -l) (two applications)"

python3 - "$work" <<'EOF'
import json, sys
work = sys.argv[1]
def load(p): return json.load(open(f"{work}/{p}"))
def log(p):
    out = []
    for line in open(f"{work}/{p}/predictions/pope.jsonl"):
        e = json.loads(line); e.pop("seconds", None); out.append(e)
    return out
a, b = load("eval-one/results.json"), load("eval-cluster/results.json")
for k in ("results", "n-samples", "kv_bytes_per_token", "configs"):
    assert a[k] == b[k], f"results.json {k}: {a[k]} != {b[k]}"
assert log("eval-one") == log("eval-cluster"), "prediction logs differ"
print(f"eval: results.json and the prediction log ({len(log('eval-one')) - 1} docs) equal")
ra, rb = load("convert-one/conversion_report.json"), load("convert-cluster/conversion_report.json")
for k in ("calibration_samples", "text_tokens", "visual_tokens"):
    assert ra[k] == rb[k], f"conversion report {k}: {ra[k]} != {rb[k]}"
worst = {}
for la, lb in zip(ra["layers"], rb["layers"]):
    assert la["kept_pairs"] == lb["kept_pairs"], f"layer {la['layer']}: kept pairs {la['kept_pairs']} != {lb['kept_pairs']}"
    for k in ("attention_kl", "split_loss"):
        worst[k] = max(worst.get(k, 0.0), abs(la[k] - lb[k]) / abs(la[k]))
assert max(worst.values()) <= 1e-9, f"report figures differ (relative): {worst}"
ca, cb = load("convert-one/config.json")["mha2mla"], load("convert-cluster/config.json")["mha2mla"]
assert ca == cb, "config.json mha2mla sections differ"
print("convert: kept RoPE pairs and config equal; max relative difference "
      + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))
EOF
echo "standalone.sh: PASS"
