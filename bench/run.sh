#!/usr/bin/env bash
# The side-by-side benchmarks of issues 7, 11 and 14: lms-realtime on its two transports (netty, the default,
# and pekko-http), with durable rooms on H2 or PostgreSQL or every room in memory, Socket.IO 4.8 and a raw
# Netty broadcast server (the ceiling), each started fresh for each run on its own loopback port, driven by
# the same Netty load driver (bench/src/main/java/lms/bench/Driver.java). Writes bench/results/<date>.md,
# bench/results/latest.json (which names the run: its command, mode, report and plots) and the plots in
# bench/results/plots/, then rewrites the README's Performance block from latest.json (lms.bench.Readme);
# per-run files, server logs, each engine's LMS_DATA_DIR and each PostgreSQL go to bench/results/tmp/<date>/
# (git-ignored). Servers:
#   lms         lms-realtime: LMS_TRANSPORT=netty, durable rooms as by default (course,user) in an embedded
#               H2 journal under a fresh LMS_DATA_DIR of its own
#   lms-pekko   lms-realtime-pekko-http: the same jar with LMS_TRANSPORT=pekko-http (H2 as lms)
#   lms-memory  lms-realtime-memory: as lms with LMS_DURABLE_ROOMS= (every room in memory, as before issue 14)
#   lms-pg      lms-realtime-pg: as lms with its journal in a PostgreSQL server of its own, started for the run
#               from /usr/lib/postgresql/*/bin (initdb in the work dir) and stopped by PID after it
#   socketio    Socket.IO 4.8.4 on Node;   plain   the Netty ceiling
# Scenarios, in this order:
#   fanout     one room (course:1: durable on lms), events at a fixed rate, publish-to-delivery latency,
#              server CPU per delivery
#   hold       N idle sockets held; server memory per socket (heap after GC + native RSS); server CPU
#              over 30 s while they only keep their heartbeat (idle CPU)
#   handshake  M sockets from zero, K in flight, one JWT each (lms): handshakes/s, latency, CPU
#   capacity   one room; offered deliveries/s raised step by step (one server process per server and
#              room size) until p99 > 50 ms or deliveries fall behind: the last step that held
#   durable    issue 14: 100 durable rooms (course:d1..course:d100) x 5 members, the backend publishing 500
#              events/s in all (open loop, async client, 16 connections): the publish call's latency (sent
#              -> 202), publish-to-delivery, events/s, errors, server CPU per event; on --durable-servers
#   publish    issue 23: the backend publishing at saturation (16 keep-alive connections, closed loop) into 1 room
#              and into 1,000 rooms without members: publishes/s, server CPU per publish (PostgreSQL's beside it),
#              p50/p99 of the call, errors; then notifications to 1,000 online users through the batch call, 100
#              a call: notifications/s; one server process per server, on --publish-servers
#   lms-day    issue 23: a learning platform's day: 5,000 students (each in its user: room and a course of 50),
#              an instructor per course; progress ticks (socket publish -> ack), notifications (batch call ->
#              delivery), announcements (call -> delivery), presence queries (-> answer), stepped up x1, x2,
#              x4, ... until a class passes p99 100 ms or loses anything: the capacity; on --day-servers
#   cluster    the fan-out on three lms-realtime nodes forming one cluster on loopback, every room in memory
#              (LMS_DURABLE_ROOMS=: three nodes and no shared database)
#
#   bench/run.sh --quick     fan-out 1,000 members (5 s + 20 s), hold 5,000 (30 s idle window), storm 5,000,
#                            capacity 1,000 (steps of 2 s + 5 s), durable 100 x 5 at 500 events/s (5 s + 20 s)
#                            on lms and lms-memory (about 1 min 45 s), cluster 1,000; once (about 16 min, an estimate)
#   bench/run.sh             fan-out and cluster 1,000 / 5,000 / 10,000 (10 s + 30 s, 3 repeats), hold 19,000
#                            (once), storm 15,000 (3 repeats), capacity 1,000 / 10,000 (steps of 3 s + 10 s,
#                            once), durable on lms, lms-pg and lms-memory (10 s + 30 s, 3 repeats): well over an hour
#   issue 23's two scenarios alone (about 11 min: publish 4 min 40 s for five servers, lms-day 5 min 50 s for four):
#   bench/run.sh --quick --scenarios "publish lms-day"
#   issue 24's two comparisons (SSE vs WebSocket members, same run; an engine with /sse: --engine-jar):
#   bench/run.sh --quick --scenarios "fanout hold" --servers lms --member-kinds "ws sse"
#   issue 14's two comparisons (not in --quick's defaults: one run cannot resolve 10 %, and PostgreSQL adds a server):
#   bench/run.sh --quick --scenarios "fanout durable" --servers "lms lms-memory plain" \
#                --durable-servers "lms lms-pg lms-memory" --repeats 3
#
# Options (after the mode): --scenarios "fanout hold handshake capacity durable publish lms-day cluster" (full: all
# eight; --quick: all but publish and lms-day, which add about 11 min: opt in with --scenarios),
# --servers "lms lms-pekko socketio plain" (also: lms-memory, lms-pg),
# durable: --durable-servers "lms lms-pg lms-memory" (any of lms lms-pekko lms-memory lms-pg; default: quick
# "lms lms-memory", full "lms lms-pg lms-memory", lms-pg left out when PostgreSQL is not installed),
# --durable-rooms N (100), --durable-members N (5 per room), --durable-rate N (500 events/s in all),
# --durable-connections N (16), --durable-prewarm N (1000), --durable-warmup N (5 quick, 10 full),
# --durable-seconds N (20 quick, 30 full); repeats as --repeats;
# fan-out: --rate N (events/s; default: --load / members, at least 1), --load D (20000 deliveries/s), --seconds N, --warmup N, --payload-bytes N (128), --repeats N,
# --members "1000 5000"; cluster: --cluster-members "1000"; hold: --hold-sockets N, --hold-seconds N,
# --idle-cpu-seconds N (30: the hold's last N seconds), --idle-baseline-seconds N (5, at 0 sockets);
# handshake: --handshakes M, --in-flight K (256);
# capacity: --capacity-members "1000 10000", --capacity-steps "20000 40000 ..." (deliveries/s; 20k to 200k
# by 20k), --capacity-warmup N (2 quick, 3 full; the first step at least 5), --capacity-seconds N (5 quick,
# 10 full); --sources N (127.0.0.1..N for hold, handshake and capacity, 4);
# publish: --publish-servers "lms-memory lms lms-pg socketio plain" (lms-pg left out when PostgreSQL is not
# installed), --publish-rooms "1 1000", --publish-connections N (16), --publish-warmup N (10 quick, 15 full),
# --publish-seconds N (15 quick, 30 full; per room count), --batch-users N (1000; 0: no batch phase),
# --batch-size N (100), --batch-connections N (4);
# lms-day: --day-servers "lms lms-pg lms-memory socketio", --day-students N (5000 quick, 10000 full; courses of
# --day-course-size 50, one instructor each), --day-steps "1 2 4 8 16 32 64 128 256" (multipliers),
# --day-warmup N (2 quick, 3 full; the first step at least 8), --day-seconds N (8 quick, 15 full),
# --day-connections N (8: the HTTP calls' connections);
# issue 24: --member-kinds "ws sse" (default "ws"): fan-out and hold run once per kind on every engine server,
# WebSocket members and HTTP-fallback members (GET /sse, frames POSTed to the welcome's postUrl; peers: ws only);
# --engine-jar PATH (default target/lms-realtime.jar, built when missing; env ENGINE_JAR);
# --no-build (use bench/target/lms-bench.jar as it is);
# --readme-only (no run: rewrite README.md's Performance block from bench/results/latest.json, then exit).
# Environment: ENGINE_JAVA_OPTS, HOLD_JAVA_OPTS (hold: engine and ceiling), CLUSTER_JAVA_OPTS (each node),
# CEILING_JAVA_OPTS, DRIVER_JAVA_OPTS, DRIVER_THREADS, CEILING_THREADS.
#
# Never fails on timing: exits 0 unless a server or the driver crashed (then 1, after every other run).
set -uo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"

MODE=full
RATE= # events/s; empty: rate_for picks one per room size
LOAD=20000 # deliveries/s offered per fan-out run when --rate is not given
MEASURE=
WARMUP=
PAYLOAD=128
REPEATS=
SIZES=
CLUSTER_SIZES=
SERVERS="lms lms-pekko socketio plain"
MEMBER_KINDS=ws # issue 24: "ws sse" runs fan-out and hold with each kind of member on every engine
SCENARIOS= # full: all eight; quick: without publish and lms-day (about 11 min more: opt in with --scenarios)
DURABLE_SERVERS=
DURABLE_ROOMS=100
DURABLE_PER_ROOM=5
DURABLE_RATE=500
DURABLE_CONNECTIONS=16
DURABLE_PREWARM=1000
DURABLE_WARMUP=
DURABLE_SECONDS=
HOLD_N=
HOLD_SECONDS=
IDLE_CPU_SECONDS=30
IDLE_BASELINE_SECONDS=5
CAP_SIZES=
CAP_STEPS="20000 40000 60000 80000 100000 120000 140000 160000 180000 200000"
CAP_WARMUP=
CAP_SECONDS=
CAP_FIRST_WARMUP=5
CAP_DRAIN=5
STORM_N=
IN_FLIGHT=256
SOURCES=4
PUBLISH_SERVERS=
PUBLISH_ROOMS="1 1000"
PUBLISH_CONNECTIONS=16
PUBLISH_WARMUP=
PUBLISH_SECONDS=
BATCH_USERS=1000
BATCH_SIZE=100
BATCH_CONNECTIONS=4
DAY_SERVERS=
DAY_STUDENTS=
DAY_COURSE_SIZE=50
DAY_STEPS="1 2 4 8 16 32 64 128 256"
DAY_WARMUP=
DAY_FIRST_WARMUP=8
DAY_SECONDS=
DAY_DRAIN=5
DAY_CONNECTIONS=8
BUILD=1
ENGINE_JAR="${ENGINE_JAR:-}"

usage() { sed -n '2,/^set -uo pipefail/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

# the command as given, recorded in latest.json (and so in the README's block): the environment
# variables above that were set, then bench/run.sh and its arguments, quoted where a shell needs it
quote() { case "$1" in *[!A-Za-z0-9_./,:=+@%-]*|'') printf '"%s"' "$(printf '%s' "$1" | sed 's/[\\"$`]/\\&/g')" ;; *) printf '%s' "$1" ;; esac; }
COMMAND_LINE=""
for v in ENGINE_JAVA_OPTS HOLD_JAVA_OPTS CLUSTER_JAVA_OPTS CEILING_JAVA_OPTS DRIVER_JAVA_OPTS DRIVER_THREADS CEILING_THREADS ENGINE_JAR; do
  [ -n "${!v:-}" ] && COMMAND_LINE="$COMMAND_LINE$v=$(quote "${!v}") "
done
COMMAND_LINE="${COMMAND_LINE}bench/run.sh"
for a in "$@"; do COMMAND_LINE="$COMMAND_LINE $(quote "$a")"; done
README_ONLY=0

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick ;;
    --full) MODE=full ;;
    --rate) RATE="$2"; shift ;;
    --load) LOAD="$2"; shift ;;
    --seconds) MEASURE="$2"; shift ;;
    --warmup) WARMUP="$2"; shift ;;
    --payload-bytes) PAYLOAD="$2"; shift ;;
    --repeats) REPEATS="$2"; shift ;;
    --members) SIZES="${2//,/ }"; shift ;;
    --cluster-members) CLUSTER_SIZES="${2//,/ }"; shift ;;
    --servers) SERVERS="${2//,/ }"; shift ;;
    --member-kinds) MEMBER_KINDS="${2//,/ }"; shift ;;
    --scenarios) SCENARIOS="${2//,/ }"; shift ;;
    --hold-sockets) HOLD_N="$2"; shift ;;
    --hold-seconds) HOLD_SECONDS="$2"; shift ;;
    --idle-cpu-seconds) IDLE_CPU_SECONDS="$2"; shift ;;
    --idle-baseline-seconds) IDLE_BASELINE_SECONDS="$2"; shift ;;
    --capacity-members) CAP_SIZES="${2//,/ }"; shift ;;
    --capacity-steps) CAP_STEPS="${2//,/ }"; shift ;;
    --capacity-warmup) CAP_WARMUP="$2"; shift ;;
    --capacity-seconds) CAP_SECONDS="$2"; shift ;;
    --handshakes) STORM_N="$2"; shift ;;
    --in-flight) IN_FLIGHT="$2"; shift ;;
    --sources) SOURCES="$2"; shift ;;
    --durable-servers) DURABLE_SERVERS="${2//,/ }"; shift ;;
    --durable-rooms) DURABLE_ROOMS="$2"; shift ;;
    --durable-members) DURABLE_PER_ROOM="$2"; shift ;;
    --durable-rate) DURABLE_RATE="$2"; shift ;;
    --durable-connections) DURABLE_CONNECTIONS="$2"; shift ;;
    --durable-prewarm) DURABLE_PREWARM="$2"; shift ;;
    --durable-warmup) DURABLE_WARMUP="$2"; shift ;;
    --durable-seconds) DURABLE_SECONDS="$2"; shift ;;
    --publish-servers) PUBLISH_SERVERS="${2//,/ }"; shift ;;
    --publish-rooms) PUBLISH_ROOMS="${2//,/ }"; shift ;;
    --publish-connections) PUBLISH_CONNECTIONS="$2"; shift ;;
    --publish-warmup) PUBLISH_WARMUP="$2"; shift ;;
    --publish-seconds) PUBLISH_SECONDS="$2"; shift ;;
    --batch-users) BATCH_USERS="$2"; shift ;;
    --batch-size) BATCH_SIZE="$2"; shift ;;
    --batch-connections) BATCH_CONNECTIONS="$2"; shift ;;
    --day-servers) DAY_SERVERS="${2//,/ }"; shift ;;
    --day-students) DAY_STUDENTS="$2"; shift ;;
    --day-course-size) DAY_COURSE_SIZE="$2"; shift ;;
    --day-steps) DAY_STEPS="${2//,/ }"; shift ;;
    --day-warmup) DAY_WARMUP="$2"; shift ;;
    --day-seconds) DAY_SECONDS="$2"; shift ;;
    --day-connections) DAY_CONNECTIONS="$2"; shift ;;
    --engine-jar) ENGINE_JAR="$2"; shift ;;
    --no-build) BUILD=0 ;;
    --readme-only) README_ONLY=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 64 ;;
  esac
  shift
done

BUILT_JAR="$BENCH/target/lms-bench.jar"
log() { echo "[run.sh $(date +%H:%M:%S)] $*"; }
build_bench() { # bench/target/lms-bench.jar, rebuilt when a source is newer (unless --no-build)
  if [ "$BUILD" = 1 ]; then
    if [ ! -f "$BUILT_JAR" ] || [ -n "$(find "$BENCH/pom.xml" "$BENCH/src" -newer "$BUILT_JAR" -type f 2>/dev/null | head -1)" ]; then
      for i in $(seq 1 120); do # another Maven on this 2-core box: wait for it (10 min at most)
        pgrep -f plexus.classworlds >/dev/null || break
        [ "$i" = 1 ] && log "another Maven is running; waiting for it"
        sleep 5
      done
      log "building bench/target/lms-bench.jar"
      (cd "$BENCH" && mvn -q -B -DskipTests package) || { log "bench build failed"; exit 1; }
    fi
  fi
  [ -f "$BUILT_JAR" ] || { log "missing $BUILT_JAR (run without --no-build)"; exit 1; }
}
readme() { # README.md's Performance block, from latest.json (lms.bench.Readme)
  java -cp "$1" lms.bench.Readme --json "$BENCH/results/latest.json" --readme "$ROOT/README.md"
}
if [ "$README_ONLY" = 1 ]; then
  build_bench
  readme "$BUILT_JAR"
  exit
fi

if [ "$MODE" = quick ]; then
  SCENARIOS="${SCENARIOS:-fanout hold handshake capacity durable cluster}"
  SIZES="${SIZES:-1000}"; MEASURE="${MEASURE:-20}"; WARMUP="${WARMUP:-5}"; REPEATS="${REPEATS:-1}"
  HOLD_N="${HOLD_N:-5000}"; HOLD_SECONDS="${HOLD_SECONDS:-30}"; STORM_N="${STORM_N:-5000}"
  CAP_SIZES="${CAP_SIZES:-1000}"; CAP_WARMUP="${CAP_WARMUP:-2}"; CAP_SECONDS="${CAP_SECONDS:-5}"
  DURABLE_WARMUP="${DURABLE_WARMUP:-5}"; DURABLE_SECONDS="${DURABLE_SECONDS:-20}"
  PUBLISH_WARMUP="${PUBLISH_WARMUP:-10}"; PUBLISH_SECONDS="${PUBLISH_SECONDS:-15}"
  DAY_STUDENTS="${DAY_STUDENTS:-5000}"; DAY_WARMUP="${DAY_WARMUP:-2}"; DAY_SECONDS="${DAY_SECONDS:-8}"
else
  SCENARIOS="${SCENARIOS:-fanout hold handshake capacity durable publish lms-day cluster}"
  SIZES="${SIZES:-1000 5000 10000}"; MEASURE="${MEASURE:-30}"; WARMUP="${WARMUP:-10}"; REPEATS="${REPEATS:-3}"
  HOLD_N="${HOLD_N:-19000}"; HOLD_SECONDS="${HOLD_SECONDS:-60}"; STORM_N="${STORM_N:-15000}"
  CAP_SIZES="${CAP_SIZES:-1000 10000}"; CAP_WARMUP="${CAP_WARMUP:-3}"; CAP_SECONDS="${CAP_SECONDS:-10}"
  DURABLE_WARMUP="${DURABLE_WARMUP:-10}"; DURABLE_SECONDS="${DURABLE_SECONDS:-30}"
  PUBLISH_WARMUP="${PUBLISH_WARMUP:-15}"; PUBLISH_SECONDS="${PUBLISH_SECONDS:-30}"
  DAY_STUDENTS="${DAY_STUDENTS:-10000}"; DAY_WARMUP="${DAY_WARMUP:-3}"; DAY_SECONDS="${DAY_SECONDS:-15}"
fi
DAY_SOCKETS=$((DAY_STUDENTS + (DAY_STUDENTS + DAY_COURSE_SIZE - 1) / DAY_COURSE_SIZE)) # students and an instructor per course
DURABLE_N=$((DURABLE_ROOMS * DURABLE_PER_ROOM)) # sockets in all
# the hold lasts at least its idle window
[ "$HOLD_SECONDS" -lt "$IDLE_CPU_SECONDS" ] && HOLD_SECONDS="$IDLE_CPU_SECONDS"
CLUSTER_SIZES="${CLUSTER_SIZES:-$SIZES}"
ENGINE_JAVA_OPTS="${ENGINE_JAVA_OPTS:--Djava.util.concurrent.ForkJoinPool.common.parallelism=4}"
# hold: a fixed, pre-touched heap, so that RSS grows by native memory only (see README)
HOLD_JAVA_OPTS="${HOLD_JAVA_OPTS:--Xms2g -Xmx2g -XX:+AlwaysPreTouch}"
# three nodes on 2 cores: a modest heap each
CLUSTER_JAVA_OPTS="${CLUSTER_JAVA_OPTS:--Xms256m -Xmx768m -Djava.util.concurrent.ForkJoinPool.common.parallelism=4}"
CEILING_JAVA_OPTS="${CEILING_JAVA_OPTS:-}"
DRIVER_JAVA_OPTS="${DRIVER_JAVA_OPTS:--Xms256m -Xmx1g}"
DRIVER_THREADS="${DRIVER_THREADS:-2}"
CEILING_THREADS="${CEILING_THREADS:-$(nproc)}"

for s in $SERVERS; do
  case "$s" in lms|lms-pekko|lms-memory|lms-pg|socketio|plain) ;; *) echo "run.sh: unknown server $s (lms, lms-pekko, lms-memory, lms-pg, socketio, plain)" >&2; exit 64 ;; esac
done
for k in $MEMBER_KINDS; do
  case "$k" in ws|sse) ;; *) echo "run.sh: unknown member kind $k (ws, sse)" >&2; exit 64 ;; esac
done
for s in $SCENARIOS; do
  case "$s" in fanout|hold|handshake|capacity|durable|publish|lms-day|cluster) ;; *) echo "run.sh: unknown scenario $s (fanout, hold, handshake, capacity, durable, publish, lms-day, cluster)" >&2; exit 64 ;; esac
done
has() { case " $1 " in *" $2 "*) return 0 ;; *) return 1 ;; esac; }

# PostgreSQL for lms-pg: Debian's binaries, the newest version installed
PG_BIN=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
  [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && PG_BIN="$d"
done
DURABLE_NOTE=""
if [ -z "$DURABLE_SERVERS" ]; then
  if [ "$MODE" = quick ]; then
    DURABLE_SERVERS="lms lms-memory" # about 1 min 45 s; with lms-pg 2 min 40 s
  elif [ -n "$PG_BIN" ]; then
    DURABLE_SERVERS="lms lms-pg lms-memory"
  else
    DURABLE_SERVERS="lms lms-memory"
    DURABLE_NOTE="lms-pg left out of durable: PostgreSQL is not installed (apt-get install postgresql)"
  fi
fi
PG_NOTE=""
if [ -z "$PUBLISH_SERVERS" ]; then
  PUBLISH_SERVERS="lms-memory lms lms-pg socketio plain"
  [ -n "$PG_BIN" ] || { PUBLISH_SERVERS="lms-memory lms socketio plain"; PG_NOTE="lms-pg left out of publish and lms-day: PostgreSQL is not installed"; }
fi
if [ -z "$DAY_SERVERS" ]; then
  DAY_SERVERS="lms lms-pg lms-memory socketio"
  [ -n "$PG_BIN" ] || { DAY_SERVERS="lms lms-memory socketio"; PG_NOTE="lms-pg left out of publish and lms-day: PostgreSQL is not installed"; }
fi
for s in $PUBLISH_SERVERS $DAY_SERVERS; do
  case "$s" in lms|lms-pekko|lms-memory|lms-pg|socketio|plain) ;; *) echo "run.sh: --publish-servers / --day-servers: unknown server $s" >&2; exit 64 ;; esac
done
for s in $DAY_SERVERS; do
  [ "$s" = plain ] && { echo "run.sh: --day-servers: the ceiling has no lms-day application (lms, lms-pekko, lms-memory, lms-pg, socketio)" >&2; exit 64; }
done
for s in $DURABLE_SERVERS; do
  case "$s" in lms|lms-pekko|lms-memory|lms-pg) ;; *) echo "run.sh: --durable-servers: $s is not an engine (lms, lms-pekko, lms-memory, lms-pg)" >&2; exit 64 ;; esac
done
if [ "$DURABLE_ROOMS" -lt 1 ] || [ "$DURABLE_PER_ROOM" -lt 1 ] || [ "$DURABLE_RATE" -lt 1 ]; then
  echo "run.sh: --durable-rooms, --durable-members and --durable-rate must be >= 1" >&2; exit 64
fi
is_engine() { case "$1" in lms|lms-pekko|lms-memory|lms-pg) return 0 ;; *) return 1 ;; esac; }
has_lms() {
  local s
  for s in $SERVERS; do is_engine "$s" && return 0; done
  has "$SCENARIOS" durable && [ -n "$DURABLE_SERVERS" ] && return 0
  if has "$SCENARIOS" publish; then for s in $PUBLISH_SERVERS; do is_engine "$s" && return 0; done; fi
  if has "$SCENARIOS" lms-day; then for s in $DAY_SERVERS; do is_engine "$s" && return 0; done; fi
  return 1
}

# open files: every socket is one in the driver and one in the server (both children of this shell). Raise
# the soft limit to the hard one (20,000 on this box) and check that the largest run fits, with room for
# each process's other files (jars, selectors, the cluster's connections, the publish connections)
ulimit -n "$(ulimit -Hn)" 2>/dev/null
FD_LIMIT="$(ulimit -n)"
MOST=0
COUNTS=""
has "$SCENARIOS" fanout && COUNTS="$COUNTS $SIZES"
has "$SCENARIOS" hold && COUNTS="$COUNTS $HOLD_N"
has "$SCENARIOS" handshake && COUNTS="$COUNTS $STORM_N"
has "$SCENARIOS" capacity && COUNTS="$COUNTS $CAP_SIZES"
has "$SCENARIOS" durable && COUNTS="$COUNTS $DURABLE_N"
has "$SCENARIOS" publish && COUNTS="$COUNTS $BATCH_USERS"
has "$SCENARIOS" lms-day && COUNTS="$COUNTS $DAY_SOCKETS"
has "$SCENARIOS" cluster && COUNTS="$COUNTS $CLUSTER_SIZES"
for n in $COUNTS; do [ "$n" -gt "$MOST" ] && MOST="$n"; done
if [ "$FD_LIMIT" != unlimited ] && [ $((MOST + 1000)) -gt "$FD_LIMIT" ]; then
  echo "run.sh: $MOST sockets need about $((MOST + 1000)) open files per process, the limit is $FD_LIMIT (ulimit -n)" >&2
  exit 64
fi

STAMP="$(date -u +%Y-%m-%d-%H%M%S)"
WORK="$BENCH/results/tmp/$STAMP"
MD="$BENCH/results/$STAMP$([ "$MODE" = quick ] && echo -quick).md"
JSON="$BENCH/results/latest.json"
PLOTS="$BENCH/results/plots"
JAR="$WORK/lms-bench.jar" # our own copy, like the engine's
mkdir -p "$WORK"
COMMANDS="$WORK/commands.txt"
MACHINE="$WORK/machine.txt"
: > "$COMMANDS"
T_START=$(date +%s)

# ---------------------------------------------------------------- processes we start, stopped on exit
CURRENT_PIDS="" # the servers running now (one, or a cluster's three; a PostgreSQL first, before its engine)
PG_PIDS=""      # the PostgreSQL servers we started: stopped with SIGINT (fast shutdown)
stop_pid() { # pid: SIGTERM (postgres: SIGINT), wait up to 20 s, then SIGKILL; only our own children
  local pid="$1" i sig=TERM
  kill -0 "$pid" 2>/dev/null || return 0
  has "$PG_PIDS" "$pid" && sig=INT
  kill -"$sig" "$pid" 2>/dev/null
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not stop on SIG$sig in 20 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  return 0
}
stop_current() { # the last started first (a cluster: each node hands its rooms to the others)
  local p
  for p in $(echo $CURRENT_PIDS | tr ' ' '\n' | tac); do stop_pid "$p"; done
  CURRENT_PIDS=""
}
cleanup() {
  stop_current
  rm -f "$WORK/lms-realtime.jar" "$WORK/lms-bench.jar"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

CRASHED=0

# ---------------------------------------------------------------- build and inputs
build_bench
cp "$BUILT_JAR" "$JAR"

if { has "$SERVERS" socketio && { has "$SCENARIOS" fanout || has "$SCENARIOS" hold || has "$SCENARIOS" handshake || has "$SCENARIOS" capacity; }; } \
   || { has "$SCENARIOS" publish && has "$PUBLISH_SERVERS" socketio; } || { has "$SCENARIOS" lms-day && has "$DAY_SERVERS" socketio; }; then
  if [ ! -d "$BENCH/peers/socketio/node_modules/socket.io" ]; then
    log "installing the Socket.IO peer (npm ci)"
    (cd "$BENCH/peers/socketio" && npm ci --no-audit --no-fund --loglevel=error) || { log "npm ci failed"; exit 1; }
  fi
fi

if has_lms || has "$SCENARIOS" cluster; then
  if [ -z "$ENGINE_JAR" ]; then
    ENGINE_JAR="$ROOT/target/lms-realtime.jar"
    if [ ! -f "$ENGINE_JAR" ]; then # a clean clone: build the engine once (tests skipped)
      log "building the engine (target/lms-realtime.jar)"
      (cd "$ROOT" && mvn -q -B -DskipTests package) || { log "engine build failed"; exit 1; }
    fi
  fi
  [ -f "$ENGINE_JAR" ] || { log "no engine jar at $ENGINE_JAR (build the engine, or pass --engine-jar)"; exit 1; }
  cp "$ENGINE_JAR" "$WORK/lms-realtime.jar" # our own copy: a rebuild during the run does not touch it
fi

SECRET="$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')" # 48 characters, new for every run.sh

# ---------------------------------------------------------------- machine facts
{
  echo "date (UTC):     $(date -u '+%Y-%m-%d %H:%M:%S')"
  echo "mode:           $MODE; scenarios: $SCENARIOS; servers: $SERVERS"
  echo "transports:     lms = lms-realtime with LMS_TRANSPORT=netty (the engine's default); lms-pekko = lms-realtime-pekko-http, the same jar with LMS_TRANSPORT=pekko-http; lms-memory and lms-pg on netty"
  echo "fan-out:        members: $SIZES; rate: ${RATE:-$LOAD deliveries/s offered, i.e. $LOAD/members} events/s; warm-up ${WARMUP}s; measured ${MEASURE}s; payload ${PAYLOAD} B; repeats: $REPEATS"
  echo "cluster:        members: $CLUSTER_SIZES; 3 nodes (LMS_TRANSPORT=netty, LMS_DURABLE_ROOMS=: memory rooms); otherwise as fan-out"
  echo "member kinds:   $MEMBER_KINDS (fan-out and hold, engine servers only, the peers ws; sse: GET /sse, each member's frames POSTed to its postUrl over 32 keep-alive connections the driver's members share)"
  echo "hold:           $HOLD_N sockets, held ${HOLD_SECONDS}s (idle CPU over the last ${IDLE_CPU_SECONDS}s; at 0 sockets over ${IDLE_BASELINE_SECONDS}s), over $SOURCES source addresses"
  echo "handshake:      $STORM_N sockets, $IN_FLIGHT in flight, over $SOURCES source addresses, 2 rounds (cold, warm)"
  echo "durable:        $DURABLE_ROOMS rooms (course:d1..course:d$DURABLE_ROOMS) x $DURABLE_PER_ROOM members ($DURABLE_N sockets); $DURABLE_RATE events/s in all, round robin over the rooms, open loop; async client, at most $DURABLE_CONNECTIONS connections; warm-up ${DURABLE_WARMUP}s; measured ${DURABLE_SECONDS}s; payload ${PAYLOAD} B; servers: $DURABLE_SERVERS; repeats: $REPEATS${DURABLE_NOTE:+; $DURABLE_NOTE}"
  echo "publish:        servers: $PUBLISH_SERVERS; rooms without members: $PUBLISH_ROOMS (course:r<R>-1..R, round robin); $PUBLISH_CONNECTIONS keep-alive connections, closed loop (the harness's HttpPool); warm-up ${PUBLISH_WARMUP}s over every room, then per room count 1 s + ${PUBLISH_SECONDS}s measured; batch: $BATCH_USERS users online, $BATCH_SIZE user items a call, $BATCH_CONNECTIONS connections, 5 s + ${PUBLISH_SECONDS}s${PG_NOTE:+; $PG_NOTE}"
  echo "lms-day:        servers: $DAY_SERVERS; $DAY_STUDENTS students in courses of $DAY_COURSE_SIZE, an instructor each ($DAY_SOCKETS sockets); base: a tick per student every 30 s, a notification per student every 600 s (batches of $BATCH_SIZE), an announcement per course every 300 s, a presence query per instructor every 20 s; steps x$(echo $DAY_STEPS | sed 's/ /, x/g'); each ${DAY_WARMUP}s warm-up (the first at least ${DAY_FIRST_WARMUP}s) + ${DAY_SECONDS}s measured + at most ${DAY_DRAIN}s drain; bound p99 <= 100 ms per class, nothing lost; $DAY_CONNECTIONS HTTP connections"
  echo "journals:       lms, lms-pekko: durable rooms (course,user) in H2 under a fresh LMS_DATA_DIR per run; lms-memory: LMS_DURABLE_ROOMS= (every room in memory); lms-pg: PostgreSQL, a fresh server per run; cluster: LMS_DURABLE_ROOMS= (memory rooms: no shared database)"
  if [ -n "$PG_BIN" ]; then
    echo "postgresql:     $("$PG_BIN/postgres" --version 2>/dev/null) ($PG_BIN; default settings, fsync on)"
  fi
  echo "capacity:       members: $CAP_SIZES; steps (deliveries/s): $CAP_STEPS; each ${CAP_WARMUP}s warm-up (the first at least ${CAP_FIRST_WARMUP}s) + ${CAP_SECONDS}s measured + at most ${CAP_DRAIN}s drain; one server process per server and size; bound p99 <= 50 ms, received >= 99.9 % of expected"
  echo "nproc:          $(nproc)"
  echo "cpu:            $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "memory:         $(grep MemTotal /proc/meminfo | awk '{printf "%.1f GiB", $2/1048576}')"
  echo "kernel:         $(uname -sr)"
  echo "fd limit:       $(ulimit -n) (hard $(ulimit -Hn)); largest run $MOST sockets"
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
  echo "hold JVMs:      $HOLD_JAVA_OPTS (engine and ceiling, hold scenario only)"
  echo "cluster JVMs:   $CLUSTER_JAVA_OPTS (each of the 3 nodes)"
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

wait_ready() { # pid url logfile name: 0 when GET url answers 2xx within 90 s
  local pid="$1" url="$2" logf="$3" name="$4" i
  for i in $(seq 1 360); do
    if curl -sf -o /dev/null --max-time 2 "$url"; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  log "$name did not become ready (log: $logf)"
  tail -20 "$logf" | sed 's/^/    /'
  return 1
}

# a PostgreSQL server of the run's own (lms-pg): initdb in $WORK/pg-<id> (owned by postgres: initdb refuses
# root), postgres on a free loopback port with its socket in that directory; sets PG_PID and PG_PORT
PG_PID=
PG_PORT=
start_pg() { # run-id: 0 when it takes connections
  local id="$1" dir="$WORK/pg-$1" logf="$WORK/pg-$1.log" as=() i
  [ -n "$PG_BIN" ] || { log "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres)"; return 1; }
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$dir"
    as=(setpriv --reuid=postgres --regid=postgres --init-groups)
  fi
  PG_PORT="$(free_port 15432)"
  echo "${as[*]:+${as[*]} }$PG_BIN/initdb -D pg-$id/data -A trust -U postgres -E UTF8 --no-sync" >> "$COMMANDS"
  "${as[@]}" "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-sync > "$logf" 2>&1 || {
    log "initdb failed (log: $logf)"; tail -5 "$logf" | sed 's/^/    /'; return 1; }
  echo "${as[*]:+${as[*]} }$PG_BIN/postgres -D pg-$id/data -p $PG_PORT -k pg-$id -c listen_addresses=127.0.0.1" >> "$COMMANDS"
  "${as[@]}" "$PG_BIN/postgres" -D "$dir/data" -p "$PG_PORT" -k "$dir" -c listen_addresses=127.0.0.1 >> "$logf" 2>&1 &
  PG_PID=$! # setpriv execs: this is the postmaster itself
  PG_PIDS="$PG_PIDS $PG_PID"
  CURRENT_PIDS="$PG_PID"
  for i in $(seq 1 120); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -t 1 && return 0
    kill -0 "$PG_PID" 2>/dev/null || break
    sleep 0.25
  done
  log "postgres did not start (log: $logf)"; tail -5 "$logf" | sed 's/^/    /'
  return 1
}

SERVER_PID=
SERVER_PORT=
start_server() { # name run-id [hold]: sets SERVER_PID and SERVER_PORT; 0 when ready
  local name="$1" id="$2" variant="${3:-}" logf="$WORK/server-$2.log" ready cport opts
  CURRENT_PIDS=""
  case "$name" in
    lms|lms-pekko|lms-memory|lms-pg) # the same jar; only the transport and the journal differ
      local transport=netty data="$WORK/data-$id" durable_env=() shown_env=""
      [ "$name" = lms-pekko ] && transport=pekko-http
      # a fresh LMS_DATA_DIR for every engine (its H2 journal: never the repository's ./data, never shared)
      durable_env=(LMS_DATA_DIR="$data")
      shown_env="LMS_DATA_DIR=data-$id"
      if [ "$name" = lms-memory ]; then
        durable_env+=(LMS_DURABLE_ROOMS=)
        shown_env="$shown_env LMS_DURABLE_ROOMS="
      elif [ "$name" = lms-pg ]; then
        start_pg "$id" || return 1
        durable_env+=(LMS_DB_URL="jdbc:postgresql://127.0.0.1:$PG_PORT/postgres" LMS_DB_USER=postgres LMS_DB_PASSWORD=)
        shown_env="$shown_env LMS_DB_URL=jdbc:postgresql://127.0.0.1:$PG_PORT/postgres LMS_DB_USER=postgres LMS_DB_PASSWORD="
      fi
      SERVER_PORT="$(free_port 18281)"; cport="$(free_port 17381)"
      opts="$ENGINE_JAVA_OPTS"
      [ "$variant" = hold ] && opts="$HOLD_JAVA_OPTS $ENGINE_JAVA_OPTS"
      echo "LMS_TRANSPORT=$transport $shown_env LMS_JWT_SECRET=\$SECRET LMS_MAX_CONNECTIONS_PER_IP=20000 LMS_MAX_CONNECTIONS_PER_USER=20000 LMS_HTTP_HOST=127.0.0.1 LMS_HTTP_PORT=$SERVER_PORT LMS_CLUSTER_HOST=127.0.0.1 LMS_CLUSTER_PORT=$cport java $opts -jar lms-realtime.jar" >> "$COMMANDS"
      env "${durable_env[@]}" LMS_TRANSPORT="$transport" LMS_JWT_SECRET="$SECRET" LMS_MAX_CONNECTIONS_PER_IP=20000 LMS_MAX_CONNECTIONS_PER_USER=20000 \
        LMS_HTTP_HOST=127.0.0.1 LMS_HTTP_PORT="$SERVER_PORT" LMS_CLUSTER_HOST=127.0.0.1 LMS_CLUSTER_PORT="$cport" \
        java $opts -jar "$WORK/lms-realtime.jar" > "$logf" 2>&1 &
      SERVER_PID=$!
      ready="/health/ready" ;;
    plain)
      SERVER_PORT="$(free_port 18282)"
      opts="$CEILING_JAVA_OPTS"
      [ "$variant" = hold ] && opts="$HOLD_JAVA_OPTS $CEILING_JAVA_OPTS"
      echo "java ${opts:+$opts }-cp bench/target/lms-bench.jar lms.bench.NettyCeiling --host 127.0.0.1 --port $SERVER_PORT --threads $CEILING_THREADS" >> "$COMMANDS"
      java $opts -cp "$JAR" lms.bench.NettyCeiling --host 127.0.0.1 --port "$SERVER_PORT" --threads "$CEILING_THREADS" > "$logf" 2>&1 &
      SERVER_PID=$!
      ready="/health" ;;
    socketio)
      SERVER_PORT="$(free_port 18283)"
      opts=""
      [ "$variant" = hold ] && opts="--expose-gc"
      # the run's JWT secret: the peer's learning-platform application (publish, lms-day) checks the same tokens
      echo "LMS_JWT_SECRET=\$SECRET node ${opts:+$opts }bench/peers/socketio/server.mjs $SERVER_PORT" >> "$COMMANDS"
      LMS_JWT_SECRET="$SECRET" node $opts "$BENCH/peers/socketio/server.mjs" "$SERVER_PORT" > "$logf" 2>&1 &
      SERVER_PID=$!
      ready="/health" ;;
  esac
  CURRENT_PIDS="$CURRENT_PIDS $SERVER_PID" # after its PostgreSQL, if any: stopped first
  wait_ready "$SERVER_PID" "http://127.0.0.1:$SERVER_PORT$ready" "$logf" "$name" || return 1
  check_transport "$name" "$logf"
  return 0
}

# the engine logs "netty transport on ..." when the netty transport carries the sockets, nothing of the
# kind on pekko-http: note once per server (and every time it is not what was asked) in the machine file
TRANSPORT_NOTED=""
check_transport() { # name logfile
  local name="$1" logf="$2" line seen=no
  is_engine "$name" || return 0
  line="$(grep -m1 -o 'netty transport on .*' "$logf" 2>/dev/null)" && seen=yes
  if { [ "$name" != lms-pekko ] && [ "$seen" = no ]; } || { [ "$name" = lms-pekko ] && [ "$seen" = yes ]; }; then
    log "WARNING: $(label_of "$name") does not run the transport it was started with (log: $logf)"
    echo "transport:      WARNING $(basename "$logf"): $name, netty transport line: ${line:-none}" >> "$MACHINE"
  elif ! has "$TRANSPORT_NOTED" "$name"; then
    TRANSPORT_NOTED="$TRANSPORT_NOTED $name"
    if [ "$name" != lms-pekko ]; then
      echo "transport:      $(label_of "$name"): its log says \"$line\"" >> "$MACHINE"
    else
      echo "transport:      $(label_of lms-pekko): no netty transport line in its log (pekko-http's server)" >> "$MACHINE"
    fi
  fi
}

CLUSTER_PIDS=
CLUSTER_URLS=
start_cluster() { # run-id: three lms-realtime nodes, one cluster; sets CLUSTER_PIDS and CLUSTER_URLS (comma lists)
  local id="$1" n hp cp seeds="" hps=() cps=() pids=() urls=() logf
  hp=18381; cp=17481
  for n in 1 2 3; do
    hp="$(free_port "$hp")"; cp="$(free_port "$cp")"
    hps+=("$hp"); cps+=("$cp")
    hp=$((hp + 1)); cp=$((cp + 1))
  done
  seeds="127.0.0.1:${cps[0]},127.0.0.1:${cps[1]},127.0.0.1:${cps[2]}" # every node names every seed, the first first
  CURRENT_PIDS=""
  for n in 0 1 2; do
    logf="$WORK/server-$id-node$((n + 1)).log"
    echo "LMS_TRANSPORT=netty LMS_DURABLE_ROOMS= LMS_DATA_DIR=data-$id-node$((n + 1)) LMS_JWT_SECRET=\$SECRET LMS_MAX_CONNECTIONS_PER_IP=20000 LMS_MAX_CONNECTIONS_PER_USER=20000 LMS_HTTP_HOST=127.0.0.1 LMS_HTTP_PORT=${hps[$n]} LMS_CLUSTER_HOST=127.0.0.1 LMS_CLUSTER_PORT=${cps[$n]} LMS_SEED_NODES=$seeds java $CLUSTER_JAVA_OPTS -jar lms-realtime.jar" >> "$COMMANDS"
    # three nodes, no shared database: every room in memory (a cluster with durable rooms needs PostgreSQL)
    LMS_TRANSPORT=netty LMS_DURABLE_ROOMS= LMS_DATA_DIR="$WORK/data-$id-node$((n + 1))" \
      LMS_JWT_SECRET="$SECRET" LMS_MAX_CONNECTIONS_PER_IP=20000 LMS_MAX_CONNECTIONS_PER_USER=20000 \
      LMS_HTTP_HOST=127.0.0.1 LMS_HTTP_PORT="${hps[$n]}" LMS_CLUSTER_HOST=127.0.0.1 LMS_CLUSTER_PORT="${cps[$n]}" \
      LMS_SEED_NODES="$seeds" java $CLUSTER_JAVA_OPTS -jar "$WORK/lms-realtime.jar" > "$logf" 2>&1 &
    pids+=("$!")
    urls+=("http://127.0.0.1:${hps[$n]}")
    CURRENT_PIDS="$CURRENT_PIDS $!"
  done
  CLUSTER_PIDS="$(IFS=,; echo "${pids[*]}")"
  CLUSTER_URLS="$(IFS=,; echo "${urls[*]}")"
  for n in 0 1 2; do # /health/ready needs the node Up in the cluster
    wait_ready "${pids[$n]}" "${urls[$n]}/health/ready" "$WORK/server-$id-node$((n + 1)).log" "cluster node $((n + 1))" || return 1
  done
  return 0
}

# events/s for a room of $1 members: --rate, else the same offered load (LOAD deliveries/s) for every size
rate_for() { if [ -n "$RATE" ]; then echo "$RATE"; else echo $(( LOAD / $1 > 0 ? LOAD / $1 : 1 )); fi; }

label_of() { case "$1" in lms) echo lms-realtime ;; lms-pekko) echo lms-realtime-pekko-http ;; lms-memory) echo lms-realtime-memory ;; lms-pg) echo lms-realtime-pg ;; socketio) echo socket.io ;; plain) echo netty-ceiling ;; lms3) echo lms-realtime-3-nodes ;; esac; }
proto_of() { case "$1" in lms|lms-pekko|lms-memory|lms-pg|lms3) echo lms ;; *) echo "$1" ;; esac; } # the driver's --server
is_lms() { case "$1" in lms|lms-pekko|lms-memory|lms-pg|lms3) return 0 ;; *) return 1 ;; esac; }

error_result() { # file scenario server members message
  local rate seconds="$MEASURE"
  rate="$(rate_for "$4")"
  [ "$2" = durable ] && { rate="$DURABLE_RATE"; seconds="$DURABLE_SECONDS"; }
  [ "$2" = publish ] && seconds="$PUBLISH_SECONDS"
  [ "$2" = lms-day ] && seconds="$DAY_SECONDS"
  printf '{"scenario":"%s","server":"%s","members":%s,"rate":%s,"payload_bytes":%s,"seconds":%s,"error":"%s"}\n' \
    "$2" "$(label_of "$3")" "$4" "$rate" "$PAYLOAD" "$seconds" "$5" > "$1"
}

# run_driver scenario server members id out timeout pids driver-args...: runs the driver, checks the servers
run_driver() {
  local scenario="$1" s="$2" m="$3" id="$4" out="$5" tmo="$6" pids="$7" shown rc p alive=1
  shift 7
  local args=("$@" --out "$out")
  shown="${args[*]/#$WORK\//}"
  local tokens=no # the engine, and the peer's application in publish and lms-day, check the run's JWTs
  { is_lms "$s" || { [ "$s" = socketio ] && { [ "$scenario" = publish ] || [ "$scenario" = lms-day ]; }; }; } && tokens=yes
  [ "$tokens" = yes ] && shown="$shown --secret \$SECRET"
  echo "java $DRIVER_JAVA_OPTS -cp bench/target/lms-bench.jar lms.bench.Driver $shown" >> "$COMMANDS"
  [ "$tokens" = yes ] && args+=(--secret "$SECRET")
  timeout "$tmo" java $DRIVER_JAVA_OPTS -cp "$JAR" lms.bench.Driver "${args[@]}" 2>&1 | tee "$WORK/driver-$id.log" | sed 's/^/    /'
  rc=${PIPESTATUS[0]}
  for p in ${pids//,/ }; do kill -0 "$p" 2>/dev/null || alive=0; done
  if [ "$alive" = 0 ]; then
    log "$(label_of "$s") died during the run (logs: $WORK/server-$id*.log)"
    CRASHED=1
    [ -f "$out" ] || error_result "$out" "$scenario" "$s" "$m" "server died during the run"
  elif [ "$rc" != 0 ]; then
    log "driver exited $rc"
    [ "$rc" = 2 ] || CRASHED=1
    [ -f "$out" ] || error_result "$out" "$scenario" "$s" "$m" "driver exit $rc"
  fi
}

count_words() { echo $# ; }
# issue 24: the member kinds a server runs in fan-out and hold (engines: --member-kinds; the peers have WebSockets only)
kinds_of() { if is_lms "$1"; then echo "$MEMBER_KINDS"; else echo ws; fi; }
kind_suffix() { [ "$1" = ws ] || echo "-$1"; } # run ids and files: ws as before, sse with -sse
kind_args() { [ "$2" = sse ] && is_lms "$1" && echo "--member-kind sse"; } # the driver's option (ws: its default)
SERVER_KINDS=0 # fan-out and hold runs per size and repeat: a server per kind it runs
for s in $SERVERS; do SERVER_KINDS=$((SERVER_KINDS + $(count_words $(kinds_of "$s")))); done
TOTAL=0
has "$SCENARIOS" fanout && TOTAL=$((TOTAL + REPEATS * $(count_words $SIZES) * SERVER_KINDS))
has "$SCENARIOS" hold && TOTAL=$((TOTAL + SERVER_KINDS))
has "$SCENARIOS" handshake && TOTAL=$((TOTAL + REPEATS * $(count_words $SERVERS)))
has "$SCENARIOS" capacity && TOTAL=$((TOTAL + $(count_words $CAP_SIZES) * $(count_words $SERVERS)))
has "$SCENARIOS" durable && TOTAL=$((TOTAL + REPEATS * $(count_words $DURABLE_SERVERS)))
has "$SCENARIOS" publish && TOTAL=$((TOTAL + $(count_words $PUBLISH_SERVERS)))
has "$SCENARIOS" lms-day && TOTAL=$((TOTAL + $(count_words $DAY_SERVERS)))
has "$SCENARIOS" cluster && TOTAL=$((TOTAL + REPEATS * $(count_words $CLUSTER_SIZES)))
N=0
log "$MODE: $TOTAL runs (scenarios: $SCENARIOS; servers: $SERVERS); work dir $WORK"

# one_run scenario server members id out timeout variant driver-args...: starts the server fresh (variant:
# "" or hold), runs the driver against it (adding --url and --server-pid), stops it
one_run() {
  local scenario="$1" s="$2" m="$3" id="$4" out="$5" timeout="$6" variant="$7"
  shift 7
  if ! start_server "$s" "$id" "$variant"; then
    error_result "$out" "$scenario" "$s" "$m" "server did not start"
    stop_current; CRASHED=1
    return 0
  fi
  local db=()
  [ "$s" = lms-pg ] && { [ "$scenario" = durable ] || [ "$scenario" = publish ] || [ "$scenario" = lms-day ]; } &&
    db=(--db-pid "$PG_PID") # the database's CPU, beside the engine's
  run_driver "$scenario" "$s" "$m" "$id" "$out" "$timeout" "$SERVER_PID" \
    "$@" "${db[@]}" --server "$(proto_of "$s")" --label "$(label_of "$s")" --url "http://127.0.0.1:$SERVER_PORT" --server-pid "$SERVER_PID"
  stop_current
  # the journal's size on disk (the engine's LMS_DATA_DIR, or the PostgreSQL cluster's databases), then both
  # go (H2's file grows by some 15 KB per stored event here, hundreds of MB per durable run; the logs stay)
  if [ -d "$WORK/data-$id" ]; then
    echo "data-$id: $(du -sb "$WORK/data-$id" | cut -f1) bytes after the run" >> "$WORK/journal-sizes.txt"
    rm -rf "$WORK/data-$id"
  fi
  if [ -d "$WORK/pg-$id" ]; then
    echo "pg-$id: $(du -sb "$WORK/pg-$id/data/base" 2>/dev/null | cut -f1) bytes of databases after the run" >> "$WORK/journal-sizes.txt"
    rm -rf "$WORK/pg-$id"
  fi
  sleep 2
}

# ---------------------------------------------------------------- fan-out
if has "$SCENARIOS" fanout; then
  log "fan-out: members $SIZES; ${RATE:-$LOAD/members} events/s; ${WARMUP}s + ${MEASURE}s; repeats $REPEATS"
  for r in $(seq 1 "$REPEATS"); do
    for m in $SIZES; do
      for s in $SERVERS; do # servers interleaved: drift in the box's load hits them alike
        for k in $(kinds_of "$s"); do
          N=$((N + 1))
          id="$(printf '%05d' "$m")-$s$(kind_suffix "$k")-$r"
          out="$WORK/run-$id.json"
          log "run $N/$TOTAL: fan-out, $(label_of "$s"), $m $k members, repeat $r"
          one_run fanout "$s" "$m" "$id" "$out" $(( WARMUP + MEASURE + 300 )) "" \
            --members "$m" --rate "$(rate_for "$m")" --seconds "$MEASURE" \
            --warmup "$WARMUP" --payload-bytes "$PAYLOAD" --threads "$DRIVER_THREADS" $(kind_args "$s" "$k")
        done
      done
    done
  done
fi

# ---------------------------------------------------------------- sockets held
if has "$SCENARIOS" hold; then
  log "hold: $HOLD_N sockets, ${HOLD_SECONDS}s, $SOURCES source addresses"
  for s in $SERVERS; do
    for k in $(kinds_of "$s"); do
      N=$((N + 1))
      id="hold-$s$(kind_suffix "$k")"
      out="$WORK/hold-$s$(kind_suffix "$k").json"
      log "run $N/$TOTAL: hold, $(label_of "$s"), $HOLD_N $k members"
      one_run hold "$s" "$HOLD_N" "$id" "$out" $(( HOLD_SECONDS + IDLE_BASELINE_SECONDS + 900 )) hold \
        --scenario hold --members "$HOLD_N" \
        --hold-seconds "$HOLD_SECONDS" --idle-cpu-seconds "$IDLE_CPU_SECONDS" --idle-baseline-seconds "$IDLE_BASELINE_SECONDS" \
        --sources "$SOURCES" --threads "$DRIVER_THREADS" --join-timeout 300 $(kind_args "$s" "$k")
    done
  done
fi

# ---------------------------------------------------------------- handshake storm
if has "$SCENARIOS" handshake; then
  log "handshake storm: $STORM_N sockets, $IN_FLIGHT in flight, $SOURCES source addresses; repeats $REPEATS"
  for r in $(seq 1 "$REPEATS"); do
    for s in $SERVERS; do
      N=$((N + 1))
      id="handshake-$s-$r"
      out="$WORK/handshake-$s-$r.json"
      log "run $N/$TOTAL: handshake storm, $(label_of "$s"), $STORM_N sockets, repeat $r"
      one_run handshake "$s" "$STORM_N" "$id" "$out" 600 "" \
        --scenario handshake --members "$STORM_N" \
        --connect-concurrency "$IN_FLIGHT" --sources "$SOURCES" --threads "$DRIVER_THREADS" --join-timeout 120
    done
  done
fi

# ---------------------------------------------------------------- capacity step-up
if has "$SCENARIOS" capacity; then
  log "capacity: members $CAP_SIZES; steps $CAP_STEPS deliveries/s; ${CAP_WARMUP}s + ${CAP_SECONDS}s per step"
  STEPS_CSV="$(echo $CAP_STEPS | tr ' ' ',')"
  CAP_TIMEOUT=$(( $(count_words $CAP_STEPS) * (CAP_WARMUP + CAP_SECONDS + CAP_DRAIN + 30) + CAP_FIRST_WARMUP + 600 ))
  for m in $CAP_SIZES; do
    for s in $SERVERS; do # one server process per server and size, kept running across its steps
      N=$((N + 1))
      id="capacity-$(printf '%05d' "$m")-$s"
      out="$WORK/capacity-$(printf '%05d' "$m")-$s.json"
      log "run $N/$TOTAL: capacity, $(label_of "$s"), $m members"
      one_run capacity "$s" "$m" "$id" "$out" "$CAP_TIMEOUT" "" \
        --scenario capacity --members "$m" --steps "$STEPS_CSV" --warmup "$CAP_WARMUP" --seconds "$CAP_SECONDS" \
        --first-step-warmup "$CAP_FIRST_WARMUP" --drain "$CAP_DRAIN" --payload-bytes "$PAYLOAD" \
        --sources "$SOURCES" --threads "$DRIVER_THREADS" --join-timeout 300
    done
  done
fi

# ---------------------------------------------------------------- durable publish (issue 14)
if has "$SCENARIOS" durable; then
  log "durable: $DURABLE_ROOMS rooms x $DURABLE_PER_ROOM members; $DURABLE_RATE events/s in all; ${DURABLE_WARMUP}s + ${DURABLE_SECONDS}s; servers $DURABLE_SERVERS; repeats $REPEATS"
  [ -n "$DURABLE_NOTE" ] && log "$DURABLE_NOTE"
  for r in $(seq 1 "$REPEATS"); do
    for s in $DURABLE_SERVERS; do # interleaved, as fan-out
      N=$((N + 1))
      id="durable-$s-$r"
      out="$WORK/durable-$s-$r.json"
      log "run $N/$TOTAL: durable, $(label_of "$s"), $DURABLE_ROOMS rooms x $DURABLE_PER_ROOM, repeat $r"
      one_run durable "$s" "$DURABLE_N" "$id" "$out" $(( DURABLE_WARMUP + DURABLE_SECONDS + 300 )) "" \
        --scenario durable --members "$DURABLE_N" --rooms "$DURABLE_ROOMS" --rate "$DURABLE_RATE" \
        --seconds "$DURABLE_SECONDS" --warmup "$DURABLE_WARMUP" --payload-bytes "$PAYLOAD" \
        --publish-connections "$DURABLE_CONNECTIONS" --prewarm "$DURABLE_PREWARM" --drain 5 --threads "$DRIVER_THREADS"
    done
  done
fi

# ---------------------------------------------------------------- publish at saturation, and batches (issue 23)
if has "$SCENARIOS" publish; then
  log "publish: servers $PUBLISH_SERVERS; rooms $PUBLISH_ROOMS; $PUBLISH_CONNECTIONS connections; ${PUBLISH_WARMUP}s + ${PUBLISH_SECONDS}s per room count; batch $BATCH_USERS users x $BATCH_SIZE a call"
  for s in $PUBLISH_SERVERS; do # one server process each: warm-up, every room count, then the batch
    N=$((N + 1))
    id="publish-$s"
    out="$WORK/publish-$s.json"
    log "run $N/$TOTAL: publish, $(label_of "$s")"
    one_run publish "$s" "$BATCH_USERS" "$id" "$out" $(( PUBLISH_WARMUP + 3 * (PUBLISH_SECONDS + 5) + 600 )) "" \
      --scenario publish --publish-rooms "$(echo $PUBLISH_ROOMS | tr ' ' ',')" --publish-connections "$PUBLISH_CONNECTIONS" \
      --warmup "$PUBLISH_WARMUP" --seconds "$PUBLISH_SECONDS" --payload-bytes "$PAYLOAD" \
      --batch-users "$BATCH_USERS" --batch-size "$BATCH_SIZE" --batch-connections "$BATCH_CONNECTIONS" --batch-warmup 5 \
      --drain 5 --sources "$SOURCES" --threads "$DRIVER_THREADS" --join-timeout 120
  done
fi

# ---------------------------------------------------------------- a learning platform's day (issue 23)
if has "$SCENARIOS" lms-day; then
  log "lms-day: servers $DAY_SERVERS; $DAY_STUDENTS students, courses of $DAY_COURSE_SIZE; steps x$DAY_STEPS; ${DAY_WARMUP}s + ${DAY_SECONDS}s per step"
  DAY_TIMEOUT=$(( $(count_words $DAY_STEPS) * (DAY_WARMUP + DAY_SECONDS + DAY_DRAIN + 30) + DAY_FIRST_WARMUP + 900 ))
  for s in $DAY_SERVERS; do # one server process per server, kept running across its steps
    N=$((N + 1))
    id="lms-day-$s"
    out="$WORK/lms-day-$s.json"
    log "run $N/$TOTAL: lms-day, $(label_of "$s"), $DAY_STUDENTS students"
    one_run lms-day "$s" "$DAY_SOCKETS" "$id" "$out" "$DAY_TIMEOUT" "" \
      --scenario lms-day --students "$DAY_STUDENTS" --course-size "$DAY_COURSE_SIZE" \
      --steps "$(echo $DAY_STEPS | tr ' ' ',')" --warmup "$DAY_WARMUP" --first-step-warmup "$DAY_FIRST_WARMUP" \
      --seconds "$DAY_SECONDS" --drain "$DAY_DRAIN" --p99-bound-ms 100 --batch-size "$BATCH_SIZE" \
      --publish-connections "$DAY_CONNECTIONS" --sources "$SOURCES" --threads "$DRIVER_THREADS" --join-timeout 300
  done
fi

# ---------------------------------------------------------------- fan-out on a three-node cluster
if has "$SCENARIOS" cluster; then
  log "cluster fan-out: 3 lms-realtime nodes; members $CLUSTER_SIZES; ${RATE:-$LOAD/members} events/s; ${WARMUP}s + ${MEASURE}s; repeats $REPEATS"
  for r in $(seq 1 "$REPEATS"); do
    for m in $CLUSTER_SIZES; do
      N=$((N + 1))
      id="$(printf '%05d' "$m")-lms3-$r"
      out="$WORK/run-$id.json"
      log "run $N/$TOTAL: fan-out on 3 nodes, $m members, repeat $r"
      t0=$(date +%s)
      if ! start_cluster "$id"; then
        error_result "$out" fanout lms3 "$m" "cluster did not start"
        stop_current; CRASHED=1
        continue
      fi
      log "cluster ready in $(( $(date +%s) - t0 )) s: $CLUSTER_URLS (pids $CLUSTER_PIDS)"
      run_driver fanout lms3 "$m" "$id" "$out" $(( WARMUP + MEASURE + 300 )) "$CLUSTER_PIDS" \
        --server lms --label lms-realtime-3-nodes --url "$CLUSTER_URLS" --members "$m" --rate "$(rate_for "$m")" \
        --seconds "$MEASURE" --warmup "$WARMUP" --payload-bytes "$PAYLOAD" --threads "$DRIVER_THREADS" \
        --server-pid "$CLUSTER_PIDS"
      stop_current
      sleep 2
    done
  done
fi

[ -f "$WORK/journal-sizes.txt" ] && sed 's/^/journal size:   /' "$WORK/journal-sizes.txt" >> "$MACHINE"
echo "load at end:    $(cut -d' ' -f1-3 /proc/loadavg)" >> "$MACHINE"
echo "wall time:      $(( $(date +%s) - T_START )) s for the runs (before the report)" >> "$MACHINE"

mkdir -p "$PLOTS"
java -Djava.awt.headless=true -cp "$JAR" lms.bench.Report --runs "$WORK" --machine "$MACHINE" --commands "$COMMANDS" \
  --mode "$MODE" --title "lms-realtime benchmarks, $STAMP ($MODE)" --json "$JSON" --md "$MD" --plots "$PLOTS" \
  --stamp "$STAMP" --command "$COMMAND_LINE" || CRASHED=1
readme "$JAR" || CRASHED=1
log "results: $MD, $JSON and $PLOTS/ (per-run files and logs: $WORK); $(( $(date +%s) - T_START )) s in all"
exit "$CRASHED"
