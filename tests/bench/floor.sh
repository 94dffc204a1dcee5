#!/bin/bash
# floor.sh LIST: the decompression floor of section 3i (configured.sh).
# Every "DEB MEMBER" line of LIST (a .deb and the name of its data.tar
# member) is read out with ar and decompressed to nothing by its format's
# own tool, nproc packages at once; xz with -T0, as a large data.tar.xz
# (the kernel's) has several blocks, which lunforge's liblzma decodes in
# parallel too. Any tool that installs the packages has to do this much.
set -euo pipefail
one() {
    case $2 in
        *.xz) ar p "$1" "$2" | xz -T0 -dc ;;
        *.zst) ar p "$1" "$2" | zstd -q -dc ;;
        *.gz) ar p "$1" "$2" | gzip -dc ;;
        data.tar) ar p "$1" "$2" ;;
        *) echo "floor: $1: $2: unknown compression" >&2; exit 1 ;;
    esac >/dev/null
}
export -f one
exec xargs -a "$1" -P "$(nproc)" -n 2 bash -c 'one "$0" "$1"'
