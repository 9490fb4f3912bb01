# bench/engines.sh - sourced by the benchmarks: a private berthd with the offline busybox
# image, and the peers (docker, podman) with the same image, cleaned up at exit.
#   start_berthd [daemon.json text]  -> $work, $BERTH_HOST, $berthd_pid, $rootfs
#   setup_peers                       -> $ENGINES (berth,docker,podman as usable), peers=()
#   on_exit CMD                       -> also run CMD at exit (before berthd stops)
# Peers: PEERS=berth,docker,podman (default). docker is used when `docker info` answers;
# with DOCKERD=1 and no dockerd answering, a private dockerd is started (own data root and
# socket, --iptables=false --ip-forward=false --bridge=none so the host's forwarding and
# firewall are untouched) and stopped at exit. podman is used when installed.
[[ -n ${top:-} ]] || { echo "bench/engines.sh: set top= (the checkout) before sourcing" >&2; exit 1; }
WORKDIR=${WORKDIR:-/tmp}; export WORKDIR
pb=$top/../shared/peer-bench
[[ -f $pb/lib.sh ]] || { echo "bench: $pb missing (../shared beside the checkout)" >&2; exit 1; }

(cd "$top" && cargo build --release -q -p berth-cli -p berth-daemon -p berth-shim -p berth-runtime)
rel=$top/target/release
export PATH=$rel:$PATH

_exit_hooks=()
on_exit() { _exit_hooks+=("$1"); }
peers=()
dockerd_pid=
_engines_cleanup() {
  local h
  for h in "${_exit_hooks[@]}"; do eval "$h" || true; done
  if [[ -n ${berthd_pid:-} ]]; then
    local ids; ids=$(berth ps -aq 2>/dev/null || true)
    [[ -z $ids ]] || berth rm -f $ids >/dev/null 2>&1 || true
    kill "$berthd_pid" 2>/dev/null || true; wait "$berthd_pid" 2>/dev/null || true
  fi
  if [[ -n $dockerd_pid ]]; then
    kill "$dockerd_pid" 2>/dev/null || true; wait "$dockerd_pid" 2>/dev/null || true
    grep -o "$work/docker[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  fi
  grep -o "$work[^ ]*/merged" /proc/self/mountinfo 2>/dev/null | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap _engines_cleanup EXIT
work=$(mktemp -d "$WORKDIR/anch-berth.XXXXXX")

start_berthd() {
  local config=${1:-"{}"}
  sock=$work/berth.sock
  export BERTH_HOST=unix://$sock
  printf '%s\n' "$config" >"$work/daemon.json"
  "$rel/berthd" --data-root "$work/data" --exec-root "$work/run" -H "$BERTH_HOST" --pidfile "$work/berthd.pid" --config-file "$work/daemon.json" >"$work/berthd.log" 2>&1 &
  berthd_pid=$!
  for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.05; done
  [[ -S $sock ]] || { echo "bench: berthd did not start:" >&2; cat "$work/berthd.log" >&2; exit 1; }
  rootfs=$work/bbroot
  bash "$top/tests/fixtures/busybox-rootfs.sh" "$rootfs" >/dev/null
  tar -C "$rootfs" -c . | berth import -c 'CMD ["sh"]' - busybox:latest >/dev/null
  export BB_ROOTFS=$rootfs
}

_start_dockerd() {
  command -v dockerd >/dev/null || return 1
  mkdir -p "$work/docker"
  dockerd --data-root "$work/docker/data" --exec-root "$work/docker/run" -H "unix://$work/docker/docker.sock" --pidfile "$work/docker/docker.pid" \
    --iptables=false --ip-forward=false --bridge=none >"$work/docker/dockerd.log" 2>&1 &
  dockerd_pid=$!
  export DOCKER_HOST=unix://$work/docker/docker.sock
  for _ in $(seq 200); do docker info >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "bench: private dockerd did not answer; see $work/docker/dockerd.log" >&2
  return 1
}

setup_peers() {
  local p
  IFS=, read -r -a _want <<<"${PEERS:-berth,docker,podman}"
  for p in "${_want[@]}"; do
    case $p in
      berth) peers+=(berth) ;;
      docker)
        if docker info >/dev/null 2>&1 || { [[ ${DOCKERD:-0} == 1 ]] && _start_dockerd; }; then
          docker image inspect busybox:latest >/dev/null 2>&1 || tar -C "$rootfs" -c . | docker import -c 'CMD ["sh"]' - busybox:latest >/dev/null
          peers+=(docker)
        else echo "bench: docker skipped (no dockerd answering; DOCKERD=1 starts a private one)" >&2; fi ;;
      podman)
        if command -v podman >/dev/null; then
          podman image exists busybox:latest || tar -C "$rootfs" -c . | podman import -c 'CMD ["sh"]' - busybox:latest >/dev/null
          peers+=(podman)
        else echo "bench: podman skipped (not installed)" >&2; fi ;;
    esac
  done
  ENGINES=$(IFS=,; echo "${peers[*]}")
}
