#!/usr/bin/env bash
# bench/build.sh - the build benchmark of issue 7: a 12-step Dockerfile (two stages, COPY of a
# CTX_MB context, several RUNs), cold (--no-cache) and fully cached, berth side by side with
# docker's classic builder (DOCKER_BUILDKIT=0) and podman build, interleaved rounds, medians and
# per-round ratios against berth, timed with the shared yardstick (../shared/peer-bench/lib.sh).
# Targets: a fully cached rebuild under 0.2 s and at most 1/3 of docker's; cold at most 0.7×.
#
#   bash bench/build.sh                       berth + whichever peers are usable
#   DOCKERD=1 bash bench/build.sh             also start a private dockerd if none answers
#   PEERS=berth,podman RUNS=5 WARMUP=1 CTX_MB=50 bash bench/build.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); top=$(dirname "$here")
RUNS=${RUNS:-5}; WARMUP=${WARMUP:-1}; CTX_MB=${CTX_MB:-50}
. "$here/engines.sh"
. "$pb/lib.sh"
start_berthd '{"bridge": "berthbench1", "bip": "10.234.0.1/24"}'
on_exit 'ip link del berthbench1 2>/dev/null; nft delete table ip berth_berthbench1 2>/dev/null'
setup_peers

ctx=$work/ctx
mkdir -p "$ctx"
head -c $(( CTX_MB * 1048576 )) /dev/urandom >"$ctx/blob.bin"
cat >"$ctx/Dockerfile" <<'EOF'
FROM busybox AS build
LABEL anch.bench=build
RUN echo one >/one.txt && cat /one.txt
RUN mkdir -p /data && for i in 1 2 3; do echo "line $i" >>/data/lines.txt; done
COPY blob.bin /data/blob.bin
RUN sha256sum /data/blob.bin >/data/blob.sha256 && cat /data/blob.sha256
FROM busybox
LABEL anch.bench=build
COPY --from=build /data/blob.sha256 /data/lines.txt /out/
RUN cat /out/blob.sha256 /out/lines.txt
ENV APP=bench
CMD ["cat", "/out/blob.sha256"]
EOF

cmd_of() {
  case $1 in
    docker) echo "DOCKER_BUILDKIT=0 docker build -q" ;;
    *) echo "$1 build -q" ;;
  esac
}
args=()
for p in "${peers[@]}"; do
  [[ $p == berth ]] && continue
  c=$(cmd_of "$p")
  args+=("$p:cold" "$c --no-cache -t anch-build:$p $ctx" "$p:cached" "$c -t anch-build:$p $ctx")
done
# berth last: bench_rr's ratios are against the last variant, so two runs give cold and cached.
echo "engines: $ENGINES; RUNS=$RUNS WARMUP=$WARMUP context ${CTX_MB} MB"
for p in "${peers[@]}"; do eval "$(cmd_of "$p") -t anch-build:$p $ctx" >/dev/null; done
cold=(); cached=()
for ((k = 0; k < ${#args[@]}; k += 4)); do cold+=("${args[k]}" "${args[k+1]}"); cached+=("${args[k+2]}" "${args[k+3]}"); done
echo "--- cold (--no-cache)"
bench_rr "$RUNS" "$WARMUP" "${cold[@]}" "berth:cold" "berth build -q --no-cache -t anch-build:berth $ctx"
echo "--- fully cached rebuild"
bench_rr "$RUNS" "$WARMUP" "${cached[@]}" "berth:cached" "berth build -q -t anch-build:berth $ctx"
# The cached rebuild must really be fully cached: the same image twice.
a=$(berth image inspect -f '{{.Id}}' anch-build:berth); berth build -q -t anch-build:berth "$ctx" >/dev/null
b=$(berth image inspect -f '{{.Id}}' anch-build:berth)
[[ $a == "$b" ]] && echo "berth: rebuild reuses image ${a:0:19}" || echo "berth: WARNING rebuild changed image id"
for p in "${peers[@]}"; do
  [[ $p == berth ]] && continue
  $p rmi -f anch-build:$p >/dev/null 2>&1 || true
  [[ $p == podman ]] && podman image prune -f --filter label=anch.bench=build >/dev/null 2>&1 || true
done
