#!/usr/bin/env bash
# `make bench`: lunforge against the reference tools, ratios from one run.
#
#   1. a partial Debian mirror (InRelease, Packages.xz, the pool files of
#      trixie `important`) is copied once from the host's mirror into a
#      persistent cache dir, and refreshed when the host's InRelease changes;
#   2. it is served on 127.0.0.1, so every tool reads the same bytes from
#      the same server and the Internet is out of the measurement;
#   3. hyperfine measures (median of BENCH_RUNS >= 3 runs, after a warmup):
#        a. cold `lunforge fetch` vs `apt-get download` of the same list
#           (and vs `apt-get update` + `apt-get download`, which is the
#           same work as a cold fetch: index and packages);
#        b. warm-cache `lunforge fetch`;
#        c. `lunforge resolve` vs `mmdebstrap --simulate`, same variant;
#        d. warm-cache `lunforge build --format tar` vs `mmdebstrap` to a
#           tarball, same variant, each run into a fresh output path
#           (median of BENCH_TAR_RUNS >= 3 runs: 15-40 s each);
#        e. `lunforge mkfs ext3` vs `mke2fs -t ext3 -d` of that tree;
#        f. `lunforge initrd` vs `mkinitramfs` (chroot of the same tree
#           with a kernel), the initrd sizes, and the time to `login:`
#           under QEMU with each (one boot each);
#        g. writing that image (tests/bench/lun.sh): to an iSCSI LUN of
#           tgtd on 127.0.0.1 with CHAP, `lunforge write` vs `qemu-img
#           convert -n`, on a thick LUN (holes written as zeros), on a thin
#           one (holes unmapped; and lunforge --assume-zeroed), checked
#           with cmp, with the backing file's allocated size after each;
#           and to a loop device, `lunforge write` (default, and
#           --assume-zeroed --no-verify) vs `dd conv=sparse,fsync`
#           (median of BENCH_TAR_RUNS runs on the LUN: up to 40 s each);
#        h. the seed's three machines (tests/bench/hosts.sh): the guest
#           and the Xen hosts dangermouse and buggles built from their
#           recipes, cold and warm cache (times: no other tool builds a
#           Xen host), and the boot times under TCG of one run of the
#           xen_host test (dangermouse to `xl info`, virtual01 to ssh);
#        i. the configured image (tests/bench/configured.sh): `important`
#           with a kernel and ssh into a 4 GiB swap + ext3 MBR disk, the
#           usual pipelines (mmdebstrap or debootstrap, then sfdisk,
#           mkswap, mke2fs -d, dd: tests/bench/pipeline.sh) vs `lunforge
#           build` with each --configure strategy (unshare as a throwaway
#           normal user), each cold and warm cache, and the floor: the
#           set's data.tar members decompressed;
#      plus the peak RSS (GNU time) of one run of each tool where that
#      run is short, or is the untimed warmup anyway;
#   4. the summary goes to stdout, everything to $BENCH_DIR/results.json,
#      and lib.py writes tests/bench/results.md from it: the machine, the
#      tool versions, the mirror, every section's table (medians, min-max,
#      ratios against the reference tool, peak RSS).
#
# Any failing command, or a download that does not leave exactly the
# expected files, fails the bench: timing an error is worse than nothing.
#
# Environment: BENCH_DIR (default ~/.cache/lunforge-bench), BENCH_RUNS
# (default 5), BENCH_TAR_RUNS (default 3: the long runs: tarballs, LUN
# writes, the hosts, the configured image),
# BENCH_MMDEBSTRAP_MODE (default root as root, else unshare),
# BENCH_KEEP=1 keeps the scratch dir, LUNFORGE (binary to measure).
# BENCH_ONLY=lun BENCH_IMAGE=IMG runs only 3g, on that image (e.g. the
# virtual01.img of an earlier `lunforge build`), and writes its table to
# $BENCH_DIR/results-lun.json; there BENCH_RUNS and BENCH_TAR_RUNS may be
# 1, for a quick check of the section itself. BENCH_ONLY=hosts runs the
# mirror steps and 3h alone (results-hosts.json), BENCH_ONLY=configured
# the mirror steps and 3i alone (results-configured.json). A one-section
# run writes its markdown beside its JSON (results-NAME.md), leaving
# tests/bench/results.md to full runs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
lib=(python3 "$here/lib.py")

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }

start_s=$SECONDS
lunforge=${LUNFORGE:-${CARGO_TARGET_DIR:-$root/target}/release/lunforge}
[ -x "$lunforge" ] || die "$lunforge not built (run: cargo build --release)"
only=${BENCH_ONLY:-}
case $only in
    "") tools=(hyperfine mmdebstrap apt-get curl python3 /usr/bin/time) ;;
    lun) tools=(hyperfine python3) ;;
    hosts) tools=(hyperfine python3 curl ssh-keygen cargo) ;;
    configured) tools=(hyperfine python3 curl mmdebstrap debootstrap /usr/bin/time) ;;
    *) die "BENCH_ONLY=$only: only 'lun', 'hosts' and 'configured' are known" ;;
esac
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || die "$tool missing (make bench-deps)"
done
# Section 3g needs root (tgtd's control socket, loop devices): without it
# the full bench skips it, and says so. Its tools are checked now rather
# than after the other sections.
lun=yes hosts=yes configured=yes
if [ "$(id -u)" -ne 0 ]; then
    [ -z "$only" ] || die "BENCH_ONLY=$only needs root (tgtd, losetup, chroot, useradd)"
    lun=no hosts=no configured=no
    say "not root: sections 3g (writes to a LUN and a loop device)," \
        "3h (the Xen hosts: chroot configuration, tgtd) and 3i (the" \
        "configured image: mmdebstrap --mode=root, debootstrap, a" \
        "throwaway user) skipped"
else
    for tool in tgtd:tgt tgtadm:tgt qemu-img:qemu-utils losetup:mount \
                blkdiscard:util-linux fallocate:util-linux cmp:diffutils \
                sfdisk:fdisk mkswap:util-linux blkid:util-linux setpriv:util-linux \
                mke2fs:e2fsprogs e2fsck:e2fsprogs ar:binutils xz:xz-utils \
                zstd:zstd gzip:gzip debootstrap:debootstrap \
                useradd:passwd usermod:passwd userdel:passwd \
                newuidmap:uidmap newgidmap:uidmap; do
        command -v "${tool%%:*}" >/dev/null \
            || die "${tool%%:*} missing (apt-get install ${tool#*:})"
    done
fi
# A one-section run does only its own section's work.
case $only in
    hosts) configured=no ;;
    configured) hosts=no ;;
esac

# What is measured. The issue asks for trixie `important`: large enough
# (about 150 packages, 50 MB) that transfer matters, small enough to
# mirror. No extra packages: mmdebstrap's variant is the reference.
suite=trixie
arch=amd64
component=main
variant=important
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
min_runs=3
[ -n "$only" ] && min_runs=1   # a quick check of one section
runs=${BENCH_RUNS:-5}
[[ "$runs" =~ ^[0-9]+$ ]] && [ "$runs" -ge "$min_runs" ] || die "BENCH_RUNS must be >= $min_runs"
tar_runs=${BENCH_TAR_RUNS:-3}
[[ "$tar_runs" =~ ^[0-9]+$ ]] && [ "$tar_runs" -ge "$min_runs" ] || die "BENCH_TAR_RUNS must be >= $min_runs"
[ -n "$only" ] || [ -r "$keyring" ] || die "$keyring missing (debian-archive-keyring)"
bench_dir=${BENCH_DIR:-$HOME/.cache/lunforge-bench}
mirror=$bench_dir/mirror
dists=dists/$suite
index=$component/binary-$arch/Packages.xz

# A proxy from the environment must not sit between the tools and the
# local server (curl, apt and reqwest all honour http_proxy).
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost
# Messages in a stable language, for the output checks below.
export LC_ALL=C.UTF-8

# ---------------------------------------------------------------------------
# The host's Debian mirror, read from its apt sources at run time (never
# written into any file): the first non-security URI of debian.sources,
# else of any deb822 .sources file, else of a one-line `deb` entry.
host_mirror() {
    local f uri=""
    for f in /etc/apt/sources.list.d/debian.sources \
             /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++)
                                if ($i !~ /security/) { print $i; exit } }' "$f")
        [ -n "$uri" ] && break
    done
    if [ -z "$uri" ]; then
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] || continue
            # `deb [opt=val ...] URI suite components`: skip the options.
            uri=$(awk '$1 == "deb" { i = 2
                         if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
                         if ($i !~ /security/) { print $i; exit } }' "$f")
            [ -n "$uri" ] && break
        done
    fi
    [ -n "$uri" ] || die "no Debian mirror in /etc/apt/sources.list{,.d}"
    echo "${uri%/}"
}

# Scratch space of this run; the server is stopped and the scratch removed
# however the script ends.
mkdir -p "$bench_dir"
results=$bench_dir/results${only:+-$only}.json
# The markdown report: the repository's for a full run (replaced only at
# the end of a successful one), beside the JSON for one section.
results_md=$here/results.md
[ -z "$only" ] || results_md=$bench_dir/results-$only.md
rm -f "$results"   # a failed run must not leave old numbers
[ -z "$only" ] || rm -f "$results_md"
work=$(mktemp -d "$bench_dir/run.XXXXXX")
server_pid=""
mounted=()
tgt_pid="" tgt_ctl="" tgt_tids=() loop_dev=""
cfg_user="" cfg_home=""
cleanup() {
    local rc=$?
    local m tid
    for m in "${mounted[@]}"; do umount "$m" 2>/dev/null || true; done
    # Whatever a failed mmdebstrap or debootstrap left mounted in its
    # chroot below the scratch dir, deepest first.
    awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r \
        | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    if [ -n "$tgt_pid" ]; then
        # tgtd ignores SIGTERM: its targets, then the daemon, through
        # tgtadm; SIGKILL if it is still there after 5 s.
        for tid in "${tgt_tids[@]}"; do
            tgtadm -C "$tgt_ctl" --lld iscsi --op delete --mode target --tid "$tid" \
                --force >/dev/null 2>&1 || true
        done
        tgtadm -C "$tgt_ctl" --op delete --mode system >/dev/null 2>&1 || true
        for _ in $(seq 50); do
            kill -0 "$tgt_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$tgt_pid" 2>/dev/null || true
        wait "$tgt_pid" 2>/dev/null || true
        # Exactly this daemon's socket (a glob would match longer ports).
        rm -f "/var/run/tgtd/socket.$tgt_ctl" "/var/run/tgtd/socket.$tgt_ctl.lock"
    fi
    [ -z "$loop_dev" ] || losetup -d "$loop_dev" 2>/dev/null || true
    # Section 3i's throwaway user (userdel drops its subordinate ids too)
    # and its copy of the binary, recipe, lock and cache.
    [ -z "$cfg_user" ] || userdel "$cfg_user" 2>/dev/null || true
    [ -z "$cfg_home" ] || rm -rf --one-file-system "$cfg_home"
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        say "scratch kept in $work"
    else
        # Never into a chroot's /proc whose unmount failed.
        rm -rf --one-file-system "$work"
    fi
    [ "$rc" -eq 0 ] || say "FAILED (exit $rc)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A command line quoted for sh (hyperfine runs its commands through sh).
q() { printf '%q ' "$@"; }
# hyperfine NAME PREPARE COMMAND [RUNS WARMUP]: BENCH_RUNS runs after one
# warmup run (it warms the page cache and the server the same way for
# every tool). A failing run stops hyperfine, and so the bench.
bench() {
    local name=$1 prepare=$2 cmd=$3 n=${4:-$runs} warmup=${5:-1}
    say "measuring $name: $cmd"
    local prep=()
    [ -n "$prepare" ] && prep=(--prepare "$prepare")
    hyperfine --style basic --warmup "$warmup" --runs "$n" "${prep[@]}" \
        --command-name "$name" --export-json "$work/$name.json" "$cmd" >&2
}

# The server's request log (serve.py): served_at is its length now,
# debs_since OFFSET the number of .deb files it served since then.
served=$work/served.log
served_at() { stat -c %s "$served"; }
debs_since() { tail -c +"$(($1 + 1))" "$served" | grep -c '^200 .*\.deb$' || true; }

# What the report says of the code measured and of the mirror (set with
# the mirror).
describe=$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo unknown)
mirror_keys=()

# same_names RESOLVE_JSON NAMES [TOOL]: "identical" when NAMES (TOOL's
# package names, one a line, sorted; TOOL: mmdebstrap unless said) are
# those of lunforge's resolution, else the differences (said on stderr
# too).
same_names() {
    local diff tool=${3:-mmdebstrap}
    python3 -c 'import json,sys
for p in json.load(open(sys.argv[1]))["packages"]: print(p["name"])' "$1" \
        | sort >"$2.lunforge"
    if diff=$(diff "$2.lunforge" "$2"); then
        echo identical
    else
        diff="DIFFERENT (< lunforge only, > $tool only): $(echo "$diff" | grep '^[<>]' | paste -sd' ')"
        say "package sets of lunforge and $tool differ: $diff"
        echo "$diff"
    fi
}

# BENCH_ONLY=NAME: the one section's report (its key=value pairs in
# "$@"), then the end of the run.
report_only() {
    local name=$1
    shift
    "${lib[@]}" report "$results" only="$name" "$@" "${mirror_keys[@]}" \
        runs="$runs" tar_runs="$tar_runs" min_runs="$min_runs" \
        date="$(date -u +%Y-%m-%dT%H:%M:%SZ)" nproc="$(nproc)" \
        lunforge="$("$lunforge" --version)" describe="$describe"
    "${lib[@]}" markdown "$results" "$results_md"
    say "report: $results_md"
    say "done in $((SECONDS - start_s)) s"
    exit 0
}

# BENCH_ONLY=lun: section 3g alone, on the given image.
if [ "$only" = lun ]; then
    lun_img=${BENCH_IMAGE:-}
    [ -f "$lun_img" ] || die "BENCH_ONLY=lun needs BENCH_IMAGE=IMAGE_FILE"
    # shellcheck source=tests/bench/lun.sh
    . "$here/lun.sh"
    report_only lun "${lun_report[@]}"
fi

# ---------------------------------------------------------------------------
# 1. The partial mirror. Its InRelease is the host mirror's own, signed
# file, so lunforge, apt and mmdebstrap all verify it with the host keyring
# as they would in real use.
upstream=$(host_mirror)
say "host mirror: $upstream"
if ! curl -fsS --retry 3 -o "$work/InRelease" "$upstream/$dists/InRelease"; then
    # Offline: a complete mirror from an earlier run still serves (until
    # its Valid-Until passes, which the tools will then report).
    [ -f "$mirror/.complete" ] || die "cannot reach $upstream and no mirror yet"
    say "host mirror unreachable: reusing $mirror as it is"
    cp "$mirror/$dists/InRelease" "$work/InRelease"
fi

read -r index_sha index_size by_hash < <("${lib[@]}" index "$work/InRelease" "$index")
if [ -f "$mirror/.complete" ] && cmp -s "$work/InRelease" "$mirror/$dists/InRelease"; then
    say "mirror index up to date ($mirror)"
else
    say "mirror index changed: refreshing $mirror"
    rm -f "$mirror/.complete"
    idx_dir=$mirror/$dists/$component/binary-$arch
    mkdir -p "$idx_dir/by-hash/SHA256"
    # Fetch the index by hash when the archive offers it, so it is the
    # generation this InRelease names even if the mirror updates meanwhile.
    src=$dists/$index
    [ "$by_hash" = yes ] && src=$dists/$component/binary-$arch/by-hash/SHA256/$index_sha
    curl -fsS --retry 3 -o "$work/Packages.xz" "$upstream/$src"
    echo "$index_sha  $work/Packages.xz" | sha256sum --quiet -c - \
        || die "$upstream/$src: SHA-256 differs from InRelease"
    [ "$(stat -c %s "$work/Packages.xz")" = "$index_size" ] || die "$src: size differs"
    # Both names: lunforge and apt ask for the by-hash one when
    # Acquire-By-Hash is set, other clients for the plain one.
    find "$idx_dir/by-hash/SHA256" -type f -delete
    mv "$work/Packages.xz" "$idx_dir/Packages.xz"
    ln -f "$idx_dir/Packages.xz" "$idx_dir/by-hash/SHA256/$index_sha"
    # InRelease last: until here the mirror is not marked complete.
    cp "$work/InRelease" "$mirror/$dists/InRelease"
    touch "$mirror/.complete"
fi

# The package list, resolved by lunforge from the local copy itself (the
# same bytes every tool will read); every run, so a resolver change cannot
# leave the mirror without a pool file the measured commands need.
common=(--set "system.suite=$suite" --set "system.architecture=$arch"
        --set "system.variant=$variant" --set 'system.include=[]'
        --keyring "$keyring")
"$lunforge" -q resolve --json --mirror "file://$mirror" "${common[@]}" \
    --cache "$work/list-cache" >"$work/packages.json" \
    || die "lunforge resolve against the local mirror failed"
# The same variant with the guest kernel, for the boot measurements
# (its initrd takes busybox-static, a build tool of that set).
kcommon=(--set "system.suite=$suite" --set "system.architecture=$arch"
         --set "system.variant=$variant" --set 'system.include=["linux-image-amd64"]'
         --keyring "$keyring")
"$lunforge" -q resolve --json --mirror "file://$mirror" "${kcommon[@]}" \
    --cache "$work/list-cache" >"$work/packages-kernel.json" \
    || die "lunforge resolve (with a kernel) against the local mirror failed"
# Section 3h's recipes (with their build tools: GRUB's EFI packages),
# with an operator key made for the run.
resolved=("$work/packages.json" "$work/packages-kernel.json")
if [ "$hosts" = yes ]; then
    hosts_key=$work/hosts-key
    ssh-keygen -q -t ed25519 -N '' -C lunforge-bench -f "$hosts_key"
    hosts_keys=(--keyring "$keyring" --set "access.root_authorized_keys_file=$hosts_key.pub")
    for r in virtual01 dangermouse buggles; do
        "$lunforge" -q resolve --json "$root/recipes/$r.toml" --mirror "file://$mirror" \
            "${hosts_keys[@]}" --cache "$work/list-cache" >"$work/packages-$r.json" \
            || die "lunforge resolve of recipes/$r.toml against the local mirror failed"
        resolved+=("$work/packages-$r.json")
    done
fi
# Section 3i's recipe: `important` with a kernel and ssh.
configured_json=$work/packages-configured.json
if [ "$configured" = yes ]; then
    "$lunforge" -q resolve --json "$here/configured.toml" --mirror "file://$mirror" \
        --keyring "$keyring" --set "system.suite=$suite" --set "system.architecture=$arch" \
        --cache "$work/list-cache" >"$configured_json" \
        || die "lunforge resolve of tests/bench/configured.toml against the local mirror failed"
    resolved+=("$configured_json")
    # debootstrap resolves the same selection its own way (first
    # alternatives, real packages before virtual ones): the pool files of
    # the set it will download belong in the mirror too.
    cfg_include=$(python3 -c 'import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print(",".join(tomllib.load(f)["system"]["include"]))' "$here/configured.toml")
    debootstrap --print-debs --arch="$arch" --include="$cfg_include" --keyring="$keyring" \
        "$suite" "$work/print-debs" "file://$mirror" >"$work/debootstrap.debs" \
        2>"$work/debootstrap-print.log" \
        || { tail -n 20 "$work/debootstrap-print.log" >&2; die "debootstrap --print-debs failed"; }
    debootstrap_json=$work/packages-debootstrap.json
    "${lib[@]}" pool-json "$mirror/$dists/$index" "$work/debootstrap.debs" "$arch" \
        >"$debootstrap_json"
    resolved+=("$debootstrap_json")
fi
# A one-section run fills the mirror for its own section only.
case $only in hosts|configured) resolved=("${resolved[@]:2}") ;; esac
rm -rf "$work/list-cache"

# Pool files: download only those absent or corrupt (normally none after
# the first run), in parallel, then check every one.
for r in "${resolved[@]}"; do
    "${lib[@]}" missing "$r" "$mirror"
done | sort -u >"$work/missing"
if [ -s "$work/missing" ]; then
    say "downloading $(wc -l <"$work/missing") pool files from the host mirror"
    while read -r path; do
        printf 'url = "%s"\noutput = "%s"\n' "$upstream/$path" "$mirror/$path"
    done <"$work/missing" >"$work/curl.cfg"
    curl -fsS --no-progress-meter --retry 3 --create-dirs --parallel --parallel-max 4 -K "$work/curl.cfg"
fi
for r in "${resolved[@]}"; do
    "${lib[@]}" check-pool "$r" "$mirror"
done
read -r npkgs nbytes < <(python3 -c 'import json,sys
t = json.load(open(sys.argv[1]))["total"]
print(t["packages"], t["download_size"])' "$work/packages.json")
say "package set: $suite $variant, $npkgs packages, $nbytes bytes"
mirror_keys=(suite="$suite" component="$component" arch="$arch"
             release_date="$("${lib[@]}" fields "$mirror/$dists/InRelease")"
             mirror_index="$mirror/$dists/$index" mirror_pool="$mirror/pool")

# ---------------------------------------------------------------------------
# 2. Serve the mirror on 127.0.0.1 (a free port chosen by the kernel).
: >"$served"
python3 "$here/serve.py" "$mirror" "$work/port" "$served" 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 100); do
    [ -s "$work/port" ] && break
    kill -0 "$server_pid" 2>/dev/null || die "server died: $(cat "$work/serve.log")"
    sleep 0.1
done
[ -s "$work/port" ] || die "server did not start"
url=http://127.0.0.1:$(cat "$work/port")
curl -fsS -o /dev/null "$url/$dists/InRelease" || die "$url does not serve the mirror"
say "serving $mirror on $url"

# Section 3h's builds read the served mirror.
if [ "$hosts" = yes ]; then
    hosts_common=(--mirror "$url" "${hosts_keys[@]}")
fi

# BENCH_ONLY=hosts: section 3h alone.
if [ "$only" = hosts ]; then
    # shellcheck source=tests/bench/hosts.sh
    . "$here/hosts.sh"
    report_only hosts "${hosts_report[@]}"
fi

# BENCH_ONLY=configured: section 3i alone.
if [ "$only" = configured ]; then
    # shellcheck source=tests/bench/configured.sh
    . "$here/configured.sh"
    report_only configured "${configured_report[@]}"
fi

# A private apt: its own state, cache, sources and (empty) configuration
# parts, so the host's apt setup neither leaks in nor gets touched.
apt_dir=$work/apt
mkdir -p "$apt_dir"/{etc/apt.conf.d,etc/preferences.d,etc/sources.list.d,etc/trusted.gpg.d} \
         "$apt_dir"/{state/lists/partial,cache/archives/partial,log}
: >"$apt_dir/status"
echo "deb [signed-by=$keyring] $url $suite $component" >"$apt_dir/etc/sources.list"
cat >"$apt_dir/apt.conf" <<EOF
Dir::State "$apt_dir/state";
Dir::State::status "$apt_dir/status";
Dir::Cache "$apt_dir/cache";
Dir::Log "$apt_dir/log";
Dir::Etc::main "$apt_dir/etc/apt.conf";
Dir::Etc::Parts "$apt_dir/etc/apt.conf.d";
Dir::Etc::SourceList "$apt_dir/etc/sources.list";
Dir::Etc::SourceParts "$apt_dir/etc/sources.list.d";
Dir::Etc::Preferences "$apt_dir/etc/preferences";
Dir::Etc::PreferencesParts "$apt_dir/etc/preferences.d";
Dir::Etc::Trusted "$apt_dir/etc/trusted.gpg";
Dir::Etc::TrustedParts "$apt_dir/etc/trusted.gpg.d";
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
Acquire::Languages "none";
Debug::NoLocking "1";
APT::Sandbox::User "$(id -un)";
EOF
export APT_CONFIG=$apt_dir/apt.conf
# Any warning (a missing index, a bad signature) fails the bench.
apt-get update -q >"$work/apt-update.log" 2>&1 || { cat "$work/apt-update.log" >&2; die "apt-get update failed"; }
if grep -E '^(W|E|Err):' "$work/apt-update.log" >&2; then die "apt-get update warned"; fi

# The timed commands as small scripts: hyperfine runs them through sh, and
# 150 name=version arguments are better kept out of its command line.
mapfile -t apt_args < <("${lib[@]}" apt-args "$work/packages.json")
dl=$work/apt-download
cat >"$work/apt-download.sh" <<EOF
#!/bin/sh
cd $(q "$dl") && exec apt-get -q=2 download $(q "${apt_args[@]}")
EOF
cat >"$work/apt-update-download.sh" <<EOF
#!/bin/sh
set -e
apt-get -q=2 update
cd $(q "$dl") && exec apt-get -q=2 download $(q "${apt_args[@]}")
EOF
chmod +x "$work"/apt-*.sh
lists=$apt_dir/state/lists
cold=$work/cold-cache
fetch=("$lunforge" -q fetch --mirror "$url" "${common[@]}" --cache "$cold")
resolve=("$lunforge" -q resolve --mirror "$url" "${common[@]}" --cache "$cold")
resolve_cold=("$lunforge" -q resolve --mirror "$url" "${common[@]}" --cache "$work/rcold")
mode=${BENCH_MMDEBSTRAP_MODE:-$([ "$(id -u)" -eq 0 ] && echo root || echo unshare)}
mmdebstrap_cmd="mmdebstrap -q --simulate --variant=$variant --mode=$mode \
--architectures=$arch --keyring=$keyring $suite /dev/null $(q "deb $url $suite $component")"

# ---------------------------------------------------------------------------
# 3a. Cold fetch: every run starts from an empty cache (lunforge) or an
# empty download directory (apt), against the same warm server.
bench fetch_cold "rm -rf $(q "$cold") && mkdir $(q "$cold")" "$(q "${fetch[@]}")"
"${lib[@]}" check-cache "$work/packages.json" "$cold"
bench apt_download "rm -rf $(q "$dl") && mkdir $(q "$dl")" "$work/apt-download.sh"
"${lib[@]}" check-debs "$work/packages.json" "$dl"
# Its peak RSS: one more run (into an emptied directory).
rm -rf "$dl" && mkdir "$dl"
/usr/bin/time -f %M -o "$work/rss_apt_download" "$work/apt-download.sh"
"${lib[@]}" check-debs "$work/packages.json" "$dl"
# The same with apt's index download and cache build, which a cold
# lunforge fetch also does (lists and pkgcache removed before each run).
bench apt_update_download \
    "rm -rf $(q "$dl") $(q "$lists") $(q "$apt_dir/cache")/*.bin && mkdir -p $(q "$dl") $(q "$lists")/partial" \
    "$work/apt-update-download.sh"
"${lib[@]}" check-debs "$work/packages.json" "$dl"

# 3b. Warm fetch: the cache the cold runs left is full; nothing downloads.
bench fetch_warm "" "$(q "${fetch[@]}")"
"${fetch[@]}" >"$work/warm.out"
grep -Eq "^$npkgs packages in .*: 0 downloaded .*, $npkgs already cached$" "$work/warm.out" \
    || die "warm fetch did not find everything cached: $(cat "$work/warm.out")"

# 3c. Resolve: lunforge with its index cached (fetches and verifies only
# InRelease) and with an empty cache (fetches Packages.xz too, as
# mmdebstrap's apt-get update always does); then mmdebstrap --simulate.
bench resolve "" "$(q "${resolve[@]}")"
"${resolve[@]}" --json >"$work/resolve.out"
"${lib[@]}" same-set "$work/packages.json" "$work/resolve.out"
bench resolve_cold "rm -rf $(q "$work/rcold")" "$(q "${resolve_cold[@]}")"
bench mmdebstrap "" "$mmdebstrap_cmd"
/usr/bin/time -f %M -o "$work/rss_mmdebstrap_simulate" sh -c "exec $mmdebstrap_cmd"
# Not timed: the ratio compares like with like only if mmdebstrap picks
# the same packages. Its verbose output has apt's "Inst NAME ..." lines
# (essential packages appear twice: once per installation phase).
eval "${mmdebstrap_cmd/ -q / -v }" >"$work/mmdebstrap.out" 2>&1 \
    || { tail "$work/mmdebstrap.out" >&2; die "mmdebstrap -v failed"; }
awk '$1 == "Inst" { print $2 }' "$work/mmdebstrap.out" | sort -u >"$work/mmdebstrap.names"
same_set=$(same_names "$work/packages.json" "$work/mmdebstrap.names")

# Peak RSS of one cold fetch and one resolve (GNU time, in KiB). The fetch
# output must say that every package was downloaded.
rm -rf "$cold" && mkdir "$cold"
/usr/bin/time -f %M -o "$work/rss_fetch" "${fetch[@]}" >"$work/cold.out"
grep -Eq "^$npkgs packages in .*: $npkgs downloaded " "$work/cold.out" \
    || die "cold fetch did not download every package: $(cat "$work/cold.out")"
"${lib[@]}" check-cache "$work/packages.json" "$cold"
/usr/bin/time -f %M -o "$work/rss_resolve" "${resolve[@]}" >/dev/null
# The last line: on failure GNU time prints "Command exited..." first
# (and set -e has already stopped the script).
rss_fetch=$(tail -n 1 "$work/rss_fetch")
rss_resolve=$(tail -n 1 "$work/rss_resolve")

# 3d. The whole system as a tarball, from the warm cache that the cold
# fetch above just filled (a build reads the same content-addressed cache;
# nothing downloads). As root lunforge's `configure = "auto"` runs the
# maintainer scripts in a chroot at build time, like mmdebstrap
# --mode=root; rootless it defers them to the guest's first boot, which
# mmdebstrap --mode=unshare does not, and the ratio is then not like for
# like (the table says which strategy ran).
tar_out=$work/tar-out          # lunforge writes OUT/<image name>.tar
mm_tar=$work/mmdebstrap.tar
build=("$lunforge" -q build --format tar -o "$tar_out" --mirror "$url"
       "${common[@]}" --cache "$cold")
mmdebstrap_tar_cmd="mmdebstrap --quiet --variant=$variant --mode=$mode \
--architectures=$arch --keyring=$keyring $suite $(q "$mm_tar") $(q "deb $url $suite $component")"
if [ "$(id -u)" -eq 0 ] && [ "$(dpkg --print-architecture)" = "$arch" ]; then
    configure=chroot
else
    configure=firstboot
    say "not root: lunforge configures on first boot, mmdebstrap at build time;" \
        "the tarball ratio is not like for like"
fi
# check_tar TARBALL LISTING: the tarball is there, not empty, and holds a
# dpkg status file (its listing is kept for the entry count of the report).
check_tar() {
    [ -s "$1" ] || die "$1: missing or empty"
    tar -tf "$1" >"$2" || die "$1: tar -tf failed"
    grep -qx './var/lib/dpkg/status' "$2" || die "$1: no ./var/lib/dpkg/status"
}
# The one tarball lunforge wrote (its name is the recipe's image name).
lunforge_tar() {
    local tars
    shopt -s nullglob; tars=("$tar_out"/*.tar); shopt -u nullglob
    [ "${#tars[@]}" -eq 1 ] || die "$tar_out: ${#tars[@]} tarballs, 1 expected"
    echo "${tars[0]}"
}
# One untimed run of each, under GNU time for the peak RSS (KiB), is the
# warmup of the timed runs (page cache, server), so hyperfine adds none.
# %M is ru_maxrss of the waited-for child, which Linux takes as the
# largest of that process and of its waited-for descendants: for lunforge
# normally lunforge itself (its chroot children are smaller), for
# mmdebstrap the largest single process of its tree (perl, apt or dpkg),
# not the sum of the processes alive at once; hence "largest process".
say "untimed tarball build of each (peak RSS, warmup)"
/usr/bin/time -f %M -o "$work/rss_tar_lunforge" "${build[@]}" >/dev/null
lf_tar=$(lunforge_tar)
check_tar "$lf_tar" "$work/tar_lunforge.list"
/usr/bin/time -f %M -o "$work/rss_tar_mmdebstrap" sh -c "exec $mmdebstrap_tar_cmd"
check_tar "$mm_tar" "$work/tar_mmdebstrap.list"
rss_tar_lunforge=$(tail -n 1 "$work/rss_tar_lunforge")
rss_tar_mmdebstrap=$(tail -n 1 "$work/rss_tar_mmdebstrap")
# Timed: every run writes into a fresh output path; checked again after.
bench tar_lunforge "rm -rf $(q "$tar_out")" "$(q "${build[@]}")" "$tar_runs" 0
lf_tar=$(lunforge_tar)
check_tar "$lf_tar" "$work/tar_lunforge.list"
bench tar_mmdebstrap "rm -f $(q "$mm_tar")" "$mmdebstrap_tar_cmd" "$tar_runs" 0
check_tar "$mm_tar" "$work/tar_mmdebstrap.list"

# 3e. `lunforge mkfs ext3` vs `mke2fs -t ext3 -d` on the same directory:
# mmdebstrap's tarball of the same variant, unpacked (as root, owners and
# device nodes kept), into one file system size for both. Every run
# writes a fresh image; both images are checked with e2fsck afterwards.
mkfs_src=$work/mkfs-src
mkdir "$mkfs_src"
tar -C "$mkfs_src" --xattrs --xattrs-include='*' -xf "$mm_tar"
mkfs_size=2G
lf_img=$work/lunforge.ext3
mk_img=$work/mke2fs.ext3
mkfs_lunforge=("$lunforge" -q mkfs ext3 --from "$mkfs_src" --size 2GiB "$lf_img")
# mke2fs needs the file to exist; the same 5 % reserve and defaults.
mkfs_mke2fs="truncate -s $mkfs_size $(q "$mk_img") && mke2fs -q -F -t ext3 -d $(q "$mkfs_src") $(q "$mk_img")"
say "untimed mkfs of each (peak RSS, warmup)"
/usr/bin/time -f %M -o "$work/rss_mkfs_lunforge" "${mkfs_lunforge[@]}" >/dev/null
/usr/bin/time -f %M -o "$work/rss_mkfs_mke2fs" sh -c "$mkfs_mke2fs"
bench mkfs_lunforge "rm -f $(q "$lf_img")" "$(q "${mkfs_lunforge[@]}")"
bench mkfs_mke2fs "rm -f $(q "$mk_img")" "$mkfs_mke2fs"
for img in "$lf_img" "$mk_img"; do
    e2fsck -fn "$img" >"$work/e2fsck.out" 2>&1 \
        || { cat "$work/e2fsck.out" >&2; die "$img: e2fsck -fn found problems"; }
done
mkfs_files=$(find "$mkfs_src" | wc -l)
mkfs_bytes=$(du -sb "$mkfs_src" | cut -f1)

# 3f. The initrd: `lunforge initrd` vs initramfs-tools' `mkinitramfs` in a
# chroot of the same tree (the variant plus linux-image-amd64, maintainer
# scripts run at build time), their sizes, and the time to `login:` of
# the same image under QEMU (TCG) with each initrd.
kroot=$work/kroot
"$lunforge" -q build --format tar -o "$work/ktar" --configure chroot \
    --mirror "$url" "${kcommon[@]}" --cache "$cold" >/dev/null
mkdir "$kroot"
tar -C "$kroot" -xf "$work/ktar/"*.tar
kver=$(ls "$kroot/usr/lib/modules")
[ "$(echo "$kver" | wc -w)" = 1 ] || die "expected one kernel in the tree: $kver"
mount -t proc proc "$kroot/proc"
mounted+=("$kroot/proc")
lf_initrd=$work/lunforge-initrd.img
initrd_lunforge=("$lunforge" -q initrd --kernel-modules "$kroot/usr/lib/modules"
                 -o "$lf_initrd" --mirror "$url" "${kcommon[@]}" --cache "$cold")
mkinitramfs_cmd="chroot $(q "$kroot") mkinitramfs -o /tmp/mkinitramfs.img $(q "$kver")"
# One untimed run of each (peak RSS, warmup).
/usr/bin/time -f %M -o "$work/rss_initrd_lunforge" "${initrd_lunforge[@]}" >/dev/null
/usr/bin/time -f %M -o "$work/rss_initrd_mkinitramfs" sh -c "exec $mkinitramfs_cmd"
bench initrd_lunforge "" "$(q "${initrd_lunforge[@]}")"
bench initrd_mkinitramfs "" "$mkinitramfs_cmd" "$tar_runs" 0
initrd_size_lunforge=$(stat -c %s "$lf_initrd")
initrd_size_mkinitramfs=$(stat -c %s "$kroot/tmp/mkinitramfs.img")
# The image, with lunforge's boot files, from the same lock and cache.
"$lunforge" -q build -o "$work/kimg" --configure chroot \
    --mirror "$url" "${kcommon[@]}" --cache "$cold" >/dev/null
extra=$(sed -n 's/^extra = "\(.*\)"$/\1/p' "$work/kimg/virtual01/xen/virtual01.cfg")
[ -n "$extra" ] || die "no extra= in the xl config"
# boot_to_login INITRD: seconds from starting QEMU to `login:` on the
# serial console (the NIC reaches nothing beyond QEMU).
boot_to_login() {
    local log=$work/boot.log start now
    rm -f "$log"
    start=$(date +%s.%N)
    qemu-system-x86_64 -accel tcg -m 1024 -display none -monitor none \
        -parallel none -serial "file:$log" -no-reboot \
        -nic user,model=virtio-net-pci,restrict=on \
        -kernel "$work/kimg/virtual01/vmlinuz-$kver" -initrd "$1" \
        -append "$extra console=ttyS0" \
        -drive "file=$work/kimg/virtual01.img,if=virtio,format=raw" -snapshot &
    local pid=$!
    for _ in $(seq 1200); do
        if grep -q 'login:' "$log" 2>/dev/null; then
            now=$(date +%s.%N)
            kill "$pid"; wait "$pid" 2>/dev/null || true
            python3 -c "print(round($now - $start, 1))"
            return
        fi
        kill -0 "$pid" 2>/dev/null || die "QEMU ended before login: $(tail -5 "$log")"
        sleep 0.5
    done
    kill "$pid"; die "no login: within 600 s ($1)"
}
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (make bench-deps)"
say "booting to login: with each initrd"
boot_lunforge=$(boot_to_login "$lf_initrd")
boot_mkinitramfs=$(boot_to_login "$kroot/tmp/mkinitramfs.img")

# 3g. That image written to an iSCSI LUN and to a loop device.
lun_report=()
if [ "$lun" = yes ]; then
    lun_img=$work/kimg/virtual01.img
    # shellcheck source=tests/bench/lun.sh
    . "$here/lun.sh"
fi

# 3h. The guest and the Xen hosts.
hosts_report=()
if [ "$hosts" = yes ]; then
    # shellcheck source=tests/bench/hosts.sh
    . "$here/hosts.sh"
fi

# 3i. The configured image: the usual pipeline and lunforge.
configured_report=()
if [ "$configured" = yes ]; then
    # shellcheck source=tests/bench/configured.sh
    . "$here/configured.sh"
fi

# ---------------------------------------------------------------------------
# 4. The report.
"${lib[@]}" report "$results" "${lun_report[@]}" "${hosts_report[@]}" \
    "${configured_report[@]}" "${mirror_keys[@]}" min_runs="$min_runs" \
    fetch_cold="$work/fetch_cold.json" apt_download="$work/apt_download.json" \
    apt_update_download="$work/apt_update_download.json" \
    fetch_warm="$work/fetch_warm.json" resolve="$work/resolve.json" \
    resolve_cold="$work/resolve_cold.json" mmdebstrap="$work/mmdebstrap.json" \
    tar_lunforge="$work/tar_lunforge.json" tar_mmdebstrap="$work/tar_mmdebstrap.json" \
    tar_runs="$tar_runs" configure="$configure" \
    mkfs_lunforge="$work/mkfs_lunforge.json" mkfs_mke2fs="$work/mkfs_mke2fs.json" \
    rss_mkfs_lunforge="$(tail -n 1 "$work/rss_mkfs_lunforge")" \
    rss_mkfs_mke2fs="$(tail -n 1 "$work/rss_mkfs_mke2fs")" \
    mkfs_files="$mkfs_files" mkfs_bytes="$mkfs_bytes" \
    initrd_lunforge="$work/initrd_lunforge.json" \
    initrd_mkinitramfs="$work/initrd_mkinitramfs.json" \
    initrd_size_lunforge="$initrd_size_lunforge" \
    initrd_size_mkinitramfs="$initrd_size_mkinitramfs" \
    boot_lunforge="$boot_lunforge" boot_mkinitramfs="$boot_mkinitramfs" \
    kernel="$kver" \
    mkfs_alloc_lunforge="$(du -B1 "$lf_img" | cut -f1)" \
    mkfs_alloc_mke2fs="$(du -B1 "$mk_img" | cut -f1)" \
    rss_tar_lunforge="$rss_tar_lunforge" rss_tar_mmdebstrap="$rss_tar_mmdebstrap" \
    tar_size_lunforge="$(stat -c %s "$lf_tar")" tar_size_mmdebstrap="$(stat -c %s "$mm_tar")" \
    tar_entries_lunforge="$(wc -l <"$work/tar_lunforge.list")" \
    tar_entries_mmdebstrap="$(wc -l <"$work/tar_mmdebstrap.list")" \
    packages="$npkgs" bytes="$nbytes" suite="$suite" variant="$variant" \
    release_date="$("${lib[@]}" fields "$mirror/$dists/InRelease")" \
    runs="$runs" mode="$mode" same_set="$same_set" rss_fetch="$rss_fetch" rss_resolve="$rss_resolve" \
    rss_apt_download="$(tail -n 1 "$work/rss_apt_download")" \
    rss_mmdebstrap_simulate="$(tail -n 1 "$work/rss_mmdebstrap_simulate")" \
    rss_initrd_lunforge="$(tail -n 1 "$work/rss_initrd_lunforge")" \
    rss_initrd_mkinitramfs="$(tail -n 1 "$work/rss_initrd_mkinitramfs")" \
    date="$(date -u +%Y-%m-%dT%H:%M:%SZ)" nproc="$(nproc)" \
    lunforge="$("$lunforge" --version)" describe="$describe" \
    apt="$(dpkg-query -W -f '${Version}' apt)" \
    mmdebstrap_version="$(dpkg-query -W -f '${Version}' mmdebstrap)"
"${lib[@]}" markdown "$results" "$results_md"
say "report: $results_md"
say "done in $((SECONDS - start_s)) s"
