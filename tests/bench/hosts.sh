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
# a fresh output directory. Then the boot and migration times under TCG
# come from one run of the test that boots both hosts from their disks,
# runs virtual01 and moves it between them (tests/integration/xen_host/,
# which prints `timing:` lines): emulator start to ssh and to `xl info`
# in each domain 0, `xl create` of the guest to its ssh answering (with
# `kernel =` on dangermouse, with pygrub on buggles), and each way of
# `xl migrate`: its run, the guest's pause as a `ping` from the source
# saw it, and the time the guest's own counter stood still.

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

say "booting both Xen hosts, running and migrating virtual01 under TCG (the xen_host test)"
( cd "$root" && cargo test --release --test integration xen_host -- --nocapture ) \
    >"$work/xen_host.log" 2>&1 || die "the xen_host test failed: $(tail -n 40 "$work/xen_host.log")"
grep '^timing: ' "$work/xen_host.log" >"$work/xen_host.timings" \
    || die "no timing lines from the xen_host test"
hosts_report=(hosts_cold="$work/hosts_cold.json" hosts_warm="$work/hosts_warm.json"
              hosts_timings="$work/xen_host.timings")
