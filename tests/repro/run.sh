#!/usr/bin/env bash
# `make repro`: the built-in recipe (the host's mirror, as README's first
# command builds it) built three times per configure strategy:
#
#   a. from an empty download cache, into one path;
#   b. from another empty download cache, into another path;
#   c. from a's warm cache, into a third path;
#
# each from another working directory with another TMPDIR, and
# SOURCE_DATE_EPOCH unset (the signed Release's date decides it). Every
# file of OUT (the image, the kernel, the initrd, the GRUB entries, the xl
# config, the host-side files, SHA256SUMS, the manifest and the SBOM) must
# have the same name and SHA-256 in the three builds, and the image the
# same in every strategy that configures at build time.
#
# One lock pins the package set for all builds (`lunforge lock` first):
# a mirror that publishes a new suite in between would otherwise change
# the inputs, not the build. Strategies: chroot and firstboot as root;
# unshare and firstboot as a normal user (REPRO_STRATEGIES overrides).
# The work directory (REPRO_DIR, default a new one in /var/tmp, which
# holds 3 sparse 8 GiB images per strategy) is removed at the end unless
# REPRO_KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${LUNFORGE:-$PWD/target/release/lunforge}
[ -x "$bin" ] || { echo "repro: $bin: build it first (make build)" >&2; exit 2; }
if [ "$(id -u)" -eq 0 ]; then default="chroot firstboot"; else default="unshare firstboot"; fi
strategies=${REPRO_STRATEGIES:-$default}
work=${REPRO_DIR:-$(mktemp -d /var/tmp/lunforge-repro.XXXXXX)}
mkdir -p "$work"
[ "${REPRO_KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
unset SOURCE_DATE_EPOCH

# Every file below $1 as "SHA-256  relative/path", sorted by path.
sums() { (cd "$1" && find . -type f -printf '%P\0' | sort -z | xargs -0r sha256sum); }

lock=$work/virtual01.lock
"$bin" -q lock -o "$lock" --cache "$work/cache-lock"
echo "repro: package set locked in $lock ($(grep -c '^\[\[package\]\]' "$lock") packages)"

status=0
declare -A image_of
for s in $strategies; do
    for run in a b c; do
        case $run in
            a) cache=$work/$s/cache-a place=$work/$s/a ;;
            b) cache=$work/$s/cache-b place=$work/$s/elsewhere/b ;;
            c) cache=$work/$s/cache-a place=$work/$s/c/deeper ;;
        esac
        mkdir -p "$place/tmp"
        start=$(date +%s%N)
        (cd "$place" && TMPDIR=$place/tmp "$bin" -q build --locked --lockfile "$lock" \
            --cache "$cache" --configure "$s" -o "$place/out")
        end=$(date +%s%N)
        sums "$place/out" > "$work/$s-$run.sums"
        ms=$(( (end - start) / 1000000 ))
        printf 'repro: %-9s build %s (%s cache) %4d.%01d s, %d files\n' "$s" "$run" \
            "$([ $run = c ] && echo warm || echo empty)" $((ms / 1000)) $((ms % 1000 / 100)) \
            "$(wc -l < "$work/$s-$run.sums")"
    done
    for run in b c; do
        if ! diff -u "$work/$s-a.sums" "$work/$s-$run.sums"; then
            echo "repro: $s: build $run differs from build a" >&2
            status=1
        fi
    done
    image_of[$s]=$(awk '$2 == "virtual01.img" {print $1}' "$work/$s-a.sums")
done

echo
echo "repro: SHA-256 of each output file, per strategy (identical in its 3 builds unless said above)"
for s in $strategies; do
    echo "[$s]"
    sed 's/^/  /' "$work/$s-a.sums"
done
if [[ -n ${image_of[chroot]:-} && -n ${image_of[unshare]:-} && ${image_of[chroot]} != "${image_of[unshare]}" ]]; then
    echo "repro: the chroot and unshare images differ" >&2
    status=1
fi
for f in manifest.json sbom.spdx.json; do
    for s in $strategies; do
        grep -q " virtual01/$f\$" "$work/$s-a.sums" || {
            echo "repro: $s: no virtual01/$f in the output" >&2; status=1; }
    done
done
[ $status -eq 0 ] && echo "repro: every strategy's three builds are the same bytes"
exit $status
