# 3g. `lunforge write` of a built image to an iSCSI LUN and to a block
# device, against `qemu-img convert` and `dd`. Sourced by run.sh, which
# defines die, say, q, bench, $work, $lunforge, $runs, $tar_runs, $lib and
# the cleanup trap that stops tgtd ($tgt_pid, $tgt_ctl, $tgt_tids) and
# detaches the loop device ($loop_dev); reads $lun_img (the image), sets
# lun_report (key=value pairs for `lib.py report`).
#
# The LUN is tgtd's, on 127.0.0.1, file-backed, with CHAP. "Thick": tgt's
# default LUN, which cannot unmap, so lunforge writes the image's holes as
# zeros, as qemu-img does; "thin": thin_provisioning=1 (UNMAP, tgt punches
# holes into its backing file). lunforge keeps its default read-back
# verification except where said.

img_size=$(stat -c %s "$lun_img")
img_alloc=$(du -B1 "$lun_img" | cut -f1)
say "image $lun_img: $img_size bytes, $img_alloc allocated"

# tgtd: the portal on a port the kernel says is free, the control port
# (it names /var/run/tgtd/socket.N) one that no socket file uses.
tgt_port=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for _ in $(seq 100); do
    n=$((1000 + RANDOM % 31768))
    if [ ! -e "/var/run/tgtd/socket.$n" ] && [ ! -e "/var/run/tgtd/socket.$n.lock" ]; then
        tgt_ctl=$n
        break
    fi
done
[ -n "$tgt_ctl" ] || die "no free tgtd control port"
tgtd -f -C "$tgt_ctl" --iscsi "portal=127.0.0.1:$tgt_port" </dev/null >"$work/tgtd.log" 2>&1 &
tgt_pid=$!
tgtadm_() { tgtadm -C "$tgt_ctl" --lld iscsi "$@"; }
listening() { (: <>"/dev/tcp/127.0.0.1/$tgt_port") 2>/dev/null; }
for _ in $(seq 100); do
    tgtadm_ --op show --mode target >/dev/null 2>&1 && listening && break
    kill -0 "$tgt_pid" 2>/dev/null || die "tgtd died: $(cat "$work/tgtd.log")"
    sleep 0.1
done
tgtadm_ --op show --mode target >/dev/null && listening \
    || die "tgtd did not become ready: $(cat "$work/tgtd.log")"
say "tgtd on 127.0.0.1:$tgt_port (control port $tgt_ctl)"

iqn=iqn.2026-12.org.lunforge.bench:lun
lun_file=$work/lun.img
truncate -s "$img_size" "$lun_file"
tgtadm_ --op new --mode target --tid 1 -T "$iqn"
tgt_tids+=(1)
tgtadm_ --op bind --mode target --tid 1 -I ALL
tgtadm_ --op new --mode logicalunit --tid 1 --lun 1 -b "$lun_file"
# A throwaway CHAP secret (16 hex digits), in the environment of the
# timed commands rather than on their command lines.
LF_BENCH_SECRET=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
export LF_BENCH_SECRET
tgtadm_ --op new --mode account --user bench --password "$LF_BENCH_SECRET"
tgtadm_ --op bind --mode account --tid 1 --user bench

lf_lun=("$lunforge" -q write "$lun_img" "iscsi://bench@127.0.0.1:$tgt_port/$iqn/1"
        --chap-secret env:LF_BENCH_SECRET --force)
# sh expands the secret when hyperfine runs the command.
qemu_lun="qemu-img convert -n -f raw -O raw $(q "$lun_img") \
iscsi://bench%\$LF_BENCH_SECRET@127.0.0.1:$tgt_port/$iqn/1"
punch="fallocate --punch-hole --offset 0 --length $img_size $(q "$lun_file")"
alloc() { du -B1 "$1" | cut -f1; }
# same WHAT FILE: the image and FILE are equal byte for byte.
same() { cmp -s "$lun_img" "$2" || die "$1: $2 differs from $lun_img"; }
# says FILE TEXT: lunforge's summary in FILE tells what it did to the
# holes (the LUN is thick or thin as intended, and verified by default).
says() { grep -q "$2" "$1" || die "lunforge did not say '$2': $(cat "$1")"; }

# Thick. The backing file gets 0xff every MiB and is then allocated
# whole, so that the untimed first write of lunforge (also the warmup of
# the timed runs, and its peak RSS) proves that it zeroed the holes; every
# timed run then overwrites a fully allocated file, which needs no reset.
# qemu-img's untimed run: its peak RSS and warmup.
"${lib[@]}" dirty "$lun_file"
fallocate -l "$img_size" "$lun_file"
say "untimed lunforge write to the thick LUN (check, peak RSS, warmup)"
/usr/bin/time -f %M -o "$work/rss_lun_lunforge" "${lf_lun[@]}" >"$work/lun-thick.out"
says "$work/lun-thick.out" "of holes written as zeros, .* verified$"
same "lunforge write (thick LUN)" "$lun_file"
say "untimed qemu-img convert to the thick LUN (peak RSS, warmup)"
/usr/bin/time -f %M -o "$work/rss_lun_qemu" sh -c "exec $qemu_lun"
same "qemu-img convert (thick LUN)" "$lun_file"
bench lun_qemu_thick "" "$qemu_lun" "$tar_runs" 0
bench lun_lunforge_thick "" "$(q "${lf_lun[@]}")" "$tar_runs" 0
same "lunforge write (thick LUN, timed runs)" "$lun_file"
lun_alloc_thick=$(alloc "$lun_file")

# Thin. The same check first (dirt over the image the thick runs left:
# lunforge must unmap the holes, and the backing file shrink to about the
# data), then every timed run starts from an all-hole backing file
# (punched: tgtd keeps it open).
tgtadm_ --op update --mode logicalunit --tid 1 --lun 1 --params thin_provisioning=1
"${lib[@]}" dirty "$lun_file"
say "untimed lunforge write to the thin LUN (check, warmup)"
"${lf_lun[@]}" >"$work/lun-thin.out"
says "$work/lun-thin.out" "of holes unmapped, .* verified$"
same "lunforge write (thin LUN)" "$lun_file"
lun_alloc_thin_dirty=$(alloc "$lun_file")
bench lun_lunforge_thin "$punch" "$(q "${lf_lun[@]}")" "$tar_runs" 0
same "lunforge write (thin LUN, timed runs)" "$lun_file"
lun_alloc_thin=$(alloc "$lun_file")
bench lun_qemu_thin "$punch" "$qemu_lun" "$tar_runs" 0
same "qemu-img convert (thin LUN)" "$lun_file"
lun_alloc_qemu_thin=$(alloc "$lun_file")
bench lun_lunforge_zeroed "$punch" "$(q "${lf_lun[@]}") --assume-zeroed" "$tar_runs" 0
same "lunforge write --assume-zeroed (thin LUN)" "$lun_file"
lun_alloc_zeroed=$(alloc "$lun_file")
"${lf_lun[@]}" --assume-zeroed >"$work/lun-zeroed.out"
says "$work/lun-zeroed.out" "holes skipped (--assume-zeroed), .* verified$"

# Block device: a loop device over a sparse file. Each timed run starts
# from a discarded device (blkdiscard punches the backing file and drops
# the device's page cache). dd conv=sparse skips zero blocks without
# zeroing them: like lunforge --assume-zeroed; --no-verify, as dd does
# not read back either.
loop_file=$work/loop.img
truncate -s "$img_size" "$loop_file"
loop_dev=$(losetup --find --show "$loop_file")
say "loop device $loop_dev"
discard="blkdiscard -f $(q "$loop_dev")"
lf_loop=("$lunforge" -q write "$lun_img" "$loop_dev" --force)
dd_loop="dd if=$(q "$lun_img") of=$(q "$loop_dev") bs=4M conv=sparse,fsync status=none"
"${lib[@]}" dirty "$loop_dev"
/usr/bin/time -f %M -o "$work/rss_loop_lunforge" "${lf_loop[@]}" >"$work/loop.out"
says "$work/loop.out" "of holes unmapped, .* verified$"
same "lunforge write (loop device)" "$loop_dev"
bench loop_lunforge "$discard" "$(q "${lf_loop[@]}")"
same "lunforge write (loop device, timed runs)" "$loop_dev"
loop_alloc_lunforge=$(alloc "$loop_file")
eval "$discard"
/usr/bin/time -f %M -o "$work/rss_loop_dd" sh -c "exec $dd_loop"
bench loop_dd "$discard" "$dd_loop"
same "dd (loop device)" "$loop_dev"
loop_alloc_dd=$(alloc "$loop_file")
bench loop_lunforge_zeroed "$discard" "$(q "${lf_loop[@]}") --assume-zeroed --no-verify"
same "lunforge write --assume-zeroed --no-verify (loop device)" "$loop_dev"

lun_report=(
    lun_qemu_thick="$work/lun_qemu_thick.json"
    lun_lunforge_thick="$work/lun_lunforge_thick.json"
    lun_lunforge_thin="$work/lun_lunforge_thin.json"
    lun_qemu_thin="$work/lun_qemu_thin.json"
    lun_lunforge_zeroed="$work/lun_lunforge_zeroed.json"
    loop_lunforge="$work/loop_lunforge.json"
    loop_dd="$work/loop_dd.json"
    loop_lunforge_zeroed="$work/loop_lunforge_zeroed.json"
    lun_image_bytes="$img_size" lun_image_alloc="$img_alloc"
    lun_alloc_thick="$lun_alloc_thick" lun_alloc_thin="$lun_alloc_thin"
    lun_alloc_thin_dirty="$lun_alloc_thin_dirty"
    lun_alloc_qemu_thin="$lun_alloc_qemu_thin" lun_alloc_zeroed="$lun_alloc_zeroed"
    loop_alloc_lunforge="$loop_alloc_lunforge" loop_alloc_dd="$loop_alloc_dd"
    lun_rss_lunforge_thick="$(tail -n 1 "$work/rss_lun_lunforge")"
    lun_rss_qemu_thick="$(tail -n 1 "$work/rss_lun_qemu")"
    loop_rss_lunforge="$(tail -n 1 "$work/rss_loop_lunforge")"
    loop_rss_dd="$(tail -n 1 "$work/rss_loop_dd")"
    lun_says_thick="$(tail -n 1 "$work/lun-thick.out")"
    lun_says_thin="$(tail -n 1 "$work/lun-thin.out")"
    lun_says_zeroed="$(tail -n 1 "$work/lun-zeroed.out")"
    loop_says="$(tail -n 1 "$work/loop.out")"
    qemu_img="$(qemu-img --version | head -n 1)"
    tgt="$(dpkg-query -W -f '${Version}' tgt)"
)
