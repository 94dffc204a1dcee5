//! Who else uses a block device, read from the kernel's own tables:
//! `/proc/self/mountinfo` (mounted file systems by `major:minor`),
//! `/proc/swaps` (active swap areas, by path), and sysfs
//! (`/sys/dev/block/MAJ:MIN/`: the device's partitions, each a
//! subdirectory with a `partition` file and a `dev` file, and its
//! `holders/`, the device-mapper, md, bcache or loop devices stacked on
//! it). The parsers are pure functions over the text so that they are
//! tested on captured and hand-made tables; the sysfs walk takes the
//! sysfs root as a parameter for the same reason.
//!
//! These checks name the user of a device in the refusal message. They
//! are not the last line of defence: mount tables of other mount
//! namespaces are invisible here, and a program may hold a device open
//! without any table saying so. The exclusive open in [`super`] covers
//! what the kernel itself claims; the refusal messages here just come
//! first and say more.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::sink::Zeroing;

/// A device number, as `major:minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DevId {
    /// The driver.
    pub major: u32,
    /// The device within the driver.
    pub minor: u32,
}

impl DevId {
    /// The device number of a `stat` result's `st_rdev`.
    pub fn from_rdev(rdev: u64) -> DevId {
        DevId {
            major: rustix::fs::major(rdev),
            minor: rustix::fs::minor(rdev),
        }
    }

    /// Parse `MAJ:MIN`, with surrounding white space (a sysfs `dev`
    /// file ends in a newline).
    pub fn parse(text: &str) -> Option<DevId> {
        let (major, minor) = text.trim().split_once(':')?;
        Some(DevId {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

impl fmt::Display for DevId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

/// One line of `/proc/self/mountinfo` that matters here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Field 3, `major:minor` of the mounted device.
    pub dev: DevId,
    /// Field 5, the mount point (octal escapes undone).
    pub mount_point: PathBuf,
}

/// The mounts of `mountinfo` text (`proc(5)`: ID, parent ID,
/// `major:minor`, root, mount point, ...). Lines that do not parse are
/// skipped: the kernel writes this file, and a line we cannot read
/// names no device we could match anyway.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let dev = DevId::parse(fields.nth(2)?)?;
            let mount_point = PathBuf::from(unescape(fields.nth(1)?));
            Some(MountEntry { dev, mount_point })
        })
        .collect()
}

/// The device paths of `/proc/swaps` text (a header line, then the
/// file name, type, size, used and priority of each area).
pub fn parse_swaps(text: &str) -> Vec<PathBuf> {
    text.lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .map(|name| PathBuf::from(unescape(name)))
        .collect()
}

/// Undo the kernel's octal escapes of space, tab, newline and
/// backslash (`\040`, `\011`, `\012`, `\134`) in a path field.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0usize;
    while let Some(&c) = b.get(i) {
        let octal = b
            .get(i.saturating_add(1)..i.saturating_add(4))
            .filter(|d| {
                c == b'\\' && d.iter().all(|x| (b'0'..=b'7').contains(x))
            })
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match octal {
            Some(v) => {
                out.push(v);
                i = i.saturating_add(4);
            }
            None => {
                out.push(c);
                i = i.saturating_add(1);
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A block device as sysfs shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Topology {
    /// The kernel's name of the device (`sda`, `loop3`).
    pub name: String,
    /// Its partitions: kernel name and number.
    pub partitions: Vec<(String, DevId)>,
    /// What is stacked on it or on one of its partitions, by kernel
    /// name (`dm-0`, `md127`).
    pub holders: Vec<String>,
    /// `queue/discard_max_bytes`.
    pub discard_max_bytes: u64,
    /// `queue/write_zeroes_max_bytes`.
    pub write_zeroes_max_bytes: u64,
}

impl Topology {
    /// Read `SYS/dev/block/MAJ:MIN/`. A partition has no `queue/` of
    /// its own; its disk's (`../queue`) applies.
    pub fn read(sys: &Path, dev: DevId) -> io::Result<Topology> {
        let dir = sys.join("dev/block").join(dev.to_string());
        let real = std::fs::canonicalize(&dir)?;
        let name = real
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut partitions = Vec::new();
        let mut holders = names(&dir.join("holders"))?;
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            if !path.join("partition").is_file() {
                continue;
            }
            let part = entry.file_name().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(path.join("dev"))?;
            let id = DevId::parse(&text).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: not MAJ:MIN: {text:?}", path.display()),
                )
            })?;
            holders.extend(names(&path.join("holders"))?);
            partitions.push((part, id));
        }
        partitions.sort();
        holders.sort();
        let queue = if dir.join("queue").is_dir() {
            dir.join("queue")
        } else {
            dir.join("../queue")
        };
        Ok(Topology {
            name,
            partitions,
            holders,
            discard_max_bytes: number(&queue.join("discard_max_bytes")),
            write_zeroes_max_bytes: number(
                &queue.join("write_zeroes_max_bytes"),
            ),
        })
    }

    /// The device and its partitions: every number a mount or swap of
    /// it would show.
    pub fn all_devs(&self, dev: DevId) -> Vec<(String, DevId)> {
        let mut all = vec![(self.name.clone(), dev)];
        all.extend(self.partitions.iter().cloned());
        all
    }

    /// How cheaply this device makes a range read as zeros; see
    /// [`zeroing`].
    pub fn zeroing(&self) -> Zeroing {
        zeroing(self.discard_max_bytes, self.write_zeroes_max_bytes)
    }
}

/// The zeroing capability from the queue limits. Discard alone proves
/// nothing about what a range reads afterwards (the kernel's
/// `BLKDISCARDZEROES` always answers 0); what does is a zero-out the
/// block layer issues as WRITE ZEROES. With write zeroes *and* discard,
/// a zero-out that may unmap is worth asking for (the device can
/// deallocate, and the block layer still promises zeros); with write
/// zeroes only, the device zeroes in place; with neither, the kernel
/// would only write zero pages itself.
pub fn zeroing(discard_max_bytes: u64, write_zeroes_max_bytes: u64) -> Zeroing {
    match (discard_max_bytes > 0, write_zeroes_max_bytes > 0) {
        (true, true) => Zeroing::Unmap,
        (false, true) => Zeroing::Offload,
        (_, false) => Zeroing::Write,
    }
}

/// The names in a sysfs directory; none when it does not exist.
fn names(dir: &Path) -> io::Result<Vec<String>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// A sysfs number; 0 when the file is missing or unreadable (an older
/// kernel without the limit: the capability is then not claimed).
fn number(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:2 - proc proc rw
96 22 7:3 / /tmp/lf\\040test rw,relatime shared:40 - ext4 /dev/loop3 rw
97 22 259:1 /srv /srv/bind rw,relatime shared:41 - ext3 /dev/loop4p1 rw
garbage line
98 22 x:y / /nowhere rw - tmpfs tmpfs rw
";

    #[test]
    fn mountinfo_devices_and_mount_points() {
        let m = parse_mountinfo(MOUNTINFO);
        assert_eq!(m.len(), 4);
        assert_eq!(
            m[2],
            MountEntry {
                dev: DevId { major: 7, minor: 3 },
                mount_point: "/tmp/lf test".into(),
            }
        );
        assert_eq!(
            m[3].dev,
            DevId {
                major: 259,
                minor: 1
            }
        );
        assert_eq!(m[3].mount_point, Path::new("/srv/bind"));
        assert!(parse_mountinfo("").is_empty());
        assert!(parse_mountinfo("1 2 3").is_empty());
    }

    #[test]
    fn swaps_paths() {
        let text = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
                    /dev/loop5                              partition\t16380\t\t0\t\t-2\n\
                    /var/swap\\040file file 1024 0 -3\n";
        assert_eq!(
            parse_swaps(text),
            vec![PathBuf::from("/dev/loop5"), "/var/swap file".into()]
        );
        assert!(parse_swaps("Filename Type Size Used Priority\n").is_empty());
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape(r"a\040b\011c\012d\134e"), "a b\tc\nd\\e");
        assert_eq!(unescape(r"trailing\04"), r"trailing\04");
        assert_eq!(unescape(r"not\08x"), r"not\08x");
        assert_eq!(unescape("\\"), "\\");
    }

    #[test]
    fn dev_ids() {
        assert_eq!(
            DevId::parse("8:16\n"),
            Some(DevId {
                major: 8,
                minor: 16
            })
        );
        assert_eq!(DevId::parse("8"), None);
        assert_eq!(DevId::parse("8:-1"), None);
        assert_eq!(DevId { major: 7, minor: 0 }.to_string(), "7:0");
        let rdev = rustix::fs::makedev(259, 3);
        assert_eq!(
            DevId::from_rdev(rdev),
            DevId {
                major: 259,
                minor: 3
            }
        );
    }

    #[test]
    fn zeroing_from_queue_limits() {
        assert_eq!(zeroing(4096, 1 << 30), Zeroing::Unmap);
        assert_eq!(zeroing(0, 1 << 30), Zeroing::Offload);
        assert_eq!(zeroing(4096, 0), Zeroing::Write);
        assert_eq!(zeroing(0, 0), Zeroing::Write);
    }

    /// A sysfs tree laid out as the kernel lays out a disk `sdx` (8:16)
    /// with two partitions, one of them under device-mapper.
    #[test]
    fn sysfs_partitions_holders_and_limits() {
        let t = tempfile::tempdir().unwrap();
        let sys = t.path();
        let disk = sys.join("devices/pci0/host0/block/sdx");
        let w = |p: PathBuf, s: &str| {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, s).unwrap();
        };
        w(disk.join("dev"), "8:16\n");
        w(disk.join("queue/discard_max_bytes"), "2147450880\n");
        w(disk.join("queue/write_zeroes_max_bytes"), "0\n");
        std::fs::create_dir_all(disk.join("holders")).unwrap();
        for (n, min) in [(1, 17), (2, 18)] {
            let p = disk.join(format!("sdx{n}"));
            w(p.join("dev"), &format!("8:{min}\n"));
            w(p.join("partition"), &format!("{n}\n"));
            std::fs::create_dir_all(p.join("holders")).unwrap();
        }
        std::fs::create_dir_all(disk.join("sdx2/holders/dm-3")).unwrap();
        std::fs::create_dir_all(disk.join("power")).unwrap();
        std::fs::create_dir_all(sys.join("dev/block")).unwrap();
        std::os::unix::fs::symlink(
            "../../devices/pci0/host0/block/sdx",
            sys.join("dev/block/8:16"),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            "../../devices/pci0/host0/block/sdx/sdx2",
            sys.join("dev/block/8:18"),
        )
        .unwrap();

        let dev = DevId {
            major: 8,
            minor: 16,
        };
        let top = Topology::read(sys, dev).unwrap();
        assert_eq!(top.name, "sdx");
        assert_eq!(
            top.partitions,
            vec![
                (
                    "sdx1".to_string(),
                    DevId {
                        major: 8,
                        minor: 17
                    }
                ),
                (
                    "sdx2".to_string(),
                    DevId {
                        major: 8,
                        minor: 18
                    }
                ),
            ]
        );
        assert_eq!(top.holders, vec!["dm-3".to_string()]);
        assert_eq!(top.zeroing(), Zeroing::Write);
        assert_eq!(top.all_devs(dev).len(), 3);

        // A partition: no partitions of its own, the disk's limits.
        let part = Topology::read(
            sys,
            DevId {
                major: 8,
                minor: 18,
            },
        )
        .unwrap();
        assert_eq!(part.name, "sdx2");
        assert!(part.partitions.is_empty());
        assert_eq!(part.holders, vec!["dm-3".to_string()]);
        assert_eq!(part.discard_max_bytes, 2147450880);

        let e = Topology::read(sys, DevId { major: 9, minor: 9 }).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
