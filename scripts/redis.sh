#!/usr/bin/env bash
# Redis for the Feast online store at scale, and for its tests: Debian's redis-server,
# installed with apt when missing, started on 127.0.0.1 only, no persistence.
#
#   bash scripts/redis.sh [PORT]        # PORT defaults to $REGIONCARE_REDIS_PORT or 6379
#
# Only the connection info goes to stdout, as the last and only line, e.g.
#   redis://127.0.0.1:6379
# (Feast's redis online store takes it as "127.0.0.1:6379"; features.store converts.)
# Messages go to stderr. With CI=true any failure exits 1; otherwise the script exits 0
# with nothing on stdout, and the Redis tests skip themselves.
# A server already answering on the port is reused. `bash scripts/redis.sh --stop [PORT]`
# shuts down the one this script started on that port.
set -uo pipefail

STOP=0
if [ "${1:-}" = "--stop" ]; then STOP=1; shift; fi
PORT=${1:-${REGIONCARE_REDIS_PORT:-6379}}
RUN_DIR=${REGIONCARE_REDIS_DIR:-${TMPDIR:-/tmp}/regioncare-redis-$PORT}

say() { echo "redis: $*" >&2; }
fail() {
    say "$*"
    if [ "${CI:-}" = "true" ]; then exit 1; fi
    say "continuing without it (Redis tests will be skipped outside CI)"
    exit 0
}

ping() {
    if command -v redis-cli >/dev/null 2>&1; then
        [ "$(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" = "PONG" ]
    else
        # No client installed: a bare RESP PING over bash's /dev/tcp, in a subshell so that
        # a refused connection neither prints nor leaves a descriptor behind.
        (
            exec 4<>"/dev/tcp/127.0.0.1/$PORT" || exit 1
            printf 'PING\r\n' >&4
            read -r -t 2 reply <&4 || exit 1
            [ "${reply%$'\r'}" = "+PONG" ]
        ) 2>/dev/null
    fi
}

if [ "$STOP" = "1" ]; then
    if [ -f "$RUN_DIR/redis.pid" ]; then
        kill "$(cat "$RUN_DIR/redis.pid")" 2>/dev/null && say "stopped the server on $PORT"
        rm -f "$RUN_DIR/redis.pid"
    fi
    exit 0
fi

if ping; then
    say "reusing the server already answering on 127.0.0.1:$PORT"
    echo "redis://127.0.0.1:$PORT"
    exit 0
fi

SERVER=$(command -v redis-server || true)
if [ -z "$SERVER" ]; then
    if [ "$(id -u)" != "0" ]; then fail "redis-server is not installed and we are not root"; fi
    say "installing Debian's redis-server"
    export DEBIAN_FRONTEND=noninteractive
    # The package's postinst starts a system service where an init system runs; we start
    # our own below either way (loopback, our port, no persistence).
    apt-get update -qq >/dev/null || fail "apt-get update failed"
    apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null \
        || fail "apt-get install redis-server failed"
    SERVER=$(command -v redis-server || true)
    [ -n "$SERVER" ] || fail "redis-server not found after installing it"
fi

mkdir -p "$RUN_DIR"
"$SERVER" --bind 127.0.0.1 --port "$PORT" --protected-mode yes \
    --save '' --appendonly no --dir "$RUN_DIR" \
    --daemonize yes --pidfile "$RUN_DIR/redis.pid" --logfile "$RUN_DIR/redis.log" \
    >/dev/null 2>&1 || fail "redis-server did not start (see $RUN_DIR/redis.log)"

for _ in $(seq 1 50); do
    ping && break
    sleep 0.1
done
ping || fail "redis-server did not answer on 127.0.0.1:$PORT (see $RUN_DIR/redis.log)"
say "$("$SERVER" --version | awk '{print $3}') on 127.0.0.1:$PORT (pid $(cat "$RUN_DIR/redis.pid"), no persistence)"
echo "redis://127.0.0.1:$PORT"
