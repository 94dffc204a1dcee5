# 3i. The configured image against the usual pipeline: trixie `important`
# with linux-image-amd64 and openssh-server, maintainer scripts run, into a
# 4 GiB MBR disk with a swap partition and an ext3 root
# (tests/bench/configured.toml). Sourced by run.sh after the mirror is
# served; uses die, say, q, bench, $work, $lunforge, $lib, $url, $suite,
# $arch, $component, $variant, $keyring, $runs, $here, $mirror and
# $configured_json (the recipe's resolution); sets configured_report
# (key=value pairs for `lib.py report`) and $cfg_user, $cfg_home, which
# the cleanup trap of run.sh removes (the throwaway user, its files).
#
#   the pipeline: mmdebstrap --mode=root into a directory, then with no
#     loop device and no mount: sfdisk on the image file, mkswap on a swap
#     partition image, mke2fs -t ext3 -d on a root partition image, both
#     copied in with dd conv=notrunc,sparse. Timed as a whole; mmdebstrap
#     has no download cache, so it reads every package from the server;
#   lunforge: the same recipe, --configure chroot, unshare (as a normal
#     user made for the run, with subordinate ids; from its own copy of
#     the binary, recipe, lock and cache) and firstboot, warm cache,
#     --locked (the same package set in every run); firstboot also with a
#     cold cache (what a cold cache adds does not depend on the strategy);
#   the floor (tests/bench/floor.sh): every data.tar of the package set
#     decompressed to nothing (ar p | xz -T0 -dc and the like, nproc
#     packages at once), which any tool that installs the set has to do.
# One untimed run of each first, under GNU time for the peak RSS (the
# warmup of the timed runs; lunforge's without -q, for its `stages:` line
# and its sandbox line).

cfg_recipe=$here/configured.toml
cfg_lock=$work/configured.lock
cfg_cache=$work/configured-cache
cfg_out=$work/configured-out
cfg_common=(--mirror "$url" --keyring "$keyring" --set "system.suite=$suite"
            --set "system.architecture=$arch")
"$lunforge" -q lock "$cfg_recipe" -o "$cfg_lock" "${cfg_common[@]}" \
    --cache "$cfg_cache" >/dev/null
"$lunforge" -q fetch "$cfg_recipe" --locked --lockfile "$cfg_lock" \
    "${cfg_common[@]}" --cache "$cfg_cache" >/dev/null
"${lib[@]}" check-cache "$configured_json" "$cfg_cache"
read -r cfg_npkgs cfg_nbytes < <(python3 -c 'import json,sys
t = json.load(open(sys.argv[1]))["total"]
print(t["packages"], t["download_size"])' "$configured_json")
say "configured set: $suite $variant + linux-image-amd64 openssh-server," \
    "$cfg_npkgs packages, $cfg_nbytes bytes"

# The image's layout, as lunforge lays out the recipe: 1 MiB alignment,
# swap 512 MiB, the root the rest of 4 GiB.
mib=$((1 << 20))
disk_bytes=$((4096 * mib))
swap_start=$mib swap_bytes=$((512 * mib))
root_start=$((swap_start + swap_bytes))
root_bytes=$((disk_bytes - root_start))

# The pipeline, as one script (hyperfine runs it; so does GNU time).
pl=$work/pipeline
cat >"$work/pipeline.sh" <<EOF
#!/bin/bash
set -euo pipefail
cd $(q "$pl")
mmdebstrap --quiet --variant=$variant --mode=root \\
    --include=linux-image-amd64,openssh-server \\
    --architectures=$arch --keyring=$(q "$keyring") \\
    $suite rootfs $(q "deb $url $suite $component")
truncate -s $disk_bytes disk.img
sfdisk --quiet disk.img <<TABLE
label: dos
start=$((swap_start / 512)), size=$((swap_bytes / 512)), type=82
start=$((root_start / 512)), size=$((root_bytes / 512)), type=83
TABLE
truncate -s $swap_bytes swap.img
mkswap --quiet swap.img
truncate -s $root_bytes root.img
mke2fs -q -F -t ext3 -d rootfs root.img
dd if=swap.img of=disk.img bs=1M seek=$((swap_start / mib)) conv=notrunc,sparse status=none
dd if=root.img of=disk.img bs=1M seek=$((root_start / mib)) conv=notrunc,sparse status=none
EOF
chmod +x "$work/pipeline.sh"
# The scratch of one run, made anew before each (mmdebstrap wants an
# empty or absent directory). Never into the chroot's /proc, should
# mmdebstrap have left it mounted (the mount check below says so).
pl_reset="rm -rf --one-file-system $(q "$pl") && mkdir $(q "$pl")"

# The pipeline's result: its partition table, the swap signature and a
# clean ext3 root, and the package set it installed.
check_pipeline() {
    sfdisk -d "$pl/disk.img" | grep -Eq 'start= *2048, size= *1048576, type=82' \
        || die "pipeline: no swap partition in $(sfdisk -d "$pl/disk.img")"
    [ "$(blkid -o value -s TYPE "$pl/swap.img")" = swap ] || die "pipeline: no swap signature"
    e2fsck -fn "$pl/root.img" >"$work/e2fsck-pipeline.out" 2>&1 \
        || { cat "$work/e2fsck-pipeline.out" >&2; die "pipeline: e2fsck -fn found problems"; }
    cmp -s -n "$root_bytes" -i "0:$root_start" "$pl/root.img" "$pl/disk.img" \
        || die "pipeline: the root in the disk differs from its image"
}

# lunforge's builds: root (chroot, firstboot) and the throwaway user
# (unshare). The user's copy lives in a directory of its own outside the
# scratch dir (which is below root's home, closed to other users).
lf_build() {
    printf '%q ' "$1" -q build "$2" -o "$3" --configure "$4" --locked --lockfile "$5" \
        "${cfg_common[@]}" --cache "$6"
}
cfg_user=lfbench$$
userdel "$cfg_user" >/dev/null 2>&1 || true
useradd --no-create-home --user-group --shell /usr/sbin/nologin "$cfg_user"
if ! grep -q "^$cfg_user:" /etc/subuid || ! grep -q "^$cfg_user:" /etc/subgid; then
    # After every range already delegated (login.defs' start: 100000).
    first=$(awk -F: 'BEGIN { e = 100000 } NF >= 3 && $2 + $3 > e { e = $2 + $3 }
                     END { print e }' /etc/subuid /etc/subgid)
    usermod --add-subuids "$first-$((first + 65535))" \
            --add-subgids "$first-$((first + 65535))" "$cfg_user"
fi
cfg_home=$(mktemp -d /tmp/lunforge-bench-user.XXXXXX)
cp "$lunforge" "$cfg_home/lunforge"
cp "$cfg_recipe" "$cfg_home/configured.toml"
cp "$cfg_lock" "$cfg_home/configured.lock"
cp -a "$cfg_cache" "$cfg_home/cache"
chown -R "$cfg_user:$cfg_user" "$cfg_home"
chmod 0700 "$cfg_home"
as_user="setpriv --reuid=$cfg_user --regid=$cfg_user --init-groups \
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=$(q "$cfg_home") \
no_proxy=127.0.0.1 NO_PROXY=127.0.0.1 LC_ALL=C.UTF-8"

declare -A lf_cmd lf_reset lf_dir
for s in chroot firstboot; do
    lf_dir[$s]=$cfg_out-$s
    lf_cmd[$s]=$(lf_build "$lunforge" "$cfg_recipe" "${lf_dir[$s]}" "$s" "$cfg_lock" "$cfg_cache")
    lf_reset[$s]="rm -rf $(q "${lf_dir[$s]}")"
done
lf_dir[unshare]=$cfg_home/out
lf_cmd[unshare]="$as_user $(lf_build "$cfg_home/lunforge" "$cfg_home/configured.toml" \
    "$cfg_home/out" unshare "$cfg_home/configured.lock" "$cfg_home/cache")"
lf_reset[unshare]="rm -rf $(q "$cfg_home/out")"

# A built image: 4 GiB, swap then ext3, as lunforge inspect reads it.
check_image() {
    local img=${lf_dir[$1]}/configured.img
    [ "$(stat -c %s "$img")" = "$disk_bytes" ] || die "$1: $img is not 4 GiB"
    "$lunforge" inspect "$img" >"$work/inspect-$1.out" 2>&1 \
        || { cat "$work/inspect-$1.out" >&2; die "$1: lunforge inspect failed"; }
    grep -q swap "$work/inspect-$1.out" && grep -q ext3 "$work/inspect-$1.out" \
        || die "$1: no swap and ext3 in $(cat "$work/inspect-$1.out")"
}

# One untimed run each: peak RSS (largest process), lunforge's lines.
say "untimed pipeline run (peak RSS, warmup)"
eval "$pl_reset"
/usr/bin/time -f %M -o "$work/rss_cfg_pipeline" "$work/pipeline.sh"
check_pipeline
dpkg-query --admindir="$pl/rootfs/var/lib/dpkg" -W -f '${db:Status-Abbrev} ${Package}\n' \
    | awk '$1 == "ii" { print $2 }' | sort >"$work/cfg-pipeline.names"
cfg_same_set=$(same_names "$configured_json" "$work/cfg-pipeline.names")
for s in chroot unshare firstboot; do
    say "untimed lunforge --configure $s (peak RSS, stages, warmup)"
    eval "${lf_reset[$s]}"
    /usr/bin/time -f %M -o "$work/rss_cfg_$s" \
        sh -c "exec ${lf_cmd[$s]/ -q build / build }" >"$work/cfg-$s.out" 2>"$work/cfg-$s.err" \
        || { tail -n 20 "$work/cfg-$s.err" >&2; die "lunforge --configure $s failed"; }
    check_image "$s"
    grep '^stages: ' "$work/cfg-$s.out" >"$work/cfg-$s.stages" \
        || die "$s: no stages: line in $(cat "$work/cfg-$s.out")"
    { grep -o 'configure: sandbox: .*' "$work/cfg-$s.err" || echo none; } | tail -n 1 \
        >"$work/cfg-$s.sandbox"
done

# The floor (tests/bench/floor.sh): the package set's data.tar members,
# decompressed; their names looked up before, untimed.
python3 -c 'import json,os,sys
for p in json.load(open(sys.argv[1]))["packages"]:
    print(os.path.join(sys.argv[2], p["path"]))' "$configured_json" "$mirror" \
    | while read -r deb; do
        printf '%s %s\n' "$deb" "$(ar t "$deb" | grep '^data\.tar')"
    done >"$work/cfg-debs"

# The machine's load (1-minute average) before and after each timing.
load() { cut -d' ' -f1 /proc/loadavg >>"$work/cfg-load"; }
load
bench cfg_floor "" "$(q "$here/floor.sh" "$work/cfg-debs")"
load
bench cfg_pipeline "$pl_reset" "$work/pipeline.sh" "$runs" 0
load
check_pipeline
for s in chroot unshare firstboot; do
    bench "cfg_$s" "${lf_reset[$s]}" "${lf_cmd[$s]}" "$runs" 0
    load
    check_image "$s"
done
cfg_cold=$work/configured-cold
bench cfg_firstboot_cold "${lf_reset[firstboot]} $(q "$cfg_cold") && mkdir $(q "$cfg_cold")" \
    "$(lf_build "$lunforge" "$cfg_recipe" "${lf_dir[firstboot]}" firstboot "$cfg_lock" "$cfg_cold")" \
    "$runs" 0
load
check_image firstboot
"${lib[@]}" check-cache "$configured_json" "$cfg_cold"

configured_report=(
    cfg_floor="$work/cfg_floor.json" cfg_pipeline="$work/cfg_pipeline.json"
    cfg_chroot="$work/cfg_chroot.json" cfg_unshare="$work/cfg_unshare.json"
    cfg_firstboot="$work/cfg_firstboot.json"
    cfg_firstboot_cold="$work/cfg_firstboot_cold.json"
    cfg_packages="$cfg_npkgs" cfg_bytes="$cfg_nbytes" cfg_same_set="$cfg_same_set"
    cfg_suite="$suite" cfg_variant="$variant"
    cfg_rss_pipeline="$(tail -n 1 "$work/rss_cfg_pipeline")"
    cfg_mmdebstrap="$(dpkg-query -W -f '${Version}' mmdebstrap)"
    cfg_load="$(paste -sd' ' "$work/cfg-load")"
)
for s in chroot unshare firstboot; do
    configured_report+=(
        "cfg_rss_$s=$(tail -n 1 "$work/rss_cfg_$s")"
        "cfg_stages_$s=$(cat "$work/cfg-$s.stages")"
        "cfg_sandbox_$s=$(cat "$work/cfg-$s.sandbox")"
    )
done
