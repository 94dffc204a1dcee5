#!/usr/bin/env bash
# Install qemu-system-x86_64, the boot tests' oracle, qemu-system-aarch64
# (qemu-system-arm: the arm64 guest boots on QEMU's virt machine), QEMU's iSCSI block
# driver (libiscsi, in qemu-block-extra: the guest boots straight from a
# LUN as a Xen host uses it) and the UEFI firmware (ovmf: a Xen host boots
# from its own disk under UEFI) when any of them is missing.
#
# Debian's qemu-system-x86 and qemu-system-arm must come from the same
# QEMU release as each other and the
# installed qemu-utils, and the firmware from the emulator's suite where
# that suite has it (`-t` prefers it; bookworm-backports has no ovmf, so
# there it comes from bookworm). When qemu-utils comes from backports (a version
# with "~bpo"), a plain `apt-get install qemu-system-x86` cannot resolve,
# so this adds a `<codename>-backports main` apt source made from the
# host's own Debian entry (its URI and Signed-By, read from the apt
# sources at run time), updates that one source and installs from it.
# Otherwise (e.g. a trixie host) it is a plain apt-get install.
#
# As root this changes the system; otherwise it says what is missing and
# fails, so a boot test never runs without its emulator.
set -euo pipefail

debs=(qemu-system-x86 qemu-system-arm qemu-block-extra ovmf)
installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'
}
missing=0
for d in "${debs[@]}"; do installed "$d" || missing=1; done
[ "$missing" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "QEMU or its firmware is missing: install the Debian packages" \
         "${debs[*]} (from <codename>-backports when qemu-utils" \
         "comes from there), or run \`make test\` as root" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Other apt users on the machine: wait for their locks, do not fail.
apt_opts=(-o DPkg::Lock::Timeout=600)
utils=$(dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null || true)

if [[ "$utils" != *'~bpo'* ]]; then
    echo "installing ${debs[*]}" >&2
    apt-get "${apt_opts[@]}" update -qq
    apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends \
        "${debs[@]}" >/dev/null
    exit 0
fi

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ -z "$codename" ]; then
    echo "qemu-utils $utils comes from backports, but /etc/os-release" \
         "names no VERSION_CODENAME" >&2
    exit 1
fi

# The first enabled `deb` entry whose suites include "$codename", from
# the deb822 files and then the one-line sources.list, rewritten as a
# deb822 stanza for "$codename-backports". Continuation lines (an inline
# Signed-By key) are kept as they are.
shopt -s nullglob
sources=(/etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list)
[ -f /etc/apt/sources.list ] && sources+=(/etc/apt/sources.list)
stanza=$(awk -v suite="$codename" '
    function flush() {
        if (!done && is_deb && has_suite && enabled && uri != "") {
            print "Types: deb"
            print "URIs: " uri
            print "Suites: " suite "-backports"
            print "Components: main"
            if (signed ~ /^\n/) print "Signed-By:" signed
            else if (signed != "") print "Signed-By: " signed
            done = 1
        }
        is_deb = has_suite = 0; enabled = 1; uri = signed = ""; field = ""
    }
    function has_word(list, w,   n, a, i) {
        n = split(list, a, /[ \t]+/)
        for (i = 1; i <= n; i++) if (a[i] == w) return 1
        return 0
    }
    BEGIN { enabled = 1 }
    FNR == 1 { flush(); oneline = (FILENAME ~ /\.list$/) }
    /^[ \t]*#/ { next }
    oneline {
        if ($1 != "deb") next
        i = 2; signed = ""
        if ($2 ~ /^\[/) {
            for (; i <= NF; i++) {
                opt = $i; sub(/^\[/, "", opt); last = sub(/\]$/, "", opt)
                if (opt ~ /^signed-by=/) {
                    sub(/^signed-by=/, "", opt); signed = opt
                }
                if (last) { i++; break }
            }
        }
        uri = $i; is_deb = ($(i + 1) == suite); has_suite = is_deb
        flush()
        next
    }
    /^[ \t]*$/ { flush(); next }
    /^[ \t]/ { if (field == "signed-by") signed = signed "\n" $0; next }
    {
        field = tolower($0); sub(/:.*/, "", field)
        value = $0; sub(/^[^:]*:[ \t]*/, "", value)
        if (field == "types") is_deb = has_word(value, "deb")
        else if (field == "suites") has_suite = has_word(value, suite)
        else if (field == "enabled") enabled = (value !~ /no/)
        else if (field == "uris") { split(value, u, /[ \t]+/); uri = u[1] }
        else if (field == "signed-by") signed = value
    }
    END { flush() }
' /dev/null "${sources[@]}")
if [ -z "$stanza" ]; then
    echo "qemu-utils $utils comes from backports, but no apt source of" \
         "the host lists suite $codename to build" \
         "$codename-backports from" >&2
    exit 1
fi

list=/etc/apt/sources.list.d/lunforge-$codename-backports.sources
printf '%s\n' "$stanza" >"$list"
echo "installing ${debs[*]} from $codename-backports ($list)" >&2
# Every source (the emulator's dependencies come from the main suite,
# whose lists may be missing too), then install with the backports
# release preferred.
apt-get "${apt_opts[@]}" update -qq
apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends \
    -t "$codename-backports" "${debs[@]}" >/dev/null
