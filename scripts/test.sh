#!/usr/bin/env bash
# Runs every test of berth: installs what the tests need, builds, runs the workspace's
# unit and end-to-end tests (as root: they use real namespaces, cgroups and mounts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash tests/fixtures/busybox-rootfs.sh
cargo build --workspace --bins --quiet
# Test binaries fork container processes through the berth-runtime binary, never
# in-process, so the default parallel harness is safe.
cargo test --workspace --no-fail-fast "$@"
