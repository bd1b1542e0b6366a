#!/usr/bin/env bash
# Services the test suite needs, installed from Debian's packages when missing and started on
# 127.0.0.1 only. With CI=true a missing or failed service is a failure (exit status 1).
#
# Chromium: Debian's browser at /usr/bin/chromium for tests/browser (installed when missing).
#
# PostgreSQL: Debian's server, one cluster on 127.0.0.1, a role and a database for the API
# tests. The last line printed is the URL, e.g.
#   REGIONCARE_TEST_POSTGRES_URL=postgresql+psycopg://regioncare:regioncare@127.0.0.1:5432/regioncare_test
# With --url only the bare URL goes to stdout (everything else to stderr), for the Makefile:
#   url=$(bash scripts/services.sh --url) && REGIONCARE_TEST_POSTGRES_URL=$url pytest
set -uo pipefail

URL_ONLY=0
# fd 3 keeps the caller's stdout for the URL. Every command that may leave a daemon behind
# (apt's postinst, pg_createcluster, pg_ctlcluster) runs with fd 3 closed: a daemon holding
# it would keep the caller's $(...) waiting for ever (CI timed out on exactly that).
if [ "${1:-}" = "--url" ]; then URL_ONLY=1; exec 3>&1 1>&2; fi

# Chromium: Debian's package at /usr/bin/chromium for the browser tests (tests/browser drive
# it with Playwright's Python client; no browser is ever downloaded by Playwright), and a small
# CJK font (fonts-wqy-microhei) so that the zh-CN console renders in its screenshots. Checked
# first so that a PostgreSQL problem outside CI cannot skip it; a failure here exits 1 only
# with CI=true, otherwise the browser tests skip themselves.
CHROMIUM=${REGIONCARE_CHROMIUM:-/usr/bin/chromium}
BROWSER_PACKAGES=""
[ -x "$CHROMIUM" ] || BROWSER_PACKAGES="chromium"
dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || BROWSER_PACKAGES="$BROWSER_PACKAGES fonts-wqy-microhei"
if [ -n "$BROWSER_PACKAGES" ]; then
    if [ "$(id -u)" != "0" ]; then
        echo "services: missing$BROWSER_PACKAGES for the browser tests and we are not root" >&2
        if [ "${CI:-}" = "true" ]; then exit 1; fi
    else
        echo "services: installing Debian's$BROWSER_PACKAGES" >&2
        export DEBIAN_FRONTEND=noninteractive
        # shellcheck disable=SC2086
        if ! { apt-get update -qq >/dev/null && apt-get install -y -qq $BROWSER_PACKAGES >/dev/null; } 3>&-; then
            echo "services: apt-get install$BROWSER_PACKAGES failed" >&2
            if [ "${CI:-}" = "true" ]; then exit 1; fi
            echo "services: continuing without it (browser tests will be skipped outside CI)" >&2
        fi
    fi
fi
if [ -x "$CHROMIUM" ]; then
    echo "services: $("$CHROMIUM" --version 2>/dev/null || echo chromium) at $CHROMIUM" >&2
elif [ "${CI:-}" = "true" ]; then
    echo "services: no Chromium at $CHROMIUM" >&2
    exit 1
fi

PG_USER=${REGIONCARE_PG_USER:-regioncare}
PG_PASSWORD=${REGIONCARE_PG_PASSWORD:-regioncare}
PG_DB=${REGIONCARE_PG_DB:-regioncare_test}
PG_PORT=${REGIONCARE_PG_PORT:-5432}

fail() {
    echo "services: $*" >&2
    if [ "${CI:-}" = "true" ]; then exit 1; fi
    echo "services: continuing without it (PostgreSQL tests will be skipped outside CI)" >&2
    exit 0
}

as_postgres() {
    if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    if [ "$(id -u)" != "0" ]; then fail "PostgreSQL is not installed and we are not root"; fi
    echo "services: installing Debian's postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 3>&- || fail "apt-get update failed"
    apt-get install -y -qq postgresql >/dev/null 3>&- || fail "apt-get install postgresql failed"
fi

PG_VERSION=$(ls /usr/lib/postgresql | sort -V | tail -1)
if command -v pg_lsclusters >/dev/null 2>&1; then
    if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$PG_VERSION main$"; then
        pg_createcluster "$PG_VERSION" main -p "$PG_PORT" >/dev/null 3>&- || fail "pg_createcluster failed"
    fi
    CONF=/etc/postgresql/$PG_VERSION/main/postgresql.conf
    # Loopback only: the test database is never reachable from outside the machine.
    if ! grep -q "^listen_addresses = '127.0.0.1'" "$CONF"; then
        echo "listen_addresses = '127.0.0.1'" >> "$CONF"
    fi
    if ! pg_lsclusters -h | grep "^$PG_VERSION *main" | grep -q online; then
        pg_ctlcluster "$PG_VERSION" main start </dev/null 3>&- || fail "pg_ctlcluster start failed"
    fi
else
    fail "pg_lsclusters not found (postgresql-common missing)"
fi

for _ in $(seq 1 30); do
    as_postgres psql -p "$PG_PORT" -qAtc "SELECT 1" >/dev/null 2>&1 && break
    sleep 1
done
as_postgres psql -p "$PG_PORT" -qAtc "SELECT 1" >/dev/null 2>&1 || fail "PostgreSQL did not answer"

if [ "$(as_postgres psql -p "$PG_PORT" -qAtc "SELECT 1 FROM pg_roles WHERE rolname='$PG_USER'")" != "1" ]; then
    as_postgres psql -p "$PG_PORT" -qc "CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD'" \
        >/dev/null || fail "could not create role $PG_USER"
fi
if [ "$(as_postgres psql -p "$PG_PORT" -qAtc "SELECT 1 FROM pg_database WHERE datname='$PG_DB'")" != "1" ]; then
    as_postgres psql -p "$PG_PORT" -qc "CREATE DATABASE $PG_DB OWNER $PG_USER" >/dev/null \
        || fail "could not create database $PG_DB"
fi
echo "services: PostgreSQL $PG_VERSION on 127.0.0.1:$PG_PORT"
URL="postgresql+psycopg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
if [ "$URL_ONLY" = "1" ]; then echo "$URL" >&3; else echo "REGIONCARE_TEST_POSTGRES_URL=$URL"; fi
