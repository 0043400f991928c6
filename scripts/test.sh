#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine: installs what the tests need
# (protoc for etcd-client, a real etcd, git, sshd for the git-over-SSH tests, aiosmtpd for
# the email tests; the Docker Engine is expected to be running), then format, lint, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
command -v protoc >/dev/null || need+=(protobuf-compiler libprotobuf-dev)
[ -x /usr/bin/etcd ] || need+=(etcd-server)
command -v etcdctl >/dev/null || need+=(etcd-client)
command -v git >/dev/null || need+=(git)
command -v curl >/dev/null || need+=(curl)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
# The SMTP receiver of mao-notify's tests: Debian's aiosmtpd in the system Python.
[ -x /usr/bin/openssl ] || need+=(openssl)
[ -x /usr/bin/python3 ] || need+=(python3)
[ -d /usr/lib/python3/dist-packages/aiosmtpd ] || need+=(python3-aiosmtpd)
# The deployment test: a Debian base made with debootstrap, compose, systemd-analyze.
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v docker-compose >/dev/null || timeout 30 docker compose version >/dev/null 2>&1 || need+=(docker-compose)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${need[@]}"
fi
# The system etcd service, if the package started one, is not used by the tests.

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The federation scenarios are a test target of their own (`test = false`): lint them too.
cargo clippy -p mao-server --test federation -- -D warnings
cargo test --workspace --no-fail-fast
# The deploy files: compose config, the systemd unit, the image on a debootstrap base (made
# once, then cached), sites up from compose; about a minute. The image takes the binaries
# `cargo test` just left in target/debug: a `cargo build` here would compile the tree again
# without the dev-dependencies' features.
MAO_SKIP_CARGO=1 scripts/test-deploy.sh
# The federation under faults: sites as network namespaces (root), a few minutes.
scripts/test-federation.sh
