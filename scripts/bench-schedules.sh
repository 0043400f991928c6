#!/usr/bin/env bash
# Scheduler benchmark (BENCHMARKS.md).
#  A1. 1,000 schedules firing every minute with the demo tool (a fast tool), spread over the
#      seconds of the minute (cron `S * * * * *`, S = i mod 60, 16.7 slots a second): lag from
#      slot to run queued (the scheduler's part) and to container start, p50 and p99, over
#      RUN_SECONDS (default 120 s), daemon CPU and RSS.
#  A2. The same with 60 schedules (one slot a second), a load the Engine keeps up with.
#  B. 10,000 schedules registered (yearly on 1 January, not firing during the measurement): start-up
#     time of the daemon, then its CPU and RSS while idle for 30 s.
set -euo pipefail
cd "$(dirname "$0")/.."
run_seconds=${RUN_SECONDS:-120}
cargo build --release -p mao-server -p maoctl
scripts/build-demo-image.sh >/dev/null
bin=$PWD/target/release
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  docker ps -aq --filter label=mao.node=bench-sched | xargs -r docker rm -f >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
tick=$(getconf CLK_TCK)
cpu_seconds() { awk -v t="$tick" '{print ($14 + $15) / t}' /proc/"$1"/stat; }
rss() { awk '/VmRSS/ {print $2 / 1024 " MB"}' /proc/"$1"/status; }
start_daemon() { # data-dir, extra args
  local data=$1; shift
  "$bin/mao-orchestrator" --data-dir "$data" --listen 127.0.0.1:0 --node bench-sched --log warn "$@" \
    >"$work/out" 2>"$work/err" &
  dpid=$!; pids+=("$dpid")
  for _ in $(seq 1200); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.05; done
  export MAO_ENDPOINT=$(sed -n 's/^mao-orchestrator listening on //p' "$work/out")
  [ -n "$MAO_ENDPOINT" ] || { echo "the daemon did not start:"; tail -20 "$work/err"; exit 1; }
}
create_schedules() { # count, cron-of-i (python expression)
  python3 - "$1" "$2" <<'PY'
import json, os, sys, urllib.request, concurrent.futures
n, expr = int(sys.argv[1]), sys.argv[2]
url = os.environ["MAO_ENDPOINT"] + "/api/v1/schedules"
def make(i):
    body = json.dumps({"id": f"s{i:05d}", "tool": "demo", "cron": eval(expr), "concurrency": "allow"}).encode()
    req = urllib.request.Request(url, body, {"content-type": "application/json"})
    urllib.request.urlopen(req).read()
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    list(pool.map(make, range(n)))
PY
}
echo "machine: $(nproc) cores; $(docker version --format 'Docker Engine {{.Server.Version}}'); $(date -u +%F)"

# A1: the scheduler's part, 1,000 schedules
phase_a() { # label, count, seconds
  local label=$1 count=$2 secs=$3
  start_daemon "$work/$label" --max-concurrent-runs 16 --run-retention 100000
  "$bin/maoctl" tool add demo bench mao/demo-tool:latest https://h/d.git https://h/c.git x >/dev/null
  create_schedules "$count" '"%d * * * * *" % (i % 60)'
  local c0 c1 mem
  c0=$(cpu_seconds "$dpid"); sleep "$secs"; c1=$(cpu_seconds "$dpid"); mem=$(rss "$dpid")
  curl -s "$MAO_ENDPOINT/api/v1/runs?limit=1000" >"$work/runs-$label.json"
  kill -9 "$dpid"; wait "$dpid" 2>/dev/null || true
  docker ps -aq --filter label=mao.node=bench-sched | xargs -r docker rm -f >/dev/null
  python3 - "$work/runs-$label.json" "$c0" "$c1" "$secs" "$mem" "$label" "$count" <<'PY'
import json, sys
from datetime import datetime
def t(s): return datetime.fromisoformat(s.replace("Z", "+00:00"))
runs = [r for r in json.load(open(sys.argv[1]))["items"] if r.get("scheduled_at")]
q = sorted((t(r["queued_at"]) - t(r["scheduled_at"])).total_seconds() * 1e3 for r in runs)
s = sorted((t(r["started_at"]) - t(r["scheduled_at"])).total_seconds() * 1e3 for r in runs if r.get("started_at"))
pct = lambda xs, p: xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")
done = sum(r["status"] == "succeeded" for r in runs)
secs = float(sys.argv[4])
print(f"{sys.argv[6]}: {sys.argv[7]} schedules every minute, {secs:.0f} s; last {len(runs)} runs: {done} succeeded, {len(s)} started")
print(f"   slot -> run queued (the scheduler):  p50 {pct(q, .5):.0f} ms, p99 {pct(q, .99):.0f} ms, max {q[-1] if q else float('nan'):.0f} ms")
print(f"   slot -> container start:             p50 {pct(s, .5):.0f} ms, p99 {pct(s, .99):.0f} ms")
print(f"   daemon CPU {100 * (float(sys.argv[3]) - float(sys.argv[2])) / secs:.1f} % of one core; RSS {sys.argv[5]}")
PY
}
[ -n "${ONLY_A2:-}" ] || phase_a A1 1000 "$run_seconds"
# A2: with a load the Engine can keep up with (one container a second)
phase_a A2 60 90

# B
start_daemon "$work/b"
"$bin/maoctl" tool add demo bench mao/demo-tool:latest https://h/d.git https://h/c.git x >/dev/null
create_schedules 10000 '"%d %d %d 1 1 *" % (i % 60, (i // 60) % 60, (i // 3600) % 24)'
kill "$dpid"; wait "$dpid" 2>/dev/null || true
t0=$(date +%s.%N)
start_daemon "$work/b"
until curl -sf "$MAO_ENDPOINT/jobs" -o /dev/null; do sleep 0.01; done
t1=$(date +%s.%N)
n=$(curl -s "$MAO_ENDPOINT/jobs" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
sleep 5
c0=$(cpu_seconds "$dpid"); sleep 30; c1=$(cpu_seconds "$dpid")
echo "B: 10,000 schedules ($n listed by /jobs): start-up to first answer $(python3 -c "print(round($t1 - $t0, 2))") s"
echo "   idle CPU over 30 s: $(python3 -c "print(round(100 * ($c1 - $c0) / 30, 2))") % of one core; RSS $(rss "$dpid")"
