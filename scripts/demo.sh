#!/usr/bin/env bash
# The main job on a fresh machine: install packages, build, make the offline busybox
# image, run a container. (Until berthd lands this runs the container with
# berth-runtime directly on a bundle of the busybox image.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --release --workspace --bins
bundle=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap 'target/release/berth-runtime delete --force berth-demo-$$ >/dev/null 2>&1 || true; rm -rf "$bundle"' EXIT
bash tests/fixtures/busybox-rootfs.sh "$bundle/rootfs"
(cd "$bundle" && "$OLDPWD/target/release/berth-runtime" spec)
jq '.process.terminal=false | .process.args=["sh","-c","echo hello from $(hostname), pid $$, $(id)"]' "$bundle/config.json" >"$bundle/c" && mv "$bundle/c" "$bundle/config.json"
target/release/berth-runtime run --bundle "$bundle" "berth-demo-$$"
