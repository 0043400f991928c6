#!/usr/bin/env bash
# Builds mao-orchestrator and maoctl, starts one node on the embedded store at
# http://127.0.0.1:8080 (data in ./mao-data), builds the demo tool's image (FROM scratch, no
# registry), registers it, a dataset (a bare git repository in the data dir) and a one-step
# pipeline with maoctl, runs the tool once as a container and shows the report (with the
# detector's verdict) and the files it wrote, then runs the pipeline, which commits what
# the tool wrote to the node's branch and pushes it. The node keeps running in the background;
# `scripts/quickstart.sh stop` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${MAO_DATA_DIR:-$PWD/mao-data}
listen=${MAO_LISTEN:-127.0.0.1:8080}
pidfile="$data/mao-orchestrator.pid"

stop() {
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")"
    for _ in $(seq 50); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
    echo "stopped the node (pid $(cat "$pidfile"))"
  fi
  rm -f "$pidfile"
}
if [ "${1:-}" = stop ]; then stop; exit 0; fi

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
command -v protoc >/dev/null || need+=(protobuf-compiler libprotobuf-dev)
command -v cc >/dev/null || need+=(build-essential)
command -v curl >/dev/null || need+=(curl)
command -v git >/dev/null || need+=(git)
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${need[@]}"
fi
command -v cargo >/dev/null || { echo "cargo is missing: install Rust from https://rustup.rs"; exit 1; }

cargo build --release -p mao-server -p maoctl
bin=$PWD/target/release
mkdir -p "$data"
stop
node=${MAO_NODE:-$(hostname | tr 'A-Z' 'a-z' | tr -c 'a-z0-9._\n-' '-' | cut -c1-63)}
nohup "$bin/mao-orchestrator" --data-dir "$data" --listen "$listen" --node "$node" \
  >"$data/mao-orchestrator.out" 2>"$data/mao-orchestrator.log" &
echo $! >"$pidfile"
export MAO_ENDPOINT="http://$listen"
for _ in $(seq 100); do
  curl -sf "$MAO_ENDPOINT/readyz" >/dev/null 2>&1 && break
  kill -0 "$(cat "$pidfile")" 2>/dev/null || { cat "$data/mao-orchestrator.log"; exit 1; }
  sleep 0.1
done

maoctl="$bin/maoctl"
$maoctl tool get demo >/dev/null 2>&1 || $maoctl tool add demo "MAO developers" mao/demo-tool:latest \
  https://github.com/mao-mao-research/demo-data.git https://github.com/mao-mao-research/mao-orchestrator.git \
  "demo collector" --description "writes a control metric into its data folder"
# The demo's dataset: a bare git repository in the node's data dir (init-local).
if ! $maoctl -o json dataset get demo-data 2>/dev/null | grep -q '/bare/demo-data.git'; then
  $maoctl dataset remove demo-data >/dev/null 2>&1 || true
  $maoctl dataset init-local demo-data --description "what the demo pipeline collects"
fi
if ! $maoctl pipeline get demo >/dev/null 2>&1; then
  printf 'name: demo\ndescription: the demo tool collecting into demo-data\nsteps:\n  - name: collect\n    tool: demo\n    output_dataset: demo-data\n' \
    >"$data/demo-pipeline.yaml"
  $maoctl pipeline add -f "$data/demo-pipeline.yaml"
fi

echo; echo "== nodes";     $maoctl node list
echo; echo "== tools";     $maoctl tool list
echo; echo "== datasets";  $maoctl dataset list
echo; echo "== pipelines"; $maoctl pipeline list
echo; echo "== readiness"; curl -s "$MAO_ENDPOINT/readyz"; echo
if docker info >/dev/null 2>&1; then
  echo; echo "== building the demo tool's image"
  scripts/build-demo-image.sh
  echo; echo "== maoctl tool run demo"
  $maoctl tool run demo --env DEMO_VALUE=$((90 + RANDOM % 20))
  echo; echo "== what the run wrote in $data/tools/demo/data"
  ls -l "$data/tools/demo/data"
  echo; echo "== maoctl pipeline init demo   (clone demo-data, create and push the branch '$node')"
  $maoctl pipeline init demo
  echo; echo "== maoctl pipeline run demo --follow   (run the step, commit what it wrote, push)"
  $maoctl pipeline run demo --follow
  echo; echo "== the node's branch of demo-data"
  git --git-dir "$data/bare/demo-data.git" log --oneline "$node" 2>/dev/null | head -5 || true
  echo; echo "== maoctl run list"
  $maoctl run list
  echo; echo "== maoctl notification list"
  $maoctl notification list
else
  echo; echo "Docker is not reachable: install Docker Engine to run tools (the registry works without it)."
fi
cat <<MSG

The node '$node' runs at $MAO_ENDPOINT (pid $(cat "$pidfile"), log $data/mao-orchestrator.log).
Try:   export MAO_ENDPOINT=$MAO_ENDPOINT; $maoctl --help
Stop:  scripts/quickstart.sh stop
MSG
