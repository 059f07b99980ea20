#!/usr/bin/env bash
# The memory soak of issue 23, one engine at a time: starts target/lms-realtime.jar fresh (a new data
# directory, free ports), runs soak.mjs against it, stops it. Under the shared CPU lock:
#   flock /tmp/lms-cpu.lock bench/scripts/soak.sh durable [soak.mjs options]     # rooms durable (default)
#   flock /tmp/lms-cpu.lock bench/scripts/soak.sh memory  [soak.mjs options]     # LMS_DURABLE_ROOMS=
# The issue's figure: the defaults (1,500 students, 4 min of 20 reconnects/s, 4 idle min, ~9 min a run).
# For development: --warmup 10 --churn 30 --idle 30 --after-close 0. Output: $SOAK_OUT (default
# /tmp/soak-MODE-TIME): engine.log, the driver's marks.json, histograms and their diff.
# LMS_JAVA_OPTS (e.g. -Xmx512m) goes to the engine's JVM.
set -euo pipefail
mode=${1:?durable or memory}; shift
here=$(cd "$(dirname "$0")" && pwd)
jar="$here/../../target/lms-realtime.jar"
[ -f "$jar" ] || { echo "build the engine first: mvn -B -q -DskipTests package" >&2; exit 2; }
[ -d "$here/node_modules/ws" ] || { echo "cd bench/scripts && npm ci" >&2; exit 2; }
out=${SOAK_OUT:-/tmp/soak-$mode-$(date +%H%M%S)}
mkdir -p "$out"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http=$(free_port); cluster=$(free_port)
secret=soak-secret-soak-secret-soak-secret-0123
durable_rooms=course,user
[ "$mode" = memory ] && durable_rooms=
data=$(mktemp -d /tmp/soak-data-XXXXXX)

# shellcheck disable=SC2086
LMS_JWT_SECRET=$secret LMS_DATA_DIR=$data LMS_HTTP_PORT=$http LMS_CLUSTER_PORT=$cluster LMS_CLUSTER_HOST=127.0.0.1 \
  LMS_MAX_CONNECTIONS_PER_IP=20000 LMS_DURABLE_ROOMS=$durable_rooms \
  java ${LMS_JAVA_OPTS:-} -jar "$jar" >"$out/engine.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 120); do
  curl -fs "http://127.0.0.1:$http/health/ready" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { echo "the engine exited: $out/engine.log" >&2; exit 1; }
  sleep 0.5
done
echo "engine pid $pid ($mode rooms, data $data) on :$http; output in $out"
node "$here/soak.mjs" --url "http://127.0.0.1:$http" --secret "$secret" --pid "$pid" --out "$out" "$@"
du -sh "$data" | sed 's/^/data directory: /'
