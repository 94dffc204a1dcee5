#!/usr/bin/env bash
# Install the Debian packages named as arguments when any is missing.
# As root this uses apt-get; otherwise it names what is missing and fails,
# so a test never runs without its oracle.
set -euo pipefail
missing=()
for deb in "$@"; do
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
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
