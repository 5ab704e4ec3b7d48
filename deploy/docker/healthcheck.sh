#!/bin/bash
# ledgerflow-healthcheck [PATH]: exit 0 when GET PATH (default /health) on ledgerflow's HTTP
# listener answers 200, 1 otherwise. Uses bash's /dev/tcp, so the image needs no curl.
#
# The address comes from LEDGERFLOW_HEALTHCHECK_ADDR, else LEDGERFLOW_SERVICE__HTTP_ADDR
# (a wildcard host such as 0.0.0.0 or [::] is reached on 127.0.0.1), else 127.0.0.1:9477.
set -u

path="${1:-/health}"
addr="${LEDGERFLOW_HEALTHCHECK_ADDR:-${LEDGERFLOW_SERVICE__HTTP_ADDR:-127.0.0.1:9477}}"
port="${addr##*:}"
host="${addr%:*}"
host="${host#[}"
host="${host%]}"
case "$host" in
  "" | 0.0.0.0 | "::") host=127.0.0.1 ;;
esac

if ! exec 3<>"/dev/tcp/${host}/${port}"; then
  echo "ledgerflow-healthcheck: cannot connect to ${host}:${port}" >&2
  exit 1
fi
printf 'GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: ledgerflow-healthcheck\r\nConnection: close\r\n\r\n' \
  "$path" "$host" "$port" >&3
status=""
if ! IFS= read -r -t 5 status <&3; then
  echo "ledgerflow-healthcheck: no answer from ${host}:${port}${path}" >&2
  exit 1
fi
exec 3<&-
status="${status%$'\r'}"
case "$status" in
  "HTTP/1."?" 200"*) exit 0 ;;
  *)
    echo "ledgerflow-healthcheck: ${host}:${port}${path}: ${status}" >&2
    exit 1
    ;;
esac
