#!/usr/bin/env bash
# Install the Debian packages named as arguments when any is missing.
# As root this uses apt-get; otherwise it names what is missing and fails,
# so a test never runs without its oracle.
#
# A name ending in `.x` (`xen-utils-4.x`) stands for the newest package
# of that stem the host's suite has (`xen-utils-4.17`): looked up after
# the package lists are known to be there.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# Other apt users on the machine: wait for their locks, do not fail.
apt_opts=(-o DPkg::Lock::Timeout=600)
updated=0
update() {
    [ "$updated" -eq 1 ] && return
    [ "$(id -u)" -eq 0 ] || return 0
    # stdout is a lookup's answer in `newest`: keep apt off it.
    apt-get "${apt_opts[@]}" update -qq >&2
    updated=1
}

# The newest `STEM<digits>` package of the suite (installed or not).
newest() {
    local stem=$1 found
    found=$(apt-cache pkgnames "$stem" 2>/dev/null \
        | grep -E "^${stem//./\\.}[0-9]+\$" | sort -V | tail -n1 || true)
    if [ -z "$found" ]; then
        update
        found=$(apt-cache pkgnames "$stem" 2>/dev/null \
            | grep -E "^${stem//./\\.}[0-9]+\$" | sort -V | tail -n1 || true)
    fi
    [ -n "$found" ] || { echo "no package ${stem}N in the host's suite" >&2; exit 1; }
    echo "$found"
}

names=()
for deb in "$@"; do
    if [[ "$deb" == *.x ]]; then
        # An installed one of the stem will do.
        have=$(dpkg-query -W -f='${Package} ${Status}\n' "${deb%x}*" 2>/dev/null \
            | awk '/ok installed/ {print $1}' | grep -E "^${deb%x}[0-9]+$" | head -n1 || true)
        names+=("${have:-$(newest "${deb%x}")}")
    else
        names+=("$deb")
    fi
done

missing=()
for deb in "${names[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q 'ok installed'; then
        missing+=("$deb")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "installing test oracles: ${missing[*]}" >&2
update
apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
