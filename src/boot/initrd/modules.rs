//! Kernel modules: `modules.dep` and `modules.builtin`, the closure of a
//! list of wanted modules and the order to load it in.
//!
//! Spec: modules.dep(5) and depmod(8). Each `modules.dep` line is
//! `PATH: DEP_PATH…`, paths relative to `/lib/modules/VERSION`, and
//! lists every module `PATH` needs, transitively. `modules.builtin`
//! lists, one path a line, the modules built into the kernel image: they
//! need no file and no loading. A module's name is its file name without
//! `.ko` and the compression suffix, with `-` and `_` equivalent (the
//! kernel and modprobe treat them so), so `xen-blkfront` and
//! `xen_blkfront` are one module.
//!
//! The load order is modprobe's: every dependency before the module that
//! needs it. It is computed here rather than taken from the order of a
//! line's list, so that it holds whether the graph comes from
//! `modules.dep` (transitive lists) or from the modules' own `depends=`
//! ([`super::modinfo`], direct lists only).

#![deny(clippy::arithmetic_side_effects, clippy::as_conversions)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

/// Errors about modules; each names the module or line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A wanted module that is neither a file nor built in.
    #[error(
        "kernel module {name} is neither in modules.dep nor built into \
         kernel {version}"
    )]
    Unknown {
        /// The module as asked for.
        name: String,
        /// The kernel version.
        version: String,
    },
    /// A line of `modules.dep` without `:`.
    #[error("modules.dep line {line}: no \":\" in {text:?}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
    },
    /// A dependency that has no line of its own.
    #[error("module {module} depends on {dependency}, which is not listed")]
    MissingDependency {
        /// The module.
        module: String,
        /// The dependency's path or name.
        dependency: String,
    },
    /// A compressed module that does not decompress.
    #[error("module {path}: cannot decompress: {source}")]
    Decompress {
        /// The module's path.
        path: String,
        /// The decoder's error.
        source: std::io::Error,
    },
}

/// Result of module handling.
pub type Result<T> = std::result::Result<T, Error>;

/// A module name with `-` written `_`, as the kernel compares them.
pub fn normalise(name: &str) -> String {
    name.replace('-', "_")
}

/// How a module file is compressed, by its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleCompression {
    /// `.ko`.
    None,
    /// `.ko.xz`.
    Xz,
    /// `.ko.zst`.
    Zstd,
    /// `.ko.gz`.
    Gzip,
}

impl ModuleCompression {
    /// The compression of the module file at `path`, or `None` when it
    /// is not a module file.
    pub fn of(path: &str) -> Option<ModuleCompression> {
        Some(if path.ends_with(".ko") {
            ModuleCompression::None
        } else if path.ends_with(".ko.xz") {
            ModuleCompression::Xz
        } else if path.ends_with(".ko.zst") {
            ModuleCompression::Zstd
        } else if path.ends_with(".ko.gz") {
            ModuleCompression::Gzip
        } else {
            return None;
        })
    }

    /// The suffix after `.ko`.
    pub fn suffix(self) -> &'static str {
        match self {
            ModuleCompression::None => "",
            ModuleCompression::Xz => ".xz",
            ModuleCompression::Zstd => ".zst",
            ModuleCompression::Gzip => ".gz",
        }
    }
}

/// The largest decompressed module accepted (the largest Debian amd64
/// module, amdgpu, is about 20 MiB uncompressed with its debug info
/// stripped).
pub const MAX_MODULE_SIZE: u64 = 256 << 20;

/// The module at `path` (relative, with its suffix) decompressed, and
/// the path it gets uncompressed (`….ko`).
pub fn decompress(path: &str, bytes: &[u8]) -> Result<(String, Vec<u8>)> {
    let Some(c) = ModuleCompression::of(path) else {
        return Ok((path.to_string(), bytes.to_vec()));
    };
    let plain = path.strip_suffix(c.suffix()).unwrap_or(path).to_string();
    let err = |source| Error::Decompress {
        path: path.to_string(),
        source,
    };
    let reader: Box<dyn Read + '_> = match c {
        ModuleCompression::None => return Ok((plain, bytes.to_vec())),
        ModuleCompression::Xz => Box::new(liblzma::read::XzDecoder::new(bytes)),
        ModuleCompression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(bytes).map_err(err)?)
        }
        ModuleCompression::Gzip => {
            Box::new(flate2::read::GzDecoder::new(bytes))
        }
    };
    let mut out = Vec::new();
    let n = reader
        .take(MAX_MODULE_SIZE.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(err)?;
    if u64::try_from(n).map_or(true, |n| n > MAX_MODULE_SIZE) {
        return Err(err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("more than {MAX_MODULE_SIZE} bytes"),
        )));
    }
    Ok((plain, out))
}

/// The normalised module name of a module path
/// (`kernel/drivers/block/xen-blkfront.ko.xz` is `xen_blkfront`).
pub fn module_name(path: &str) -> Option<String> {
    let file = path.rsplit('/').next()?;
    let c = ModuleCompression::of(file)?;
    let stem = file.strip_suffix(c.suffix())?.strip_suffix(".ko")?;
    (!stem.is_empty()).then(|| normalise(stem))
}

/// One module: its path and the paths of what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepEntry {
    /// Path relative to the version directory.
    pub path: String,
    /// Paths of the modules it needs (all of them, or only the direct
    /// ones: the order comes out the same).
    pub deps: Vec<String>,
}

/// The dependency graph of a kernel's modules, by normalised name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModulesDep {
    by_name: BTreeMap<String, DepEntry>,
    by_path: BTreeMap<String, String>,
}

impl ModulesDep {
    /// Parse the text of `modules.dep`. Empty lines are skipped.
    pub fn parse(text: &str) -> Result<ModulesDep> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let Some((path, deps)) = line.split_once(':') else {
                return Err(Error::Syntax {
                    line: i.saturating_add(1),
                    text: line.into(),
                });
            };
            entries.push(DepEntry {
                path: path.trim().into(),
                deps: deps.split_whitespace().map(str::to_string).collect(),
            });
        }
        Ok(ModulesDep::from_entries(entries))
    }

    /// A graph from entries made otherwise (from the modules' own
    /// `depends=`). A later entry for the same name replaces an earlier
    /// one.
    pub fn from_entries(entries: Vec<DepEntry>) -> ModulesDep {
        let mut g = ModulesDep::default();
        for e in entries {
            let Some(name) = module_name(&e.path) else {
                continue;
            };
            g.by_path.insert(e.path.clone(), name.clone());
            g.by_name.insert(name, e);
        }
        g
    }

    /// The entry of the module called `name` (either spelling).
    pub fn get(&self, name: &str) -> Option<&DepEntry> {
        self.by_name.get(&normalise(name))
    }

    /// Number of modules.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// `true` when no module is listed.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// The normalised names of the modules built into the kernel, from the
/// text of `modules.builtin`.
pub fn parse_builtin(text: &str) -> BTreeSet<String> {
    text.lines().filter_map(module_name).collect()
}

/// The paths of every module `wanted` needs, each once, in the order to
/// load them: for each wanted module in the order given (as `modprobe a
/// b c` would), what it needs and is not loaded yet, every module after
/// all it needs. Among modules that could load next, the smallest path
/// goes first, so the order depends only on the graph's reachability:
/// transitive lists (`modules.dep`) and direct ones (`depends=`) give
/// the same order. A built-in module needs nothing; a module neither
/// listed nor built in is [`Error::Unknown`].
pub fn load_order(
    dep: &ModulesDep,
    builtin: &BTreeSet<String>,
    wanted: &[String],
    version: &str,
) -> Result<Vec<String>> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    for w in wanted {
        let name = normalise(w);
        let Some(e) = dep.by_name.get(&name) else {
            if builtin.contains(&name) {
                continue;
            }
            return Err(Error::Unknown {
                name: w.clone(),
                version: version.into(),
            });
        };
        // Everything `e` needs, by path, with what each needs.
        let mut todo: BTreeMap<&str, &DepEntry> = BTreeMap::new();
        let mut stack = vec![e];
        while let Some(e) = stack.pop() {
            if done.contains(e.path.as_str())
                || todo.insert(&e.path, e).is_some()
            {
                continue;
            }
            for d in &e.deps {
                stack.push(dep.entry_of_path(&e.path, d)?);
            }
        }
        while !todo.is_empty() {
            let ready = todo
                .iter()
                .find(|(_, e)| {
                    e.deps.iter().all(|d| !todo.contains_key(d.as_str()))
                })
                .map(|(p, _)| *p);
            // A cycle (depmod refuses those): break it at the smallest
            // path.
            let next = ready.or_else(|| todo.keys().next().copied());
            let Some(next) = next else { break };
            todo.remove(next);
            done.insert(next);
            out.push(next.to_string());
        }
    }
    Ok(out)
}

impl ModulesDep {
    /// The entry of dependency `d` of the module at `path`.
    fn entry_of_path(&self, path: &str, d: &str) -> Result<&DepEntry> {
        self.by_path
            .get(d)
            .and_then(|n| self.by_name.get(n))
            .ok_or_else(|| Error::MissingDependency {
                module: path.to_string(),
                dependency: d.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from Debian bookworm's linux-image-6.1.0-56-amd64 (see
    /// fixtures/README.md).
    const DEP: &str = include_str!(
        "../../../fixtures/captured/modules-6.1.0-56-amd64/modules.dep"
    );
    const BUILTIN: &str = include_str!(
        "../../../fixtures/captured/modules-6.1.0-56-amd64/modules.builtin"
    );

    fn order(wanted: &[&str]) -> Result<Vec<String>> {
        let dep = ModulesDep::parse(DEP)?;
        let wanted: Vec<String> =
            wanted.iter().map(|s| s.to_string()).collect();
        load_order(&dep, &parse_builtin(BUILTIN), &wanted, "6.1.0-56-amd64")
    }

    fn pos(v: &[String], name: &str) -> usize {
        v.iter()
            .position(|p| module_name(p).as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{name} not in {v:?}"))
    }

    #[test]
    fn names() {
        assert_eq!(
            module_name("kernel/drivers/block/xen-blkfront.ko.xz").as_deref(),
            Some("xen_blkfront")
        );
        assert_eq!(
            module_name("kernel/fs/ext4/ext4.ko").as_deref(),
            Some("ext4")
        );
        assert_eq!(module_name("kernel/fs/ext4/ext4.o"), None);
        assert_eq!(module_name("kernel/.ko"), None);
    }

    #[test]
    fn closure_puts_dependencies_first() {
        let o =
            order(&["virtio_pci", "xen-blkfront", "ext4", "sd_mod"]).unwrap();
        // Every module of the closure once.
        let set: BTreeSet<&String> = o.iter().collect();
        assert_eq!(set.len(), o.len());
        for (m, deps) in [
            (
                "virtio_pci",
                &["virtio", "virtio_ring", "virtio_pci_modern_dev"][..],
            ),
            ("ext4", &["jbd2", "mbcache", "crc16"][..]),
            ("sd_mod", &["scsi_mod", "scsi_common", "t10_pi"][..]),
        ] {
            for d in deps {
                assert!(pos(&o, d) < pos(&o, m), "{d} after {m} in {o:?}");
            }
        }
        assert!(o.contains(&"kernel/drivers/block/xen-blkfront.ko".to_string()));
        // Wanted modules keep their order.
        assert!(pos(&o, "virtio_pci") < pos(&o, "xen_blkfront"));
        assert!(pos(&o, "xen_blkfront") < pos(&o, "ext4"));
    }

    #[test]
    fn both_spellings_and_builtins() {
        assert_eq!(
            order(&["xen_blkfront"]).unwrap(),
            order(&["xen-blkfront"]).unwrap()
        );
        // unix is built into Debian's kernel: nothing to load.
        assert!(order(&["unix"]).unwrap().is_empty());
    }

    #[test]
    fn unknown_module_is_named() {
        let e = order(&["ext4", "no-such-mod"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "kernel module no-such-mod is neither in modules.dep nor built \
             into kernel 6.1.0-56-amd64"
        );
    }

    #[test]
    fn mutated_modules_dep() {
        // A dependency whose own line is gone.
        let cut: String = DEP
            .lines()
            .filter(|l| !l.starts_with("kernel/fs/jbd2/jbd2.ko:"))
            .map(|l| format!("{l}\n"))
            .collect();
        let dep = ModulesDep::parse(&cut).unwrap();
        let e = load_order(&dep, &BTreeSet::new(), &["ext4".into()], "v")
            .unwrap_err();
        assert!(matches!(
            e,
            Error::MissingDependency { ref dependency, .. }
                if dependency == "kernel/fs/jbd2/jbd2.ko"
        ));
        let e = ModulesDep::parse("kernel/a.ko: \nkernel/b.ko kernel/a.ko\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "modules.dep line 2: no \":\" in \"kernel/b.ko kernel/a.ko\""
        );
    }

    #[test]
    fn direct_dependencies_give_a_valid_order_too() {
        let e = |p: &str, d: &[&str]| DepEntry {
            path: p.into(),
            deps: d.iter().map(|s| s.to_string()).collect(),
        };
        let g = ModulesDep::from_entries(vec![
            e("k/c.ko", &["k/b.ko"]),
            e("k/b.ko", &["k/a.ko"]),
            e("k/a.ko", &[]),
            e("k/x.ko", &["k/y.ko"]),
            e("k/y.ko", &["k/x.ko"]),
        ]);
        let o = load_order(&g, &BTreeSet::new(), &["c".into()], "v").unwrap();
        assert_eq!(o, ["k/a.ko", "k/b.ko", "k/c.ko"]);
        // A cycle is broken at the smallest path; each module once.
        let o = load_order(&g, &BTreeSet::new(), &["x".into()], "v").unwrap();
        assert_eq!(o, ["k/x.ko", "k/y.ko"]);
    }

    #[test]
    fn decompresses_each_format() {
        use std::io::Write;
        let plain = b"\x7fELF module bytes".repeat(50);
        let xz = {
            let mut w = liblzma::write::XzEncoder::new(Vec::new(), 6);
            w.write_all(&plain).unwrap();
            w.finish().unwrap()
        };
        let zst = zstd::encode_all(&plain[..], 3).unwrap();
        let gz = {
            let mut w = flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::default(),
            );
            w.write_all(&plain).unwrap();
            w.finish().unwrap()
        };
        for (p, b) in [("a.ko.xz", &xz), ("a.ko.zst", &zst), ("a.ko.gz", &gz)] {
            let (path, out) = decompress(p, b).unwrap();
            assert_eq!((path.as_str(), &out), ("a.ko", &plain));
        }
        let (path, out) = decompress("a.ko", &plain).unwrap();
        assert_eq!((path.as_str(), &out), ("a.ko", &plain));
        let e = decompress("kernel/a.ko.xz", &xz[..xz.len() / 2]).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("module kernel/a.ko.xz: cannot decompress"));
    }
}
