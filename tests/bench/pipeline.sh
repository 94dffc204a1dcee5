#!/bin/bash
# pipeline.sh CONF TOOL CACHE [fill]: the usual way to make section 3i's
# configured image (tests/bench/configured.sh), as one timed command.
# TOOL (mmdebstrap or debootstrap) installs the package set into a
# directory, as root, from the local mirror; then, with no loop device and
# no mount, sfdisk writes the MBR into the disk image file, mkswap formats
# a swap partition image, mke2fs -t ext3 -d makes the root partition image
# from that directory, and dd copies both into the disk
# (conv=notrunc,sparse).
#
# CONF: shell assignments written by configured.sh: scratch (this run's
# directory, empty), url, suite, arch, component, keyring, variant (the
# recipe's), include (comma-separated), and the layout in bytes:
# disk_bytes, swap_start, swap_bytes, root_start, root_bytes.
#
# The package set: mmdebstrap --variant=$variant --include=$include, as
# the recipe says. debootstrap runs without --variant: its default
# variant installs Priority required and important (and their
# dependencies), which is what `important` means to mmdebstrap and to
# lunforge; minbase would install required and apt only, buildd adds
# build-essential. Its --include resolves dependencies as well (first
# alternative, no Recommends, like the other two).
#
# CACHE (an absolute path) is the tool's package cache: empty for a cold
# run, holding every .deb of the set for a warm one. Index files are
# fetched and verified every time by both tools (and by lunforge).
#   mmdebstrap keeps no cache of its own: a setup hook copies CACHE's .debs
#     into the chroot's /var/cache/apt/archives before its download step,
#     as its manual suggests (sync-in); apt takes each file there whose
#     size and SHA-256 match the index and downloads only the rest.
#     With `fill` (the untimed run that fills a warm cache) a customize
#     hook also copies the .debs back out, --skip=essential/unlink keeping
#     the essential ones until then (the manual's sync-out).
#   debootstrap --cache-dir=CACHE checks each .deb there against the
#     index's SHA-256, downloads the missing ones into CACHE and copies
#     every one into the target: it fills its cache by itself.
# shellcheck disable=SC2154  # the settings come from CONF
set -euo pipefail
conf=$1 tool=$2 cache=$3 fill=${4:-}
# shellcheck source=/dev/null
. "$conf"
: "${scratch:?}" "${url:?}" "${suite:?}" "${arch:?}" "${component:?}" \
  "${keyring:?}" "${variant:?}" "${include:?}" "${disk_bytes:?}" \
  "${swap_start:?}" "${swap_bytes:?}" "${root_start:?}" "${root_bytes:?}"
[ -d "$cache" ] || { echo "pipeline: $cache: no such directory" >&2; exit 1; }
cd "$scratch"

case $tool in
    mmdebstrap)
        # The hooks' shell gets the chroot as $1.
        # shellcheck disable=SC2016
        archives='"$1"/var/cache/apt/archives'
        hooks=(--setup-hook="mkdir -p $archives && cp -a $(printf %q "$cache")/. $archives/")
        if [ "$fill" = fill ]; then
            hooks+=(--skip=essential/unlink
                    --customize-hook="cp -a $archives/*.deb $(printf %q "$cache")/")
        fi
        mmdebstrap --quiet --variant="$variant" --mode=root --include="$include" \
            --architectures="$arch" --keyring="$keyring" "${hooks[@]}" \
            "$suite" rootfs "deb $url $suite $component"
        ;;
    debootstrap)
        debootstrap --arch="$arch" --include="$include" --keyring="$keyring" \
            --cache-dir="$cache" "$suite" rootfs "$url" >debootstrap.log 2>&1 \
            || { tail -n 30 debootstrap.log >&2; exit 1; }
        ;;
    *) echo "pipeline: $tool: mmdebstrap or debootstrap" >&2; exit 1 ;;
esac

truncate -s "$disk_bytes" disk.img
sfdisk --quiet disk.img <<TABLE
label: dos
start=$((swap_start / 512)), size=$((swap_bytes / 512)), type=82
start=$((root_start / 512)), size=$((root_bytes / 512)), type=83
TABLE
truncate -s "$swap_bytes" swap.img
mkswap --quiet swap.img
truncate -s "$root_bytes" root.img
mke2fs -q -F -t ext3 -d rootfs root.img
mib=$((1 << 20))
dd if=swap.img of=disk.img bs=1M seek=$((swap_start / mib)) conv=notrunc,sparse status=none
dd if=root.img of=disk.img bs=1M seek=$((root_start / mib)) conv=notrunc,sparse status=none
