#!/usr/bin/env bash
# Tests the deployment as docs/deploy.md describes it, on the local Docker Engine:
#   - every compose file combination validates (`compose config`);
#   - the systemd unit passes `systemd-analyze verify`;
#   - the image builds on the local debootstrap base (scripts/build-daemon-image.sh debug:
#     target/debug, no release build; with MAO_SKIP_CARGO=1, as scripts/test.sh runs it,
#     the binaries `cargo test` left there; the base is made once and kept);
#   - one site from deploy/compose.yaml: a token made with `compose run --rm mao token
#     create`, /readyz 200 on the published port, the compose healthcheck healthy, the API
#     401 without the token and 200 with it, and a tool run (the demo tool) that succeeds,
#     which proves the Docker socket's group and the same-path data dir;
#   - the same site on an etcd service (deploy/compose.etcd.yaml): /readyz 200 on etcd;
#   - the same site in managed mode (deploy/compose.managed.yaml: its own etcd member in the
#     container): /readyz 200 on etcd, `maoctl federation status` one healthy member, and
#     after `compose stop` (exit 0) and `up` on the same data dir ready again with the same
#     member and a tool registered before (restarted from <data-dir>/etcd);
#   - two federation sites through compose (compose.federated.yaml), as docs/deploy.md
#     "With compose" runs them: A `federation init --no-start` and B `federation join
#     --no-start` with `compose run --rm`, then `up`; the host names map to the host
#     (extra_hosts: host-gateway) so the peers cross Docker's NAT; `federation status` on A
#     shows 2 healthy members; B stopped and `compose run --rm mao federation leave`: 1 member.
# Each site is its own compose project with its own data dir; `down -v` always runs.
#   MAO_TEST_IMAGE  the image tag built and used (default mao-orchestrator:test-deploy)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
started=$SECONDS

fail() { echo "test-deploy: FAILED: $*" >&2; exit 1; }
# The Engine here has been seen to hang: every call is bounded.
dk() { timeout 120 docker "$@"; }
if timeout 30 docker compose version >/dev/null 2>&1; then
  compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null; then
  # Debian 12 ships Compose v1 (1.29) only; it reads these files the same way.
  compose_cmd=(docker-compose)
else
  fail "neither 'docker compose' (the v2 plugin) nor docker-compose is installed"
fi
compose() { timeout 180 "${compose_cmd[@]}" "$@"; }
command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (apt-get install systemd)"
command -v curl >/dev/null || fail "curl is missing"

image=${MAO_TEST_IMAGE:-mao-orchestrator:test-deploy}
export MAO_IMAGE=$image
work="$(mktemp -d /tmp/mao-test-deploy.XXXXXX)"
projects=()
# The compose files of each project, as "-f A -f B".
declare -A project_files=()
cleanup() {
  local rc=$?
  for p in "${projects[@]}"; do
    local pf
    read -ra pf <<<"${project_files[$p]}"
    if [ "$rc" -ne 0 ]; then
      echo "--- logs of $p" >&2
      compose -p "$p" "${pf[@]}" logs --no-color --tail 50 >&2 || true
      if [ -s "$work/${p##*-}/data/etcd.log" ]; then
        echo "--- etcd.log of $p" >&2; tail -n 20 "$work/${p##*-}/data/etcd.log" >&2
      fi
    fi
    compose -p "$p" "${pf[@]}" down -v --remove-orphans >/dev/null 2>&1 \
      || echo "test-deploy: compose down of $p failed" >&2
  done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

echo "== compose files validate"
compose -f deploy/compose.yaml config -q || fail "deploy/compose.yaml does not validate"
compose -f deploy/compose.yaml -f deploy/compose.etcd.yaml config -q \
  || fail "deploy/compose.yaml + compose.etcd.yaml do not validate"
managed_config="$(compose -f deploy/compose.yaml -f deploy/compose.managed.yaml config)" \
  || fail "deploy/compose.yaml + compose.managed.yaml do not validate"
compose -f deploy/compose.yaml -f deploy/compose.managed.yaml -f deploy/compose.federated.yaml config -q \
  || fail "deploy/compose.yaml + compose.managed.yaml + compose.federated.yaml do not validate"
# A site alone publishes no peer port; a federated one does, and runs from init's mao.toml.
grep -q 'target: 2380' <<<"$managed_config" && fail "compose.managed.yaml publishes the peer port"
fed_config="$(compose -f deploy/compose.yaml -f deploy/compose.managed.yaml -f deploy/compose.federated.yaml config)"
grep -q 'target: 2380' <<<"$fed_config" || fail "compose.federated.yaml does not publish the peer port"
grep -q -- '- /var/lib/mao-orchestrator/mao.toml' <<<"$fed_config" || fail "compose.federated.yaml does not run --config mao.toml"
# The socket goes to the daemon only.
etcd_config="$(compose -f deploy/compose.yaml -f deploy/compose.etcd.yaml config)"
[ "$(grep -c 'docker.sock' <<<"$etcd_config")" -ge 1 ] || fail "the daemon has no Docker socket"
sed -n '/^  etcd:/,/^  [a-z]/p' <<<"$etcd_config" | grep -q docker.sock && fail "etcd got the Docker socket"

echo "== systemd unit verifies"
# verify checks that ExecStart exists: point it at the binary just built.
sed "s#/usr/local/bin/mao-orchestrator#$root/target/debug/mao-orchestrator#" \
  deploy/mao-orchestrator.service >"$work/mao-orchestrator.service"
out="$(systemd-analyze verify "$work/mao-orchestrator.service" 2>&1)" \
  || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify warns: $out"

echo "== image"
t=$SECONDS
MAO_IMAGE=$image scripts/build-daemon-image.sh debug
echo "image ready in $((SECONDS - t))s ($(dk image inspect --format '{{ .Size }}' "$image" | awk '{printf "%d MB", $1/1e6}'))"
scripts/build-demo-image.sh >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
docker_gid="$(stat -c %g /var/run/docker.sock)"

# wait_ready URL SECONDS: /readyz 200, or fail with its last answer.
wait_ready() {
  local url=$1 deadline=$((SECONDS + $2)) body=""
  while [ $SECONDS -lt $deadline ]; do
    if body="$(curl -sf --max-time 5 "$url/readyz")"; then echo "$body"; return 0; fi
    sleep 1
  done
  fail "$url/readyz did not answer 200 within $2s: $(curl -s --max-time 5 "$url/readyz" || true)"
}

# start_site NAME FILES...: a compose project with its own data dir and port; sets $url.
start_site() {
  local name=$1; shift
  local project="mao-test-deploy-$$-$name"
  projects+=("$project")
  local data="$work/$name/data"
  mkdir -p "$data"
  chown 10001:10001 "$data"
  chmod 0750 "$data"
  export MAO_DATA_DIR=$data MAO_NODE="deploy-$name" DOCKER_GID=$docker_gid
  local port; port="$(free_port)"
  export MAO_PUBLISH="127.0.0.1:$port"
  url="http://127.0.0.1:$port"
  files=()
  for f in "$@"; do files+=(-f "$f"); done
  project_files[$project]="${files[*]}"
  site=("-p" "$project" "${files[@]}")
  # As docs/deploy.md says: the admin token before the first start.
  token="$(compose "${site[@]}" run --rm -T --no-deps mao token create admin --role admin </dev/null | grep -o 'mao_[A-Za-z0-9_-]*' | head -n1)" \
    || fail "token create in the container failed"
  [ -n "$token" ] || fail "token create printed no token"
  compose "${site[@]}" up -d
}

# site_ready NAME STORE SECONDS FILES...: start_site, then /readyz 200 on that store.
site_ready() {
  local name=$1 store=$2 wait=$3 t=$SECONDS ready; shift 3
  start_site "$name" "$@"
  ready="$(wait_ready "$url" "$wait")"
  echo "ready in $((SECONDS - t))s: $ready"
  grep -q "\"store\":\"$store\"" <<<"$ready" || fail "not on the $store store: $ready"
}

# restart_site SECONDS: `compose stop` (the daemon exits 0 on SIGTERM within the grace
# period: tini hands it the signal), then `up` on the same data dir and /readyz 200 again.
# Sets $stop_s and $up_s.
restart_site() {
  local cid t=$SECONDS code
  cid="$(compose "${site[@]}" ps -q mao)"
  compose "${site[@]}" stop mao >/dev/null 2>&1 || fail "compose stop failed"
  code="$(dk inspect --format '{{ .State.ExitCode }}' "$cid")"
  [ "$code" = 0 ] || fail "the daemon exited $code on SIGTERM, not 0"
  stop_s=$((SECONDS - t))
  [ "$stop_s" -lt 25 ] || fail "the daemon took ${stop_s}s to stop"
  t=$SECONDS
  compose "${site[@]}" up -d >/dev/null 2>&1 || fail "compose up after a stop failed"
  wait_ready "$url" "$1" >/dev/null
  up_s=$((SECONDS - t))
}

echo "== one site, embedded store"
site_ready embedded embedded 60 deploy/compose.yaml
code="$(curl -s -o /dev/null -w '%{http_code}' "$url/api/v1/tools")"
[ "$code" = 401 ] || fail "GET /api/v1/tools without a token: $code, not 401"
code="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url/api/v1/tools")"
[ "$code" = 200 ] || fail "GET /api/v1/tools with the token: $code, not 200"
# A run's data folder is the daemon's path, bound by the host's Engine: it only works with
# the same-path data dir and the socket's group.
exec_maoctl() { compose "${site[@]}" exec -T -e MAO_TOKEN="$token" mao maoctl "$@"; }
exec_maoctl tool add demo "deploy test" mao/demo-tool:latest \
  https://example.org/data.git https://example.org/code.git demo >/dev/null \
  || fail "maoctl tool add in the container failed"
exec_maoctl tool run demo --env DEMO_VALUE=42 >"$work/run.txt" 2>&1 \
  || fail "the demo tool's run failed: $(cat "$work/run.txt")"
ls "$MAO_DATA_DIR"/tools/demo/data/control-*.csv >/dev/null 2>&1 \
  || fail "the run wrote nothing into $MAO_DATA_DIR/tools/demo/data"
# The compose healthcheck (bash /dev/tcp) turns healthy.
cid="$(compose "${site[@]}" ps -q mao)"
deadline=$((SECONDS + 60))
until [ "$(dk inspect --format '{{ .State.Health.Status }}' "$cid")" = healthy ]; do
  [ $SECONDS -lt $deadline ] || fail "the compose healthcheck is not healthy: $(dk inspect --format '{{ json .State.Health }}' "$cid")"
  sleep 2
done
echo "healthcheck healthy, tool run ok"
# Stopping is clean and the node comes back on the same data dir: the upgrade path of
# docs/deploy.md.
restart_site 60
exec_maoctl tool get demo >/dev/null || fail "the tool registered before the restart is gone"
echo "stopped in ${stop_s}s (exit 0), ready again on the same data dir"

echo "== one site, etcd service"
site_ready etcd etcd 90 deploy/compose.yaml deploy/compose.etcd.yaml

echo "== one site, managed etcd member"
site_ready managed etcd 90 deploy/compose.yaml deploy/compose.managed.yaml
[ -d "$MAO_DATA_DIR/etcd" ] || fail "no member data in $MAO_DATA_DIR/etcd"
# member_status: "ID HEALTH" of the one member `maoctl federation status` lists, or fail.
member_status() {
  local json
  json="$(exec_maoctl federation status -o json)" || fail "maoctl federation status failed: $json"
  python3 -c '
import json, sys
doc = json.load(sys.stdin)
m = doc["members"]
if len(m) != 1 or m[0]["health"] != "healthy" or not doc.get("managed"):
    sys.exit("not one healthy managed member: " + json.dumps(doc))
print(m[0]["id"], m[0]["health"])' <<<"$json" || fail "federation status"
}
member="$(member_status)"
echo "federation status: 1 member, $member"
# The registries live in the member: a tool registered before the restart proves it came
# back from <data-dir>/etcd (a new one-member cluster would have the same member ID).
exec_maoctl tool add demo "deploy test" mao/demo-tool:latest \
  https://example.org/data.git https://example.org/code.git demo >/dev/null \
  || fail "maoctl tool add on the managed site failed"
restart_site 90
again="$(member_status)"
[ "$again" = "$member" ] || fail "the member changed over the restart: $member, then $again"
exec_maoctl tool get demo >/dev/null || fail "the tool registered before the restart is gone: the member did not restart from its data"
echo "stopped in ${stop_s}s (exit 0), ready again in ${up_s}s, the member's data kept"

echo "== two sites federated through compose"
t=$SECONDS
# Both sites on this host, each its own project and data dir; their host names resolve to
# the host in the containers, so A's and B's peer ports and APIs are reached through the
# published ports, from the bridge's address (Docker's NAT), as between two machines.
cat >"$work/hosts.yaml" <<'YAML'
services:
  mao:
    extra_hosts:
      - "site-a.test:host-gateway"
      - "site-b.test:host-gateway"
YAML
fed_base=(-f deploy/compose.yaml -f deploy/compose.managed.yaml -f "$work/hosts.yaml")
fed_files=("${fed_base[@]}" -f deploy/compose.federated.yaml)
# fed_site NAME: the project, data dir and ports of site NAME (a or b); sets $fed.
declare -A fed_api=() fed_peer=()
fed_site() {
  local name=$1 project="mao-test-deploy-$$-fed$1"
  export MAO_DATA_DIR="$work/fed$name/data" MAO_NODE="site-$name" DOCKER_GID=$docker_gid
  export MAO_PUBLISH="${fed_api[$name]}" MAO_PEER_PORT="${fed_peer[$name]}"
  fed=(-p "$project")
}
for name in a b; do
  fed_api[$name]="$(free_port)"; fed_peer[$name]="$(free_port)"
  project="mao-test-deploy-$$-fed$name"
  projects+=("$project")
  project_files[$project]="${fed_files[*]}"
  mkdir -p "$work/fed$name/data"
  chown 10001:10001 "$work/fed$name/data"
  chmod 0750 "$work/fed$name/data"
done
fed_site a
join_token="$(compose "${fed[@]}" "${fed_base[@]}" run --rm -T mao federation init --node site-a \
  --no-start --listen 0.0.0.0:8080 --advertise-url "https://site-a.test:${fed_api[a]}" \
  --etcd-peer-url "https://site-a.test:${fed_peer[a]}" </dev/null 2>"$work/init.err" \
  | grep -o 'mao_[A-Za-z0-9_.-]*' | head -n1)" || fail "federation init in the container failed: $(cat "$work/init.err")"
[ -n "$join_token" ] || fail "federation init printed no join token: $(cat "$work/init.err")"
fed_token="$(compose "${fed[@]}" "${fed_base[@]}" run --rm -T mao token create admin --role admin </dev/null \
  | grep -o 'mao_[A-Za-z0-9_-]*' | head -n1)" || fail "token create on site A failed"
compose "${fed[@]}" "${fed_files[@]}" up -d
fed_a=("${fed[@]}")
fed_ca="$MAO_DATA_DIR/federation/ca.pem"
# fed_members N SECONDS: A's `federation status` shows N members, all healthy voters.
fed_members() {
  local deadline=$((SECONDS + $2)) json=""
  while [ $SECONDS -lt $deadline ]; do
    json="$(compose "${fed_a[@]}" "${fed_files[@]}" exec -T -e MAO_TOKEN="$fed_token" mao maoctl \
      --endpoint https://localhost:8080 --ca-cert "$fed_ca" federation status -o json 2>&1)" || json=""
    if python3 -c '
import json, sys
doc = json.load(sys.stdin)
m = doc["members"]
ok = [x for x in m if x["health"] == "healthy" and not x.get("learner")]
sys.exit(0 if len(m) == int(sys.argv[1]) == len(ok) else 1)' "$1" <<<"$json" 2>/dev/null; then
      return 0
    fi
    sleep 1
  done
  fail "site A's federation status does not show $1 healthy members within $2s: $json"
}
fed_members 1 60
fed_site b
compose "${fed[@]}" "${fed_base[@]}" run --rm -T mao federation join "https://site-a.test:${fed_api[a]}" \
  --token "$join_token" --node site-b --no-start --listen 0.0.0.0:8080 \
  --advertise-url "https://site-b.test:${fed_api[b]}" --etcd-peer-url "https://site-b.test:${fed_peer[b]}" \
  </dev/null >"$work/join.out" 2>&1 || fail "federation join in the container failed: $(cat "$work/join.out")"
compose "${fed[@]}" "${fed_files[@]}" up -d
fed_members 2 60
echo "federation status on A: 2 healthy members in $((SECONDS - t))s"
compose "${fed[@]}" "${fed_files[@]}" stop mao >/dev/null 2>&1 || fail "compose stop of site B failed"
compose "${fed[@]}" "${fed_base[@]}" run --rm -T mao federation leave </dev/null >"$work/leave.out" 2>&1 \
  || fail "federation leave in the container failed: $(cat "$work/leave.out")"
fed_members 1 30
echo "site B left: 1 member on A; federation in $((SECONDS - t))s"

echo "test-deploy: passed in $((SECONDS - started))s"
