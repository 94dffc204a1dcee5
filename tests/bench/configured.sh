# 3i. The configured image against the usual pipelines: trixie `important`
# with linux-image-amd64 and openssh-server, maintainer scripts run, into a
# 4 GiB MBR disk with a swap partition and an ext3 root
# (tests/bench/configured.toml). Sourced by run.sh after the mirror is
# served; uses die, say, q, bench, served_at, debs_since, $work,
# $lunforge, $lib, $url, $suite, $arch, $component, $variant, $keyring,
# $runs, $tar_runs, $here, $mirror, $configured_json (the recipe's
# resolution) and $cfg_include (its include list, comma-separated); sets
# configured_report (key=value pairs for `lib.py report`) and $cfg_user,
# $cfg_home, which the cleanup trap of run.sh removes (the throwaway
# user, its files).
#
#   the pipelines (tests/bench/pipeline.sh): mmdebstrap --mode=root, or
#     debootstrap (its default variant: required + important, the closest
#     to `important`; pipeline.sh says why), into a directory, as root;
#     then sfdisk, mkswap, mke2fs -t ext3 -d and dd, with no loop device
#     and no mount. Timed as a whole;
#   lunforge: the same recipe, --configure chroot, unshare (as a normal
#     user made for the run, with subordinate ids; from its own copy of
#     the binary, recipe, lock and caches) and firstboot, --locked (the
#     same package set in every run);
#   each tool cold and warm, with the same command line: only its package
#     cache differs. Cold: the cache directory is empty before every run
#     (every .deb comes from the server). Warm: it holds every .deb of the
#     set: lunforge's download cache (filled by `lunforge fetch`),
#     mmdebstrap's /var/cache/apt/archives (copied in from a directory by
#     a setup hook), debootstrap's --cache-dir (both filled by an untimed
#     cold run). The index (InRelease, Packages) is fetched and verified
#     in every run by every tool. The server's request log proves it: no
#     warm run downloads a .deb, every cold run downloads the whole set;
#   the floor (tests/bench/floor.sh): every data.tar of the package set
#     decompressed to nothing (ar p | xz -T0 -dc and the like, nproc
#     packages at once), which any tool that installs the set has to do.
# One untimed cold run of each tool first, under GNU time for the peak
# RSS (the warmup of its timed runs; lunforge's without -q, for its
# `stages:` line and its sandbox line). The builds run BENCH_TAR_RUNS
# times (each takes 10 s to 4 min), the floor BENCH_RUNS times.

cfg_recipe=$here/configured.toml
cfg_lock=$work/configured.lock
cfg_cache=$work/configured-cache
cfg_cold=$work/configured-cold
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
say "configured set: $suite $variant + ${cfg_include//,/ }," \
    "$cfg_npkgs packages, $cfg_nbytes bytes"

# The image's layout, as lunforge lays out the recipe: 1 MiB alignment,
# swap 512 MiB, the root the rest of 4 GiB.
mib=$((1 << 20))
disk_bytes=$((4096 * mib))
swap_start=$mib swap_bytes=$((512 * mib))
root_start=$((swap_start + swap_bytes))
root_bytes=$((disk_bytes - root_start))

# Each pipeline: its settings for pipeline.sh, its scratch directory (made
# anew before each run: the tools want an empty or absent target; never
# into a chroot's /proc should a tool have left it mounted), its caches.
pipelines=(mmdebstrap debootstrap)
declare -A pl_dir pl_conf pl_reset pl_cold pl_warm
for t in "${pipelines[@]}"; do
    pl_dir[$t]=$work/pl-$t
    pl_conf[$t]=$work/pl-$t.conf
    pl_cold[$t]=$work/pl-$t-cold
    pl_warm[$t]=$work/pl-$t-warm
    pl_reset[$t]="rm -rf --one-file-system $(q "${pl_dir[$t]}") && mkdir $(q "${pl_dir[$t]}")"
    {
        printf '%s=%q\n' scratch "${pl_dir[$t]}" url "$url" suite "$suite" \
            arch "$arch" component "$component" keyring "$keyring" \
            variant "$variant" include "$cfg_include"
        printf '%s=%s\n' disk_bytes "$disk_bytes" swap_start "$swap_start" \
            swap_bytes "$swap_bytes" root_start "$root_start" root_bytes "$root_bytes"
    } >"${pl_conf[$t]}"
done
pl_cmd() { q "$here/pipeline.sh" "${pl_conf[$1]}" "$1" "$2"; }

# A pipeline's result: its partition table, the swap signature and a
# clean ext3 root.
check_pipeline() {
    local d=${pl_dir[$1]}
    sfdisk -d "$d/disk.img" | grep -Eq 'start= *2048, size= *1048576, type=82' \
        || die "$1 pipeline: no swap partition in $(sfdisk -d "$d/disk.img")"
    [ "$(blkid -o value -s TYPE "$d/swap.img")" = swap ] || die "$1 pipeline: no swap signature"
    e2fsck -fn "$d/root.img" >"$work/e2fsck-$1.out" 2>&1 \
        || { cat "$work/e2fsck-$1.out" >&2; die "$1 pipeline: e2fsck -fn found problems"; }
    cmp -s -n "$root_bytes" -i "0:$root_start" "$d/root.img" "$d/disk.img" \
        || die "$1 pipeline: the root in the disk differs from its image"
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

# lf_cmd[STRATEGY,CACHE] and lf_reset[STRATEGY,CACHE], CACHE cold or warm:
# the reset empties the output directory, and for cold the cache.
strategies=(chroot unshare firstboot)
declare -A lf_cmd lf_reset lf_dir
for s in chroot firstboot; do
    lf_dir[$s]=$cfg_out-$s
    for c in cold warm; do
        cache=$cfg_cache
        [ "$c" = cold ] && cache=$cfg_cold
        lf_cmd[$s,$c]=$(lf_build "$lunforge" "$cfg_recipe" "${lf_dir[$s]}" "$s" "$cfg_lock" "$cache")
    done
    lf_reset[$s,warm]="rm -rf $(q "${lf_dir[$s]}")"
    lf_reset[$s,cold]="rm -rf $(q "${lf_dir[$s]}") $(q "$cfg_cold") && mkdir $(q "$cfg_cold")"
done
lf_dir[unshare]=$cfg_home/out
for c in cold warm; do
    cache=$cfg_home/cache
    [ "$c" = cold ] && cache=$cfg_home/cold
    lf_cmd[unshare,$c]="$as_user $(lf_build "$cfg_home/lunforge" "$cfg_home/configured.toml" \
        "$cfg_home/out" unshare "$cfg_home/configured.lock" "$cache")"
done
lf_reset[unshare,warm]="rm -rf $(q "$cfg_home/out")"
lf_reset[unshare,cold]="rm -rf $(q "$cfg_home/out") $(q "$cfg_home/cold") \
&& install -d -o $cfg_user -g $cfg_user -m 0700 $(q "$cfg_home/cold")"

# A built image: 4 GiB, swap then ext3, as lunforge inspect reads it.
check_image() {
    local img=${lf_dir[$1]}/configured.img
    [ "$(stat -c %s "$img")" = "$disk_bytes" ] || die "$1: $img is not 4 GiB"
    "$lunforge" inspect "$img" >"$work/inspect-$1.out" 2>&1 \
        || { cat "$work/inspect-$1.out" >&2; die "$1: lunforge inspect failed"; }
    grep -q swap "$work/inspect-$1.out" && grep -q ext3 "$work/inspect-$1.out" \
        || die "$1: no swap and ext3 in $(cat "$work/inspect-$1.out")"
}

# check_served WHAT OFFSET RUNS PACKAGES: the server's log since OFFSET
# shows that RUNS warm runs downloaded no .deb (PACKAGES = 0), or that
# RUNS cold runs downloaded at least PACKAGES each.
check_served() {
    local n
    n=$(debs_since "$2")
    if [ "$4" -eq 0 ]; then
        [ "$n" -eq 0 ] || die "$1: $n packages downloaded with a warm cache"
    else
        [ "$n" -ge $(($3 * $4)) ] \
            || die "$1: $n packages downloaded by $3 cold runs of $4 packages"
    fi
}

# The machine's load (1-minute average) before and after each timing.
load() { cut -d' ' -f1 /proc/loadavg >>"$work/cfg-load"; }

# The floor (tests/bench/floor.sh): the package set's data.tar members,
# decompressed; their names looked up before, untimed.
python3 -c 'import json,os,sys
for p in json.load(open(sys.argv[1]))["packages"]:
    print(os.path.join(sys.argv[2], p["path"]))' "$configured_json" "$mirror" \
    | while read -r deb; do
        printf '%s %s\n' "$deb" "$(ar t "$deb" | grep '^data\.tar')"
    done >"$work/cfg-debs"
load
bench cfg_floor "" "$(q "$here/floor.sh" "$work/cfg-debs")"
load

# The pipelines. The untimed run is a cold one that also fills the warm
# cache (peak RSS, warmup); the package set each installed is compared
# with lunforge's.
declare -A pl_installed pl_set
for t in "${pipelines[@]}"; do
    say "untimed $t pipeline, cold (peak RSS, warmup, fills its warm cache)"
    eval "${pl_reset[$t]}"
    rm -rf "${pl_warm[$t]}" && mkdir "${pl_warm[$t]}"
    at=$(served_at)
    /usr/bin/time -f %M -o "$work/rss_cfg_$t" \
        "$here/pipeline.sh" "${pl_conf[$t]}" "$t" "${pl_warm[$t]}" fill
    check_pipeline "$t"
    dpkg-query --admindir="${pl_dir[$t]}/rootfs/var/lib/dpkg" \
        -W -f '${db:Status-Abbrev} ${Package}\n' \
        | awk '$1 == "ii" { print $2 }' | sort >"$work/cfg-$t.names"
    pl_installed[$t]=$(wc -l <"$work/cfg-$t.names")
    pl_set[$t]=$(same_names "$configured_json" "$work/cfg-$t.names" "$t")
    check_served "$t (untimed)" "$at" 1 "${pl_installed[$t]}"
    ndebs=$(find "${pl_warm[$t]}" -maxdepth 1 -name '*.deb' | wc -l)
    [ "$ndebs" -ge "${pl_installed[$t]}" ] \
        || die "$t: $ndebs .debs in its cache, ${pl_installed[$t]} packages installed"

    at=$(served_at)
    bench "cfg_${t}_cold" \
        "${pl_reset[$t]} && rm -rf $(q "${pl_cold[$t]}") && mkdir $(q "${pl_cold[$t]}")" \
        "$(pl_cmd "$t" "${pl_cold[$t]}")" "$tar_runs" 0
    load
    check_served "$t cold" "$at" "$tar_runs" "${pl_installed[$t]}"
    check_pipeline "$t"
    at=$(served_at)
    bench "cfg_${t}_warm" "${pl_reset[$t]}" "$(pl_cmd "$t" "${pl_warm[$t]}")" "$tar_runs" 0
    load
    check_served "$t warm" "$at" "$tar_runs" 0
    check_pipeline "$t"
done

# lunforge, each strategy: an untimed cold run, the cold runs, the warm
# runs.
for s in "${strategies[@]}"; do
    say "untimed lunforge --configure $s, cold (peak RSS, stages, warmup)"
    eval "${lf_reset[$s,cold]}"
    at=$(served_at)
    /usr/bin/time -f %M -o "$work/rss_cfg_$s" \
        sh -c "exec ${lf_cmd[$s,cold]/ -q build / build }" >"$work/cfg-$s.out" 2>"$work/cfg-$s.err" \
        || { tail -n 20 "$work/cfg-$s.err" >&2; die "lunforge --configure $s failed"; }
    check_served "lunforge $s (untimed)" "$at" 1 "$cfg_npkgs"
    check_image "$s"
    grep '^stages: ' "$work/cfg-$s.out" >"$work/cfg-$s.stages" \
        || die "$s: no stages: line in $(cat "$work/cfg-$s.out")"
    { grep -o 'configure: sandbox: .*' "$work/cfg-$s.err" || echo none; } | tail -n 1 \
        >"$work/cfg-$s.sandbox"

    at=$(served_at)
    bench "cfg_${s}_cold" "${lf_reset[$s,cold]}" "${lf_cmd[$s,cold]}" "$tar_runs" 0
    load
    check_served "lunforge $s cold" "$at" "$tar_runs" "$cfg_npkgs"
    check_image "$s"
    at=$(served_at)
    bench "cfg_${s}_warm" "${lf_reset[$s,warm]}" "${lf_cmd[$s,warm]}" "$tar_runs" 0
    load
    check_served "lunforge $s warm" "$at" "$tar_runs" 0
    check_image "$s"
done
"${lib[@]}" check-cache "$configured_json" "$cfg_cold"

configured_report=(
    cfg_floor="$work/cfg_floor.json"
    cfg_packages="$cfg_npkgs" cfg_bytes="$cfg_nbytes"
    cfg_suite="$suite" cfg_variant="$variant" cfg_include="$cfg_include"
    cfg_mmdebstrap="$(dpkg-query -W -f '${Version}' mmdebstrap)"
    cfg_debootstrap="$(dpkg-query -W -f '${Version}' debootstrap)"
    cfg_load="$(paste -sd' ' "$work/cfg-load")"
)
for t in "${pipelines[@]}" "${strategies[@]}"; do
    configured_report+=(
        "cfg_${t}_cold=$work/cfg_${t}_cold.json"
        "cfg_${t}_warm=$work/cfg_${t}_warm.json"
        "cfg_rss_$t=$(tail -n 1 "$work/rss_cfg_$t")"
    )
done
for t in "${pipelines[@]}"; do
    configured_report+=(
        "cfg_installed_$t=${pl_installed[$t]}" "cfg_set_$t=${pl_set[$t]}"
    )
done
for s in "${strategies[@]}"; do
    configured_report+=(
        "cfg_stages_$s=$(cat "$work/cfg-$s.stages")"
        "cfg_sandbox_$s=$(cat "$work/cfg-$s.sandbox")"
    )
done
