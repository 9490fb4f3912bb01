#!/usr/bin/env bash
# bench/runtime.sh - create+start+wait+delete of /bin/true (`<runtime> run`) by berth-runtime,
# crun and runc on the same bundle, interleaved (A B C A B C …), medians and per-round ratios,
# plus each runtime's peak RSS. Targets (issue 2): berth ≤ 1.2× crun, ≤ 0.5× runc.
#
#   RUNS=30 WARMUP=3 bash bench/runtime.sh
#
# Uses the shared harness ../shared/peer-bench/lib.sh (timing and statistics), so the numbers
# compare with ../shared/peer-bench/RESULTS.md. Needs root, crun and runc (Debian packages).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); top=$(dirname "$here")
. "$top/../shared/peer-bench/lib.sh"
RUNS=${RUNS:-30}; WARMUP=${WARMUP:-3}
RT=${BERTH_RUNTIME:-$top/target/release/berth-runtime}
[[ -x $RT ]] || (cd "$top" && cargo build --release -q -p berth-runtime)
for b in crun runc; do command -v $b >/dev/null || { echo "bench/runtime: $b missing (apt-get install $b)" >&2; exit 1; }; done

# crun 1.8 refuses hybrid cgroup hosts while hugetlb sits on cgroup2; mount the v1 hugetlb
# hierarchy (host-wide, as ../shared/peer-bench/00-host-prep.sh does) only for this benchmark.
if ! grep -q ' /sys/fs/cgroup/hugetlb ' /proc/self/mountinfo && grep -q ' /sys/fs/cgroup/unified ' /proc/self/mountinfo; then
  mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
  say "NOTE: mounted the hugetlb v1 hierarchy at /sys/fs/cgroup/hugetlb so crun runs on this hybrid host (host-wide; undo: umount /sys/fs/cgroup/hugetlb)"
fi

work=$(mktemp -d "$WORKDIR/anch-rtbench.XXXXXX")
cleanup_rt() {
  for rt in crun runc; do for id in $($rt --root "$work/root-$rt" list -q 2>/dev/null); do $rt --root "$work/root-$rt" delete -f "$id" >/dev/null 2>&1 || true; done; done
  for id in $("$RT" --root "$work/root-berth" list -q 2>/dev/null); do "$RT" --root "$work/root-berth" delete -f "$id" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup_rt EXIT
bash "$top/tests/fixtures/busybox-rootfs.sh" "$work/bundle/rootfs"
(cd "$work/bundle" && runc spec && jq '.process.terminal=false | .process.args=["true"]' config.json >c && mv c config.json)
B=$work/bundle
export BENCH_RAW=$work/raw; mkdir -p "$BENCH_RAW"
say "runtime start latency: berth-runtime vs runc vs crun, $RUNS rounds after $WARMUP warm-up, bundle $B"
out=$(bench_rr "$RUNS" "$WARMUP" \
  berth "$RT --root $work/root-berth run --bundle $B berth-\$i" \
  runc  "runc --root $work/root-runc run --bundle $B runc-\$i" \
  crun  "crun --root $work/root-crun run --bundle $B crun-\$i")
echo "$out"
berth_runc=$(paste "$BENCH_RAW/berth.ms" "$BENCH_RAW/runc.ms" | awk '{printf "%.4f\n", $1/$2}' | stats3)
echo "berth/runc (per-round)       $berth_runc"

peak() { # runtime label -> median peak RSS in KiB over 5 runs (GNU time %M: the runtime and what it waits for)
  local i; for i in 1 2 3 4 5; do /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; done | sort -n | sed -n 3p
}
rss_berth=$(peak $RT --root "$work/root-berth" run --bundle "$B" rss-berth)
rss_runc=$(peak runc --root "$work/root-runc" run --bundle "$B" rss-runc)
rss_crun=$(peak crun --root "$work/root-crun" run --bundle "$B" rss-crun)
echo "peak RSS KiB (median of 5)   berth=$rss_berth runc=$rss_runc crun=$rss_crun"
m() { echo "$out" | awk -v v="$1" '$1==v{print $2}'; }
r() { echo "$out" | awk -v v="$1" '$1==v{print $2}'; }
echo "SUMMARY runtime median ms: berth=$(m berth) runc=$(m runc) crun=$(m crun); berth/crun=$(r berth/crun) (target <= 1.2) berth/runc=${berth_runc%% *} (target <= 0.5); peak RSS KiB berth=$rss_berth runc=$rss_runc crun=$rss_crun"
