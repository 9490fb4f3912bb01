# bench/big-image.sh - sourced by the benchmarks that move a large image (images.sh,
# registry.sh). `big_image_archive` sets $archive to a docker-archive (as `docker save`
# writes one: layers uncompressed) of anch-img:latest: busybox plus five layers adding up
# to IMAGE_MB (default 500) megabytes - random files, log text, 20,000 small files,
# symlinks and a hard link, a whiteout - so that load, push and pull meet every kind of
# content. Needs $work and $BB_ROOTFS (engines.sh's start_berthd sets both).
# With IMAGE_TAR=path an archive already there is reused, and a new one is kept there.
IMAGE_MB=${IMAGE_MB:-500}
_big_mb() { echo $(( IMAGE_MB * $1 / 100 )); }
_big_layers() {
  local l=$img/layers
  mkdir -p "$l"/{1,2,3,4,5}
  # 1: busybox (so that the image runs) and a few large random files (incompressible)
  cp -a "$BB_ROOTFS/." "$l/1/"
  mkdir -p "$l/1/opt/blobs"
  for i in 1 2 3; do head -c $(( $(_big_mb 30) * 1048576 / 3 )) /dev/urandom >"$l/1/opt/blobs/r$i.bin"; done
  # 2: text (log-like lines)
  mkdir -p "$l/2/var/log/app"
  python3 - "$l/2/var/log/app" "$(_big_mb 25)" <<'EOF'
import os, random, sys
d, mb = sys.argv[1], int(sys.argv[2])
words = "alpha beta gamma delta request served user cache miss hit GET POST /api/v1/items status 200 404 500 ms".split()
rnd = random.Random(7)
for f in range(5):
    with open(os.path.join(d, f"app{f}.log"), "w") as out:
        n = 0
        while n < mb * 1048576 // 5:
            line = " ".join(rnd.choice(words) for _ in range(12)) + "\n"
            out.write(line); n += len(line)
EOF
  # 3: many small files (metadata-bound): 20,000 files of 0.5-4 KiB in 200 directories
  python3 - "$l/3/usr/share/many" "$(_big_mb 10)" <<'EOF'
import os, random, sys
d, mb = sys.argv[1], int(sys.argv[2])
rnd = random.Random(11)
budget = mb * 1048576
i = 0
while budget > 0 and i < 20000:
    sub = os.path.join(d, f"d{i % 200:03d}")
    os.makedirs(sub, exist_ok=True)
    n = min(budget, rnd.randint(512, 4096))
    with open(os.path.join(sub, f"f{i:05d}.txt"), "wb") as out:
        out.write(rnd.randbytes(n // 2).hex()[:n].encode())
    budget -= n; i += 1
EOF
  # 4: medium random files, with symlinks and a hard link
  mkdir -p "$l/4/srv/data"
  for i in $(seq 1 20); do head -c $(( $(_big_mb 25) * 1048576 / 20 )) /dev/urandom >"$l/4/srv/data/part$i"; done
  ln -s part1 "$l/4/srv/data/latest"; ln "$l/4/srv/data/part2" "$l/4/srv/data/part2.hard"
  # 5: the rest, text again, plus a deletion of a lower file (a whiteout)
  mkdir -p "$l/5/etc/app" "$l/5/opt/blobs"
  { yes 'key = value # a configuration line that compresses well' || true; } | head -c $(( $(_big_mb 10) * 1048576 )) >"$l/5/etc/app/big.conf"
  : >"$l/5/opt/blobs/.wh.r3.bin"
}
_big_archive() {
  local l=$img/layers out=$img/archive diffs=() i d
  mkdir -p "$out"
  for i in 1 2 3 4 5; do
    tar --numeric-owner --owner=0 --group=0 -C "$l/$i" -cf "$out/layer$i.tar" .
    d=$(sha256sum "$out/layer$i.tar" | cut -d' ' -f1)
    mkdir -p "$out/$d"; mv "$out/layer$i.tar" "$out/$d/layer.tar"
    diffs+=("$d")
  done
  local ids; ids=$(printf '"sha256:%s",' "${diffs[@]}"); ids=${ids%,}
  printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},"rootfs":{"type":"layers","diff_ids":[%s]},"history":[{"created_by":"bench layer 1"},{"created_by":"bench layer 2"},{"created_by":"bench layer 3"},{"created_by":"bench layer 4"},{"created_by":"bench layer 5"}]}' "$ids" >"$out/config.json"
  local cfg; cfg=$(sha256sum "$out/config.json" | cut -d' ' -f1)
  mv "$out/config.json" "$out/$cfg.json"
  local layers; layers=$(printf '"%s/layer.tar",' "${diffs[@]}"); layers=${layers%,}
  printf '[{"Config":"%s.json","RepoTags":["anch-img:latest"],"Layers":[%s]}]' "$cfg" "$layers" >"$out/manifest.json"
  printf '{"anch-img":{"latest":"%s"}}' "${diffs[-1]}" >"$out/repositories"
  tar -C "$out" -cf "$archive" .
  rm -rf "$out" "$l"
}
big_image_archive() {
  img=$work/img; archive=$work/image.tar
  mkdir -p "$img"
  if [[ -n ${IMAGE_TAR:-} && -s $IMAGE_TAR ]]; then
    archive=$IMAGE_TAR; say "using $archive"
  else
    say "making a ${IMAGE_MB} MB image of 5 layers"
    _big_layers
    _big_archive
    if [[ -n ${IMAGE_TAR:-} ]]; then mv "$archive" "$IMAGE_TAR"; archive=$IMAGE_TAR; fi
  fi
}

# throughput_table FILE_SUFFIX: medians of "$raw/<variant>.<suffix>" (ms, one per round) for
# every entry of ${variants[@]}, with MB/s of the ${size_mb} MB image.
throughput_table() {
  local v med lo hi n
  printf '%-16s %10s %10s %10s %4s %10s\n' engine median_ms min_ms max_ms n MB/s
  for v in "${variants[@]}"; do
    read -r med lo hi n < <(stats <"$raw/$v.$1")
    printf '%-16s %10s %10s %10s %4s %10.1f\n' "$v" "$med" "$lo" "$hi" "$n" "$(awk -v s="$size_mb" -v m="$med" 'BEGIN{print s/(m/1000)}')"
  done
}
