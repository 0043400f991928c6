#!/usr/bin/env bash
# Registry benchmark (BENCHMARKS.md): 1,000 tools on one node, for each backend:
# list and get-one throughput and p99 with 16 connections (wrk), idle RSS of the daemon,
# wall time of one `maoctl tool list` (hyperfine).
# Usage: scripts/bench.sh [embedded|etcd|both]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-both}
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v hyperfine >/dev/null || need+=(hyperfine)
[ -x /usr/bin/etcd ] || need+=(etcd-server)
command -v protoc >/dev/null || need+=(protobuf-compiler libprotobuf-dev)
if [ ${#need[@]} -gt 0 ]; then $SUDO apt-get update; $SUDO apt-get install -y "${need[@]}"; fi

cargo build --release -p mao-server -p maoctl
bin=target/release
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

start_daemon() { # args...
  # The benchmark's images are never pulled; the pattern only lets them be registered.
  "$bin/mao-orchestrator" --listen 127.0.0.1:0 --log warn --allowed-images "registry.example.org/*" "$@" >"$work/out" 2>"$work/err" &
  dpid=$!; pids+=("$dpid")
  for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
  url=$(sed -n 's/^mao-orchestrator listening on //p' "$work/out")
  [ -n "$url" ] || { cat "$work/err"; exit 1; }
}

register_tools() {
  seq -w 1 1000 | xargs -P 8 -I{} curl -sf -o /dev/null -X POST "$url/api/v1/tools" \
    -H 'content-type: application/json' \
    -d '{"name":"tool-{}","author":"Benchmark Author","image":"registry.example.org/mao/collector-{}:1.0","data_repo":"https://github.com/mao-bench/data-{}.git","code_repo":"https://github.com/mao-bench/code-{}.git","artefact":"benchmark artefact {}","description":"one of a thousand registered tools"}'
  n=$("$bin/maoctl" --endpoint "$url" -o json tool list | python3 -c 'import json,sys;print(len(json.load(sys.stdin)["items"]))')
  [ "$n" = 1000 ] || { echo "expected 1000 tools, got $n"; exit 1; }
}

measure() { # label
  echo "## $1"
  for path in /api/v1/tools /registry/tools /api/v1/tools/tool-0500; do
    wrk -t2 -c16 -d10s --latency "$url$path" >"$work/wrk"
    rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk")
    p99=$(awk '$1=="99%" {print $2}' "$work/wrk")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk")
    echo "GET $path: ${rps} req/s, p99 ${p99}${non2xx:+, NON-2XX $non2xx}"
  done
  sleep 5
  echo "idle RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/"$dpid"/status) (after the load above)"
  hyperfine -N --warmup 5 --runs 50 --export-json "$work/hf.json" \
    "$bin/maoctl --endpoint $url tool list" >/dev/null
  python3 -c "import json;r=json.load(open('$work/hf.json'))['results'][0];print('maoctl tool list (1,000 rows): mean %.1f ms, min %.1f ms, max %.1f ms' % (r['mean']*1e3, r['min']*1e3, r['max']*1e3))"
  hyperfine -N --warmup 5 --runs 50 --export-json "$work/hf.json" \
    "$bin/maoctl --endpoint $url tool get tool-0500" >/dev/null
  python3 -c "import json;r=json.load(open('$work/hf.json'))['results'][0];print('maoctl tool get: mean %.1f ms' % (r['mean']*1e3))"
}

idle_rss_fresh() { # args...: RSS of a freshly started, idle daemon
  start_daemon "$@"
  sleep 3
  echo "idle RSS, fresh daemon with 1,000 tools loaded: $(awk '/VmRSS/ {print $2, $3}' /proc/"$dpid"/status)"
  kill "$dpid"; wait "$dpid" 2>/dev/null || true
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {print int($2/1024/1024)}' /proc/meminfo) GiB; $(date -u +%F)"
if [ "$which" = embedded ] || [ "$which" = both ]; then
  start_daemon --data-dir "$work/embedded" --node bench
  register_tools
  measure "embedded store"
  kill "$dpid"; wait "$dpid" 2>/dev/null || true
  idle_rss_fresh --data-dir "$work/embedded" --node bench
fi
if [ "$which" = etcd ] || [ "$which" = both ]; then
  cport=$(free_port); pport=$(free_port)
  /usr/bin/etcd --name bench --data-dir "$work/etcd" \
    --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "bench=http://127.0.0.1:$pport" >"$work/etcd.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$cport/health" >/dev/null && break; sleep 0.2; done
  start_daemon --data-dir "$work/etcd-node" --node bench --store etcd --etcd-endpoints "http://127.0.0.1:$cport"
  register_tools
  measure "etcd store (etcd $(/usr/bin/etcd --version | awk 'NR==1 {print $3}'))"
  kill "$dpid"; wait "$dpid" 2>/dev/null || true
  idle_rss_fresh --data-dir "$work/etcd-node" --node bench --store etcd --etcd-endpoints "http://127.0.0.1:$cport"
fi
