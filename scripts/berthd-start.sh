#!/usr/bin/env bash
# Starts berthd in the background on machines without systemd, with a pid file and a
# log file, and waits until its socket answers. `stop` ends it again.
#   berthd-start.sh [--data-root DIR] [--exec-root DIR] [--host unix:///PATH.sock] [--pidfile FILE]
#                   [--log FILE] [--bin BERTHD] [--config-file FILE] [--debug] [-- BERTHD-ARGS...]
#   berthd-start.sh stop [--pidfile FILE]
# Defaults: data root /var/lib/berth, exec root (shim sockets) /run/berth, socket /run/berth/berth.sock, pid file
# /run/berth/berthd.pid, log /var/log/berthd.log, berthd from target/{release,debug}
# of this checkout or $PATH.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cmd=start
[[ ${1:-} == stop || ${1:-} == start ]] && { cmd=$1; shift; }
data_root=/var/lib/berth exec_root=/run/berth host=unix:///run/berth/berth.sock pidfile=/run/berth/berthd.pid log=/var/log/berthd.log bin= debug=() config=() extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --data-root) data_root=$2; shift 2 ;;
    --exec-root) exec_root=$2; shift 2 ;;
    --host|-H) host=$2; shift 2 ;;
    --pidfile) pidfile=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --debug|-D) debug=(--debug); shift ;;
    --config-file) config=(--config-file "$2"); shift 2 ;;
    # The rest goes to berthd as it is (e.g. -- -H tcp://127.0.0.1:2376 --tlsverify …).
    --) shift; extra=("$@"); break ;;
    *) echo "berthd-start: unknown argument $1" >&2; exit 2 ;;
  esac
done

running() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

if [[ $cmd == stop ]]; then
  running || { echo "berthd-start: no berthd running per $pidfile"; exit 0; }
  pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || { echo "berthd ($pid) stopped"; exit 0; }; sleep 0.1; done
  echo "berthd-start: berthd ($pid) did not stop within 10s" >&2; exit 1
fi

if [[ -z $bin ]]; then
  for b in "$here/target/release/berthd" "$here/target/debug/berthd" "$(command -v berthd || true)"; do
    [[ -n $b && -x $b ]] && { bin=$b; break; }
  done
fi
[[ -n $bin && -x $bin ]] || { echo "berthd-start: no berthd binary: cargo build -p berth-daemon, or pass --bin" >&2; exit 1; }
running && { echo "berthd-start: berthd already running (pid $(cat "$pidfile"))" >&2; exit 1; }
[[ $host == unix://* ]] || { echo "berthd-start: only unix:// hosts are supported" >&2; exit 2; }
sock=${host#unix://}
mkdir -p "$(dirname "$log")" "$(dirname "$pidfile")"
# setsid: the daemon leaves this shell's session, so closing the terminal does not stop it.
setsid "$bin" --data-root "$data_root" --exec-root "$exec_root" -H "$host" --pidfile "$pidfile" "${config[@]}" "${debug[@]}" "${extra[@]}" </dev/null >>"$log" 2>&1 &
pid=$!
for _ in $(seq 200); do
  if [[ -S $sock ]] && [[ -f $pidfile ]]; then
    echo "berthd started (pid $pid): socket $host, data root $data_root, log $log"
    [[ $host == unix:///run/berth/berth.sock ]] || echo "use it with: export BERTH_HOST=$host   (docker: DOCKER_HOST=$host)"
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || { echo "berthd-start: berthd exited; last log lines:" >&2; tail -n 20 "$log" >&2; exit 1; }
  sleep 0.05
done
echo "berthd-start: berthd did not listen on $sock within 10s; see $log" >&2
exit 1
