#!/usr/bin/env bash
# bench/images.sh - the image benchmark of issue 3.
#  1. Load and unpack an IMAGE_MB (default 500) MB image of 5 layers (random data, text,
#     many small files in one layer, ...) from a docker-archive: `berth load` against
#     `docker load` and `podman load`, and against `skopeo copy` to an OCI layout followed
#     by `umoci unpack` (the daemonless pair). Interleaved rounds, each engine starting from
#     an empty store; medians, MB/s and per-round ratios. Target: berth at least 2x docker's
#     throughput.
#  2. `images` with TAGS (default 1000) tags: median wall time of `berth images` (and the
#     peers'), target under 50 ms.
#
#   bash bench/images.sh                      berth + whichever peers are usable
#   DOCKERD=1 bash bench/images.sh            also start a private dockerd if none answers
#   PEERS=berth,podman RUNS=3 IMAGE_MB=200 TAGS=300 bash bench/images.sh
#   IMAGE_TAR=/var/tmp/anch-img.tar bash bench/images.sh   keep (or reuse) the image archive
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); top=$(dirname "$here")
RUNS=${RUNS:-3}; TAGS=${TAGS:-1000}
. "$here/engines.sh"
. "$here/big-image.sh"
. "$pb/lib.sh"
BENCH_LOG=${BENCH_LOG:-$work/bench.log}
start_berthd
setup_peers
daemonless=()
if command -v skopeo >/dev/null && command -v umoci >/dev/null; then daemonless=(skopeo+umoci)
else echo "bench: skopeo+umoci skipped (apt-get install skopeo umoci)" >&2; fi

big_image_archive
size_mb=$(( $(stat -c %s "$archive") / 1048576 ))
echo "engines: $ENGINES${daemonless:+,${daemonless[*]}}; RUNS=$RUNS; archive ${size_mb} MB (5 layers, uncompressed as docker save writes them)"

# --- load: each round starts every engine from a store without the image -------------------
remove_image() {
  case $1 in
    skopeo+umoci) rm -rf "$work/oci" "$work/bundle" ;;
    berth) berth rmi -f anch-img:latest >/dev/null 2>&1 || true ;;
    *) $1 rmi -f anch-img:latest >/dev/null 2>&1 || true ;;
  esac
  sync
}
load_cmd() {
  case $1 in
    skopeo+umoci) echo "skopeo copy -q docker-archive:$archive oci:$work/oci:anch-img && umoci unpack --image $work/oci:anch-img $work/bundle" ;;
    *) echo "$1 load -q -i $archive" ;;
  esac
}
variants=()
for p in "${daemonless[@]}" "${peers[@]}"; do [[ $p == berth ]] || variants+=("$p"); done
variants+=(berth)   # last: the ratios are against berth
raw=$work/raw; mkdir -p "$raw"
for v in "${variants[@]}"; do : >"$raw/$v.ms"; done
for ((r = 1; r <= RUNS; r++)); do
  for v in "${variants[@]}"; do
    remove_image "$v"
    ms=$(time_ms eval "$(load_cmd "$v")")
    echo "$ms" >>"$raw/$v.ms"
  done
done
# The image berth loaded is whole: every layer unpacked, the whiteout applied, a container runs.
berth run --rm anch-img:latest sh -c 'test -f /opt/blobs/r1.bin && ! test -e /opt/blobs/r3.bin && test -L /srv/data/latest && ls /usr/share/many/d000 | wc -l' >"$work/check" 2>&1 \
  && echo "berth: loaded image runs ($(tr -d ' \n' <"$work/check") small files in one of 200 dirs)" \
  || { echo "berth: WARNING loaded image check failed:"; cat "$work/check"; }

echo "--- load + unpack ${size_mb} MB"
throughput_table ms
if (( ${#variants[@]} > 1 )); then
  echo "throughput ratio berth/peer (per-round time ratio peer/berth: median min max n)"
  for v in "${variants[@]}"; do
    [[ $v == berth ]] && continue
    printf '%-16s %10s %10s %10s %4s\n' "berth/$v" $(paste "$raw/$v.ms" "$raw/berth.ms" | awk '{printf "%.3f\n", $1/$2}' | stats3)
  done
  echo "target: berth/docker >= 2"
fi

# --- images with TAGS tags ----------------------------------------------------------------
say "tagging busybox $TAGS times per engine"
for p in "${peers[@]}"; do
  for ((i = 1; i <= TAGS; i++)); do echo "busybox:latest anch-tags/t$i:v$i"; done >"$work/tags"
  while read -r s t; do $p tag "$s" "$t"; done <"$work/tags"
  on_exit "$p images -q --filter reference='anch-tags/*' | sort -u | xargs -r $p rmi -f >/dev/null 2>&1"
done
echo "--- images with $TAGS tags (RUNS=$(( RUNS * 5 )))"
args=()
for p in "${peers[@]}"; do [[ $p == berth ]] || args+=("$p" "$p images"); done
bench_rr $(( RUNS * 5 )) 1 "${args[@]}" berth "berth images"
n=$(berth images --format '{{.Repository}}' | grep -c '^anch-tags/' || true)
echo "berth images lists $n anch-tags tags (target: the median under 50 ms)"
