//! `lunforge inspect` on tables it did not write and that lie: real
//! msdos and GPT tables made by `sfdisk` on sparse files, then truncated
//! or edited (a GPT entry rewritten and both CRCs of both copies
//! recomputed, so that only the numbers are wrong). Every run must end
//! with a report or a one-line error, exit code 0 or 1, never a panic.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{lunforge, run, Run};

const MIB: u64 = 1 << 20;

/// A sparse file of `size` bytes partitioned by `sfdisk` from `script`.
fn partitioned(size: u64, script: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().expect("temp file");
    f.as_file().set_len(size).expect("size");
    let mut s = tempfile::tempfile().expect("script file");
    s.write_all(script.as_bytes()).expect("script");
    s.seek(SeekFrom::Start(0)).expect("rewind");
    run(
        Command::new("sfdisk")
            .args(["--no-reread", "--no-tell-kernel", "-q"])
            .arg(f.path())
            .stdin(Stdio::from(s)),
        "fdisk",
    );
    f
}

/// `sfdisk --json` of `p`, parsed.
fn sfdisk_json(p: &Path) -> serde_json::Value {
    let out = run(Command::new("sfdisk").arg("--json").arg(p), "fdisk");
    serde_json::from_slice(&out.stdout).expect("sfdisk JSON")
}

/// `lunforge inspect`, which must not panic: exit code 0, or 1 with a
/// single error line.
#[track_caller]
fn inspect(p: &Path) -> Run {
    let r = lunforge([Path::new("inspect"), p]);
    assert!(
        r.code == 0 || r.code == 1,
        "lunforge inspect exited {}:\n{}{}",
        r.code,
        r.stdout,
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    if r.code == 1 {
        assert!(r.stderr.starts_with("lunforge: error: "), "{}", r.stderr);
        assert_eq!(r.stderr.trim_end().lines().count(), 1, "{}", r.stderr);
    }
    r
}

/// The line of partition `n` in a report.
#[track_caller]
fn part_line(report: &str, n: usize) -> &str {
    let prefix = format!("{n:>3}  ");
    report
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line for partition {n}:\n{report}"))
}

/// An msdos table that `sfdisk` accepted, on an image cut short: each
/// partition the image does not hold whole is named in its own line,
/// the others are still probed.
#[test]
fn inspect_msdos_partition_past_a_truncated_end() {
    let img = partitioned(
        64 * MIB,
        "label: dos\nstart=2048, size=16384, type=82\nstart=18432, type=83\n",
    );
    let json = sfdisk_json(img.path());
    let parts = json["partitiontable"]["partitions"].as_array().unwrap();
    let end = |i: usize| {
        let p = &parts[i];
        (p["start"].as_u64().unwrap() + p["size"].as_u64().unwrap()) * 512
    };
    assert_eq!(parts.len(), 2);
    let whole = inspect(img.path());
    assert_eq!(whole.code, 0, "{}", whole.stderr);
    assert!(!whole.stdout.contains("beyond the end"), "{}", whole.stdout);
    // Cut inside partition 2, then inside partition 1.
    for (cut, beyond) in [(end(1) / 2, vec![2]), (end(0) / 2, vec![1, 2])] {
        img.as_file().set_len(cut).expect("truncate");
        let r = inspect(img.path());
        assert_eq!(r.code, 0, "cut at {cut}: {}", r.stderr);
        for n in 1..=2 {
            let line = part_line(&r.stdout, n);
            assert_eq!(
                line.ends_with("image"),
                beyond.contains(&n),
                "cut at {cut}:\n{}",
                r.stdout
            );
            if beyond.contains(&n) {
                assert!(line.contains("beyond the end of the"), "{line}");
            }
        }
    }
}

/// A GPT cut short loses its backup header: the error says where the
/// header put it and where the image ends.
#[test]
fn inspect_gpt_truncated_is_an_error() {
    let img = partitioned(
        64 * MIB,
        "label: gpt\nstart=2048, size=16384\nstart=18432\n",
    );
    assert_eq!(inspect(img.path()).code, 0);
    img.as_file().set_len(32 * MIB).expect("truncate");
    let r = inspect(img.path());
    assert_eq!(r.code, 1, "{}", r.stdout);
    let want = format!(
        "the GPT header puts its backup at LBA {}, the disk's last sector \
         is LBA {}",
        64 * MIB / 512 - 1,
        32 * MIB / 512 - 1
    );
    assert!(r.stderr.contains(&want), "{}", r.stderr);
}

/// The GPT of `p`, with `edit` applied to both entry arrays (the
/// primary's is given) or both headers' sectors, and every CRC
/// recomputed.
fn reseal(
    p: &Path,
    edit_entries: impl Fn(&mut [u8]),
    edit_header: impl Fn(&mut [u8]),
) {
    let mut f = OpenOptions::new().read(true).write(true).open(p).unwrap();
    let read = |f: &mut File, lba: u64, len: usize| {
        let mut b = vec![0u8; len];
        f.seek(SeekFrom::Start(lba * 512)).unwrap();
        f.read_exact(&mut b).unwrap();
        b
    };
    let u64_at = |b: &[u8], o: usize| {
        u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
    };
    let primary = read(&mut f, 1, 512);
    let backup_lba = u64_at(&primary, 0x20);
    let backup = read(&mut f, backup_lba, 512);
    let mut entries = read(&mut f, u64_at(&primary, 0x48), 128 * 128);
    edit_entries(&mut entries);
    let crc = crc32fast::hash(&entries);
    for (lba, mut h) in [(1, primary), (backup_lba, backup)] {
        let array = u64_at(&h, 0x48);
        f.seek(SeekFrom::Start(array * 512)).unwrap();
        f.write_all(&entries).unwrap();
        edit_header(&mut h);
        h[0x58..0x5C].copy_from_slice(&crc.to_le_bytes());
        h[0x10..0x14].fill(0);
        let hcrc = crc32fast::hash(&h[..92]);
        h[0x10..0x14].copy_from_slice(&hcrc.to_le_bytes());
        f.seek(SeekFrom::Start(lba * 512)).unwrap();
        f.write_all(&h).unwrap();
    }
    f.sync_all().unwrap();
}

/// Set the little-endian u64 at `o` of `b`.
fn put(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

/// GPT entries and usable LBAs that `sfdisk` would never write, behind
/// valid CRCs: each is an error naming the entry (or header) and its
/// LBAs. Unedited but resealed, the table still reads.
#[test]
fn inspect_gpt_entries_off_the_disk_are_errors() {
    let size = 64 * MIB;
    let script = "label: gpt\nstart=2048, size=16384\nstart=18432\n";
    let probe = partitioned(size, script);
    let json = sfdisk_json(probe.path());
    let table = &json["partitiontable"];
    let first_usable = table["firstlba"].as_u64().unwrap();
    let last_usable = table["lastlba"].as_u64().unwrap();
    let second = table["partitions"][1]["start"].as_u64().unwrap();
    // Entry 2 at 128 bytes into the array; its StartingLBA and EndingLBA.
    let (start, end) = (128 + 0x20, 128 + 0x28);
    type Edit = Box<dyn Fn(&mut [u8])>;
    let none = || -> Edit { Box::new(|_: &mut [u8]| {}) };
    let cases: Vec<(Edit, Edit, String)> = vec![
        (
            Box::new(move |e: &mut [u8]| put(e, end, u64::MAX)),
            none(),
            format!(
                "GPT entry 2: LBAs {second} to {} are outside the usable \
                 LBAs {first_usable} to {last_usable}",
                u64::MAX
            ),
        ),
        (
            Box::new(move |e: &mut [u8]| {
                put(e, start, 1 << 55);
                put(e, end, (1 << 55) + 2047);
            }),
            none(),
            format!(
                "GPT entry 2: LBAs {} to {} are outside",
                1u64 << 55,
                (1u64 << 55) + 2047
            ),
        ),
        (
            Box::new(move |e: &mut [u8]| put(e, end, last_usable + 1)),
            none(),
            format!(
                "GPT entry 2: LBAs {second} to {} are outside",
                last_usable + 1
            ),
        ),
        (
            Box::new(move |e: &mut [u8]| put(e, start - 128, first_usable - 1)),
            none(),
            format!("GPT entry 1: LBAs {} to ", first_usable - 1),
        ),
        (
            Box::new(move |e: &mut [u8]| put(e, end, second - 1)),
            none(),
            format!(
                "GPT entry 2: ends at LBA {}, before its start at LBA \
                 {second}",
                second - 1
            ),
        ),
        (
            none(),
            Box::new(move |h: &mut [u8]| put(h, 0x30, size / 512 + 100)),
            format!(
                "LBA 1: GPT usable LBAs {first_usable} to {} do not lie \
                 between the two tables of this {}-sector disk",
                size / 512 + 100,
                size / 512
            ),
        ),
    ];
    let img = partitioned(size, script);
    reseal(img.path(), |_| {}, |_| {});
    let r = inspect(img.path());
    assert_eq!(r.code, 0, "resealed unedited: {}", r.stderr);
    part_line(&r.stdout, 2);
    for (entries, header, want) in cases {
        let img = partitioned(size, script);
        reseal(img.path(), entries, header);
        let r = inspect(img.path());
        assert_eq!(r.code, 1, "{want}:\n{}", r.stdout);
        assert!(r.stderr.contains(&want), "want {want:?}:\n{}", r.stderr);
    }
}
