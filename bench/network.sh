#!/usr/bin/env bash
# bench/network.sh - the networking benchmarks of issue 5, berth side by side with docker and
# podman in one run, timed with the shared yardstick (../shared/peer-bench/lib.sh) so the
# figures compare with ../shared/peer-bench/RESULTS.md:
#   1. network setup cost: `run --rm busybox true` on the default bridge and with
#      `--network none`, interleaved (A B C … A B C …); per engine the per-round
#      bridge-minus-none difference (ms, median), and berth's cost against docker's/podman's.
#      Target: berth's bridge adds at most 5 ms over --network none.
#   2. published-port throughput: busybox httpd serving a SIZE_MB file from a tmpfs through
#      `-p 127.0.0.1::80`, pulled by curl on the host to /dev/null, TP_ROUNDS rounds
#      interleaved across engines; MB/s (median) per engine and berth/docker, berth/podman.
#      Target: berth ≥ 0.9× docker.
# Loopback only: nothing listens beyond 127.0.0.1.
#
#   bash bench/network.sh                         berth + whichever peers are usable
#   PEERS=berth bash bench/network.sh             berth alone
#   RUNS=20 WARMUP=2 SIZE_MB=1024 TP_ROUNDS=3 bash bench/network.sh
#   DOCKERD=1 bash bench/network.sh               with a private dockerd (see below)
#
# berth: release build; a private berthd (own data root, exec root, socket, default bridge
# berthbench0 on 10.233.0.0/24) with the offline busybox image, stopped and its bridge and
# nftables table removed at exit. docker: used when `docker info` answers on its default
# socket; with DOCKERD=1 and none answering, a private dockerd is started with its
# networking on (bridge docker-bench0 on DOCKER_BIP, iptables rules, as a real install
# has them): the host's iptables rules and ip_forward are saved first and restored at
# exit, and the bridge deleted. That run is also berth working beside Docker's rules
# (FORWARD policy DROP). podman: used when installed. busybox is
# imported into each from the same rootfs if missing. Needs root, curl.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); top=$(dirname "$here")
pb=$top/../shared/peer-bench
[[ -f $pb/lib.sh ]] || { echo "bench/network: $pb missing (../shared beside the checkout)" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench/network: curl missing (apt-get install curl)" >&2; exit 1; }
WORKDIR=${WORKDIR:-/tmp}; export WORKDIR
RUNS=${RUNS:-20}; WARMUP=${WARMUP:-2}; SIZE_MB=${SIZE_MB:-1024}; TP_ROUNDS=${TP_ROUNDS:-3}
BRIDGE=${BRIDGE:-berthbench0}; BIP=${BIP:-10.233.0.1/24}; DOCKER_BIP=${DOCKER_BIP:-10.234.0.1/24}

(cd "$top" && cargo build --release -q -p berth-cli -p berth-daemon -p berth-shim -p berth-runtime)
rel=$top/target/release
export PATH=$rel:$PATH
. "$pb/lib.sh"

work=$(mktemp -d "$WORKDIR/anch-netbench.XXXXXX")
sock=$work/berth.sock
export BERTH_HOST=unix://$sock
printf '{"bridge": "%s", "bip": "%s"}\n' "$BRIDGE" "$BIP" >"$work/daemon.json"
"$rel/berthd" --data-root "$work/data" --exec-root "$work/run" -H "$BERTH_HOST" --pidfile "$work/berthd.pid" --config-file "$work/daemon.json" >"$work/berthd.log" 2>&1 &
berthd_pid=$!
peers=()
dockerd_pid=
cleanup() {
  local p ids
  for p in "${peers[@]}"; do
    ids=$($p ps -aq --filter name=anch-net- 2>/dev/null || true)
    [[ -z $ids ]] || $p rm -f $ids >/dev/null 2>&1 || true
  done
  if [[ -n $dockerd_pid ]]; then
    kill "$dockerd_pid" 2>/dev/null || true; wait "$dockerd_pid" 2>/dev/null || true
    grep -o "$work/docker[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    # dockerd leaves its chains and FORWARD's DROP policy behind: put the host's back.
    [[ ! -f $work/iptables.saved ]] || iptables-restore <"$work/iptables.saved" || echo "bench/network: restoring iptables failed; saved rules in $work/iptables.saved" >&2
    [[ ! -f $work/ip_forward.saved ]] || cat "$work/ip_forward.saved" >/proc/sys/net/ipv4/ip_forward
    ip link del docker-bench0 2>/dev/null || true
  fi
  kill "$berthd_pid" 2>/dev/null || true; wait "$berthd_pid" 2>/dev/null || true
  ip link del "$BRIDGE" 2>/dev/null || true
  nft delete table ip "berth_$BRIDGE" 2>/dev/null || true
  grep -o "$work[^ ]*/merged" /proc/self/mountinfo 2>/dev/null | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.05; done
[[ -S $sock ]] || { echo "bench/network: berthd did not start:" >&2; cat "$work/berthd.log" >&2; exit 1; }

rootfs=$work/bbroot
bash "$top/tests/fixtures/busybox-rootfs.sh" "$rootfs" >/dev/null
tar -C "$rootfs" -c . | berth import -c 'CMD ["sh"]' - busybox:latest >/dev/null

start_dockerd() {
  command -v dockerd >/dev/null || return 1
  mkdir -p "$work/docker"
  iptables-save >"$work/iptables.saved"
  cat /proc/sys/net/ipv4/ip_forward >"$work/ip_forward.saved"
  ip link add docker-bench0 type bridge
  ip addr add "$DOCKER_BIP" dev docker-bench0
  dockerd --data-root "$work/docker/data" --exec-root "$work/docker/run" -H "unix://$work/docker/docker.sock" \
    --pidfile "$work/docker/docker.pid" --bridge docker-bench0 >"$work/docker/dockerd.log" 2>&1 &
  dockerd_pid=$!
  export DOCKER_HOST=unix://$work/docker/docker.sock
  for _ in $(seq 200); do docker info >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "bench/network: private dockerd did not answer; see $work/docker/dockerd.log" >&2
  return 1
}

IFS=, read -r -a want <<<"${PEERS:-berth,docker,podman}"
for p in "${want[@]}"; do
  case $p in
    berth) peers+=(berth) ;;
    docker) if docker info >/dev/null 2>&1 || { [[ ${DOCKERD:-0} == 1 ]] && start_dockerd; }; then
              docker image inspect busybox:latest >/dev/null 2>&1 || tar -C "$rootfs" -c . | docker import -c 'CMD ["sh"]' - busybox:latest >/dev/null
              peers+=(docker)
            else echo "bench/network: docker skipped (no dockerd answering; DOCKERD=1 starts a private one)" >&2; fi ;;
    podman) if command -v podman >/dev/null; then
              podman image exists busybox:latest || tar -C "$rootfs" -c . | podman import -c 'CMD ["sh"]' - busybox:latest >/dev/null
              peers+=(podman)
            else echo "bench/network: podman skipped (not installed)" >&2; fi ;;
  esac
done
echo "engines: ${peers[*]}; RUNS=$RUNS WARMUP=$WARMUP SIZE_MB=$SIZE_MB TP_ROUNDS=$TP_ROUNDS"

# crun (podman) needs the hugetlb v1 move on this hybrid host (as bench/runtime.sh).
if ! grep -q ' /sys/fs/cgroup/hugetlb ' /proc/self/mountinfo && grep -q ' /sys/fs/cgroup/unified ' /proc/self/mountinfo; then
  mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
  echo "NOTE: mounted the hugetlb v1 hierarchy (host-wide; undo: umount /sys/fs/cgroup/hugetlb)" >&2
fi

med() { stats <"$1" | cut -d' ' -f1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0 == 0) print "NA"; else printf "%.2f", a/b }'; }

# ---------------------------------------------------------------- 1. setup cost
export BENCH_RAW=$work/raw; mkdir -p "$BENCH_RAW"
args=()
for p in "${peers[@]}"; do
  args+=("$p-none" "$p run --rm --network none busybox:latest true" "$p-bridge" "$p run --rm busybox:latest true")
done
say "network setup: run --rm busybox true, default bridge vs --network none, $RUNS rounds after $WARMUP warm-up"
out=$(bench_rr "$RUNS" "$WARMUP" "${args[@]}")
echo "$out" | awk '/^ratio/{exit} {print}'
summary="SUMMARY network setup (bridge - none, per-round median ms):"
declare -A cost
for p in "${peers[@]}"; do
  cost[$p]=$(paste "$BENCH_RAW/$p-bridge.ms" "$BENCH_RAW/$p-none.ms" | awk '{printf "%.3f\n", $1-$2}' | stats | cut -d' ' -f1)
  printf '%-28s bridge %8s ms  none %8s ms  bridge-none %8s ms\n' "$p" "$(med "$BENCH_RAW/$p-bridge.ms")" "$(med "$BENCH_RAW/$p-none.ms")" "${cost[$p]}"
  summary+=" $p=${cost[$p]}"
done
if [[ -n ${cost[berth]:-} ]]; then
  summary+=" (target berth <= 5)"
  for p in docker podman; do
    [[ -n ${cost[$p]:-} ]] || continue
    # per-round ratio of whole bridge runs, and the ratio of the setup costs
    r=$(paste "$BENCH_RAW/berth-bridge.ms" "$BENCH_RAW/$p-bridge.ms" | awk '{printf "%.4f\n", $1/$2}' | stats3 | cut -d' ' -f1)
    summary+="; berth/$p bridge run=$r, setup cost berth/$p=$(ratio "${cost[berth]}" "${cost[$p]}")"
  done
fi
echo "$summary"

# ---------------------------------------------------------------- 2. published-port throughput
serve="dd if=/dev/zero of=/www/big bs=1M count=$SIZE_MB 2>/dev/null && echo ok >/www/ready && exec httpd -f -p 80 -h /www"
declare -A port
for p in "${peers[@]}"; do
  $p rm -f anch-net-tp >/dev/null 2>&1 || true
  $p run -d --name anch-net-tp --tmpfs "/www:size=$((SIZE_MB + 64))m" -p 127.0.0.1::80 busybox:latest sh -c "$serve" >/dev/null
  port[$p]=$($p port anch-net-tp 80/tcp | awk -F: '/^127\.0\.0\.1:/{print $2; exit}')
  [[ -n ${port[$p]} ]] || { echo "bench/network: $p reported no port for anch-net-tp:80" >&2; $p port anch-net-tp >&2 || true; exit 1; }
  ok=
  for _ in $(seq 600); do
    if [[ $(curl -s --max-time 2 "http://127.0.0.1:${port[$p]}/ready" 2>/dev/null) == ok ]]; then ok=1; break; fi
    sleep 0.1
  done
  [[ -n $ok ]] || { echo "bench/network: $p's httpd on 127.0.0.1:${port[$p]} did not answer" >&2; $p logs anch-net-tp >&2 || true; exit 1; }
done
say "published-port throughput: ${SIZE_MB} MB through -p 127.0.0.1::80 to curl, $TP_ROUNDS rounds"
for p in "${peers[@]}"; do : >"$BENCH_RAW/$p.mbs"; done
for (( i = 1; i <= TP_ROUNDS; i++ )); do
  for p in "${peers[@]}"; do
    read -r size secs < <(curl -s -o /dev/null -w '%{size_download} %{time_total}\n' "http://127.0.0.1:${port[$p]}/big")
    (( size == SIZE_MB * 1048576 )) || { echo "bench/network: $p: got $size bytes, not $((SIZE_MB * 1048576))" >&2; exit 1; }
    awk -v s="$size" -v t="$secs" 'BEGIN{printf "%.1f\n", s/t/1e6}' >>"$BENCH_RAW/$p.mbs"
  done
done
summary="SUMMARY published-port throughput MB/s (median of $TP_ROUNDS, ${SIZE_MB} MB):"
declare -A mbs
for p in "${peers[@]}"; do
  mbs[$p]=$(med "$BENCH_RAW/$p.mbs")
  printf '%-28s %10s MB/s  (%s)\n' "$p" "${mbs[$p]}" "$(stats <"$BENCH_RAW/$p.mbs" | awk '{print "min "$2", max "$3", n "$4}')"
  summary+=" $p=${mbs[$p]}"
done
for p in docker podman; do
  [[ -n ${mbs[berth]:-} && -n ${mbs[$p]:-} ]] || continue
  summary+="; berth/$p=$(ratio "${mbs[berth]}" "${mbs[$p]}")"
done
[[ -z ${mbs[docker]:-} ]] || summary+=" (target berth/docker >= 0.9)"
echo "$summary"
for p in "${peers[@]}"; do $p rm -f anch-net-tp >/dev/null 2>&1 || true; done
echo "berthd RSS after all that: $(awk '/^VmRSS/{print $2" "$3}' /proc/$berthd_pid/status)"
# The library's share of that: netns alone, netns + veth on a bridge, release.
echo "berth network library (crates/network/examples/attach_cost.rs, median of 30):"
(cd "$top" && cargo run --release -q -p berth-network --example attach_cost)
