#!/usr/bin/env bash
# Pipeline benchmark (BENCHMARKS.md): wall time of `maoctl pipeline run p --follow` (a
# one-step pipeline of the demo tool: fetch, container, commit, push to a bare repository
# on disk) against `maoctl tool run demo` (the same container without git), median of 15
# each, interleaved by hyperfine. The difference is what datasets in git cost per run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
bench_node bench-pipes --run-retention 500
"$bin/maoctl" dataset init-local obs >/dev/null   # a bare repository in the data dir
printf 'name: p\nsteps:\n  - name: s\n    tool: demo\n    output_dataset: obs\n' >"$work/p.yaml"
"$bin/maoctl" pipeline add -f "$work/p.yaml" >/dev/null
"$bin/maoctl" pipeline init p >/dev/null

echo "machine: $(nproc) cores; $(docker version --format 'Docker Engine {{.Server.Version}}'); $(git --version); $(date -u +%F)"
hyperfine -N --warmup 2 --runs 15 --export-json "$work/hf.json" \
  "$bin/maoctl pipeline run p --follow" \
  "$bin/maoctl tool run demo" >/dev/null
report_pair "$work/hf.json" "maoctl pipeline run p --follow" "maoctl tool run demo"
python3 - "$work/hf.json" <<'PY'
import json, sys
m = [x["median"] for x in json.load(open(sys.argv[1]))["results"]]
print(f"git per run (fetch, commit, push): {(m[0] - m[1]) * 1e3:+.0f} ms")
PY
echo "commits on the node branch: $(git -C "$work/data/bare/obs.git" rev-list --count bench-pipes)"
