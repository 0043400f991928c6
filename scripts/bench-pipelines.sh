#!/usr/bin/env bash
# Pipeline benchmark (BENCHMARKS.md): wall time of `maoctl pipeline run p --follow` (a
# one-step pipeline of the demo tool: fetch, container, commit, push to a bare repository
# on disk) against `maoctl tool run demo` (the same container without git), median of 15
# each, interleaved by hyperfine. The difference is what datasets in git cost per run.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo; $sudo apt-get update; $sudo apt-get install -y hyperfine; }
cargo build --release -p mao-server -p maoctl
scripts/build-demo-image.sh
bin=$PWD/target/release
work=$(mktemp -d)
git init -q --bare -b main "$work/obs.git"
git init -q -b main "$work/seed"
echo seed >"$work/seed/README"
git -C "$work/seed" add -A
git -C "$work/seed" -c user.name=b -c user.email=b@b commit -q -m seed
git -C "$work/seed" push -q "$work/obs.git" main
"$bin/mao-orchestrator" --data-dir "$work/data" --listen 127.0.0.1:0 --node bench-pipes --log warn \
  --run-retention 500 >"$work/out" 2>"$work/err" &
dpid=$!
trap 'kill -9 $dpid 2>/dev/null; docker ps -aq --filter label=mao.node=bench-pipes | xargs -r docker rm -f >/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
export MAO_ENDPOINT=$(sed -n 's/^mao-orchestrator listening on //p' "$work/out")
"$bin/maoctl" tool add demo bench mao/demo-tool:latest https://h/d.git https://h/c.git x >/dev/null
"$bin/maoctl" dataset add obs "file://$work/obs.git" >/dev/null
printf 'name: p\nsteps:\n  - name: s\n    tool: demo\n    output_dataset: obs\n' >"$work/p.yaml"
"$bin/maoctl" pipeline add -f "$work/p.yaml" >/dev/null
"$bin/maoctl" pipeline init p >/dev/null

echo "machine: $(nproc) cores; $(docker version --format 'Docker Engine {{.Server.Version}}'); $(git --version); $(date -u +%F)"
hyperfine -N --warmup 2 --runs 15 --export-json "$work/hf.json" \
  "$bin/maoctl pipeline run p --follow" \
  "$bin/maoctl tool run demo" >/dev/null
python3 - "$work/hf.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
m = [x["median"] * 1e3 for x in r]
print(f"maoctl pipeline run p --follow: median {m[0]:.0f} ms (mean {r[0]['mean']*1e3:.0f} ms)")
print(f"maoctl tool run demo:           median {m[1]:.0f} ms (mean {r[1]['mean']*1e3:.0f} ms)")
print(f"git per run (fetch, commit, push): {m[0] - m[1]:+.0f} ms")
PY
echo "commits on the node branch: $(git -C "$work/obs.git" rev-list --count bench-pipes)"
