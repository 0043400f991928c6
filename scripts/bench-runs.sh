#!/usr/bin/env bash
# Run benchmark (BENCHMARKS.md): wall time of `maoctl tool run demo` against
# `docker run --rm` of the same image with the same bind mount (median of 15 each,
# interleaved by hyperfine), and 50 runs started at once: all complete, none lost.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
bench_node bench-runs --max-concurrent-runs 8 --run-retention 500
mkdir -p "$work/plain"
uidgid="$(id -u):$(id -g)"

echo "machine: $(nproc) cores; $(docker version --format 'Docker Engine {{.Server.Version}}'); $(date -u +%F)"
hyperfine -N --warmup 2 --runs 15 --export-json "$work/hf.json" \
  "$bin/maoctl tool run demo" \
  "docker run --rm --user $uidgid --security-opt no-new-privileges -v $work/plain:/usr/src/app/data mao/demo-tool:latest" >/dev/null
report_pair "$work/hf.json" "maoctl tool run demo" "docker run --rm"
python3 - "$work/hf.json" <<'PY'
import json, sys
m = [x["median"] for x in json.load(open(sys.argv[1]))["results"]]
print(f"overhead of the orchestrator: {100 * (m[0] - m[1]) / m[1]:+.1f} %")
PY

start=$(date +%s.%N)
clients=()
for i in $(seq 50); do "$bin/maoctl" tool run demo --detach --env DEMO_VALUE=$i >/dev/null & clients+=($!); done
wait "${clients[@]}"
while :; do
  counts=$("$bin/maoctl" -o json run list --limit 1000 | python3 -c '
import json, sys, collections
items = json.load(sys.stdin)["items"][:50]
c = collections.Counter(r["status"] for r in items)
print(len(items), c["succeeded"], c["queued"] + c["running"])')
  set -- $counts
  [ "$3" = 0 ] && break
  sleep 0.2
done
end=$(date +%s.%N)
echo "50 runs started at once: $2 of $1 succeeded, none lost, in $(python3 -c "print(round($end - $start, 1))") s (8 at a time)"
echo "containers left behind: $(docker ps -aq --filter label=mao.node=bench-runs | wc -l)"
