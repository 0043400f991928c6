#!/usr/bin/env bash
# Builds the daemon's image (deploy/Dockerfile) from the binaries cargo built on this host,
# with no registry: the base is a Debian bookworm made here with debootstrap and imported
# into the Engine once (mao-base:bookworm), unless BASE_IMAGE names one the Engine has.
#
#   scripts/build-daemon-image.sh [release|debug]     (default release)
#
#   MAO_IMAGE    tag to build (default mao-orchestrator:local)
#   BASE_IMAGE   base image; default mao-base:bookworm, made here when the Engine lacks it.
#                Any Debian-like image with apt works (the Dockerfile installs etcd-server,
#                git and ca-certificates when missing); its glibc must be at least the
#                build host's (the binaries are not static): the host is Debian 12.
#   MAO_SKIP_CARGO=1  use the binaries already in target/<profile> without calling cargo
#
# Quick when nothing changed: cargo rebuilds nothing, the base is made once, and the image
# is rebuilt only when the binaries or the Dockerfile differ from those it was built from.
# The tests pass `debug`: they reuse what `cargo test` built instead of a release build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
profile="${1:-release}"
image="${MAO_IMAGE:-mao-orchestrator:local}"
base="${BASE_IMAGE:-mao-base:bookworm}"
# The Engine here has been seen to hang: every call is bounded.
dk() { timeout "${DOCKER_TIMEOUT:-120}" docker "$@"; }

case "$profile" in
  release) cargo_profile=(--release) ;;
  debug) cargo_profile=() ;;
  *) echo "usage: $0 [release|debug]" >&2; exit 2 ;;
esac
target_dir="${CARGO_TARGET_DIR:-$root/target}"
bin_dir="$target_dir/$profile"

# Two builds at once (tests side by side) must not both debootstrap.
mkdir -p "$target_dir/daemon-image"
exec 9>"$target_dir/daemon-image/build.lock"
flock 9

if ! dk image inspect "$base" >/dev/null 2>&1; then
  if [ -n "${BASE_IMAGE:-}" ]; then
    echo "$0: BASE_IMAGE=$BASE_IMAGE is not on the Engine (no registry to pull it from)" >&2
    exit 1
  fi
  echo "making $base with debootstrap (once; a few minutes)"
  if ! command -v debootstrap >/dev/null; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends debootstrap
  fi
  rootfs="$(mktemp -d)"
  trap 'rm -rf "$rootfs"' EXIT
  started=$SECONDS
  # minbase: apt, dpkg, bash, coreutils; the daemon needs etcd (managed mode), git
  # (datasets) and the CA bundle (https remotes, webhooks).
  if ! debootstrap --variant=minbase --include=etcd-server,git,ca-certificates \
    bookworm "$rootfs" http://deb.debian.org/debian >"$target_dir/daemon-image/debootstrap.log" 2>&1; then
    tail -20 "$target_dir/daemon-image/debootstrap.log" >&2
    exit 1
  fi
  # apt's caches and lists are not needed in the image (the Dockerfile updates when it installs).
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/tmp/*
  tar -C "$rootfs" -c . | dk import --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
  echo "made $base in $((SECONDS - started))s"
fi

if [ "${MAO_SKIP_CARGO:-0}" != 1 ]; then
  "${CARGO:-cargo}" build --quiet "${cargo_profile[@]}" -p mao-server -p maoctl \
    --manifest-path "$root/Cargo.toml"
fi
for b in mao-orchestrator maoctl; do
  [ -x "$bin_dir/$b" ] || { echo "$0: $bin_dir/$b is missing (build it or drop MAO_SKIP_CARGO)" >&2; exit 1; }
done

dockerfile="$root/deploy/Dockerfile"
hash="$(cat "$bin_dir/mao-orchestrator" "$bin_dir/maoctl" "$dockerfile" | sha256sum | cut -d' ' -f1)"
base_id="$(dk image inspect --format '{{ .Id }}' "$base")"
current="$(dk image inspect --format '{{ .Id }} {{ index .Config.Labels "mao.daemon-image.hash" }}' \
  "$image" 2>/dev/null || true)"
if [ "${current#* }" = "$hash-$base_id" ]; then
  echo "$image is up to date"
  exit 0
fi

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
mkdir "$context/bin"
# Debug info is most of a debug binary's size and nothing the daemon reads.
for b in mao-orchestrator maoctl; do
  objcopy --strip-debug "$bin_dir/$b" "$context/bin/$b"
done
# The classic builder: this engine has no buildx; BuildKit adds nothing needed here.
if ! out="$(DOCKER_BUILDKIT=0 timeout "${DOCKER_BUILD_TIMEOUT:-600}" docker build --quiet \
  --build-arg "BASE_IMAGE=$base" --label "mao.daemon-image.hash=$hash-$base_id" \
  -f "$dockerfile" -t "$image" "$context" 2>&1)"; then
  echo "$out" >&2
  exit 1
fi
# A binary linked against a newer glibc than the base's fails here, not at deploy time.
if ! out="$(dk run --rm --entrypoint /usr/local/bin/mao-orchestrator "$image" --version 2>&1)"; then
  echo "$0: the daemon does not start in $image: $out" >&2
  exit 1
fi
old_id="${current%% *}"
if [ -n "$old_id" ]; then dk image rm "$old_id" >/dev/null 2>&1 || true; fi
echo "built $image ($out, on $base)"
