#!/usr/bin/env bash
# One hand measurement of the backend publish path (issue 23's profiles): starts the jar fresh, warms it,
# then publishes from autocannon (16 keep-alive connections) into ROOMS rooms for SECONDS and prints
# publishes/s, latency and the engine's CPU per publish (and, with PROFILE, an async-profiler CPU
# profile in collapsed form). Not a test, not the bench harness (bench/run.sh --scenarios publish is).
#
# usage: bench/scripts/profile-publish.sh JAR durable|memory|pg ROOMS SECONDS [PROFILE.collapsed]
# env:   WARM=seconds of warm-up (10), JOPTS=JVM options, ASPROF_LIB=libasyncProfiler.so (for PROFILE;
#        from Maven Central tools.profiler:async-profiler:4.1:jar:linux-x64), needs jattach; pg needs
#        Debian's postgresql (started here on a scratch directory, as the postgres user).
set -u
JAR=$1; MODE=$2; ROOMS=$3; SECS=$4; PROF=${5:-}
HERE=$(cd "$(dirname "$0")" && pwd)
PORT=${PORT:-18080}; CPORT=${CPORT:-17355}; PGPORT=${PGPORT:-15499}
WORK=$(mktemp -d /tmp/profile-publish-XXXX)
chmod 755 "$WORK" # the postgres user reaches its data directory in it
export SECRET=${SECRET:-bench-secret-bench-secret-bench-secret-0123}
export LMS_JWT_SECRET=$SECRET LMS_HTTP_PORT=$PORT LMS_CLUSTER_PORT=$CPORT LMS_DATA_DIR=$WORK/data LMS_HTTP_HOST=127.0.0.1
[ "$MODE" = memory ] && export LMS_DURABLE_ROOMS=
PGPID=
if [ "$MODE" = pg ]; then
  PGB=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  mkdir -p "$WORK/pg" && chown postgres "$WORK/pg"
  setpriv --reuid=postgres --regid=postgres --init-groups "$PGB/initdb" -D "$WORK/pg/data" -A trust -U postgres -E UTF8 >/dev/null
  setpriv --reuid=postgres --regid=postgres --init-groups "$PGB/postgres" -D "$WORK/pg/data" -p "$PGPORT" -k "$WORK/pg" \
    -c listen_addresses=127.0.0.1 >"$WORK/pg.log" 2>&1 &
  PGPID=$!
  for _ in $(seq 1 60); do "$PGB/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && break; sleep 0.5; done
  export LMS_DB_URL=jdbc:postgresql://127.0.0.1:$PGPORT/postgres LMS_DB_USER=postgres LMS_DB_PASSWORD=
fi
java ${JOPTS:-} -jar "$JAR" >"$WORK/engine.log" 2>&1 &
PID=$!
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.5; done
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
pgticks() { [ -n "$PGPID" ] || { echo 0; return; }; for c in $(pgrep -P "$PGPID") "$PGPID"; do awk '{print $14+$15}' "/proc/$c/stat" 2>/dev/null; done | awk '{s+=$1} END{print s+0}'; }
journal() { curl -s "http://127.0.0.1:$PORT/metrics" | grep -E "^lms_journal_(commits|rows)_total" | awk '{print $2}' | tr '\n' ' '; }
node "$HERE/publish-load.mjs" "$PORT" "$ROOMS" "${WARM:-10}" 16 >"$WORK/warm.json"
J0=$(journal); T0=$(ticks $PID); P0=$(pgticks)
[ -n "$PROF" ] && jattach $PID load "$ASPROF_LIB" true start,event=cpu,interval=1ms >/dev/null
node "$HERE/publish-load.mjs" "$PORT" "$ROOMS" "$SECS" 16 >"$WORK/run.json"
[ -n "$PROF" ] && jattach $PID load "$ASPROF_LIB" true "stop,file=$PROF,collapsed" >/dev/null
T1=$(ticks $PID); P1=$(pgticks); J1=$(journal)
echo "journal commits, rows: before $J0 after $J1"
node -e "const r=require('$WORK/run.json'); const us=(t)=>(t*10000/r.total).toFixed(1);
  console.log(JSON.stringify({mode:'$MODE', rooms:$ROOMS, publishes_per_s:r.rps, total:r.total, non2xx:r.non2xx, errors:r.errors,
    p50_ms:r.p50, p99_ms:r.p99, engine_cpu_us_per_publish:us($T1-$T0), postgres_cpu_us_per_publish:us($P1-$P0)}))"
kill $PID; wait $PID 2>/dev/null
[ -n "$PGPID" ] && kill -INT "$PGPID" && wait "$PGPID" 2>/dev/null
rm -rf "$WORK/data" "$WORK/pg"
echo "engine log: $WORK/engine.log"
