#!/usr/bin/env bash
# Runs every test of berth: installs what the tests need, builds, runs the workspace's
# unit and end-to-end tests (as root: they use real namespaces, cgroups and mounts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash tests/fixtures/busybox-rootfs.sh
# Incremental state is never reused by a one-shot run and doubles the target
# directory's size on disk.
export CARGO_INCREMENTAL=0
cargo build --workspace --bins --quiet
# Test binaries fork container processes through the berth-runtime binary, never
# in-process, so the default parallel harness is safe.
cargo test --workspace --no-fail-fast "$@"
# The runtime's tests again on a pure cgroup v2 kernel under qemu (these hosts are v1
# hybrids, so the v2 code runs nowhere else): about 2 minutes in the VM plus a release
# build of berth-runtime's tests. BERTH_SKIP_VM=1 skips it.
if [[ ${BERTH_SKIP_VM:-} != 1 ]]; then
  bash scripts/cgroup-v2-vm.sh
fi
