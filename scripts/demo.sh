#!/usr/bin/env bash
# The main job on a fresh machine: install packages, build, start berthd, import the
# offline busybox image through the Engine API, then run containers with `berth run`
# (and once more with the bare OCI runtime, berth-runtime, on a bundle).
#   BERTH_DEMO_PROFILE=debug bash scripts/demo.sh   uses a debug build instead of release
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
profile=${BERTH_DEMO_PROFILE:-release}
if [[ $profile == release ]]; then cargo build --release --workspace --bins; else cargo build --workspace --bins; fi
bin=target/$profile
bundle=$(mktemp -d /tmp/berth-demo.XXXXXX)
run=$(mktemp -d /tmp/berthd-demo.XXXXXX)
stop_daemon() { bash scripts/berthd-start.sh stop --pidfile "$run/berthd.pid" >/dev/null 2>&1 || true; }
trap 'stop_daemon; "$bin/berth-runtime" delete --force berth-demo-$$ >/dev/null 2>&1 || true; rm -rf "$bundle" "$run"' EXIT
bash tests/fixtures/busybox-rootfs.sh "$bundle/rootfs"

# berthd on its own socket and data root; the berth CLI (and docker's) talk to it there.
bash scripts/berthd-start.sh --bin "$bin/berthd" --data-root "$run/root" --exec-root "$run/x" --host "unix://$run/berth.sock" \
  --pidfile "$run/berthd.pid" --log "$run/berthd.log"
export BERTH_HOST=unix://$run/berth.sock
tar -C "$bundle/rootfs" -cf "$run/busybox.tar" .
"$bin/berth" import -c 'CMD ["sh"]' "$run/busybox.tar" busybox:latest
"$bin/berth" images
"$bin/berth" run --rm busybox sh -c 'echo hello from container $(hostname) as $(id -un), pid $$'
id=$("$bin/berth" run -d --name demo-web busybox sh -c 'echo serving; exec sleep 300')
"$bin/berth" ps
"$bin/berth" exec demo-web sh -c 'echo exec in $(hostname): $(ps | wc -l) processes'
"$bin/berth" logs demo-web
"$bin/berth" rm -f demo-web >/dev/null
stop_daemon

(cd "$bundle" && "$OLDPWD/$bin/berth-runtime" spec)
jq '.process.terminal=false | .process.args=["sh","-c","echo hello from $(hostname), pid $$, $(id)"]' "$bundle/config.json" >"$bundle/c" && mv "$bundle/c" "$bundle/config.json"
"$bin/berth-runtime" run --bundle "$bundle" "berth-demo-$$"
