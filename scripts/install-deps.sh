#!/usr/bin/env bash
# Installs what building and testing berth needs on a fresh Debian 12 machine (as root).
# Idempotent and quiet when everything is already there.
set -euo pipefail
pkgs=(busybox-static file jq libc6-dev openssl libseccomp-dev pkg-config runc crun strace procps python3-docker docker-registry skopeo umoci apache2-utils nftables iproute2 iptables git docker-compose)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "install-deps: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "install-deps: cargo not found (install Rust with rustup)" >&2; exit 1; }
