#!/usr/bin/env bash
# Starts the same source under Deno on its embedded database and checks two routes answer.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
port=39$((RANDOM % 90 + 10))
token="deno-smoke-$RANDOM"
# Its own process group: npm runs deno as a child, and stopping npm alone would leave deno serving.
set -m
BERTH_DATA_DIR="$dir" BERTH_PORT="$port" BERTH_API_TOKEN="$token" BERTH_LOG_LEVEL=warn \
  npm run --silent start:deno >"$dir/log" 2>&1 &
pid=$!
set +m
cleanup() { kill -- "-$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
for _ in $(seq 1 240); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/log"; echo "deno: service exited" >&2; exit 1; }
  sleep 0.5
done
health=$(curl -fsS "http://127.0.0.1:$port/healthz")
[ "$health" = '{"status":"ok"}' ] || { echo "deno: /healthz said $health" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/groups")
[ "$code" = 401 ] || { echo "deno: unauthenticated /v1/groups gave $code" >&2; exit 1; }
created=$(curl -fsS -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"name":"deno","folder":"deno"}' "http://127.0.0.1:$port/v1/groups")
listed=$(curl -fsS -H "authorization: Bearer $token" "http://127.0.0.1:$port/v1/groups")
echo "$listed" | grep -q '"folder":"deno"' || { echo "deno: list did not show the group: $listed" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$port/" | grep -q '<title>berth console</title>' || { echo "deno: / is not the console" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$port/console/app.js" | grep -q '^import ' || { echo "deno: console script missing" >&2; exit 1; }
echo "deno: /healthz ok, 401 without token, console served, created and listed a group ($(echo "$created" | cut -c1-60)…)"
