//! The initrd: a compressed cpio archive the kernel unpacks into its
//! initial root, holding busybox, the kernel modules that reach the root
//! file system, and an `/init` that mounts it.
//!
//! [`build`] takes the modules from a [`Tree`] (the guest's, or a host
//! directory read with [`crate::tree::host::read_dir`]), so the same code
//! makes the guest's initrd and one for any other kernel. It works in two
//! steps, as every writer here does: [`plan`] decides every entry (pure
//! but for reading the tree), then [`write`] encodes the plan
//! ([`cpio`]) and compresses it (gzip by default, zstd optionally).
//!
//! The archive holds:
//!
//! - `/init` ([`init`]) and `/bin/busybox` with a symlink per applet it
//!   uses ([`init::APPLETS`]);
//! - `/lib/modules/VERSION/…`: the closure of the wanted modules
//!   ([`modules`]) at their paths under the version directory,
//!   decompressed (see below);
//! - `/dev/console` and `/dev/null` as device entries (cpio records them
//!   without privileges; the kernel creates them), and the empty mount
//!   points `/proc`, `/sys` and `/root`.
//!
//! Nothing comes from the host running the build: owners are root, every
//! time is the caller's `mtime`, inode numbers count up in path order.
//!
//! # Compressed modules
//!
//! Modules are stored uncompressed. `/init` loads them with busybox
//! `insmod`, which hands the kernel the file with `finit_module(fd, "",
//! 0)`: without the `MODULE_INIT_COMPRESSED_FILE` flag, so a kernel's
//! `CONFIG_MODULE_DECOMPRESS` does not apply to this loader, and a
//! compressed module would load only if this busybox build happens to
//! decompress that format itself. Decompressing here costs nothing in
//! the end: the archive is compressed as a whole.
//!
//! # Where the dependency graph comes from
//!
//! `modules.dep` when the tree has it (a kernel package configured by
//! dpkg: its postinst runs `depmod`). A tree configured on first boot has
//! none yet, so the graph is then read from the `depends=` of each
//! module's `.modinfo` ([`modinfo`]), starting from the wanted modules.

pub mod cpio;
pub mod init;
pub mod modinfo;
pub mod modules;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use crate::arch::Arch;
use crate::tree::{GuestPath, Kind, Spool, Tree};

/// Errors of initrd generation; each names the path, module or version.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A module problem.
    #[error(transparent)]
    Modules(#[from] modules::Error),
    /// The archive could not be written.
    #[error(transparent)]
    Cpio(#[from] cpio::Error),
    /// A path is invalid.
    #[error(transparent)]
    Path(#[from] crate::tree::path::Error),
    /// A tree lookup failed.
    #[error(transparent)]
    Tree(#[from] crate::tree::Error),
    /// Reading a file's contents from the tree failed.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: GuestPath,
        /// The error.
        source: std::io::Error,
    },
    /// The modules directory holds no kernel.
    #[error("{dir} holds no kernel's modules")]
    NoKernel {
        /// The modules directory.
        dir: GuestPath,
    },
    /// Several kernels and none named.
    #[error("{dir} holds modules of several kernels ({found}); name one")]
    SeveralKernels {
        /// The modules directory.
        dir: GuestPath,
        /// The versions, comma-separated.
        found: String,
    },
    /// The named kernel is not there.
    #[error("{dir} has no modules of kernel {version} (found: {found})")]
    NoSuchKernel {
        /// The modules directory.
        dir: GuestPath,
        /// The version asked for.
        version: String,
        /// The versions there, comma-separated.
        found: String,
    },
    /// A module of the closure is not a regular file in the tree.
    #[error("{path} is not a regular file")]
    NotAFile {
        /// The path.
        path: GuestPath,
    },
    /// A module's `.modinfo` cannot be read.
    #[error("{path}: {source}")]
    Modinfo {
        /// The module file.
        path: GuestPath,
        /// Why.
        source: modinfo::Error,
    },
    /// A word that cannot go into `/init` unquoted.
    #[error(
        "{0:?} cannot be written into /init (allowed: letters, digits and \
         . _ - + /)"
    )]
    UnsafeWord(String),
    /// `mtime` outside the 32-bit unsigned range of cpio.
    #[error("mtime {0} does not fit cpio's 32-bit unsigned time field")]
    Mtime(i64),
    /// Compressing the archive failed.
    #[error("compressing the initrd: {0}")]
    Compress(std::io::Error),
    /// The busybox package cannot be read.
    #[error(transparent)]
    Unpack(#[from] crate::unpack::Error),
    /// The busybox package has no busybox.
    #[error("{package} ships no /bin/busybox or /usr/bin/busybox")]
    NoBusybox {
        /// The package.
        package: String,
    },
    /// The busybox file is not an ELF executable.
    #[error("{package}: {path} is not an ELF executable")]
    BusyboxNotElf {
        /// The package.
        package: String,
        /// The file.
        path: GuestPath,
    },
    /// The busybox file is of another machine than the guest's.
    #[error(
        "{package}: {path} is an ELF file for machine {machine}, not for \
         {arch} ({expected}): the busybox-static package is of another \
         architecture"
    )]
    BusyboxMachine {
        /// The package.
        package: String,
        /// The file.
        path: GuestPath,
        /// Its `e_machine`.
        machine: u16,
        /// The guest's architecture.
        arch: Arch,
        /// The `e_machine` of that architecture.
        expected: u16,
    },
    /// The spool for the busybox package cannot be made.
    #[error("content spool: {0}")]
    Spool(std::io::Error),
    /// A signal stopped the build ([`crate::cancel`]).
    #[error(transparent)]
    Interrupted(#[from] crate::cancel::Interrupted),
}

/// Result of initrd generation.
pub type Result<T> = std::result::Result<T, Error>;

/// How the archive is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// gzip (flate2, best compression; no name, time 0): every kernel
    /// reads it.
    #[default]
    Gzip,
    /// zstd (level 10, with a checksum): needs `CONFIG_RD_ZSTD`.
    Zstd,
}

/// The zstd level: a tenth of the time of level 19 for a few percent
/// more bytes.
const ZSTD_LEVEL: i32 = 10;

/// What the initrd is made of besides the modules tree and busybox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitrdParams {
    /// The kernel version (the directory name under the modules
    /// directory, `6.12.48+deb13-amd64`).
    pub kernel_version: String,
    /// The modules wanted (either spelling); their dependencies come
    /// along.
    pub modules: Vec<String>,
    /// The archive's compression.
    pub compression: Compression,
    /// Every entry's time (the build's `SOURCE_DATE_EPOCH`).
    pub mtime: i64,
    /// Seconds `/init` waits for the root device unless the command line
    /// says `rootdelay=` or `rootwait`.
    pub root_timeout: u32,
}

/// The default root-device timeout of `/init`, in seconds.
pub const DEFAULT_ROOT_TIMEOUT: u32 = 30;

impl InitrdParams {
    /// The modules that reach a root disk on `arch`
    /// ([`Arch::initrd_modules`]), gzip, [`DEFAULT_ROOT_TIMEOUT`].
    pub fn new(arch: Arch, kernel_version: &str, mtime: i64) -> InitrdParams {
        InitrdParams {
            kernel_version: kernel_version.into(),
            modules: arch
                .initrd_modules()
                .iter()
                .map(|s| s.to_string())
                .collect(),
            compression: Compression::Gzip,
            mtime,
            root_timeout: DEFAULT_ROOT_TIMEOUT,
        }
    }
}

/// One entry of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanEntry {
    /// A directory.
    Dir,
    /// A regular file with its permission bits and bytes.
    File {
        /// Permission bits.
        perm: u32,
        /// Contents.
        data: Vec<u8>,
    },
    /// A symlink.
    Symlink(String),
    /// A character device node.
    CharDev {
        /// Permission bits.
        perm: u32,
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
}

/// Everything the archive will hold, by relative path (`.` is the
/// root); the map's order puts every parent before its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The entries.
    pub entries: BTreeMap<String, PlanEntry>,
    /// The modules in load order (paths relative to the version
    /// directory, as `/init` lists them).
    pub load_order: Vec<String>,
    /// Entries' time.
    pub mtime: u32,
}

/// The kernel versions under `modules_dir` (directories holding
/// `modules.order`, `modules.dep` or `modules.builtin`, which every
/// Debian kernel package ships), sorted.
pub fn kernel_versions(
    tree: &Tree,
    modules_dir: &GuestPath,
) -> Result<Vec<String>> {
    let dir = tree.resolve(modules_dir, true)?;
    let mut out = Vec::new();
    for (path, _, inode) in tree.iter() {
        if path.parent().as_ref() != Some(&dir) || inode.kind != Kind::Dir {
            continue;
        }
        let has =
            |name: &str| path.join(name).is_ok_and(|p| tree.get(&p).is_some());
        if has("modules.order") || has("modules.dep") || has("modules.builtin")
        {
            if let Some(v) = path.file_name() {
                out.push(v.to_string());
            }
        }
    }
    Ok(out)
}

/// The kernel to make the initrd for: `wanted` when it is there, else
/// the only one under `modules_dir`.
pub fn pick_version(
    tree: &Tree,
    modules_dir: &GuestPath,
    wanted: Option<&str>,
) -> Result<String> {
    let found = kernel_versions(tree, modules_dir)?;
    match (wanted, found.as_slice()) {
        (Some(w), f) if f.iter().any(|v| v == w) => Ok(w.into()),
        (Some(w), f) => Err(Error::NoSuchKernel {
            dir: modules_dir.clone(),
            version: w.into(),
            found: f.join(", "),
        }),
        (None, [one]) => Ok(one.clone()),
        (None, []) => Err(Error::NoKernel {
            dir: modules_dir.clone(),
        }),
        (None, many) => Err(Error::SeveralKernels {
            dir: modules_dir.clone(),
            found: many.join(", "),
        }),
    }
}

/// `rel` (a relative path of several components) under `dir`.
fn under(dir: &GuestPath, rel: &str) -> Result<GuestPath> {
    Ok(GuestPath::new(&format!("{}/{rel}", dir.as_str()))?)
}

/// The bytes of the regular file at `path` (symlinks followed).
fn read_file(tree: &Tree, path: &GuestPath) -> Result<Vec<u8>> {
    let real = tree.resolve(path, true)?;
    match tree.get(&real).map(|i| &i.kind) {
        Some(Kind::File(c)) => {
            tree.spool().read(c).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })
        }
        Some(_) => Err(Error::NotAFile { path: path.clone() }),
        None => Err(crate::tree::Error::NotFound { path: path.clone() }.into()),
    }
}

/// The file at `path`, or `None` when there is none.
fn read_optional(tree: &Tree, path: &GuestPath) -> Result<Option<Vec<u8>>> {
    let real = tree.resolve(path, true)?;
    if tree.get(&real).is_none() {
        return Ok(None);
    }
    read_file(tree, path).map(Some)
}

/// The dependency graph of the modules under `ver_dir`: `modules.dep`,
/// else the `depends=` of the modules reachable from `wanted`.
fn dependency_graph(
    tree: &Tree,
    ver_dir: &GuestPath,
    wanted: &[String],
) -> Result<modules::ModulesDep> {
    if let Some(text) = read_optional(tree, &ver_dir.join("modules.dep")?)? {
        return Ok(modules::ModulesDep::parse(&String::from_utf8_lossy(
            &text,
        ))?);
    }
    // name → path relative to ver_dir, for every module file.
    let prefix = format!("{}/", ver_dir.as_str());
    let mut index: BTreeMap<String, String> = BTreeMap::new();
    for (path, _, inode) in tree.iter() {
        let Some(rel) = path.as_str().strip_prefix(&prefix) else {
            continue;
        };
        if !matches!(inode.kind, Kind::File(_)) {
            continue;
        }
        if let Some(name) = modules::module_name(rel) {
            index.entry(name).or_insert_with(|| rel.to_string());
        }
    }
    let mut entries = Vec::new();
    let mut seen = BTreeSet::new();
    let mut queue: Vec<String> =
        wanted.iter().map(|w| modules::normalise(w)).collect();
    while let Some(name) = queue.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        // Unknown names are left for load_order to report (or to find
        // built in).
        let Some(rel) = index.get(&name) else {
            continue;
        };
        let path = under(ver_dir, rel)?;
        let (_, elf) = modules::decompress(rel, &read_file(tree, &path)?)?;
        let info = modinfo::read(&elf)
            .map_err(|source| Error::Modinfo { path, source })?;
        let mut deps = Vec::new();
        for d in modinfo::depends(&info) {
            let d = modules::normalise(&d);
            let dep_path = index.get(&d).ok_or_else(|| {
                modules::Error::MissingDependency {
                    module: rel.clone(),
                    dependency: d.clone(),
                }
            })?;
            deps.push(dep_path.clone());
            queue.push(d);
        }
        entries.push(modules::DepEntry {
            path: rel.clone(),
            deps,
        });
    }
    Ok(modules::ModulesDep::from_entries(entries))
}

/// The directory of `version`'s modules, symlinks resolved (a guest
/// tree's `/lib/modules` is `/usr/lib/modules`), so that the files under
/// it are found by their tree paths.
fn version_dir(
    tree: &Tree,
    modules_dir: &GuestPath,
    version: &str,
) -> Result<GuestPath> {
    Ok(tree.resolve(&modules_dir.join(version)?, true)?)
}

/// The modules `params` asks for, in load order, as paths relative to
/// the version directory (with their compression suffix).
pub fn module_closure(
    tree: &Tree,
    modules_dir: &GuestPath,
    params: &InitrdParams,
) -> Result<Vec<String>> {
    let ver_dir = version_dir(tree, modules_dir, &params.kernel_version)?;
    let graph = dependency_graph(tree, &ver_dir, &params.modules)?;
    let builtin = read_optional(tree, &ver_dir.join("modules.builtin")?)?
        .map(|b| modules::parse_builtin(&String::from_utf8_lossy(&b)))
        .unwrap_or_default();
    Ok(modules::load_order(
        &graph,
        &builtin,
        &params.modules,
        &params.kernel_version,
    )?)
}

/// Decide every entry of the initrd.
pub fn plan(
    tree: &Tree,
    modules_dir: &GuestPath,
    busybox: &[u8],
    params: &InitrdParams,
) -> Result<Plan> {
    let mtime =
        u32::try_from(params.mtime).map_err(|_| Error::Mtime(params.mtime))?;
    let ver_dir = version_dir(tree, modules_dir, &params.kernel_version)?;
    let order = module_closure(tree, modules_dir, params)?;
    let mut entries = BTreeMap::new();
    let dir = |entries: &mut BTreeMap<String, PlanEntry>, p: &str| {
        let mut cur = String::new();
        for c in p.split('/') {
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(c);
            entries.entry(cur.clone()).or_insert(PlanEntry::Dir);
        }
    };
    entries.insert(".".to_string(), PlanEntry::Dir);
    for d in ["bin", "dev", "proc", "sys", "root"] {
        dir(&mut entries, d);
    }
    entries.insert(
        "dev/console".into(),
        PlanEntry::CharDev {
            perm: 0o600,
            major: 5,
            minor: 1,
        },
    );
    entries.insert(
        "dev/null".into(),
        PlanEntry::CharDev {
            perm: 0o666,
            major: 1,
            minor: 3,
        },
    );
    entries.insert(
        "bin/busybox".into(),
        PlanEntry::File {
            perm: 0o755,
            data: busybox.to_vec(),
        },
    );
    for a in init::APPLETS {
        entries
            .insert(format!("bin/{a}"), PlanEntry::Symlink("busybox".into()));
    }
    let base = format!("lib/modules/{}", params.kernel_version);
    dir(&mut entries, &base);
    let mut load_order = Vec::with_capacity(order.len());
    for rel in &order {
        let bytes = read_file(tree, &under(&ver_dir, rel)?)?;
        let (plain, data) = modules::decompress(rel, &bytes)?;
        if let Some((parent, _)) = plain.rsplit_once('/') {
            dir(&mut entries, &format!("{base}/{parent}"));
        }
        entries.insert(
            format!("{base}/{plain}"),
            PlanEntry::File { perm: 0o644, data },
        );
        load_order.push(plain);
    }
    let script =
        init::render(&params.kernel_version, &load_order, params.root_timeout)
            .map_err(|init::UnsafeWord(w)| Error::UnsafeWord(w))?;
    entries.insert(
        "init".into(),
        PlanEntry::File {
            perm: 0o755,
            data: script.into_bytes(),
        },
    );
    Ok(Plan {
        entries,
        load_order,
        mtime,
    })
}

/// The uncompressed cpio archive of `plan`.
pub fn archive(plan: &Plan) -> Result<Vec<u8>> {
    let mut w = cpio::Writer::new(Vec::new());
    for (name, e) in &plan.entries {
        let (perm, data) = match e {
            PlanEntry::Dir => (0o755, cpio::EntryData::Dir),
            PlanEntry::File { perm, data } => {
                (*perm, cpio::EntryData::File(data))
            }
            PlanEntry::Symlink(t) => (0o777, cpio::EntryData::Symlink(t)),
            PlanEntry::CharDev { perm, major, minor } => (
                *perm,
                cpio::EntryData::CharDev {
                    major: *major,
                    minor: *minor,
                },
            ),
        };
        w.add(name, perm, plan.mtime, &data)?;
    }
    Ok(w.finish()?)
}

/// The compressed initrd of `plan`.
pub fn write(plan: &Plan, compression: Compression) -> Result<Vec<u8>> {
    let raw = archive(plan)?;
    match compression {
        Compression::Gzip => {
            let mut enc = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::best());
            feed(&mut enc, &raw)?;
            enc.finish().map_err(Error::Compress)
        }
        Compression::Zstd => {
            let mut enc =
                zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL)
                    .map_err(Error::Compress)?;
            enc.include_checksum(true).map_err(Error::Compress)?;
            feed(&mut enc, &raw)?;
            enc.finish().map_err(Error::Compress)
        }
    }
}

/// Feed `raw` to the compressor a MiB at a time, stopping on a signal
/// ([`crate::cancel`]): compressing a whole initrd at the best level
/// takes seconds.
fn feed(enc: &mut impl Write, raw: &[u8]) -> Result<()> {
    for chunk in raw.chunks(1 << 20) {
        crate::cancel::check()?;
        enc.write_all(chunk).map_err(Error::Compress)?;
    }
    Ok(())
}

/// The initrd for `params.kernel_version` from the modules under
/// `modules_dir` in `modules` (`/usr/lib/modules` in a guest tree, `/`
/// for a tree read from a host's `/lib/modules`), with `busybox` (a
/// static busybox binary).
pub fn build(
    modules: &Tree,
    modules_dir: &GuestPath,
    busybox: &[u8],
    params: &InitrdParams,
) -> Result<Vec<u8>> {
    write(
        &plan(modules, modules_dir, busybox, params)?,
        params.compression,
    )
}

/// The busybox binary of a `busybox-static` package file, which must be
/// a binary for `arch`.
pub fn busybox_from_deb(deb: &Path, arch: Arch) -> Result<Vec<u8>> {
    let label = deb.file_name().map_or_else(
        || "busybox-static".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let spool = Spool::new().map_err(Error::Spool)?;
    let u = crate::unpack::read_deb(
        deb,
        &label,
        &spool,
        &crate::unpack::Limits::default(),
    )?;
    busybox_from_unpacked(&u, &spool, arch)
}

/// The busybox binary of an unpacked `busybox-static` package whose
/// contents are in `spool`; an ELF file whose `e_machine` is `arch`'s. Nothing at build time runs it, so nothing else would
/// notice a busybox of the wrong architecture before the guest's first
/// boot fails in its initrd.
pub fn busybox_from_unpacked(
    u: &crate::unpack::Unpacked,
    spool: &Spool,
    arch: Arch,
) -> Result<Vec<u8>> {
    let wanted = ["/usr/bin/busybox", "/bin/busybox"];
    let entry = u
        .entries
        .iter()
        .find(|e| wanted.contains(&e.path.as_str()))
        .ok_or_else(|| Error::NoBusybox {
            package: u.label.clone(),
        })?;
    let crate::unpack::EntryKind::File(c) = &entry.kind else {
        return Err(Error::NoBusybox {
            package: u.label.clone(),
        });
    };
    let data = spool.read(c).map_err(|source| Error::Read {
        path: entry.path.clone(),
        source,
    })?;
    if !data.starts_with(b"\x7fELF") || data.len() < 20 {
        return Err(Error::BusyboxNotElf {
            package: u.label.clone(),
            path: entry.path.clone(),
        });
    }
    // EI_DATA (byte 5) 1 is little-endian, the byte order of e_machine
    // at offset 18 of every ELF header.
    let machine = match data[5] {
        1 => u16::from_le_bytes([data[18], data[19]]),
        _ => u16::from_be_bytes([data[18], data[19]]),
    };
    if machine != arch.elf_machine() {
        return Err(Error::BusyboxMachine {
            package: u.label.clone(),
            path: entry.path.clone(),
            machine,
            arch,
            expected: arch.elf_machine(),
        });
    }
    Ok(data)
}

#[cfg(test)]
mod tests;
