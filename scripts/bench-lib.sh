# Shared by the benchmark scripts (sourced, not run): builds the release binaries and the
# demo image, starts one node on the embedded store in a temporary folder, registers the
# demo tool, and removes everything (daemon, containers, folder) on exit.
#   bench_node NODE [daemon flags...]   sets bin, work, MAO_ENDPOINT
#   report_pair HYPERFINE_JSON LABEL_A LABEL_B   prints both medians and means
bench_node() {
  local node=$1; shift
  command -v hyperfine >/dev/null || { local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo; $sudo apt-get update; $sudo apt-get install -y hyperfine; }
  cargo build --release -p mao-server -p maoctl
  scripts/build-demo-image.sh
  bin=$PWD/target/release
  work=$(mktemp -d)
  "$bin/mao-orchestrator" --data-dir "$work/data" --listen 127.0.0.1:0 --node "$node" --log warn "$@" \
    >"$work/out" 2>"$work/err" &
  bench_pid=$!
  bench_node_name=$node
  trap 'kill -9 $bench_pid 2>/dev/null; docker ps -aq --filter label=mao.node=$bench_node_name | xargs -r docker rm -f >/dev/null; rm -rf "$work"' EXIT
  for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
  MAO_ENDPOINT=$(sed -n 's/^mao-orchestrator listening on //p' "$work/out")
  export MAO_ENDPOINT
  "$bin/maoctl" tool add demo bench mao/demo-tool:latest https://h/d.git https://h/c.git x >/dev/null
}

report_pair() {
  python3 - "$@" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
width = max(len(sys.argv[2]), len(sys.argv[3])) + 1
for x, label in zip(r, sys.argv[2:4]):
    print(f"{label + ':':<{width}} median {x['median'] * 1e3:.0f} ms (mean {x['mean'] * 1e3:.0f} ms)")
PY
}
