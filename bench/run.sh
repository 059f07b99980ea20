#!/usr/bin/env bash
# The side-by-side fan-out benchmark of issue 7: lms-realtime, Socket.IO 4.8 and a raw Netty broadcast
# server (the ceiling), each started fresh for each run on its own loopback port, driven by the same
# Netty load driver (bench/src/main/java/lms/bench/Driver.java). Writes bench/results/<date>.md and
# bench/results/latest.json; per-run files and server logs go to bench/results/tmp/<date>/ (git-ignored).
#
#   bench/run.sh --quick          1,000 members, 20 events/s, 5 s warm-up + 20 s measured, once (< 10 min)
#   bench/run.sh                  1,000 / 5,000 / 10,000 members, 10 s + 30 s, 3 repeats (about an hour)
#
# Options (after the mode): --rate N (events/s, default 20), --seconds N, --warmup N, --payload-bytes N
# (default 128), --repeats N, --members "1000 5000", --servers "lms socketio plain",
# --engine-jar PATH (default /tmp/lms-bench.jar if present, else target/lms-realtime.jar),
# --no-build (use bench/target/lms-bench.jar as it is).
# Environment: ENGINE_JAVA_OPTS, CEILING_JAVA_OPTS, DRIVER_JAVA_OPTS, DRIVER_THREADS, CEILING_THREADS.
#
# Never fails on timing: exits 0 unless a server or the driver crashed (then 1, after every other run).
set -uo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"

MODE=full
RATE=20
MEASURE=
WARMUP=
PAYLOAD=128
REPEATS=
SIZES=
SERVERS="lms socketio plain"
BUILD=1
ENGINE_JAR="${ENGINE_JAR:-}"

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick ;;
    --full) MODE=full ;;
    --rate) RATE="$2"; shift ;;
    --seconds) MEASURE="$2"; shift ;;
    --warmup) WARMUP="$2"; shift ;;
    --payload-bytes) PAYLOAD="$2"; shift ;;
    --repeats) REPEATS="$2"; shift ;;
    --members) SIZES="${2//,/ }"; shift ;;
    --servers) SERVERS="${2//,/ }"; shift ;;
    --engine-jar) ENGINE_JAR="$2"; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 64 ;;
  esac
  shift
done

if [ "$MODE" = quick ]; then
  SIZES="${SIZES:-1000}"; MEASURE="${MEASURE:-20}"; WARMUP="${WARMUP:-5}"; REPEATS="${REPEATS:-1}"
else
  SIZES="${SIZES:-1000 5000 10000}"; MEASURE="${MEASURE:-30}"; WARMUP="${WARMUP:-10}"; REPEATS="${REPEATS:-3}"
fi
ENGINE_JAVA_OPTS="${ENGINE_JAVA_OPTS:--Djava.util.concurrent.ForkJoinPool.common.parallelism=4}"
CEILING_JAVA_OPTS="${CEILING_JAVA_OPTS:-}"
DRIVER_JAVA_OPTS="${DRIVER_JAVA_OPTS:--Xms256m -Xmx1g}"
DRIVER_THREADS="${DRIVER_THREADS:-2}"
CEILING_THREADS="${CEILING_THREADS:-$(nproc)}"

STAMP="$(date -u +%Y-%m-%d-%H%M%S)"
WORK="$BENCH/results/tmp/$STAMP"
MD="$BENCH/results/$STAMP$([ "$MODE" = quick ] && echo -quick).md"
JSON="$BENCH/results/latest.json"
JAR="$BENCH/target/lms-bench.jar"
mkdir -p "$WORK"
COMMANDS="$WORK/commands.txt"
MACHINE="$WORK/machine.txt"
: > "$COMMANDS"

log() { echo "[run.sh $(date +%H:%M:%S)] $*"; }

# ---------------------------------------------------------------- processes we start, stopped on exit
CURRENT_PID= # the one server running now (servers run one at a time)
stop_pid() { # pid: SIGTERM, wait up to 20 s, then SIGKILL; only our own children
  local pid="$1" i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not stop on SIGTERM in 20 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  return 0
}
cleanup() {
  [ -n "$CURRENT_PID" ] && stop_pid "$CURRENT_PID"
  rm -f "$WORK/lms-realtime.jar"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

CRASHED=0

# ---------------------------------------------------------------- build and inputs
if [ "$BUILD" = 1 ]; then
  if [ ! -f "$JAR" ] || [ -n "$(find "$BENCH/pom.xml" "$BENCH/src" -newer "$JAR" -type f 2>/dev/null | head -1)" ]; then
    for i in $(seq 1 120); do # another Maven on this 2-core box: wait for it (10 min at most)
      pgrep -f plexus.classworlds >/dev/null || break
      [ "$i" = 1 ] && log "another Maven is running; waiting for it"
      sleep 5
    done
    log "building bench/target/lms-bench.jar"
    (cd "$BENCH" && mvn -q -B -DskipTests package) || { log "bench build failed"; exit 1; }
  fi
fi
[ -f "$JAR" ] || { log "missing $JAR (run without --no-build)"; exit 1; }

case " $SERVERS " in *" socketio "*)
  if [ ! -d "$BENCH/peers/socketio/node_modules/socket.io" ]; then
    log "installing the Socket.IO peer (npm ci)"
    (cd "$BENCH/peers/socketio" && npm ci --no-audit --no-fund --loglevel=error) || { log "npm ci failed"; exit 1; }
  fi ;;
esac

case " $SERVERS " in *" lms "*)
  if [ -z "$ENGINE_JAR" ]; then
    if [ -f /tmp/lms-bench.jar ]; then ENGINE_JAR=/tmp/lms-bench.jar; else ENGINE_JAR="$ROOT/target/lms-realtime.jar"; fi
  fi
  [ -f "$ENGINE_JAR" ] || { log "no engine jar at $ENGINE_JAR (build the engine, or pass --engine-jar)"; exit 1; }
  cp "$ENGINE_JAR" "$WORK/lms-realtime.jar" # our own copy: a rebuild during the run does not touch it
  ;;
esac

SECRET="$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')" # 48 characters, new for every run.sh

# ---------------------------------------------------------------- machine facts
{
  echo "date (UTC):     $(date -u '+%Y-%m-%d %H:%M:%S')"
  echo "mode:           $MODE; members: $SIZES; rate: $RATE events/s; warm-up ${WARMUP}s; measured ${MEASURE}s; payload ${PAYLOAD} B; repeats: $REPEATS"
  echo "nproc:          $(nproc)"
  echo "cpu:            $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "memory:         $(grep MemTotal /proc/meminfo | awk '{printf "%.1f GiB", $2/1048576}')"
  echo "kernel:         $(uname -sr)"
  echo "fd limit:       $(ulimit -n)"
  echo "load at start:  $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "java -version:"; java -version 2>&1 | sed 's/^/    /'
  echo "node --version: $(node --version 2>/dev/null || echo 'not installed')"
  [ -f "$BENCH/peers/socketio/node_modules/socket.io/package.json" ] &&
    echo "socket.io:      $(node -p "require('$BENCH/peers/socketio/node_modules/socket.io/package.json').version" 2>/dev/null)"
  echo "netty:          $(sed -n 's:.*<netty.version>\(.*\)</netty.version>.*:\1:p' "$BENCH/pom.xml") (NIO) in the driver and the ceiling"
  if [ -n "$ENGINE_JAR" ]; then
    echo "engine jar:     $ENGINE_JAR ($(stat -c '%y' "$ENGINE_JAR" | cut -d. -f1), sha256 $(sha256sum "$ENGINE_JAR" | cut -c1-16))"
  fi
  echo "repository:     $(git -C "$ROOT" log -1 --format='%h %cd %s' --date=iso 2>/dev/null | cut -c1-120)"
  echo "                (the engine jar may be older than this commit: it is whatever was built last)"
  echo "engine JVM:     $ENGINE_JAVA_OPTS"
  echo "ceiling:        $CEILING_THREADS NIO event loops $CEILING_JAVA_OPTS"
  echo "driver:         $DRIVER_THREADS NIO event loops, $DRIVER_JAVA_OPTS"
} > "$MACHINE"

# ---------------------------------------------------------------- servers
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { # a free loopback port from $1 on
  local p="$1"
  while ! port_free "$p"; do p=$((p + 1)); done
  echo "$p"
}

SERVER_PID=
SERVER_PORT=
start_server() { # name run-id: sets SERVER_PID and SERVER_PORT; 0 when ready
  local name="$1" id="$2" logf="$WORK/server-$2.log" ready cport i
  case "$name" in
    lms)
      SERVER_PORT="$(free_port 18281)"; cport="$(free_port 17381)"
      echo "LMS_JWT_SECRET=\$SECRET LMS_MAX_CONNECTIONS_PER_IP=20000 LMS_MAX_CONNECTIONS_PER_USER=20000 LMS_HTTP_HOST=127.0.0.1 LMS_HTTP_PORT=$SERVER_PORT LMS_CLUSTER_HOST=127.0.0.1 LMS_CLUSTER_PORT=$cport java $ENGINE_JAVA_OPTS -jar lms-realtime.jar" >> "$COMMANDS"
      LMS_JWT_SECRET="$SECRET" LMS_MAX_CONNECTIONS_PER_IP=20000 LMS_MAX_CONNECTIONS_PER_USER=20000 \
        LMS_HTTP_HOST=127.0.0.1 LMS_HTTP_PORT="$SERVER_PORT" LMS_CLUSTER_HOST=127.0.0.1 LMS_CLUSTER_PORT="$cport" \
        java $ENGINE_JAVA_OPTS -jar "$WORK/lms-realtime.jar" > "$logf" 2>&1 &
      SERVER_PID=$!
      ready="/health/ready" ;;
    plain)
      SERVER_PORT="$(free_port 18282)"
      echo "java ${CEILING_JAVA_OPTS:+$CEILING_JAVA_OPTS }-cp bench/target/lms-bench.jar lms.bench.NettyCeiling --host 127.0.0.1 --port $SERVER_PORT --threads $CEILING_THREADS" >> "$COMMANDS"
      java $CEILING_JAVA_OPTS -cp "$JAR" lms.bench.NettyCeiling --host 127.0.0.1 --port "$SERVER_PORT" --threads "$CEILING_THREADS" > "$logf" 2>&1 &
      SERVER_PID=$!
      ready="/health" ;;
    socketio)
      SERVER_PORT="$(free_port 18283)"
      echo "node bench/peers/socketio/server.mjs $SERVER_PORT" >> "$COMMANDS"
      node "$BENCH/peers/socketio/server.mjs" "$SERVER_PORT" > "$logf" 2>&1 &
      SERVER_PID=$!
      ready="/health" ;;
  esac
  CURRENT_PID="$SERVER_PID"
  for i in $(seq 1 240); do # 60 s at most
    if curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$SERVER_PORT$ready"; then
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.25
  done
  log "$name did not become ready (log: $logf)"
  tail -20 "$logf" | sed 's/^/    /'
  return 1
}

label_of() { case "$1" in lms) echo lms-realtime ;; socketio) echo socket.io ;; plain) echo netty-ceiling ;; esac; }

error_result() { # file server members message
  printf '{"server":"%s","members":%s,"rate":%s,"payload_bytes":%s,"seconds":%s,"error":"%s"}\n' \
    "$(label_of "$2")" "$3" "$RATE" "$PAYLOAD" "$MEASURE" "$4" > "$1"
}

# ---------------------------------------------------------------- the runs
for s in $SERVERS; do
  case "$s" in lms|socketio|plain) ;; *) log "unknown server $s (lms, socketio, plain)"; exit 64 ;; esac
done
TOTAL=$(( REPEATS * $(echo $SIZES | wc -w) * $(echo $SERVERS | wc -w) ))
N=0
log "$MODE: $TOTAL runs (members: $SIZES; servers: $SERVERS; $RATE events/s; ${WARMUP}s + ${MEASURE}s; repeats $REPEATS); work dir $WORK"
for r in $(seq 1 "$REPEATS"); do
  for m in $SIZES; do
    for s in $SERVERS; do # servers interleaved: drift in the box's load hits them alike
      N=$((N + 1))
      id="$(printf '%05d' "$m")-$s-$r"
      out="$WORK/run-$id.json"
      log "run $N/$TOTAL: $(label_of "$s"), $m members, repeat $r"
      if ! start_server "$s" "$id"; then
        error_result "$out" "$s" "$m" "server did not start"
        stop_pid "$SERVER_PID"; CURRENT_PID=
        CRASHED=1
        continue
      fi
      args=(--server "$s" --url "http://127.0.0.1:$SERVER_PORT" --members "$m" --rate "$RATE" --seconds "$MEASURE"
            --warmup "$WARMUP" --payload-bytes "$PAYLOAD" --threads "$DRIVER_THREADS" --server-pid "$SERVER_PID" --out "$out")
      shown="${args[*]/#$WORK\//}"
      [ "$s" = lms ] && shown="$shown --secret \$SECRET"
      echo "java $DRIVER_JAVA_OPTS -cp bench/target/lms-bench.jar lms.bench.Driver $shown" >> "$COMMANDS"
      [ "$s" = lms ] && args+=(--secret "$SECRET")
      timeout $(( WARMUP + MEASURE + 300 )) java $DRIVER_JAVA_OPTS -cp "$JAR" lms.bench.Driver "${args[@]}" 2>&1 | tee "$WORK/driver-$id.log" | sed 's/^/    /'
      rc=${PIPESTATUS[0]}
      if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        log "$(label_of "$s") died during the run (log: $WORK/server-$id.log)"
        CRASHED=1
        [ -f "$out" ] || error_result "$out" "$s" "$m" "server died during the run"
      elif [ "$rc" != 0 ]; then
        log "driver exited $rc"
        [ "$rc" = 2 ] || CRASHED=1
        [ -f "$out" ] || error_result "$out" "$s" "$m" "driver exit $rc"
      fi
      stop_pid "$SERVER_PID"; CURRENT_PID=
      sleep 2
    done
  done
done
echo "load at end:    $(cut -d' ' -f1-3 /proc/loadavg)" >> "$MACHINE"

java -cp "$JAR" lms.bench.Report --runs "$WORK" --machine "$MACHINE" --commands "$COMMANDS" --mode "$MODE" \
  --title "lms-realtime fan-out benchmark, $STAMP ($MODE)" --json "$JSON" --md "$MD" || CRASHED=1
log "results: $MD and $JSON (per-run files and logs: $WORK)"
exit "$CRASHED"
