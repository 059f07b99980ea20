#!/usr/bin/env bash
# A three-node lms-realtime cluster as plain local processes on 127.0.0.1, for development and
# failure drills. The same setup as docker/docker-compose.yml, without Docker.
#
#   scripts/cluster.sh start [--demo]   build the jar if missing, start the nodes, wait until all are ready
#   scripts/cluster.sh stop             SIGTERM every node, one after another, and wait for each
#   scripts/cluster.sh status           pid, /health/ready and last exit code of each node
#   scripts/cluster.sh kill N           kill -9 node N (a crash: the others down it after the split-brain
#                                       resolver's stable-after)
#   scripts/cluster.sh restart N        SIGTERM node N, wait for it to exit, start it again, wait until
#                                       ready (one step of a rolling restart)
#   scripts/cluster.sh start N          start node N alone (after a kill), wait until ready
#
# Node N (1-based) listens for HTTP on 127.0.0.1:(LMS_CLUSTER_BASE_HTTP_PORT + N - 1) and for the
# cluster on 127.0.0.1:(LMS_CLUSTER_BASE_PORT + N - 1). Logs go to target/cluster/node-N.log, the
# pid to target/cluster/node-N.pid, the exit code of its last run to target/cluster/node-N.exit.
# Every node gets the same LMS_SEED_NODES: all nodes, the first one first (see README, "Running a
# cluster"). Other LMS_* variables in the environment (LMS_LOG_LEVEL, LMS_RATE_PER_SECOND, ...)
# reach every node unchanged.
#
# Environment:
#   LMS_JWT_SECRET               shared HS256 secret; unset: a fixed, public development secret
#   LMS_ALLOWED_ORIGINS          unset: http://localhost:PORT and http://127.0.0.1:PORT of every node
#   LMS_CLUSTER_BASE_HTTP_PORT   first HTTP port (8081)
#   LMS_CLUSTER_BASE_PORT        first cluster port (7355)
#   LMS_CLUSTER_SIZE             number of nodes (3)
#   LMS_CLUSTER_SEEDS            seed list override (default: every node's cluster address)
#   LMS_CLUSTER_JAVA_OPTS        JVM options of each node (-Xmx512m)
#   LMS_CLUSTER_READY_TIMEOUT    seconds to wait for readiness (120)
#   LMS_CLUSTER_STOP_TIMEOUT     seconds to wait for a node to exit after SIGTERM (60)
#   LMS_DB_URL                   PostgreSQL for the durable rooms, shared by every node (with
#                                LMS_DB_USER, LMS_DB_PASSWORD); unset: LMS_DURABLE_ROOMS is empty,
#                                every room in memory (nodes refuse durable rooms without a shared
#                                database; docs/operations.md)
#
# The ports, size, seeds, demo flag and secret chosen by `start` are remembered in
# target/cluster/cluster.env (the secret only as a SHA-256), so `restart N` starts node N exactly
# like its peers and refuses to start it with a different secret.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR="$ROOT/target/cluster"
JAR="$ROOT/target/lms-realtime.jar"
STATE="$DIR/cluster.env"
DEV_SECRET="lms-realtime-local-dev-secret-CHANGE-ME-0123456789"

die() { echo "cluster.sh: $*" >&2; exit 1; }
note() { echo "cluster.sh: $*" >&2; }

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# --- settings: remembered ones win over the environment while any node of the cluster exists ---

load_settings() {
  SIZE=${LMS_CLUSTER_SIZE:-3}
  HTTP_BASE=${LMS_CLUSTER_BASE_HTTP_PORT:-8081}
  CLUSTER_BASE=${LMS_CLUSTER_BASE_PORT:-7355}
  DEMO=0
  SEEDS=${LMS_CLUSTER_SEEDS:-}
  SECRET_SHA=""
  if [[ -f "$STATE" ]]; then
    # shellcheck source=/dev/null
    source "$STATE"
  fi
  [[ "$SIZE" =~ ^[1-9][0-9]*$ ]] || die "LMS_CLUSTER_SIZE must be a positive number"
  [[ "$HTTP_BASE" =~ ^[0-9]+$ && "$CLUSTER_BASE" =~ ^[0-9]+$ ]] || die "the base ports must be numbers"
  if [[ -z "$SEEDS" ]]; then
    local i list=()
    for ((i = 1; i <= SIZE; i++)); do list+=("127.0.0.1:$(cluster_port "$i")"); done
    SEEDS=$(IFS=,; echo "${list[*]}")
  fi
}

save_settings() {
  mkdir -p "$DIR"
  {
    printf 'SIZE=%q\n' "$SIZE"
    printf 'HTTP_BASE=%q\n' "$HTTP_BASE"
    printf 'CLUSTER_BASE=%q\n' "$CLUSTER_BASE"
    printf 'DEMO=%q\n' "$DEMO"
    printf 'SEEDS=%q\n' "$SEEDS"
    printf 'SECRET_SHA=%q\n' "$SECRET_SHA"
  } >"$STATE"
}

http_port() { echo $((HTTP_BASE + $1 - 1)); }
cluster_port() { echo $((CLUSTER_BASE + $1 - 1)); }

secret() {
  if [[ -n "${LMS_JWT_SECRET:-}" ]]; then
    printf '%s' "$LMS_JWT_SECRET"
  else
    printf '%s' "$DEV_SECRET"
  fi
}

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum | cut -d' ' -f1; else shasum -a 256 | cut -d' ' -f1; fi
}

check_node_arg() {
  if ! [[ "${1:-}" =~ ^[1-9][0-9]*$ ]] || (($1 > SIZE)); then die "node must be 1..$SIZE, got '${1:-}'"; fi
}

# --- processes ---

# The pid of node N if that process is alive and is really node N (a pid file can outlive its process
# and the pid can be reused), else nothing.
node_pid() {
  local pidfile="$DIR/node-$1.pid" pid
  [[ -f "$pidfile" ]] || return 0
  pid=$(<"$pidfile")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$DIR/node-$1.jar" || return 0
  else
    ps -p "$pid" -o args= 2>/dev/null | grep -q -- "$DIR/node-$1.jar" || return 0
  fi
  echo "$pid"
}

any_running() {
  local i
  for ((i = 1; i <= SIZE; i++)); do [[ -n "$(node_pid "$i")" ]] && return 0; done
  return 1
}

# HTTP status of GET /health/ready on node N ("000" when nothing answers).
ready_code() {
  local port
  port=$(http_port "$1")
  if command -v curl >/dev/null; then
    curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/health/ready" 2>/dev/null || true
  else
    # the same probe as the Docker image's HEALTHCHECK: bash and /dev/tcp only
    local line=""
    # shellcheck disable=SC2016
    line=$(timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$port"' &&
      printf "GET /health/ready HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3 && IFS= read -r l <&3 && echo "$l"' 2>/dev/null || true)
    if [[ "$line" =~ ^HTTP/1\.[01]\ ([0-9]{3}) ]]; then echo "${BASH_REMATCH[1]}"; else echo "000"; fi
  fi
}

port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

ensure_jar() {
  [[ -f "$JAR" ]] && return 0
  command -v mvn >/dev/null || die "$JAR is missing and mvn is not installed"
  note "building $JAR (mvn -q -B -DskipTests package)"
  mvn -q -B -DskipTests package
  [[ -f "$JAR" ]] || die "the build did not produce $JAR"
}

start_node() {
  local n=$1 hp cp
  hp=$(http_port "$n")
  cp=$(cluster_port "$n")
  [[ -z "$(node_pid "$n")" ]] || { note "node $n is already running (pid $(node_pid "$n"))"; return 0; }
  port_busy "$hp" && die "node $n: 127.0.0.1:$hp is already in use (set LMS_CLUSTER_BASE_HTTP_PORT)"
  port_busy "$cp" && die "node $n: 127.0.0.1:$cp is already in use (set LMS_CLUSTER_BASE_PORT)"
  # Each node runs its own copy of the jar: a rebuild of target/lms-realtime.jar while the cluster
  # runs does not pull the file from under a running JVM, and `restart N` picks up the new build.
  cp "$JAR" "$DIR/node-$n.jar"
  rm -f "$DIR/node-$n.exit"
  local args=()
  ((DEMO)) && args+=(--demo)
  local origins=${LMS_ALLOWED_ORIGINS:-}
  if [[ -z "$origins" ]]; then
    local i o=()
    for ((i = 1; i <= SIZE; i++)); do o+=("http://localhost:$(http_port "$i")" "http://127.0.0.1:$(http_port "$i")"); done
    origins=$(IFS=,; echo "${o[*]}")
  fi
  echo "=== $(date '+%F %T') node $n starting: http 127.0.0.1:$hp, cluster 127.0.0.1:$cp, seeds $SEEDS${args:+, ${args[*]}}" >>"$DIR/node-$n.log"
  # A wrapper shell in its own session (Ctrl-C in this terminal does not reach the nodes) starts
  # java, records its pid, and records its exit code when it ends. Signals go to java directly.
  # shellcheck disable=SC2086
  LMS_HTTP_HOST=127.0.0.1 LMS_HTTP_PORT="$hp" \
    LMS_CLUSTER_HOST=127.0.0.1 LMS_CLUSTER_PORT="$cp" LMS_SEED_NODES="$SEEDS" \
    LMS_JWT_SECRET="$(secret)" LMS_ALLOWED_ORIGINS="$origins" \
    LMS_DURABLE_ROOMS="${LMS_DURABLE_ROOMS-$([[ -n "${LMS_DB_URL:-}" ]] && echo course,user)}" \
    ${SETSID} bash -c 'java "$@" & echo $! >"'"$DIR/node-$n.pid"'"; wait $!; echo $? >"'"$DIR/node-$n.exit"'"' \
    node-"$n" ${LMS_CLUSTER_JAVA_OPTS:--Xmx512m} -jar "$DIR/node-$n.jar" ${args[@]+"${args[@]}"} \
    </dev/null >>"$DIR/node-$n.log" 2>&1 &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -n "$(node_pid "$n")" ]] && break
    sleep 0.1
  done
  [[ -n "$(node_pid "$n")" ]] || die "node $n did not start; see $DIR/node-$n.log"
  echo "node $n: pid $(node_pid "$n"), http://127.0.0.1:$hp, cluster 127.0.0.1:$cp"
}

wait_ready() {
  local timeout=${LMS_CLUSTER_READY_TIMEOUT:-120} deadline n pending
  deadline=$((SECONDS + timeout))
  while :; do
    pending=()
    for n in "$@"; do
      if [[ -z "$(node_pid "$n")" ]]; then
        note "node $n exited ($(last_exit "$n")) before it was ready; the end of its log:"
        tail -n 20 "$DIR/node-$n.log" >&2
        exit 1
      fi
      [[ "$(ready_code "$n")" == 200 ]] || pending+=("$n")
    done
    ((${#pending[@]} == 0)) && break
    if ((SECONDS >= deadline)); then
      note "not ready after ${timeout}s: node(s) ${pending[*]}; they are left running (see $DIR/node-N.log, 'scripts/cluster.sh stop')"
      exit 1
    fi
    sleep 0.5
  done
  for n in "$@"; do echo "node $n: ready (GET http://127.0.0.1:$(http_port "$n")/health/ready -> 200)"; done
}

last_exit() {
  local f="$DIR/node-$1.exit" code
  [[ -f "$f" ]] || { echo "no exit recorded"; return; }
  code=$(<"$f")
  case "$code" in
    0) echo "exit 0" ;;
    137) echo "exit 137: SIGKILL" ;;
    255) echo "exit 255: downed by the cluster, or failed" ;;
    *) echo "exit $code" ;;
  esac
}

# SIGTERM node N and wait for it to exit; past the timeout, kill -9.
stop_node() {
  local n=$1 pid timeout=${LMS_CLUSTER_STOP_TIMEOUT:-60} deadline
  pid=$(node_pid "$n")
  [[ -n "$pid" ]] || { echo "node $n: not running"; return 0; }
  kill -TERM "$pid"
  deadline=$((SECONDS + timeout))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      note "node $n (pid $pid) still running ${timeout}s after SIGTERM: kill -9"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.2
  done
  # the wrapper writes the exit code right after java ends
  for _ in 1 2 3 4 5 6 7 8 9 10; do [[ -f "$DIR/node-$n.exit" ]] && break; sleep 0.1; done
  rm -f "$DIR/node-$n.pid" "$DIR/node-$n.jar"
  echo "node $n: stopped ($(last_exit "$n"))"
}

secret_guard() {
  local sha
  sha=$(secret | sha256)
  if [[ -n "$SECRET_SHA" && "$SECRET_SHA" != "$sha" ]] && any_running; then
    die "the running nodes use another LMS_JWT_SECRET; export the one the cluster was started with"
  fi
  SECRET_SHA=$sha
  [[ -n "${LMS_JWT_SECRET:-}" ]] || note "WARNING: LMS_JWT_SECRET is not set; the nodes use the public development secret \"$DEV_SECRET\". Never use it outside this machine."
}

# --- commands ---

SETSID=""
command -v setsid >/dev/null && SETSID=setsid

cmd=${1:-}
shift || true
load_settings

case "$cmd" in
  start)
    if [[ "${1:-}" =~ ^[0-9]+$ ]]; then
      check_node_arg "$1"
      [[ -f "$STATE" ]] || die "no cluster was started here; run 'scripts/cluster.sh start' first"
      secret_guard
      ensure_jar
      start_node "$1"
      wait_ready "$1"
      exit 0
    fi
    demo=0
    for a in "$@"; do
      case "$a" in
        --demo) demo=1 ;;
        *) usage ;;
      esac
    done
    if any_running; then
      ((demo == DEMO)) || die "the cluster is running with --demo $( ((DEMO)) && echo on || echo off); stop it first"
    else
      # nothing runs: take the settings from the environment afresh
      rm -f "$STATE"
      SECRET_SHA=""
      load_settings
      DEMO=$demo
      for ((i = 1; i <= SIZE; i++)); do
        if [[ -f "$DIR/node-$i.log" ]]; then mv -f "$DIR/node-$i.log" "$DIR/node-$i.log.old"; fi
        rm -f "$DIR/node-$i.pid" "$DIR/node-$i.exit"
      done
    fi
    mkdir -p "$DIR"
    secret_guard
    save_settings
    ensure_jar
    all=()
    for ((i = 1; i <= SIZE; i++)); do start_node "$i"; all+=("$i"); done
    wait_ready "${all[@]}"
    ((DEMO)) && echo "demo page: http://localhost:$(http_port 1)/ (any node serves it)"
    echo "logs: $DIR/node-N.log; stop with: scripts/cluster.sh stop"
    ;;
  stop)
    [[ $# -eq 0 ]] || usage
    # one after another, last node first: each hands its rooms to nodes that are still up
    for ((i = SIZE; i >= 1; i--)); do stop_node "$i"; done
    ;;
  status)
    [[ $# -eq 0 ]] || usage
    echo "seeds $SEEDS$( ((DEMO)) && echo ', --demo')"
    for ((i = 1; i <= SIZE; i++)); do
      pid=$(node_pid "$i")
      if [[ -n "$pid" ]]; then
        echo "node $i: running, pid $pid, http 127.0.0.1:$(http_port "$i") ready=$(ready_code "$i"), cluster 127.0.0.1:$(cluster_port "$i")"
      else
        echo "node $i: not running ($(last_exit "$i"))"
      fi
    done
    ;;
  kill)
    [[ $# -eq 1 ]] || usage
    check_node_arg "$1"
    pid=$(node_pid "$1")
    [[ -n "$pid" ]] || die "node $1 is not running"
    kill -KILL "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -f "$DIR/node-$1.pid" "$DIR/node-$1.jar"
    echo "node $1: killed with SIGKILL (pid $pid). The others mark it unreachable, and the split-brain"
    echo "resolver downs it once membership has been stable for 7 s; its rooms and users then start on them."
    echo "Bring it back with: scripts/cluster.sh start $1"
    ;;
  restart)
    [[ $# -eq 1 ]] || usage
    check_node_arg "$1"
    [[ -f "$STATE" ]] || die "no cluster was started here; run 'scripts/cluster.sh start' first"
    secret_guard
    ensure_jar
    stop_node "$1"
    start_node "$1"
    wait_ready "$1"
    ;;
  *)
    usage
    ;;
esac
