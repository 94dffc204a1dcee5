//! The partition tables checked by util-linux and gdisk: `sfdisk
//! --json` shows the planned layout, a `sfdisk --dump` replayed by
//! sfdisk onto a blank disk gives the same MBR, `sgdisk -v` finds no
//! problem in our GPT, `blkid` reads the table and the swap area of the
//! seed's disk, and the images stay sparse.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use lunforge::disk::gpt::type_guid;
use lunforge::disk::layout::use_name;
use lunforge::disk::mbr::PartRecord;
use lunforge::disk::{plan, write_table, DiskLayout};
use lunforge::filesystems::swap::write_swap;
use lunforge::ids::partition_fs_uuid;

use crate::support::ext::{disk_recipe, sizes, At};
use crate::support::run;

const MIB: u64 = 1 << 20;

/// Partitions of a test disk: use, size (`None`: rest), label.
type Parts<'a> = [(&'a str, Option<u64>, Option<&'a str>)];

/// Run an oracle tool; it must succeed. Returns its stdout.
#[track_caller]
fn oracle(program: &str, package: &str, args: &[&str]) -> String {
    let out = run(Command::new(program).args(args), package);
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A sparse image of `layout`'s size with its table written; only the
/// table's sectors are allocated.
fn image_with_table(layout: &DiskLayout) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    let size = layout.disk_sectors.bytes().expect("disk size");
    f.as_file().set_len(size).expect("size");
    write_table(f.as_file_mut(), layout).expect("write table");
    f.as_file().sync_all().expect("sync");
    let (apparent, allocated) = sizes(f.path());
    assert_eq!(apparent, size);
    assert!(allocated <= 256 << 10, "{allocated} bytes allocated");
    f
}

/// The first sector of a file.
fn sector0(p: &Path) -> [u8; 512] {
    let mut s = [0u8; 512];
    File::open(p)
        .and_then(|mut f| f.read_exact(&mut s))
        .expect("read sector 0");
    s
}

/// The seed's disk: the table, and the swap area in partition 1, as
/// `blkid` sees them.
#[test]
fn disk_seed_disk_with_swap_is_read_by_blkid() {
    for table in ["msdos", "gpt"] {
        let parts: &Parts =
            &[("swap", Some(512 * MIB), None), ("root", None, None)];
        let layout = plan(&disk_recipe(8 << 30, table, parts)).expect("plan");
        let mut img = image_with_table(&layout);
        let swap = &layout.partitions[0];
        let mut part = At::new(img.as_file_mut(), swap.offset());
        write_swap(&mut part, swap.size(), swap.fs_uuid, Some("swap"))
            .expect("swap");
        let path = img.path().to_str().expect("utf-8");
        let out = oracle("blkid", "util-linux", &["-p", "-o", "export", path]);
        let (pttype, ptuuid) = match table {
            "msdos" => ("dos", format!("{:08x}", layout.mbr_signature)),
            _ => ("gpt", layout.disk_guid.to_string()),
        };
        assert!(out.contains(&format!("PTTYPE={pttype}\n")), "{out}");
        assert!(out.contains(&format!("PTUUID={ptuuid}\n")), "{out}");
        let offset = swap.offset().to_string();
        let size = swap.size().to_string();
        let out = oracle(
            "blkid",
            "util-linux",
            &["-p", "-o", "export", "-O", &offset, "-S", &size, path],
        );
        let uuid = partition_fs_uuid("virtual01", 0);
        assert_eq!(swap.fs_uuid, uuid);
        assert!(out.contains("TYPE=swap\n"), "{out}");
        assert!(out.contains(&format!("UUID={uuid}\n")), "{out}");
        assert!(out.contains("LABEL=swap\n"), "{out}");
        let (apparent, allocated) = sizes(img.path());
        assert_eq!(apparent, 8 << 30);
        assert!(allocated <= 512 << 10, "{allocated} bytes allocated");
    }
}

/// `sfdisk --json` shows the planned starts, sizes, types and the disk
/// signature, and a `sfdisk --dump` replayed by sfdisk onto a blank
/// image gives the same sector 0.
#[test]
fn disk_sfdisk_reads_the_msdos_table() {
    let cases: &[(u64, &Parts)] = &[
        (
            8 << 30,
            &[("swap", Some(512 * MIB), None), ("root", None, None)],
        ),
        (
            64 * MIB,
            &[
                ("esp", Some(8 * MIB), None),
                ("root", None, None),
                ("swap", Some(MIB), None),
                ("data", Some(2 * MIB), None),
            ],
        ),
    ];
    for (size, parts) in cases {
        let layout = plan(&disk_recipe(*size, "msdos", parts)).expect("plan");
        let img = image_with_table(&layout);
        let path = img.path().to_str().expect("utf-8");
        let json = oracle("sfdisk", "fdisk", &["--json", path]);
        let v: serde_json::Value = serde_json::from_str(&json).expect("json");
        let t = &v["partitiontable"];
        assert_eq!(t["label"], "dos", "{json}");
        assert_eq!(
            t["id"],
            format!("0x{:08x}", layout.mbr_signature),
            "{json}"
        );
        let got = t["partitions"].as_array().expect("partitions");
        assert_eq!(got.len(), layout.partitions.len(), "{json}");
        for (g, p) in got.iter().zip(&layout.partitions) {
            assert_eq!(g["start"], p.first.0, "{json}");
            assert_eq!(g["size"], p.sectors.0, "{json}");
            let r = PartRecord::for_partition(p);
            assert_eq!(g["type"], format!("{:x}", r.type_), "{json}");
        }
        // Round trip through sfdisk's own writer.
        let dump = oracle("sfdisk", "fdisk", &["--dump", path]);
        let blank = tempfile::NamedTempFile::new().expect("temp file");
        blank.as_file().set_len(*size).expect("size");
        let dump_file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(dump_file.path(), &dump).expect("write dump");
        let mut cmd = Command::new("sfdisk");
        cmd.args(["--no-reread", "--no-tell-kernel", "-q"])
            .arg(blank.path())
            .stdin(Stdio::from(File::open(dump_file.path()).expect("dump")));
        run(&mut cmd, "fdisk");
        assert_eq!(sector0(img.path()), sector0(blank.path()), "{dump}");
    }
}

/// `sfdisk --json` sees the planned GPT with its GUIDs and names, and
/// `sgdisk -v` finds no problem in it.
#[test]
fn disk_sfdisk_and_sgdisk_accept_the_gpt() {
    let cases: &[(u64, &Parts)] = &[
        (
            8 << 30,
            &[
                ("swap", Some(512 * MIB), Some("first one")),
                ("root", None, None),
            ],
        ),
        (
            64 * MIB,
            &[
                ("esp", Some(8 * MIB), Some("first one")),
                ("root", None, None),
                ("swap", Some(MIB), None),
                ("data", Some(2 * MIB), None),
                ("data", Some(MIB), None),
            ],
        ),
    ];
    for (size, parts) in cases {
        let layout = plan(&disk_recipe(*size, "gpt", parts)).expect("plan");
        let img = image_with_table(&layout);
        let path = img.path().to_str().expect("utf-8");
        let json = oracle("sfdisk", "fdisk", &["--json", path]);
        let v: serde_json::Value = serde_json::from_str(&json).expect("json");
        let t = &v["partitiontable"];
        assert_eq!(t["label"], "gpt", "{json}");
        assert_eq!(
            t["id"],
            layout.disk_guid.to_string().to_uppercase(),
            "{json}"
        );
        assert_eq!(t["firstlba"], 34, "{json}");
        assert_eq!(t["lastlba"], size / 512 - 34, "{json}");
        let got = t["partitions"].as_array().expect("partitions");
        assert_eq!(got.len(), layout.partitions.len(), "{json}");
        for (g, p) in got.iter().zip(&layout.partitions) {
            assert_eq!(g["start"], p.first.0, "{json}");
            assert_eq!(g["size"], p.sectors.0, "{json}");
            let ty = type_guid(p.usage, "amd64").to_string().to_uppercase();
            assert_eq!(g["type"], ty, "{json}");
            assert_eq!(
                g["uuid"],
                p.unique_guid.to_string().to_uppercase(),
                "{json}"
            );
            let name = p.label.as_deref().unwrap_or(use_name(p.usage));
            assert_eq!(g["name"], name, "{json}");
        }
        let report = oracle("sgdisk", "gdisk", &["-v", path]);
        assert!(report.contains("No problems found"), "{report}");
    }
}
