#!/usr/bin/env bash
# cluster.sh - a throwaway PostgreSQL cluster for tests.
#
#   cluster.sh start DIR [OWNER_PID]
#                          initdb (once) and start a cluster in DIR; prints
#                          postgresql://postgres@127.0.0.1:PORT/caredesk.
#                          With OWNER_PID, a detached watcher stops the
#                          cluster once that process is gone, so a test that
#                          is killed does not leave a server behind.
#   cluster.sh stop DIR    stops it (fast mode) and removes DIR
#
# The server uses the newest /usr/lib/postgresql/*/bin (or $PG_BINDIR),
# listens on 127.0.0.1 only on a free port, keeps its unix socket inside
# DIR, runs with fsync on and trust auth, and runs as the `postgres` user
# when called as root (else as the caller). stdout carries the URL and
# nothing else; diagnostics go to stderr. Both commands are safe to repeat:
# start on a running cluster prints its URL again, stop on a missing DIR
# does nothing. A start that is not up within 30 s fails (non-zero).
set -euo pipefail

readonly MARKER=.caredesk-pg-cluster # only DIRs holding it are ever removed
readonly START_TIMEOUT=30
readonly PORT_TRIES=5
readonly DB=caredesk

log() { echo "cluster.sh: $*" >&2; }
die() {
  log "$*"
  exit 1
}

usage() { die "usage: cluster.sh start DIR [OWNER_PID] | stop DIR"; }

pg_bindir() {
  local d
  if [[ -n ${PG_BINDIR:-} ]]; then
    d=$PG_BINDIR
  else
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  fi
  [[ -n $d && -x $d/postgres ]] ||
    die "no PostgreSQL server binaries (looked in ${d:-/usr/lib/postgresql/*/bin})"
  echo "$d"
}

# as_owner CMD...: runs CMD as the user the cluster belongs to.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- env HOME="$DIR" "$@"
  else
    "$@"
  fi
}

pg() { as_owner "$BINDIR/$1" "${@:2}"; }

# write_file PATH: stdin into PATH, written as the cluster's user.
write_file() { as_owner tee "$1" >/dev/null; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port that nothing listens on now, below the kernel's ephemeral range.
pick_port() {
  local p i
  for i in $(seq 1 100); do
    p=$((15000 + (RANDOM * 32768 + RANDOM) % 17000))
    if ! port_in_use "$p"; then
      echo "$p"
      return
    fi
  done
  die "no free port found on 127.0.0.1"
}

url() { echo "postgresql://postgres@127.0.0.1:$1/$DB"; }

running() {
  [[ -f $DIR/data/PG_VERSION ]] && pg pg_ctl -D "$DIR/data" status >/dev/null 2>&1
}

# DIR (absolute, existing) must be empty or ours, and usable by the server's user.
prepare_dir() {
  [[ $DIR != *"'"* ]] || die "$DIR: quotes in the path are not supported"
  ((${#DIR} < 80)) || die "$DIR: path too long for a unix socket"
  if [[ ! -f $DIR/$MARKER ]]; then
    [[ -z $(ls -A -- "$DIR") ]] || die "$DIR is neither empty nor a cluster made by cluster.sh"
    touch -- "$DIR/$MARKER"
  fi
  mkdir -p -- "$DIR/sock"
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "running as root but there is no postgres user"
    chown -R postgres: -- "$DIR"
  fi
  as_owner test -w "$DIR" ||
    die "$DIR is not writable by the server's user (is a parent directory private?)"
}

init_cluster() {
  log "initdb in $DIR/data"
  # -N: initdb skips its final sync; the running server has fsync on.
  if ! pg initdb -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C -N \
    >"$DIR/initdb.log" 2>&1; then
    cat "$DIR/initdb.log" >&2
    die "initdb failed"
  fi
  printf '%s\n' 'local all all              trust' \
    'host  all all 127.0.0.1/32 trust' | write_file "$DIR/data/pg_hba.conf"
  echo "include_if_exists 'caredesk.conf'" | as_owner tee -a "$DIR/data/postgresql.conf" >/dev/null
}

write_conf() {
  printf '%s\n' "listen_addresses = '127.0.0.1'" "port = $1" \
    "unix_socket_directories = '$DIR/sock'" 'fsync = on' 'synchronous_commit = on' \
    'logging_collector = off' | write_file "$DIR/data/caredesk.conf"
  echo "$1" >"$DIR/port"
  [[ ! -f $DIR/server.log ]] || : >"$DIR/server.log" # one attempt's log at a time
}

# Tries to start on one port: 0 up, 1 port taken (try another), else dies.
start_on() {
  write_conf "$1"
  if pg pg_ctl -D "$DIR/data" -l "$DIR/server.log" -w -t "$START_TIMEOUT" start >&2; then
    return 0
  fi
  if grep -q 'Address already in use' "$DIR/server.log" 2>/dev/null; then
    log "port $1 taken, trying another"
    return 1
  fi
  pg pg_ctl -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  tail -n 20 "$DIR/server.log" >&2 2>/dev/null || true
  die "server did not start (waited up to ${START_TIMEOUT}s; log: $DIR/server.log)"
}

create_db() {
  local q=(pg psql -X -q -h 127.0.0.1 -p "$1" -U postgres -d postgres -tA)
  if [[ -z $("${q[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$DB'") ]]; then
    "${q[@]}" -c "CREATE DATABASE $DB" >&2 || die "could not create database $DB"
  fi
}

# Stops the cluster when process $1 is gone. Detached (own session, no
# inherited stdio) so it survives the caller's process group being killed
# and holds none of the caller's pipes.
watch_owner() {
  [[ $1 =~ ^[0-9]+$ ]] || die "OWNER_PID must be a process id"
  setsid -f bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec bash "$2" stop "$3"' \
    watcher "$1" "$SELF" "$DIR" </dev/null >/dev/null 2>&1
}

cmd_start() {
  local port i
  prepare_dir
  if running; then
    port=$(cat "$DIR/port")
    log "already running on port $port"
    url "$port"
    return
  fi
  [[ -f $DIR/data/PG_VERSION ]] || init_cluster
  for i in $(seq 1 $PORT_TRIES); do
    port=$(pick_port)
    start_on "$port" && break
    ((i < PORT_TRIES)) || die "no port worked after $PORT_TRIES tries"
  done
  create_db "$port"
  [[ -z $OWNER ]] || watch_owner "$OWNER"
  url "$port"
}

cmd_stop() {
  if [[ ! -e $DIR ]]; then
    log "$DIR does not exist; nothing to stop"
    return
  fi
  [[ -f $DIR/$MARKER ]] || die "$DIR was not made by cluster.sh; not touching it"
  if running; then
    pg pg_ctl -D "$DIR/data" -m fast -w -t "$START_TIMEOUT" stop >&2 ||
      pg pg_ctl -D "$DIR/data" -m immediate -w -t "$START_TIMEOUT" stop >&2 ||
      die "could not stop the server in $DIR; left it in place"
  fi
  rm -rf -- "$DIR"
}

# The server outlives this script: it must not inherit the caller's pipes
# (a caller reading our stdout to EOF would wait for the server to exit).
# No redirection on this loop: bash would park stderr on a high fd for it.
for fd in /proc/$$/fd/*; do
  fd=${fd##*/}
  if ((fd > 2 && fd < 255)); then eval "exec $fd>&-"; fi
done
[[ $# -eq 2 || ($# -eq 3 && $1 == start) ]] || usage
DIR=$2
OWNER=${3:-}
[[ -n $DIR ]] || usage
SELF=$(cd -- "$(dirname -- "$0")" && pwd -P)/$(basename -- "$0")
unset PGHOST PGHOSTADDR PGPORT PGDATA PGUSER PGDATABASE PGOPTIONS PGSERVICE PGPASSWORD
BINDIR=$(pg_bindir)
[[ $1 != start ]] || mkdir -p -- "$DIR"
[[ ! -d $DIR ]] || DIR=$(cd -- "$DIR" && pwd -P)
cd / # the server's user may not be able to enter the caller's directory
case $1 in
  start) cmd_start ;;
  stop) cmd_stop ;;
  *) usage ;;
esac
