//! The swap header checked by util-linux: `blkid` and `swaplabel` read
//! its UUID and label, and its first page equals the one `mkswap`
//! writes with the same UUID and label; the rest of the area stays a
//! hole.

use lunforge::filesystems::swap::{write_swap, PAGE_SIZE, SWAPSPACE2};
use lunforge::ids::{partition_fs_uuid, Uuid};

use crate::support::ext::{sizes, tool};

/// Run an oracle tool; it must succeed. Returns its output.
#[track_caller]
fn oracle(program: &str, package: &str, args: &[&str]) -> String {
    let (code, text) = tool(program, package, args);
    assert_eq!(code, 0, "{program} {args:?}: {text}");
    text
}

/// A sparse file of `size` bytes with our swap header.
fn swap_file(
    size: u64,
    uuid: Uuid,
    label: Option<&str>,
) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.as_file().set_len(size).expect("size");
    write_swap(f.as_file_mut(), size, uuid, label).expect("write swap");
    f.as_file().sync_all().expect("sync");
    f
}

#[test]
fn swap_blkid_and_swaplabel_read_it() {
    let uuid = partition_fs_uuid("virtual01", 0);
    for label in [Some("swap"), Some("0123456789abcde"), None] {
        let f = swap_file(64 << 20, uuid, label);
        let p = f.path().to_str().expect("utf-8");
        let out = oracle("blkid", "util-linux", &["-p", "-o", "export", p]);
        assert!(out.contains("\nTYPE=swap\n"), "{out}");
        assert!(out.contains(&format!("\nUUID={uuid}\n")), "{out}");
        assert!(out.contains("\nVERSION=1\n"), "{out}");
        match label {
            Some(l) => {
                assert!(out.contains(&format!("\nLABEL={l}\n")), "{out}")
            }
            None => assert!(!out.contains("LABEL="), "{out}"),
        }
        let out = oracle("swaplabel", "util-linux", &[p]);
        assert!(out.contains(&format!("UUID:  {uuid}")), "{out}");
        if let Some(l) = label {
            assert!(out.contains(&format!("LABEL: {l}")), "{out}");
        }
        // One page written of 64 MiB: the rest is a hole.
        let (apparent, allocated) = sizes(f.path());
        assert_eq!(apparent, 64 << 20);
        assert!(allocated <= 64 << 10, "{allocated} bytes allocated");
    }
}

#[test]
fn swap_first_page_equals_mkswaps() {
    let uuid = partition_fs_uuid("virtual01", 0);
    for (size, label) in [
        (40960u64, None),
        (512 << 20, Some("swap")),
        (45056, Some("0123456789abcde")),
    ] {
        let ours = swap_file(size, uuid, label);
        let theirs = tempfile::NamedTempFile::new().expect("temp file");
        theirs.as_file().set_len(size).expect("size");
        let uuid_s = uuid.to_string();
        let mut args: Vec<&str> = vec!["-U", &uuid_s, "-p", "4096"];
        if let Some(l) = label {
            args.extend(["-L", l]);
        }
        args.push(theirs.path().to_str().expect("utf-8"));
        oracle("mkswap", "util-linux", &args);
        let a = std::fs::read(ours.path()).expect("read");
        let b = std::fs::read(theirs.path()).expect("read");
        assert_eq!(a.len(), b.len());
        assert_eq!(a[..PAGE_SIZE], b[..PAGE_SIZE], "size {size}");
        assert_eq!(&b[PAGE_SIZE - 10..PAGE_SIZE], SWAPSPACE2);
        assert!(a[PAGE_SIZE..].iter().all(|&x| x == 0));
    }
}
