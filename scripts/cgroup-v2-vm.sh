#!/usr/bin/env bash
# Runs berth-runtime's tests on a pure cgroup v2 kernel, in a qemu VM (software
# emulation, no KVM needed). The build hosts are cgroup v1 hybrids, so without this the
# v2 code (crates/runtime/src/cgroups/v2.rs, the cgroup2 mount) never runs; most users
# run pure v2.
#
#   scripts/cgroup-v2-vm.sh [ARG…]      as root; ARGs go to every test binary (a name
#                                       filter, --exact, …; --test-threads=1 is always set)
#
# What it does:
#   1. apt-get installs qemu-system-x86, cpio, busybox-static (and the build deps through
#      scripts/install-deps.sh); fetches Debian's cloud kernel with `apt-get download`
#      and unpacks it with dpkg-deb under target/cgroup-v2-vm (nothing lands in /boot).
#   2. builds berth-runtime and its test binaries (release) and the busybox fixture.
#   3. packs an initramfs: busybox as /init, bash, runc, the binaries with the shared
#      libraries ldd names, the fixture and the files the tests read, all at the same
#      absolute paths as here (the tests find them through compile-time paths).
#   4. boots it: /init moves into a tmpfs (pivot_root(2) refuses to leave the initramfs),
#      mounts cgroup2 alone on /sys/fs/cgroup (cgroup_no_v1=all), enables the cpu,
#      cpuset, io, memory, pids and hugetlb controllers as systemd would, moves itself
#      into a leaf cgroup like a login session, runs every test binary with
#      --test-threads=1 and powers off.
#   5. prints the console and exits 0 only if every binary passed.
#
# Environment: BERTH_VM_TIMEOUT (seconds for the VM, default 900; a run takes about
# 2 minutes on 2 cores), BERTH_VM_TESTS (space-separated binary names to run, default
# all, e.g. "cgroups lifecycle"), BERTH_VM_NO_BUILD=1 (reuse the last build),
# BERTH_VM_SMP / BERTH_VM_MEM (qemu's -smp, -m; default 2, 2G).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$repo/.." && pwd)/shared
work=$repo/target/cgroup-v2-vm
timeout_s=${BERTH_VM_TIMEOUT:-900}
t_start=$(date +%s)
log() { printf 'cgroup-v2-vm: %s\n' "$*" >&2; }
[[ $(id -u) == 0 ]] || { log "run as root (apt-get, and the tests need it in the VM)"; exit 2; }
mkdir -p "$work"

# --- 1. packages and kernel -------------------------------------------------------------
bash "$repo/scripts/install-deps.sh"
need=()
for p in qemu-system-x86 cpio busybox-static; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if ((${#need[@]})); then
  log "apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# linux-image-cloud-amd64 is a metapackage: its one dependency is the real kernel.
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
if [[ -z $kpkg ]]; then
  apt-get update -qq
  kpkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
fi
[[ -n $kpkg ]] || { log "cannot resolve linux-image-cloud-amd64"; exit 2; }
kdir=$work/kernel/$kpkg
if ! compgen -G "$kdir/boot/vmlinuz-*" >/dev/null; then
  log "fetching $kpkg"
  dl=$(mktemp -d); chmod 777 "$dl"   # apt-get download runs as _apt where it can
  (cd "$dl" && apt-get download -qq "$kpkg" 2>/dev/null)
  rm -rf "$kdir"; mkdir -p "$kdir"
  dpkg-deb -x "$dl"/"$kpkg"_*.deb "$kdir"
  rm -rf "$dl"
fi
kernel=$(compgen -G "$kdir/boot/vmlinuz-*" | head -1)

# --- 2. build ---------------------------------------------------------------------------
t_build=$(date +%s)
cd "$repo"
list=$work/test-binaries
if [[ ${BERTH_VM_NO_BUILD:-} != 1 || ! -s $list ]]; then
  cargo build --release -p berth-runtime --quiet
  # Every test executable of the package (integration tests, lib and bin unit tests).
  cargo test -p berth-runtime --release --no-run --message-format=json 2>/dev/null \
    | jq -r 'select(.reason == "compiler-artifact" and .profile.test and .executable != null) | "\(.target.name) \(.executable)"' >"$list.new"
  mv "$list.new" "$list"
fi
bash tests/fixtures/busybox-rootfs.sh
rtbin=${CARGO_TARGET_DIR:-$repo/target}/release/berth-runtime
fixture=$repo/target/busybox-rootfs
t_built=$(date +%s)

# --- 3. initramfs -----------------------------------------------------------------------
root=$work/root
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,root}
cp /bin/busybox "$root/bin/busybox"
while read -r applet; do
  applet=${applet#/}
  [[ $applet == bin/busybox || -z $applet || -e $root/$applet ]] && continue
  ln -s /bin/busybox "$root/$applet"
done < <(/bin/busybox --list-full)
# Copies files (at the same absolute path) and the shared libraries they load.
put() {
  local f lib
  for f; do
    cp -L --parents "$f" "$root"
    file -L "$f" | grep -q 'dynamically linked' || continue
    for lib in $(ldd "$f" | awk '/=> \// {print $3} /^\t\/[^ ]+ \(/ {print $1}'); do
      [[ -e $root$lib ]] || cp -L --parents "$lib" "$root"
    done
  done
}
# bash: the fixture script and isolation.rs run it. runc: differential.rs compares with it.
rm -f "$root/bin/bash" "$root/usr/bin/bash"
put /usr/bin/bash
ln -sf /usr/bin/bash "$root/bin/bash"
command -v runc >/dev/null && { rm -f "$root$(command -v runc)"; put "$(command -v runc)"; }
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$root/etc/passwd"
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' 'nobody:x:65534:' >"$root/etc/group"
put "$rtbin"
mkdir -p "$root$repo/crates/runtime" "$root$repo/tests/fixtures" "$root$shared/reference"
cp tests/fixtures/busybox-rootfs.sh "$root$repo/tests/fixtures/"
cp "$shared/reference/seccomp-default.json" "$root$shared/reference/"
mkdir -p "$root$repo/target"; cp -a "$fixture" "$root$fixture"
wanted=${BERTH_VM_TESTS:-}
: >"$root/tests"
while read -r name exe; do
  [[ -z $wanted || " $wanted " == *" $name "* ]] || continue
  put "$exe"
  echo "$name $exe" >>"$root/tests"
done <"$list"
[[ -s $root/tests ]] || { log "no test binaries selected"; exit 2; }
printf '%q ' "$@" >"$root/test-args"
echo "$repo" >"$root/repo-dir"

cat >"$root/init" <<'EOF'
#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
if [ ! -e /.stage2 ]; then
  # Stage 1, on the initramfs: pivot_root(2) fails with EINVAL when the current root is
  # the initial rootfs, so copy everything into a tmpfs and switch_root into it.
  mount -t proc proc /proc
  mkdir /newroot && mount -t tmpfs -o mode=755 tmpfs /newroot
  for e in /*; do case $e in /proc|/newroot) ;; *) cp -a "$e" /newroot/ ;; esac; done
  mkdir /newroot/proc && touch /newroot/.stage2
  umount /proc
  exec switch_root /newroot /init
fi
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
ln -sf pts/ptmx /dev/ptmx
mount -t tmpfs tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue
# /tmp needs no tmpfs of its own: the root already is one, and a mount there would hide
# a checkout that lives under /tmp (the test binaries use their build-time paths).
mkdir -p /tmp && chmod 1777 /tmp
mount -t tmpfs tmpfs /run
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
ip link set lo up 2>/dev/null
hostname v2vm
echo "@@ kernel $(uname -r); /sys/fs/cgroup magic $(stat -f -c %t /sys/fs/cgroup); v1 mounts: $(grep -c ' cgroup ' /proc/mounts)"
echo "@@ controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
# As systemd does: every controller on in the root, our shell in a leaf cgroup of a
# slice (a login session), so the runtime's relative cgroup paths are resolved the way
# they are on real hosts and the no-internal-processes rule applies.
for c in cpu cpuset io memory pids hugetlb; do echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control; done
mkdir -p /sys/fs/cgroup/test.slice/session.scope
for c in cpu cpuset io memory pids hugetlb; do echo "+$c" > /sys/fs/cgroup/test.slice/cgroup.subtree_control; done
echo $$ > /sys/fs/cgroup/test.slice/session.scope/cgroup.procs
echo "@@ subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control); runner in $(cat /proc/self/cgroup)"
eval "set -- $(cat /test-args)"
while read -r name exe; do
  echo "@@ RUN $name"
  start=$(date +%s)
  # cargo runs test binaries from the package directory.
  (cd "$(cat /repo-dir)/crates/runtime" && "$exe" --test-threads=1 "$@" 2>&1)
  echo "@@ EXIT $name $? $(( $(date +%s) - start ))s"
done < /tests
echo "@@ DONE"
sync
poweroff -f
EOF
chmod 755 "$root/init"
initrd=$work/initramfs.cpio
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) >"$initrd"
log "initramfs $(du -h "$initrd" | cut -f1), kernel $(basename "$kernel")"

# --- 4. boot ----------------------------------------------------------------------------
console=$work/console.log
t_vm=$(date +%s)
set +e
timeout --foreground "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -m "${BERTH_VM_MEM:-2G}" -smp "${BERTH_VM_SMP:-2}" \
  -nographic -no-reboot -kernel "$kernel" -initrd "$initrd" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 cgroup_no_v1=all" </dev/null | tr -d '\r' | tee "$console"
qrc=${PIPESTATUS[0]}
set -e
t_end=$(date +%s)

# --- 5. verdict -------------------------------------------------------------------------
fail=0
[[ $qrc == 0 ]] || { log "qemu exited with $qrc (124: timed out after ${timeout_s}s)"; fail=1; }
grep -q '^@@ DONE' "$console" || { log "the VM did not finish its test list"; fail=1; }
grep -q 'magic 63677270; v1 mounts: 0' "$console" || { log "the VM was not pure cgroup v2"; fail=1; }
passed=0 failed=0 ignored=0
while read -r name exe; do
  rc=$(awk -v n="$name" '$1 == "@@" && $2 == "EXIT" && $3 == n {print $4}' "$console")
  res=$(awk -v n="$name" '$1 == "@@" && $2 == "RUN" {cur = $3} cur == n && /^test result:/ {print; exit}' "$console")
  if [[ $rc != 0 || -z $res ]]; then
    log "FAILED: $name (exit ${rc:-none})"
    fail=1
  fi
  if [[ $res =~ ([0-9]+)\ passed\;\ ([0-9]+)\ failed\;\ ([0-9]+)\ ignored ]]; then
    passed=$((passed + BASH_REMATCH[1])) failed=$((failed + BASH_REMATCH[2])) ignored=$((ignored + BASH_REMATCH[3]))
  fi
done <"$root/tests"
log "under cgroup v2: $passed passed, $failed failed, $ignored ignored"
log "time: $((t_build - t_start))s set-up, $((t_built - t_build))s build, $((t_vm - t_built))s initramfs, $((t_end - t_vm))s VM, $((t_end - t_start))s in all (console: $console)"
exit $fail
