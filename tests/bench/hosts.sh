# 3h. The seed's three machines: the guest virtual01 and the Xen hosts
# dangermouse and buggles, built from their recipes in the repository
# from the local mirror (`--configure chroot`, as root), with a key made
# for the run as the operator's authorized_keys. Sourced by run.sh after
# the mirror is served; uses die, say, q, bench, $work, $lunforge,
# $root, $url, $keyring, $tar_runs, $hosts_key, $hosts_common; sets
# hosts_report (key=value pairs for `lib.py report`).
#
# Times, not ratios: no other tool builds a Xen host's disk. Cold: every
# run from an empty download cache; warm: the cache filled, each run into
# a fresh output directory. Then the boot times under TCG come from one
# run of the test that boots dangermouse from its disk and runs virtual01
# on it (tests/integration/xen_host.rs, which prints `timing:` lines):
# emulator start to ssh and to `xl info` in domain 0, `xl create` of the
# guest to its ssh answering, with `kernel =` and with pygrub.

hosts_out=$work/hosts-out
hosts_cache=$work/hosts-cache
hosts_cmd=""
for r in virtual01 dangermouse buggles; do
    hosts_cmd+="$(q "$lunforge" -q build "$root/recipes/$r.toml" -o "$hosts_out" \
        --cache "$hosts_cache" --configure chroot "${hosts_common[@]}") >/dev/null && "
done
hosts_cmd+="true"
bench hosts_cold "rm -rf $(q "$hosts_out") $(q "$hosts_cache")" "$hosts_cmd" "$tar_runs" 0
bench hosts_warm "rm -rf $(q "$hosts_out")" "$hosts_cmd" "$tar_runs" 1
for r in virtual01 dangermouse buggles; do
    [ -s "$hosts_out/$r.img" ] || die "no $r.img after the host builds"
done

say "booting dangermouse and virtual01 under TCG (the xen_host test)"
( cd "$root" && cargo test --release --test integration xen_host -- --nocapture ) \
    >"$work/xen_host.log" 2>&1 || die "the xen_host test failed: $(tail -n 40 "$work/xen_host.log")"
grep '^timing: ' "$work/xen_host.log" >"$work/xen_host.timings" \
    || die "no timing lines from the xen_host test"
hosts_report=(hosts_cold="$work/hosts_cold.json" hosts_warm="$work/hosts_warm.json"
              hosts_timings="$work/xen_host.timings")
