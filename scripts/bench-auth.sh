#!/usr/bin/env bash
# Auth and TLS benchmark (BENCHMARKS.md, issue 11): GET /api/v1/tools with 1,000 tools on
# one node (embedded store), with and without a token, over HTTP and HTTPS, in one run.
# Each configuration is a fresh daemon on the same data dir; the four are measured twice,
# interleaved, so that a slow moment of the machine does not favour one of them.
# Usage: scripts/bench-auth.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v openssl >/dev/null || need+=(openssl)
command -v protoc >/dev/null || need+=(protobuf-compiler libprotobuf-dev)
if [ ${#need[@]} -gt 0 ]; then $SUDO apt-get update; $SUDO apt-get install -y "${need[@]}"; fi

cargo build --release -p mao-server -p maoctl
bin=target/release
work=$(mktemp -d)
dpid=""
cleanup() { [ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=mao-bench -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
token=$("$bin/mao-orchestrator" token create bench --role admin --data-dir "$work/data" 2>/dev/null)

start() { # args...
  "$bin/mao-orchestrator" --listen 127.0.0.1:0 --log warn --node bench --data-dir "$work/data" \
    --allowed-images "registry.example.org/*" "$@" >"$work/out" 2>"$work/err" &
  dpid=$!
  for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
  url=$(sed -n 's/^mao-orchestrator listening on //p' "$work/out")
  [ -n "$url" ] || { cat "$work/err"; exit 1; }
}
stop() { kill "$dpid"; wait "$dpid" 2>/dev/null || true; dpid=""; }

start --auth required
seq -w 1 1000 | xargs -P 8 -I{} curl -sf -o /dev/null -X POST "$url/api/v1/tools" \
  -H 'content-type: application/json' -H "authorization: Bearer $token" \
  -d '{"name":"tool-{}","author":"Benchmark Author","image":"registry.example.org/mao/collector-{}:1.0","data_repo":"https://github.com/mao-bench/data-{}.git","code_repo":"https://github.com/mao-bench/code-{}.git","artefact":"benchmark artefact {}","description":"one of a thousand registered tools"}'
n=$(curl -sf -H "authorization: Bearer $token" "$url/api/v1/tools" | python3 -c 'import json,sys;print(len(json.load(sys.stdin)["items"]))')
[ "$n" = 1000 ] || { echo "expected 1000 tools, got $n"; exit 1; }
stop

measure() { # label, header args...
  local label=$1; shift
  wrk -t2 -c16 -d10s --latency "$@" "$url/api/v1/tools" >"$work/wrk"
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk")
  p99=$(awk '$1=="99%" {print $2}' "$work/wrk")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk")
  echo "$label: ${rps} req/s, p99 ${p99}${non2xx:+, NON-2XX $non2xx}"
}

echo "machine: $(nproc) cores; $(date -u +%F); GET /api/v1/tools, 1,000 tools, wrk -t2 -c16 -d10s"
tls=(--tls-cert "$work/cert.pem" --tls-key "$work/key.pem")
for round in 1 2; do
  echo "# round $round"
  start --auth off; measure "HTTP,  no auth"; stop
  start --auth required; measure "HTTP,  token  " -H "Authorization: Bearer $token"; stop
  start --auth off "${tls[@]}"; measure "HTTPS, no auth"; stop
  start --auth required "${tls[@]}"; measure "HTTPS, token  " -H "Authorization: Bearer $token"; stop
done
