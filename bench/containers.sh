#!/usr/bin/env bash
# bench/containers.sh - the container lifecycle benchmarks of issue 4, berth side by side with
# docker and podman in one run, using the shared yardstick scripts (../shared/peer-bench) so
# the figures compare with ../shared/peer-bench/RESULTS.md:
#   1. `run --rm busybox true` and `run --rm --network none busybox true` (+ crun/runc floors)
#   2. idle daemon RSS (berthd; docker: dockerd+containerd)
#   3. N detached `sleep` containers: time to start them all, helper (shim) RSS per container,
#      daemon growth, `ps` with N running
#   4. `exec <running> true`
#   7. CLI round trips: version, inspect, ps …
#
#   bash bench/containers.sh                      berth + whichever peers are usable
#   PEERS=berth bash bench/containers.sh          berth alone (plus the crun/runc floors)
#   N=100 RUNS=20 bash bench/containers.sh
#
# berth: release build; a private berthd (own data root, exec root and socket under
# $WORKDIR) with the offline busybox image, stopped at exit. docker: used when `docker info`
# answers on its default socket (install docker.io and start dockerd yourself: the benchmark
# does not start it because dockerd rewrites iptables forwarding). podman: used when installed;
# busybox is imported into it from the same rootfs if missing. Targets (issue 4): run --rm ≤ 1/5
# docker and ≤ 1/2 podman; --network none ≤ 1.5× crun run; exec ≤ 1/4 docker; ≤ 2 MB per
# container; berthd idle ≤ 15 MB; ps/inspect/version with 50 containers ≤ 10 ms.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); top=$(dirname "$here")
N=${N:-100}; RUNS=${RUNS:-20}; WARMUP=${WARMUP:-2}
. "$here/engines.sh"
start_berthd '{"bridge": "berthbench2", "bip": "10.235.0.1/24"}'
on_exit 'ip link del berthbench2 2>/dev/null; nft delete table ip berth_berthbench2 2>/dev/null'
setup_peers
echo "engines: $ENGINES; N=$N RUNS=$RUNS"

# crun needs the hugetlb v1 move on this hybrid host (as bench/runtime.sh).
if ! grep -q ' /sys/fs/cgroup/hugetlb ' /proc/self/mountinfo && grep -q ' /sys/fs/cgroup/unified ' /proc/self/mountinfo; then
  mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
  echo "NOTE: mounted the hugetlb v1 hierarchy (host-wide; undo: umount /sys/fs/cgroup/hugetlb)" >&2
fi

ENGINES=$ENGINES RUN_FLAG_SETS=",--network none" RUNS=$RUNS WARMUP=$WARMUP bash "$pb/01-start-latency.sh" 2>&1 | grep -v '^\[' || true
ENGINE=berth SAMPLES=5 SLEEP=0.5 bash "$pb/02-daemon-idle-mem.sh" 2>&1 | grep SUMMARY || true
ENGINES=$ENGINES RUNS=$RUNS WARMUP=$WARMUP bash "$pb/04-exec-latency.sh" 2>&1 | grep -v '^\[' || true
ENGINES=$ENGINES N=$N REPEATS=1 bash "$pb/03-per-container.sh" 2>&1 | grep -E "SUMMARY|FAILED|rror" || true
# CLI round trips with 50 containers present (the issue's condition).
for i in $(seq 50); do berth run -d --name "anch-cli50-$i" --network none busybox sleep 3600 >/dev/null; done
ENGINE=berth RUNS=$RUNS WARMUP=$WARMUP bash "$pb/07-cli-latency.sh" 2>&1 | grep -v '^\[' || true
echo "berthd RSS after all that: $(awk '/^VmRSS/{print $2" "$3}' /proc/$berthd_pid/status)"
