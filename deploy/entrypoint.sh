#!/bin/sh
# Starts the engine in a container with the flags of `deno task run` (deno.json), except the
# network grant: inside a container the engine listens on $HOST:$PORT (0.0.0.0 by default) and
# connects to the NATS servers listed in BUNDLEHOST_CLUSTER, so exactly those are added to
# --allow-net. Extra arguments are passed to the engine (e.g. --log-format json).
set -eu

port="${PORT:-8000}"
host="${HOST:-0.0.0.0}"
net="${host}:${port},127.0.0.1,localhost"

# nats://a:4222,nats://b:4222 -> a:4222,b:4222 (a missing port means 4222).
if [ -n "${BUNDLEHOST_CLUSTER:-}" ]; then
  for entry in $(echo "$BUNDLEHOST_CLUSTER" | tr ',' ' '); do
    hostport="${entry#nats://}"
    case "$hostport" in
      *:*) ;;
      *) hostport="${hostport}:4222" ;;
    esac
    net="${net},${hostport}"
  done
fi

exec ${DENO:-deno} run --no-prompt --v8-flags=--enable-experimental-regexp-engine,--max-semi-space-size=16 \
  --allow-read=. --allow-write=.bundlehost "--allow-net=${net}" \
  --allow-env=PORT,HOST,BUNDLEHOST_ADMIN_TOKEN,BUNDLEHOST_PUBLISH_TOKEN,BUNDLEHOST_DATA_DIR,BUNDLEHOST_CEILING,BUNDLEHOST_LOG_FORMAT,BUNDLEHOST_SECRETS_KEY,BUNDLEHOST_SECRETS_KEY_PREVIOUS,BUNDLEHOST_CLUSTER,TZ,DENO_DIR,OTEL_* \
  --allow-run=deno --allow-sys=setPriority main.ts "$@"
