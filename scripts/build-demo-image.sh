#!/usr/bin/env bash
# Builds mao/demo-tool:latest, a FROM scratch image holding the static demo tool, with no
# registry. Quick when nothing changed: cargo rebuilds nothing, and the image is rebuilt only
# when the binary or the Dockerfile differ from those the current image was built from.
#
#   scripts/build-demo-image.sh [IMAGE]     (default mao/demo-tool:latest)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
image="${1:-mao/demo-tool:latest}"
triple=x86_64-unknown-linux-gnu
# A target dir of its own: the tests run this script while `cargo test` holds the lock on
# the workspace's, and the static flags would otherwise rebuild the normal artefacts.
target_dir="${CARGO_TARGET_DIR:-$root/target}/demo-image"

# Test binaries running side by side each call this script; one builds, the others then find
# the image up to date.
mkdir -p "$target_dir"
exec 9>"$target_dir/build.lock"
flock 9

# crt-static on the gnu target gives a binary that runs on an empty filesystem (libc.a is
# installed; there is no musl target here).
RUSTFLAGS='-C target-feature=+crt-static' CARGO_TARGET_DIR="$target_dir" \
  "${CARGO:-cargo}" build --quiet --release -p demo-tool --target "$triple" \
  --manifest-path "$root/Cargo.toml"
binary="$target_dir/$triple/release/mao-demo-tool"
dockerfile="$root/crates/demo-tool/Dockerfile"

hash="$(cat "$binary" "$dockerfile" | sha256sum | cut -d' ' -f1)"
current="$(docker image inspect --format '{{ .Id }} {{ index .Config.Labels "mao.demo-tool.hash" }}' \
  "$image" 2>/dev/null || true)"
if [ "${current#* }" = "$hash" ]; then
  echo "$image is up to date"
  exit 0
fi

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp "$binary" "$context/mao-demo-tool"
cp "$dockerfile" "$context/Dockerfile"
# The classic builder: this engine has no buildx, and FROM scratch needs nothing BuildKit adds.
# Its deprecation notice is noise unless the build fails.
if ! out="$(DOCKER_BUILDKIT=0 docker build --quiet --label "mao.demo-tool.hash=$hash" \
  -t "$image" "$context" 2>&1)"; then
  echo "$out" >&2
  exit 1
fi
# The image it replaces would stay behind untagged, one per rebuild.
old_id="${current%% *}"
if [ -n "$old_id" ]; then docker image rm "$old_id" >/dev/null 2>&1 || true; fi
echo "built $image"
