#!/usr/bin/env bash
# The federation under faults (issue 12): three sites as network namespaces, each with its
# own etcd member and daemon, one fault per scenario. Needs root (it makes namespaces, veths
# and a bridge, all removed afterwards), /usr/bin/etcd and the Docker Engine. Prints the
# report, target/federation-report.md; exits non-zero if a scenario broke a promise.
#
#   scripts/test-federation.sh [TEST-NAME-FILTER]
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

# The test runs maoctl, the daemon and the demo image; `cargo test` builds none of them.
cargo build --quiet -p maoctl -p demo-tool -p mao-server
scripts/build-demo-image.sh >/dev/null

target="${CARGO_TARGET_DIR:-target}"
rm -rf "$target/federation-report.d" "$target/federation-report.md"
status=0
cargo test --quiet -p mao-server --test federation -- --test-threads=1 "$@" || status=$?

echo
cat "$target/federation-report.md" 2>/dev/null || echo "no report was written"
echo
echo "scripts/test-federation.sh took $(( $(date +%s) - start )) s"
exit "$status"
