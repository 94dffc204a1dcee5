//! The seed's finale, `xm migrate --live virtual01 buggles`, as today's
//! `xl migrate`, and how the test knows the guest moved without stopping.
//!
//! Three witnesses, each with one clock:
//!
//! - **The guest's counter** ([`COUNTER`]): a bash loop in the guest
//!   that appends `N SECONDS` (its own `CLOCK_REALTIME`, bash's
//!   `EPOCHREALTIME`: no fork) to a file in `/run` and to its Xen
//!   console every 0.2 s plus what one `sleep` takes to start. After a move
//!   the numbers must go on from where they stood (the same process,
//!   not a new boot), and the guest's boot ID must be the one read
//!   before.
//! - **An observer that stays put** ([`Observer`]): `ping -D -i 0.1`
//!   from the source host's domain 0 to the guest's address, which is
//!   first a neighbour on the local `xenbr0` and then, after the move,
//!   behind the other host's bridge across the link between the hosts.
//!   The longest gap between two replies is the pause as the network
//!   sees it, measured on one clock: the figure the benchmark quotes.
//! - **`xl`**: `xl migrate` returns 0, and `xl list` names the guest on
//!   the target and not on the source.
//!
//! The counter's longest gap is measured in the guest's clock, which
//! before the move follows the source's Xen and after it the target's
//! (the guest's resume re-reads the wall clock from the hypervisor).
//! The two hosts' clocks are compared first ([`clock_offset`]), and the
//! counter's stand-still is corrected by their difference.
//!
//! The counter stands still longer than the network pauses, and by how
//! much the guest's kernel says: to suspend, Linux's Xen driver freezes
//! user space first, then suspends its devices and the domain; on resume
//! it thaws user space last. Echo replies come from the kernel's network
//! stack, which answers while user space is frozen, so the observer sees
//! only the domain's pause, and the counter the whole freeze. The kernel
//! log's clock stops while the domain is paused (its `sched_clock` is carried
//! over the move), so the span from "Freezing user space processes" to
//! "Restarting tasks" in the guest's `dmesg` is the freeze without the
//! pause ([`frozen_span`]). The counter's stand-still must not exceed
//! the observer's pause plus that span by more than two ticks and the
//! clocks' uncertainty.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::support::qemu::artifacts_dir;
use crate::support::vm::Vm;

/// The guest's counter, started by systemd so that it outlives the ssh
/// session.
pub(crate) const COUNTER: &str = r#"cat >/run/counter.sh <<'EOF'
n=0
while :; do
    n=$((n + 1))
    t=$EPOCHREALTIME
    echo "$n $t" >>/run/counter
    echo "counter $n $t" >/dev/hvc0
    sleep 0.2
done
EOF
systemd-run --unit=counter --quiet bash /run/counter.sh
for i in $(seq 50); do [ -s /run/counter ] && break; sleep 0.2; done
tail -n 1 /run/counter"#;

/// What the guest says about itself, one item per line: boot ID,
/// seconds up, the counter's last line.
pub(crate) const SELF: &str = "cat /proc/sys/kernel/random/boot_id; \
                               cut -d' ' -f1 /proc/uptime; tail -n 1 /run/counter";

/// The guest's answer to [`SELF`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Itself {
    pub(crate) boot_id: String,
    pub(crate) uptime: f64,
    pub(crate) count: u64,
}

impl Itself {
    /// Parse [`SELF`]'s output.
    #[track_caller]
    pub(crate) fn parse(out: &str) -> Itself {
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        let parsed = match lines[..] {
            [id, up, last] => up
                .parse::<f64>()
                .ok()
                .zip(last.split(' ').next().and_then(|n| n.parse::<u64>().ok()))
                .map(|(uptime, count)| Itself {
                    boot_id: id.to_string(),
                    uptime,
                    count,
                }),
            _ => None,
        };
        parsed.unwrap_or_else(|| {
            panic!("the guest's boot ID, uptime and counter: {out:?}")
        })
    }
}

/// One run of the counter: its ticks in order.
#[derive(Debug, PartialEq)]
pub(crate) struct Ticks(Vec<(u64, f64)>);

impl Ticks {
    /// Parse `/run/counter`; the numbers must run 1, 2, 3, … without a
    /// gap or a restart.
    pub(crate) fn parse(text: &str) -> Result<Ticks, String> {
        let mut v = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let parsed = line.split_once(' ').and_then(|(n, t)| {
                Some((n.parse::<u64>().ok()?, t.parse::<f64>().ok()?))
            });
            let Some((n, t)) = parsed else {
                return Err(format!("line {}: {line:?}", i + 1));
            };
            if n != i as u64 + 1 {
                return Err(format!(
                    "line {} counts {n}: the counter restarted or lost \
                     ticks",
                    i + 1
                ));
            }
            v.push((n, t));
        }
        Ok(Ticks(v))
    }

    /// The last count.
    pub(crate) fn last(&self) -> u64 {
        self.0.last().map_or(0, |&(n, _)| n)
    }

    /// The longest gap between two ticks after tick `from` (its end
    /// tick, and the gap in seconds of the guest's clock), and the
    /// median gap there (the loop's own period).
    pub(crate) fn longest_gap_after(&self, from: u64) -> Option<Gap> {
        let after: Vec<(u64, f64)> =
            self.0.iter().copied().filter(|&(n, _)| n >= from).collect();
        let mut gaps: Vec<(u64, f64)> = after
            .windows(2)
            .map(|w| (w[1].0, w[1].1 - w[0].1))
            .collect();
        if gaps.is_empty() {
            return None;
        }
        let longest = gaps
            .iter()
            .copied()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("a gap");
        gaps.sort_by(|a, b| a.1.total_cmp(&b.1));
        Some(Gap {
            resumed_at: longest.0,
            seconds: longest.1,
            period: gaps[gaps.len() / 2].1,
            ticks_after: self.last() - longest.0,
        })
    }
}

/// The counter's stand-still.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Gap {
    /// The tick after the gap.
    pub(crate) resumed_at: u64,
    /// The gap, in the guest's clock.
    pub(crate) seconds: f64,
    /// The median gap: the loop's period.
    pub(crate) period: f64,
    /// Ticks counted after the gap.
    pub(crate) ticks_after: u64,
}

/// The longest gap between two replies in `ping -D` output, with the
/// number of replies before and after it.
pub(crate) fn ping_pause(log: &str) -> Option<(f64, usize, usize)> {
    let stamps: Vec<f64> = log
        .lines()
        .filter(|l| l.contains(" bytes from "))
        .filter_map(|l| {
            let t = l.strip_prefix('[')?.split_once(']')?.0;
            t.parse().ok()
        })
        .collect();
    let (i, gap) = stamps
        .windows(2)
        .map(|w| w[1] - w[0])
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    Some((gap, i + 1, stamps.len() - i - 1))
}

/// The guest kernel's last suspend, from `dmesg`: seconds of its log's
/// clock from "Freezing user space processes" to "Restarting tasks",
/// which is how long user space stood still around the domain's pause,
/// the pause itself not counted.
pub(crate) fn frozen_span(dmesg: &str) -> Option<f64> {
    let stamped = |l: &str| -> Option<f64> {
        l.trim_start()
            .strip_prefix('[')?
            .split_once(']')?
            .0
            .trim()
            .parse()
            .ok()
    };
    let lines: Vec<&str> = dmesg.lines().collect();
    let start = lines.iter().rposition(|l| {
        l.contains("Freezing user space processes") && !l.contains("elapsed")
    })?;
    let end = lines[start..]
        .iter()
        .find(|l| l.contains("Restarting tasks"))?;
    Some(stamped(end)? - stamped(lines[start])?)
}

/// How far `peer`'s clock is ahead of this host's, measured from this
/// host's domain 0 over one ssh connection (a few exchanges; the one
/// with the shortest round trip counts): seconds, and the uncertainty
/// (half that round trip).
pub(crate) const CLOCK_OFFSET: &str = r#"cat >/run/clock.sh <<'EOF'
coproc PEER { ssh -o BatchMode=yes "$1" 'while read -r _; do date +%s%N; done'; }
for i in $(seq 12); do
    a=$(date +%s%N)
    echo >&"${PEER[1]}"
    read -r b <&"${PEER[0]}"
    c=$(date +%s%N)
    echo "$((c - a)) $((b - (a + c) / 2))"
done
EOF
bash /run/clock.sh "#;

/// [`CLOCK_OFFSET`]'s answer: the sample of the shortest round trip.
pub(crate) fn clock_offset(out: &str) -> Option<(f64, f64)> {
    out.lines()
        .filter_map(|l| {
            let (rtt, off) = l.split_once(' ')?;
            Some((rtt.parse::<i64>().ok()?, off.parse::<i64>().ok()?))
        })
        .min_by_key(|&(rtt, _)| rtt)
        .map(|(rtt, off)| (off as f64 / 1e9, rtt as f64 / 2e9))
}

/// `ping` from a domain 0 to the guest, in a unit of its own, into
/// `/run/NAME.log`.
pub(crate) struct Observer {
    unit: String,
}

impl Observer {
    /// Start pinging `target` from `vm` ten times a second.
    #[track_caller]
    pub(crate) fn start(vm: &Vm, unit: &str, target: Ipv4Addr) -> Observer {
        vm.ssh_ok(&format!(
            "rm -f /run/{unit}.log; systemd-run --unit={unit} --quiet \
             sh -c 'exec ping -n -D -i 0.1 {target} >/run/{unit}.log 2>&1'"
        ));
        Observer { unit: unit.into() }
    }

    /// Stop it; its log.
    #[track_caller]
    pub(crate) fn stop(self, vm: &Vm) -> String {
        let unit = &self.unit;
        vm.ssh_ok(&format!("systemctl stop {unit}; cat /run/{unit}.log"))
    }
}

/// What one move measured.
#[derive(Debug)]
pub(crate) struct Moved {
    /// `xl migrate`'s run, start to exit.
    pub(crate) took: Duration,
    /// The observer's longest gap between replies.
    pub(crate) pause: f64,
    /// User space frozen around the pause, by the guest kernel's log.
    pub(crate) frozen: f64,
    /// The counter's stand-still, corrected for the hosts' clocks.
    pub(crate) stood_still: f64,
}

/// Keep `text` as `target/test-artifacts/NAME` and say so.
pub(crate) fn keep(name: &str, text: &str) {
    let dir = artifacts_dir();
    let path = dir.join(name);
    let kept = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, text));
    match kept {
        Ok(()) => eprintln!("kept {}", path.display()),
        Err(e) => eprintln!("{} not kept: {e}", path.display()),
    }
}

/// Wait until `vm` reaches `target` by ping.
#[track_caller]
pub(crate) fn wait_for_ping(vm: &Vm, target: Ipv4Addr, timeout: Duration) {
    let begin = Instant::now();
    loop {
        let out = vm.ssh(&format!("ping -n -c 1 -W 1 {target}"));
        if out.status.success() {
            return;
        }
        assert!(
            begin.elapsed() < timeout,
            "{}: no answer from {target} in {timeout:.0?}:\n{}",
            vm.name(),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// `xl migrate virtual01 TO` on `from`, move number `n`, while the
/// guest at `guest` counts and `from` watches it; every witness of the
/// module doc must agree. The hosts' names are their `/etc/hosts`
/// names.
#[track_caller]
pub(crate) fn migrate(
    n: usize,
    (from, from_name): (&Vm, &str),
    (to, to_name): (&Vm, &str),
    guest: Ipv4Addr,
) -> Moved {
    let what = format!("move {n}, {from_name} to {to_name}");
    let clocks = from.ssh_ok(&format!("{CLOCK_OFFSET}{to_name}"));
    let (offset, uncertainty) = clock_offset(&clocks)
        .unwrap_or_else(|| panic!("{what}: no clock samples: {clocks:?}"));
    eprintln!(
        "{what}: {to_name}'s clock is {offset:+.3} s ± {uncertainty:.3} s \
         from {from_name}'s"
    );
    let before = Itself::parse(&from.ssh_via_ok(guest, SELF));
    let observer = Observer::start(from, &format!("observe-{n}"), guest);
    std::thread::sleep(Duration::from_secs(3));

    let begin = Instant::now();
    let out = from.ssh(&format!("xl migrate virtual01 {to_name}"));
    let took = begin.elapsed();
    let text = format!(
        "$ xl migrate virtual01 {to_name}   (on {from_name}, {took:.1?}, \
         {})\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    keep(
        &format!("xen-migrate-{n}-{from_name}-to-{to_name}.log"),
        &text,
    );
    assert!(out.status.success(), "{what}: xl migrate failed:\n{text}");
    let there = to.ssh_ok("xl list");
    assert!(
        there
            .lines()
            .any(|l| l.split_whitespace().next() == Some("virtual01")),
        "{what}: xl list on {to_name}:\n{there}"
    );
    let here = from.ssh("xl list virtual01");
    assert!(
        !here.status.success(),
        "{what}: virtual01 is still on {from_name}:\n{}",
        String::from_utf8_lossy(&here.stdout)
    );

    // Its address answers on the target's side, and again at the
    // observer's, now across the link.
    wait_for_ping(to, guest, Duration::from_secs(120));
    std::thread::sleep(Duration::from_secs(3));
    let log = observer.stop(from);
    keep(&format!("xen-migrate-{n}-ping.log"), &log);
    let (pause, replies_before, replies_after) = ping_pause(&log)
        .unwrap_or_else(|| panic!("{what}: no replies to the observer"));
    assert!(
        replies_before >= 5 && replies_after >= 5,
        "{what}: {replies_before} replies before the pause and \
         {replies_after} after it"
    );

    // The same guest, the same process, still counting.
    let after = Itself::parse(&to.ssh_via_ok(guest, SELF));
    assert_eq!(after.boot_id, before.boot_id, "{what}: a new boot");
    assert!(after.uptime > before.uptime, "{what}: {before:?} {after:?}");
    let text = to.ssh_via_ok(guest, "cat /run/counter");
    let ticks = Ticks::parse(&text)
        .unwrap_or_else(|e| panic!("{what}: the guest's counter: {e}"));
    let gap = ticks
        .longest_gap_after(before.count)
        .unwrap_or_else(|| panic!("{what}: the counter stopped"));
    keep(&format!("xen-migrate-{n}-counter.log"), &text);
    let kernel = to.ssh_via_ok(guest, "dmesg");
    keep(&format!("xen-migrate-{n}-dmesg.log"), &kernel);
    let frozen = frozen_span(&kernel).unwrap_or_else(|| {
        panic!("{what}: no suspend and resume in the guest's dmesg")
    });
    let stood_still = gap.seconds - offset;
    // The counter can stand still one period longer than user space was
    // frozen, and the observer misses up to an interval on each side.
    let slack = 2.0 * gap.period + 0.2 + 2.0 * uncertainty;
    eprintln!(
        "{what}: xl migrate {took:.1?}; pause seen by the observer \
         {pause:.2} s; user space frozen {frozen:.2} s besides; the \
         counter stood still {stood_still:.2} s (period {:.2} s, {} \
         ticks since)",
        gap.period, gap.ticks_after
    );
    assert!(
        stood_still <= pause + frozen + slack,
        "{what}: the counter stood still {stood_still:.2} s (raw \
         {:.2} s, clocks {offset:+.3} s), the observer saw a pause of \
         {pause:.2} s, and the guest froze its user space {frozen:.2} s \
         besides",
        gap.seconds
    );
    assert!(gap.ticks_after >= 5, "{what}: {gap:?}");
    Moved {
        took,
        pause,
        frozen,
        stood_still,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_lines() {
        let t =
            Ticks::parse("1 10.0\n2 10.2\n3 10.4\n4 13.5\n5 13.7\n").unwrap();
        let g = t.longest_gap_after(1).unwrap();
        assert_eq!(g.resumed_at, 4);
        assert!((g.seconds - 3.1).abs() < 1e-9);
        assert!((g.period - 0.2).abs() < 1e-9, "{g:?}");
        assert_eq!(g.ticks_after, 1);
        // Only what came after tick 4.
        assert_eq!(t.longest_gap_after(4).unwrap().resumed_at, 5);
        assert!(Ticks::parse("1 1.0\n3 1.2\n")
            .unwrap_err()
            .contains("line 2"));
        assert!(Ticks::parse("1 1.0\n1 1.2\n").is_err());
        assert!(Ticks::parse("1 x\n").is_err());
    }

    #[test]
    fn ping_gaps() {
        let log = "PING 192.0.2.50 (192.0.2.50) 56(84) bytes of data.\n\
                   [100.0] 64 bytes from 192.0.2.50: icmp_seq=1 ttl=64\n\
                   [100.1] 64 bytes from 192.0.2.50: icmp_seq=2 ttl=64\n\
                   [102.6] 64 bytes from 192.0.2.50: icmp_seq=27 ttl=64\n\
                   [102.7] 64 bytes from 192.0.2.50: icmp_seq=28 ttl=64\n\
                   [102.8] 64 bytes from 192.0.2.50: icmp_seq=29 ttl=64\n";
        let (gap, before, after) = ping_pause(log).unwrap();
        assert!((gap - 2.5).abs() < 1e-9);
        assert_eq!((before, after), (2, 3));
        assert_eq!(ping_pause("no replies\n"), None);
    }

    #[test]
    fn freeze_in_the_kernel_log() {
        let log = "[    1.000000] Linux version 6.12\n\
                   [   50.000000] Freezing user space processes\n\
                   [   50.001000] Freezing user space processes completed (elapsed 0.001 seconds)\n\
                   [   51.000000] Restarting tasks ... done.\n\
                   [   90.000000] Freezing user space processes\n\
                   [   90.002000] Freezing user space processes completed (elapsed 0.002 seconds)\n\
                   [   90.100000] suspending xenstore...\n\
                   [   91.200000] xen:grant_table: Grant tables using version 1 layout\n\
                   [   92.500000] Restarting tasks ... done.\n";
        // The last suspend only.
        assert!((frozen_span(log).unwrap() - 2.5).abs() < 1e-9);
        assert_eq!(frozen_span("[ 1.0] Freezing user space processes\n"), None);
        assert_eq!(frozen_span("[ 1.0] Restarting tasks ... done.\n"), None);
    }

    #[test]
    fn clock_samples() {
        let (off, err) =
            clock_offset("9000000 500000000\n3000000 -250000000\n").unwrap();
        assert!((off + 0.25).abs() < 1e-9);
        assert!((err - 0.0015).abs() < 1e-9);
        assert_eq!(clock_offset(""), None);
    }

    #[test]
    fn the_guest_about_itself() {
        let i = Itself::parse("abc\n12.5\n42 1000.25\n");
        assert_eq!(i.boot_id, "abc");
        assert_eq!(i.count, 42);
    }
}
