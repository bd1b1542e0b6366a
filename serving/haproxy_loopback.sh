#!/bin/sh
# Ray Serve's HAProxy template binds its stats page and Prometheus frontend to every
# interface ("bind :PORT", "bind *:PORT"); this platform listens on loopback only. Serve
# runs this script as its HAProxy (RAY_SERVE_HAPROXY_BINARY_PATH): it pins those binds to
# 127.0.0.1 in the generated file, then becomes the bundled HAProxy (same pid, so Serve
# still supervises it).
set -eu
if [ "$REGIONCARE_HAPROXY_BINARY" -ef "$0" ]; then
  echo "haproxy_loopback.sh: REGIONCARE_HAPROXY_BINARY points back to this script" >&2
  exit 1
fi
prev=""
for arg in "$@"; do
  if [ "$prev" = "-f" ]; then
    sed -i -E 's/^([[:space:]]*bind )\*?:([0-9]+)/\1127.0.0.1:\2/' "$arg"
  fi
  prev=$arg
done
exec "$REGIONCARE_HAPROXY_BINARY" "$@"
