#!/usr/bin/env bash
# bench/registry.sh - the registry benchmark of issue 8: push and pull of an IMAGE_MB
# (default 500) MB image of 5 layers (bench/big-image.sh: random files, log text, 20,000
# small files, links, a whiteout) to and from Debian's docker-registry on loopback.
#   berth against docker (with DOCKERD=1 a private dockerd), podman, and skopeo (push:
#   docker-archive -> registry; pull: registry -> OCI layout, then umoci unpack so that
#   the files are on disk, as an engine's pull leaves them).
# Each round and engine: an empty registry; the engine loads the archive (untimed), pushes
# (timed), removes the image, pulls it back (timed: download + unpack, ready to run).
# Medians, per-round ratios. Targets: pull at most 0.5x docker's time; push at most podman's.
#
#   bash bench/registry.sh                      berth + whichever peers are usable
#   DOCKERD=1 bash bench/registry.sh            also start a private dockerd if none answers
#   PEERS=berth,podman RUNS=3 IMAGE_MB=200 bash bench/registry.sh
#   IMAGE_TAR=/var/tmp/anch-img.tar bash bench/registry.sh   keep (or reuse) the image archive
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); top=$(dirname "$here")
RUNS=${RUNS:-3}
. "$here/engines.sh"
. "$here/big-image.sh"
. "$pb/lib.sh"
BENCH_LOG=${BENCH_LOG:-$work/bench.log}
command -v docker-registry >/dev/null || { echo "bench: docker-registry missing (apt-get install docker-registry)" >&2; exit 1; }
start_berthd
setup_peers
daemonless=()
if command -v skopeo >/dev/null && command -v umoci >/dev/null; then daemonless=(skopeo)
else echo "bench: skopeo skipped (apt-get install skopeo umoci)" >&2; fi
big_image_archive
size_mb=$(( $(stat -c %s "$archive") / 1048576 ))

# --- the registry: a fresh, empty one before every push ------------------------------
reg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
reg=127.0.0.1:$reg_port
reg_pid=
reg_stop() { if [[ -n $reg_pid ]]; then kill "$reg_pid" 2>/dev/null || true; wait "$reg_pid" 2>/dev/null || true; reg_pid=; fi; }
reg_start_empty() {
  reg_stop
  rm -rf "$work/registry"; mkdir -p "$work/registry"
  printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n' \
    "$work/registry/data" "$reg" >"$work/registry/config.yml"
  docker-registry serve "$work/registry/config.yml" >>"$work/registry.log" 2>&1 &
  reg_pid=$!
  local _; for _ in $(seq 100); do curl -s -o /dev/null "http://$reg/v2/" && return 0; sleep 0.05; done
  echo "bench: registry did not start; see $work/registry.log" >&2; exit 1
}
on_exit reg_stop

ref() { echo "$reg/anch-reg:$1"; }
tls() { [[ $1 == podman ]] && echo --tls-verify=false; return 0; }
remove_all() { # engine: the pushed and pulled image gone, the loaded one too
  case $1 in
    skopeo) rm -rf "$work/oci" "$work/bundle" ;;
    *) $1 rmi -f anch-img:latest "$(ref "$1")" >/dev/null 2>&1 || true ;;
  esac
  sync
}
prepare() { # engine: the image present locally under the registry name
  case $1 in
    skopeo) ;;
    *) $1 load -q -i "$archive" >/dev/null && $1 tag anch-img:latest "$(ref "$1")" ;;
  esac
}
push_cmd() {
  case $1 in
    skopeo) echo "skopeo copy -q --dest-tls-verify=false docker-archive:$archive docker://$(ref skopeo)" ;;
    *) echo "$1 push $(tls "$1") $(ref "$1") >/dev/null" ;;
  esac
}
pull_cmd() {
  case $1 in
    skopeo) echo "skopeo copy -q --src-tls-verify=false docker://$(ref skopeo) oci:$work/oci:anch && umoci unpack --image $work/oci:anch $work/bundle >/dev/null" ;;
    *) echo "$1 pull -q $(tls "$1") $(ref "$1") >/dev/null" ;;
  esac
}

variants=()
for p in "${daemonless[@]}" "${peers[@]}"; do [[ $p == berth ]] || variants+=("$p"); done
variants+=(berth)
echo "engines: $(IFS=,; echo "${variants[*]}"); RUNS=$RUNS; image ${size_mb} MB in 5 layers; registry $reg (docker-registry $(docker-registry --version 2>/dev/null | awk '{print $3}'))"
raw=$work/raw; mkdir -p "$raw"
for v in "${variants[@]}"; do : >"$raw/$v.push"; : >"$raw/$v.pull"; done
for ((r = 1; r <= RUNS; r++)); do
  for v in "${variants[@]}"; do
    remove_all "$v"
    prepare "$v"
    reg_start_empty
    push=$(time_ms eval "$(push_cmd "$v")")
    stored=$(du -sm "$work/registry/data" | cut -f1)
    remove_all "$v"
    pull=$(time_ms eval "$(pull_cmd "$v")")
    echo "$push" >>"$raw/$v.push"; echo "$pull" >>"$raw/$v.pull"
    say "round $r $v: push ${push} ms (registry holds ${stored} MiB), pull ${pull} ms"
  done
done
# What berth pulled back is whole: it runs, every layer unpacked, the whiteout applied.
berth run --rm "$(ref berth)" sh -c 'test -f /opt/blobs/r1.bin && ! test -e /opt/blobs/r3.bin && test -L /srv/data/latest && ls /usr/share/many/d000 | wc -l' >"$work/check" 2>&1 \
  && echo "berth: pulled image runs ($(tr -d ' \n' <"$work/check") small files in one of 200 dirs)" \
  || { echo "berth: WARNING pulled image check failed:"; cat "$work/check"; }

for op in push pull; do
  echo "--- $op ${size_mb} MB"
  throughput_table "$op"
  if (( ${#variants[@]} > 1 )); then
    echo "time ratio berth/peer per round (median min max n)"
    for v in "${variants[@]}"; do
      [[ $v == berth ]] && continue
      printf '%-16s %10s %10s %10s %4s\n' "berth/$v" $(paste "$raw/berth.$op" "$raw/$v.$op" | awk '{printf "%.3f\n", $1/$2}' | stats3)
    done
  fi
done
echo "targets: pull berth/docker <= 0.5; push berth/podman <= 1"
