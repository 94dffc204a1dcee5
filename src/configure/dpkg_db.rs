//! The dpkg database, `/var/lib/dpkg`, written into the tree as dpkg
//! leaves it after `dpkg --unpack` (or `--configure`) of a set of
//! packages into an empty root.
//!
//! Spec: there is none besides dpkg's source. The field order of
//! `status` is that of `fieldinfos[]` in `lib/dpkg/parse.c`, which
//! `write_record` follows; what an unpack leaves comes from
//! `src/main/unpack.c` (`deb_parse_conffiles`, `pkg_infodb_update`),
//! `write_filehash_except` and `lib/dpkg/triggers.c`. Each rule below was
//! checked by experiment: dpkg 1.21.22 (bookworm) unpacking hand-made
//! packages into an empty `--root`; and the trixie minbase root that
//! mmdebstrap made with dpkg 1.22.22, whose database this module
//! reproduces byte for byte from the same `.deb`s (the ignored test
//! `mmdebstrap_root_has_our_database`); bookworm roots were compared by
//! their file lists. The unit tests re-check on any Debian host what can
//! be: the host's `status` re-emitted byte for byte, and the host's dpkg
//! unpacking and configuring real packages into a root equal to ours.
//!
//! Written by hand because no crate writes a dpkg database, and because
//! what matters is byte-for-byte agreement with dpkg, which a general
//! deb822 writer would not give.
//!
//! # What is written
//!
//! * `status`: one paragraph per package, sorted by name (dpkg's
//!   `pkg_sorter_by_nonambig_name_arch`), each followed by an empty line.
//!   Known fields in dpkg's order and spelling, normalised as dpkg parses
//!   and re-prints them (see [`StatusRecord`]); unknown fields after them,
//!   in control-file order, verbatim. `Status: install ok unpacked` or
//!   `install ok installed`. `Conffiles:` lists each line of the package's
//!   `conffiles` member with the hash `newconffile` when unpacked (dpkg's
//!   `NEWCONFFILEFLAG`) or the MD5 of the file when installed; a
//!   `remove-on-upgrade` line stays `newconffile remove-on-upgrade` even
//!   once installed, as in dpkg's own databases.
//! * `info/<pkg>.<member>`: every control member except `control`, `list`
//!   and names holding a dot (which dpkg skips), with its own mode, so
//!   maintainer scripts keep the 0755 they ship with. `<pkg>` is
//!   `name:arch` for `Multi-Arch: same` packages (`libc6:amd64.list`),
//!   else the name (dpkg's `pnaw_same`).
//! * `info/<pkg>.list`: the package's data members in archive order,
//!   duplicates kept (dpkg keeps them), `/.` for the root, no trailing
//!   slash, unresolved (`/bin/sh` under a `/bin -> usr/bin` link is
//!   listed as `/bin/sh`).
//! * `info/<pkg>.md5sums`: the member verbatim; a package without one
//!   gets one computed from the tree as dpkg does (every regular file and
//!   hard link the package names, in archive order; empty if none).
//! * `info/format` = `1\n`: the multiarch database layout. Without it
//!   dpkg takes the database for the legacy layout and would look for
//!   `libc6.list` instead of `libc6:amd64.list`.
//! * `triggers/File` (file-trigger interests, `path pkg[/noawait]`) and
//!   `triggers/<name>` (explicit interests, `pkg[/noawait]`), from the
//!   packages' `triggers` members, as dpkg registers them at unpack;
//!   `triggers/Unincorp` (empty, 0644) and `triggers/Lock` (empty, 0600),
//!   which every dpkg run creates. `File` only when some package has a
//!   file interest, as with dpkg.
//! * `arch` = `<arch>\n`: dpkg writes it only for foreign architectures,
//!   but mmdebstrap always does, and its roots are the reference.
//! * `arch-native` = `<arch>\n` when the set's dpkg is 1.22.16 or later:
//!   that dpkg records the native architecture of the root there (its
//!   changelog: "Add support for native arch definition for chroots"),
//!   and it is in every trixie root.
//! * `lock`, `lock-frontend` (empty, 0640): dpkg creates both on its
//!   first run, and every reference root has them.
//! * Directories `info`, `updates`, `triggers`, `alternatives` (and
//!   `/var`, `/var/lib`, `/var/lib/dpkg`) when missing, 0755: the first
//!   three are what dpkg creates, `alternatives` what mmdebstrap creates.
//!   Existing directories keep their metadata (the `dpkg` package ships
//!   `/var/lib/dpkg/{,info,alternatives,parts,updates}`).
//!
//! Not written, because a fresh root has none of them: `available` (dpkg
//! ≥ 1.20 only writes it for `--record-avail` or dselect), `cmethopt`
//! (dselect), `diversions` and `statoverride` (created by the first
//! `dpkg-divert`/`dpkg-statoverride`, which are preinst and postinst
//! work; dpkg takes a missing file for an empty one), `status-old` and
//! `diversions-old` (backups of a previous state there never was),
//! `parts` (shipped by the dpkg package; only dpkg-split uses it).
//!
//! # Unpacked means the conffiles are aside
//!
//! Between unpack and configure, dpkg keeps each new conffile as
//! `<path>.dpkg-new`, and `--configure` renames it into place and records
//! its hash. A conffile found at its final name is skipped, and its hash
//! stays `newconffile` for good. Checked with dpkg 1.21: the package is
//! then reported installed and `--audit` is silent, but the next upgrade
//! that changes the conffile takes it for "created by you or by a
//! script", prompts, and by default keeps the old file. So for an
//! unpacked package [`write()`] also moves each conffile in the tree to
//! `<path>.dpkg-new`, the one change it makes outside `/var/lib/dpkg`.
//!
//! # Known differences from dpkg
//!
//! * Info files and `status` get the `mtime` given, not the member's
//!   mtime (dpkg keeps that of `control.tar`) or the time of the run.
//! * `triggers/File` and `triggers/<name>` list packages in name order;
//!   dpkg lists them in the order it unpacked them.
//! * A computed `md5sums` hashes what the tree holds at the path, which
//!   is another package's file if a later package replaced it.
//! * The obsolete `Revision` field is applied after all fields are read
//!   (dpkg applies it in field order, so a `Version` after it would win).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use crate::repo::deb822::{self, Field, Paragraph, Paragraphs};
use crate::repo::version::{Version, VersionError};
use crate::tree::{self, GuestPath, Kind, Meta, Tree};

/// Errors of writing the dpkg database; each names the package and the
/// control member (or tree path) at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The control text is not deb822.
    #[error("{package}: control: {source}")]
    Syntax {
        /// The package (its `Package` field, if it could be read).
        package: String,
        /// The syntax error.
        source: deb822::Error,
    },
    /// The control text is not exactly one well-formed paragraph.
    #[error("{package}: control: {reason}")]
    Malformed {
        /// The package.
        package: String,
        /// What is wrong.
        reason: String,
    },
    /// A field dpkg requires is missing or empty.
    #[error("{package}: control: missing {field} field")]
    MissingField {
        /// The package.
        package: String,
        /// The field.
        field: &'static str,
    },
    /// A field given twice (dpkg compares names case-insensitively).
    #[error("{package}: control: duplicate {field} field")]
    DuplicateField {
        /// The package.
        package: String,
        /// The field.
        field: String,
    },
    /// A database field in a control file (`Status`, `Conffiles`, …), or
    /// an archive detail (`Filename`, …) in a status file.
    #[error("{package}: control: field {field} is not allowed in a {place}")]
    NotAllowed {
        /// The package.
        package: String,
        /// The field.
        field: String,
        /// `control file` or `status file`.
        place: &'static str,
    },
    /// A field whose value dpkg refuses.
    #[error("{package}: control: {field}: bad value \"{value}\": {reason}")]
    BadValue {
        /// The package.
        package: String,
        /// The field.
        field: String,
        /// The value.
        value: String,
        /// Why.
        reason: String,
    },
    /// A version dpkg refuses.
    #[error("{package}: control: {field}: {source}")]
    BadVersion {
        /// The package.
        package: String,
        /// The field.
        field: String,
        /// Why.
        source: VersionError,
    },
    /// A package of another architecture than the system's.
    #[error(
        "{package}: control: architecture {package_arch} is neither \
         {arch} nor all"
    )]
    ForeignArchitecture {
        /// The package.
        package: String,
        /// Its architecture.
        package_arch: String,
        /// The system's.
        arch: String,
    },
    /// The system architecture is no valid architecture name.
    #[error("bad system architecture \"{0}\"")]
    BadArchitecture(String),
    /// Two packages of one name.
    #[error("{package}: control: package given twice")]
    DuplicatePackage {
        /// The package.
        package: String,
    },
    /// A control member whose name cannot be a file in `info/`.
    #[error("{package}: {file}: bad control member name")]
    BadMemberName {
        /// The package.
        package: String,
        /// The member.
        file: String,
    },
    /// A `conffiles` line dpkg refuses.
    #[error("{package}: conffiles line {line}: {reason}")]
    BadConffiles {
        /// The package.
        package: String,
        /// 1-based line number.
        line: usize,
        /// Why.
        reason: String,
    },
    /// An installed package's conffile is not a regular file in the tree.
    #[error("{package}: conffiles: {path} is not a regular file in the tree")]
    MissingConffile {
        /// The package.
        package: String,
        /// The conffile.
        path: GuestPath,
    },
    /// A `triggers` line dpkg refuses.
    #[error("{package}: triggers line {line}: {reason}")]
    BadTriggers {
        /// The package.
        package: String,
        /// 1-based line number.
        line: usize,
        /// Why.
        reason: String,
    },
    /// Reading a file's content from the tree failed.
    #[error("{package}: reading {path}: {source}")]
    Read {
        /// The package.
        package: String,
        /// The path in the tree.
        path: GuestPath,
        /// The error.
        source: std::io::Error,
    },
    /// The tree refused an entry.
    #[error(transparent)]
    Tree(#[from] tree::Error),
    /// A path that cannot be in the tree.
    #[error(transparent)]
    Path(#[from] tree::path::Error),
}

/// Result of writing the dpkg database.
pub type Result<T> = std::result::Result<T, Error>;

/// dpkg's administrative directory.
pub const ADMINDIR: &str = "/var/lib/dpkg";

/// The hash dpkg records for a conffile between unpack and configure
/// (`NEWCONFFILEFLAG` in `src/main/main.h`).
pub const NEWCONFFILE: &str = "newconffile";

/// The suffix of a conffile unpacked but not yet configured
/// (`DPKGNEWEXT`).
pub const DPKG_NEW: &str = ".dpkg-new";

/// Longest control member name dpkg accepts (`MAXCONTROLFILENAME`).
const MAX_MEMBER_NAME: usize = 100;

/// The first dpkg to write `arch-native`.
const ARCH_NATIVE_SINCE: &str = "1.22.16";

/// One package whose data is in the tree, as the database needs it.
#[derive(Debug, Clone, Copy)]
pub struct Installed<'a> {
    /// The package's `DEBIAN/control` text (one deb822 paragraph).
    pub control: &'a str,
    /// The other control members by name (`md5sums`, `conffiles`,
    /// `postinst`, `triggers`, …) with their mode.
    pub control_files: &'a BTreeMap<String, (Vec<u8>, u32)>,
    /// The data archive's members in archive order, as the package names
    /// them (`/`, `/usr`, `/bin/sh` …).
    pub paths: &'a [GuestPath],
    /// What dpkg would record.
    pub status: PkgState,
}

/// The state of a package in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkgState {
    /// `install ok unpacked`: files in place, conffiles aside as
    /// `.dpkg-new`, `postinst configure` not run.
    Unpacked,
    /// `install ok installed`.
    Installed,
}

impl PkgState {
    /// The `Status` field's value.
    pub fn status_field(self) -> &'static str {
        match self {
            PkgState::Unpacked => "install ok unpacked",
            PkgState::Installed => "install ok installed",
        }
    }
}

/// A file [`plan()`] will write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Permission bits.
    pub mode: u32,
    /// Contents.
    pub bytes: Vec<u8>,
}

/// Everything [`write()`] does to the tree, computed without changing it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Directories to create (0755) when missing, parents first.
    pub dirs: Vec<GuestPath>,
    /// Conffiles of unpacked packages to move aside: (where the file is,
    /// its `.dpkg-new` name), both resolved in the tree.
    pub renames: Vec<(GuestPath, GuestPath)>,
    /// Files to write, all root:root.
    pub files: BTreeMap<GuestPath, PlannedFile>,
}

/// Write the dpkg database of `packages` (whose data is in `tree`) into
/// `tree`, every file owned by root with mtime `mtime`; see the module
/// docs for what is written. Conffiles of unpacked packages are moved to
/// `<path>.dpkg-new`.
///
/// # Errors
///
/// Whatever [`plan()`] refuses, and [`Error::Tree`] when the tree refuses
/// an entry (a directory where a database file goes, say).
pub fn write(
    tree: &mut Tree,
    arch: &str,
    packages: &[Installed<'_>],
    mtime: i64,
) -> Result<()> {
    let plan = plan(tree, arch, packages)?;
    for dir in &plan.dirs {
        tree.create_dirs(dir, &Meta::root(0o755, mtime))?;
    }
    for (from, to) in &plan.renames {
        tree.link(to, from)?;
        tree.remove(from)?;
    }
    for (path, f) in &plan.files {
        tree.write_file(path, Meta::root(f.mode, mtime), &f.bytes)?;
    }
    Ok(())
}

/// The database of `packages` for a system of architecture `arch`: pure,
/// reading the tree only for conffile hashes, computed `md5sums` and
/// conffiles to move aside.
///
/// # Errors
///
/// A control file dpkg would refuse, a package of another architecture
/// or given twice, a bad `conffiles` or `triggers` member or member
/// name, an installed package's conffile missing from the tree, or a
/// file of the tree that cannot be read.
pub fn plan(
    tree: &Tree,
    arch: &str,
    packages: &[Installed<'_>],
) -> Result<Plan> {
    if arch_name_problem(arch).is_some() {
        return Err(Error::BadArchitecture(arch.into()));
    }
    let mut pkgs = packages
        .iter()
        .map(|p| prepare(tree, arch, p))
        .collect::<Result<Vec<_>>>()?;
    pkgs.sort_by(|a, b| {
        (a.record.package(), a.record.architecture())
            .cmp(&(b.record.package(), b.record.architecture()))
    });
    for w in pkgs.windows(2) {
        if w[0].record.package() == w[1].record.package() {
            return Err(Error::DuplicatePackage {
                package: w[0].record.package().into(),
            });
        }
    }

    let admin = |rel: &str| GuestPath::new(&format!("{ADMINDIR}/{rel}"));
    let mut plan = Plan::default();
    for d in ["", "info", "updates", "triggers", "alternatives"] {
        plan.dirs.push(admin(d)?);
    }
    let mut put = |path: GuestPath, mode: u32, bytes: Vec<u8>| {
        plan.files.insert(path, PlannedFile { mode, bytes });
    };

    let mut status = String::new();
    for p in &pkgs {
        status.push_str(&p.record.encode());
        status.push('\n');
    }
    put(admin("status")?, 0o644, status.into_bytes());

    let info = admin("info")?;
    for p in &pkgs {
        let stem = p.record.info_name();
        for (member, mode, bytes) in &p.info {
            let path =
                info.join(&format!("{stem}.{member}")).map_err(|_| {
                    Error::BadMemberName {
                        package: p.record.package().into(),
                        file: member.clone(),
                    }
                })?;
            put(path, *mode, bytes.clone());
        }
    }
    put(info.join("format")?, 0o644, b"1\n".to_vec());

    let triggers = admin("triggers")?;
    let mut file_triggers = String::new();
    let mut seen_file: BTreeSet<(&str, String)> = BTreeSet::new();
    let mut explicit: BTreeMap<&str, Vec<(String, bool)>> = BTreeMap::new();
    for p in &pkgs {
        let who = p.record.info_name();
        for i in &p.interests {
            if i.name.starts_with('/') {
                if seen_file.insert((&i.name, who.clone())) {
                    file_triggers.push_str(&format!(
                        "{} {who}{}\n",
                        i.name,
                        noawait(i.noawait)
                    ));
                }
            } else {
                let list = explicit.entry(&i.name).or_default();
                list.retain(|(w, _)| *w != who);
                list.push((who.clone(), i.noawait));
            }
        }
    }
    if !file_triggers.is_empty() {
        put(triggers.join("File")?, 0o644, file_triggers.into_bytes());
    }
    for (name, list) in explicit {
        let text: String = list
            .iter()
            .map(|(w, na)| format!("{w}{}\n", noawait(*na)))
            .collect();
        put(triggers.join(name)?, 0o644, text.into_bytes());
    }
    put(triggers.join("Unincorp")?, 0o644, Vec::new());
    put(triggers.join("Lock")?, 0o600, Vec::new());

    put(admin("arch")?, 0o644, format!("{arch}\n").into_bytes());
    if records_native_arch(&pkgs) {
        put(
            admin("arch-native")?,
            0o644,
            format!("{arch}\n").into_bytes(),
        );
    }
    put(admin("lock")?, 0o640, Vec::new());
    put(admin("lock-frontend")?, 0o640, Vec::new());

    for p in pkgs {
        plan.renames.extend(p.renames);
    }
    Ok(plan)
}

fn noawait(yes: bool) -> &'static str {
    if yes {
        "/noawait"
    } else {
        ""
    }
}

/// Whether the set's dpkg writes `arch-native`.
fn records_native_arch(pkgs: &[Prepared]) -> bool {
    let Ok(since) = Version::parse(ARCH_NATIVE_SINCE) else {
        return false;
    };
    pkgs.iter()
        .filter(|p| p.record.package() == "dpkg")
        .filter_map(|p| Version::parse(p.record.version()).ok())
        .any(|v| v >= since)
}

/// One package's share of the database.
#[derive(Debug)]
struct Prepared {
    record: StatusRecord,
    /// `info/` files: (member name, mode, contents).
    info: Vec<(String, u32, Vec<u8>)>,
    interests: Vec<Interest>,
    renames: Vec<(GuestPath, GuestPath)>,
}

fn prepare(tree: &Tree, arch: &str, p: &Installed<'_>) -> Result<Prepared> {
    let mut record = StatusRecord::from_control(p.control)?;
    let package = record.package().to_string();
    let parch = record.architecture();
    if parch != arch && parch != "all" {
        return Err(Error::ForeignArchitecture {
            package,
            package_arch: parch.into(),
            arch: arch.into(),
        });
    }
    record.set_status(p.status);

    let mut renames = Vec::new();
    let lines = match p.control_files.get("conffiles") {
        Some((bytes, _)) => parse_conffiles(&package, bytes)?,
        None => Vec::new(),
    };
    let mut conffiles = Vec::with_capacity(lines.len());
    for (path, remove_on_upgrade) in lines {
        let hash = if remove_on_upgrade {
            NEWCONFFILE.to_string()
        } else {
            match p.status {
                PkgState::Unpacked => {
                    if let Some(r) = set_aside(tree, &path)? {
                        renames.push(r);
                    }
                    NEWCONFFILE.to_string()
                }
                PkgState::Installed => conffile_hash(tree, &package, &path)?
                    .ok_or_else(|| Error::MissingConffile {
                        package: package.clone(),
                        path: path.clone(),
                    })?,
            }
        };
        conffiles.push(Conffile {
            path: path.to_string(),
            hash,
            obsolete: false,
            remove_on_upgrade,
        });
    }
    record.conffiles = conffiles;

    let mut info = Vec::new();
    for (name, (bytes, mode)) in p.control_files {
        if name == "control" || name == "list" || name.contains('.') {
            continue;
        }
        if name.is_empty() || name.contains('/') || name.len() > MAX_MEMBER_NAME
        {
            return Err(Error::BadMemberName {
                package,
                file: name.clone(),
            });
        }
        info.push((name.clone(), mode & 0o7777, bytes.clone()));
    }
    if !p.control_files.contains_key("md5sums") {
        info.push(("md5sums".into(), 0o644, md5sums(tree, &package, p.paths)?));
    }
    info.push(("list".into(), 0o644, list(p.paths).into_bytes()));

    let interests = match p.control_files.get("triggers") {
        Some((bytes, _)) => parse_triggers(&package, bytes)?,
        None => Vec::new(),
    };
    Ok(Prepared {
        record,
        info,
        interests,
        renames,
    })
}

/// The `.list` file: members in archive order, the root as `/.`.
fn list(paths: &[GuestPath]) -> String {
    let mut s = String::new();
    for p in paths {
        s.push_str(if p.is_root() { "/." } else { p.as_str() });
        s.push('\n');
    }
    s
}

/// The `md5sums` dpkg computes for a package that ships none: `hash  path`
/// for every member that is a regular file (or a hard link to one).
fn md5sums(tree: &Tree, package: &str, paths: &[GuestPath]) -> Result<Vec<u8>> {
    let mut out = String::new();
    for p in paths {
        if p.is_root() {
            continue;
        }
        let real = tree.resolve(p, false)?;
        // An unpacked conffile is hashed where it is (set aside by an
        // earlier write), as dpkg hashes what it extracts there.
        let aside = match (tree.get(&real), real.file_name()) {
            (None, Some(name)) => real
                .parent()
                .map(|d| d.join(&format!("{name}{DPKG_NEW}")))
                .transpose()?,
            _ => None,
        };
        if let Some(hash) =
            file_md5(tree, package, aside.as_ref().unwrap_or(&real))?
        {
            out.push_str(&format!("{hash}  {}\n", p.relative()));
        }
    }
    Ok(out.into_bytes())
}

/// The conffile's hash as `dpkg --configure` records it: the MD5 of the
/// file, symlinks followed; `None` when it is no regular file.
fn conffile_hash(
    tree: &Tree,
    package: &str,
    path: &GuestPath,
) -> Result<Option<String>> {
    let Ok(real) = tree.resolve(path, true) else {
        return Ok(None);
    };
    file_md5(tree, package, &real)
}

/// Where an unpacked package's conffile goes: `None` when the package
/// does not ship it (dpkg then leaves it out too).
fn set_aside(
    tree: &Tree,
    path: &GuestPath,
) -> Result<Option<(GuestPath, GuestPath)>> {
    let real = tree.resolve(path, false)?;
    match tree.get(&real).map(|n| &n.kind) {
        None | Some(Kind::Dir) => Ok(None),
        Some(_) => {
            let name = real.file_name().unwrap_or_default();
            let parent = real.parent().unwrap_or_else(GuestPath::root);
            let to = parent.join(&format!("{name}{DPKG_NEW}"))?;
            Ok(Some((real, to)))
        }
    }
}

fn file_md5(
    tree: &Tree,
    package: &str,
    real: &GuestPath,
) -> Result<Option<String>> {
    let Some(Kind::File(content)) = tree.get(real).map(|n| &n.kind) else {
        return Ok(None);
    };
    let err = |source| Error::Read {
        package: package.into(),
        path: real.clone(),
        source,
    };
    let mut r = tree.spool().open(content).map_err(err)?;
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf).map_err(err)?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
    }
    Ok(Some(hex::encode(md5.finish())))
}

/// Parse a `conffiles` member as dpkg's `deb_parse_conffiles` does:
/// every line ends in a newline, is not empty, and is an absolute path,
/// optionally after the flag `remove-on-upgrade`; lines of blanks are
/// skipped. Returns each path with its flag.
fn parse_conffiles(
    package: &str,
    bytes: &[u8],
) -> Result<Vec<(GuestPath, bool)>> {
    let bad = |line: usize, reason: String| Error::BadConffiles {
        package: package.into(),
        line,
        reason,
    };
    let text =
        std::str::from_utf8(bytes).map_err(|_| bad(0, "not UTF-8".into()))?;
    let mut out = Vec::new();
    let mut rest = text;
    let mut n = 0usize;
    while !rest.is_empty() {
        n = n.saturating_add(1);
        let Some((line, tail)) = rest.split_once('\n') else {
            return Err(bad(n, "missing final newline".into()));
        };
        rest = tail;
        if line.is_empty() {
            return Err(bad(n, "empty line".into()));
        }
        let line = line.trim_end_matches(' ');
        if line.is_empty() {
            continue;
        }
        let (path, remove_on_upgrade) = if line.starts_with('/') {
            (line, false)
        } else {
            let Some((flag, path)) = line.split_once(' ') else {
                return Err(bad(n, format!("{line} is not an absolute path")));
            };
            if path.is_empty() {
                return Err(bad(n, format!("no file name after flag {flag}")));
            }
            if !path.starts_with('/') {
                return Err(bad(n, format!("{path} is not an absolute path")));
            }
            if flag != "remove-on-upgrade" {
                return Err(bad(n, format!("unknown flag {flag} for {path}")));
            }
            (path, true)
        };
        let path = GuestPath::new(path).map_err(|e| bad(n, e.to_string()))?;
        out.push((path, remove_on_upgrade));
    }
    Ok(out)
}

/// An `interest` directive of a `triggers` member.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Interest {
    /// The trigger: a path for a file trigger, else a name.
    name: String,
    /// `interest-noawait`.
    noawait: bool,
}

/// Parse a `triggers` member as dpkg's `trig_parse_ci` does, keeping the
/// interests (activations only take effect when a package is configured
/// or removed).
fn parse_triggers(package: &str, bytes: &[u8]) -> Result<Vec<Interest>> {
    let bad = |line: usize, reason: String| Error::BadTriggers {
        package: package.into(),
        line,
        reason,
    };
    let text =
        std::str::from_utf8(bytes).map_err(|_| bad(0, "not UTF-8".into()))?;
    let white = |c: char| c == ' ' || c == '\t' || c == '\n' || c == '\r';
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i.saturating_add(1);
        let line = line.trim_start_matches(white);
        if line.starts_with('#') {
            continue;
        }
        let line = line.trim_end_matches(white);
        if line.is_empty() {
            continue;
        }
        let Some((cmd, arg)) = line.split_once(white) else {
            return Err(bad(n, format!("directive {line} has no trigger")));
        };
        let arg = arg.trim_start_matches(white);
        if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad(n, format!("bad trigger name {arg}")));
        }
        let noawait = match cmd {
            "interest" | "interest-await" => false,
            "interest-noawait" => true,
            "activate" | "activate-await" | "activate-noawait" => continue,
            _ => return Err(bad(n, format!("unknown directive {cmd}"))),
        };
        if !arg.starts_with('/')
            && (arg.contains('/')
                || matches!(arg, "File" | "Unincorp" | "Lock" | "." | ".."))
        {
            return Err(bad(n, format!("bad trigger name {arg}")));
        }
        out.push(Interest {
            name: arg.into(),
            noawait,
        });
    }
    Ok(out)
}

/// The fields dpkg knows, in the order of `fieldinfos[]` in
/// `lib/dpkg/parse.c`, which is the order it writes them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Known {
    Package,
    Essential,
    Protected,
    Status,
    Priority,
    Section,
    InstalledSize,
    Origin,
    Maintainer,
    Bugs,
    Architecture,
    MultiArch,
    Source,
    Version,
    ConfigVersion,
    Replaces,
    Provides,
    Depends,
    PreDepends,
    Recommends,
    Suggests,
    Breaks,
    Conflicts,
    Enhances,
    Conffiles,
    Filename,
    Size,
    Md5sum,
    MsdosFilename,
    Description,
    TriggersPending,
    TriggersAwaited,
}

/// `fieldinfos[]`: each known field's spelling.
const FIELDINFOS: [(Known, &str); 32] = [
    (Known::Package, "Package"),
    (Known::Essential, "Essential"),
    (Known::Protected, "Protected"),
    (Known::Status, "Status"),
    (Known::Priority, "Priority"),
    (Known::Section, "Section"),
    (Known::InstalledSize, "Installed-Size"),
    (Known::Origin, "Origin"),
    (Known::Maintainer, "Maintainer"),
    (Known::Bugs, "Bugs"),
    (Known::Architecture, "Architecture"),
    (Known::MultiArch, "Multi-Arch"),
    (Known::Source, "Source"),
    (Known::Version, "Version"),
    (Known::ConfigVersion, "Config-Version"),
    (Known::Replaces, "Replaces"),
    (Known::Provides, "Provides"),
    (Known::Depends, "Depends"),
    (Known::PreDepends, "Pre-Depends"),
    (Known::Recommends, "Recommends"),
    (Known::Suggests, "Suggests"),
    (Known::Breaks, "Breaks"),
    (Known::Conflicts, "Conflicts"),
    (Known::Enhances, "Enhances"),
    (Known::Conffiles, "Conffiles"),
    (Known::Filename, "Filename"),
    (Known::Size, "Size"),
    (Known::Md5sum, "MD5sum"),
    (Known::MsdosFilename, "MSDOS-Filename"),
    (Known::Description, "Description"),
    (Known::TriggersPending, "Triggers-Pending"),
    (Known::TriggersAwaited, "Triggers-Awaited"),
];

/// dpkg's obsolete spellings (`nicknames[]`), read as the field they
/// stand for.
const NICKNAMES: [(&str, Known); 3] = [
    ("Recommended", Known::Recommends),
    ("Optional", Known::Suggests),
    ("Class", Known::Priority),
];

/// The obsolete field that sets the version's revision.
const REVISION: [&str; 3] =
    ["Revision", "Package-Revision", "Package_Revision"];

impl Known {
    fn name(self) -> &'static str {
        FIELDINFOS
            .iter()
            .find(|(k, _)| *k == self)
            .map(|(_, n)| *n)
            .unwrap_or_default()
    }

    fn lookup(name: &str) -> Option<Known> {
        FIELDINFOS
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(k, _)| *k)
            .or_else(|| {
                NICKNAMES
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, k)| *k)
            })
    }

    /// A database field that a control file must not carry.
    fn database_only(self) -> bool {
        matches!(
            self,
            Known::Status
                | Known::ConfigVersion
                | Known::Conffiles
                | Known::TriggersPending
                | Known::TriggersAwaited
        )
    }

    /// An archive detail, kept only in `available`.
    fn archive_detail(self) -> bool {
        matches!(
            self,
            Known::Filename
                | Known::Size
                | Known::Md5sum
                | Known::MsdosFilename
        )
    }

    /// A relationship field, and whether it allows alternatives.
    fn relation(self) -> Option<bool> {
        match self {
            Known::Depends
            | Known::PreDepends
            | Known::Recommends
            | Known::Suggests
            | Known::Enhances => Some(true),
            Known::Replaces
            | Known::Provides
            | Known::Breaks
            | Known::Conflicts => Some(false),
            _ => None,
        }
    }
}

/// Where a paragraph comes from, which decides the fields it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    /// A package's control file (dpkg's `pdb_rejectstatus`).
    Control,
    /// dpkg's own `status` file.
    Status,
}

/// One conffile line of a `status` paragraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conffile {
    /// The path.
    pub path: String,
    /// The MD5 of the configured file, or [`NEWCONFFILE`].
    pub hash: String,
    /// No longer shipped by the package.
    pub obsolete: bool,
    /// To be removed when the package is upgraded.
    pub remove_on_upgrade: bool,
}

impl Conffile {
    /// The line as dpkg's `w_conffiles` writes it.
    pub fn encode(&self) -> String {
        let mut s = format!(" {} {}", self.path, self.hash);
        if self.obsolete {
            s.push_str(" obsolete");
        }
        if self.remove_on_upgrade {
            s.push_str(" remove-on-upgrade");
        }
        s.push('\n');
        s
    }
}

/// One package's paragraph of `status`.
///
/// Built from a control file the way dpkg parses it, and encoded the way
/// dpkg writes it: known fields in `fieldinfos[]` order with dpkg's
/// spelling, then the others in their original order and spelling.
/// dpkg re-prints what it parsed, so: `Package` and relationship names
/// are lowercased; relationships are re-spaced (`a (>= 1), b | c`), the
/// obsolete `<`/`>` become `<=`/`>=`; versions lose a zero epoch;
/// `Essential`/`Protected: no` and `Multi-Arch: no` are dropped, other
/// values lowercased, as are the five standard priorities; the obsolete
/// `Recommended`, `Optional`, `Class` and `Revision` are folded into
/// `Recommends`, `Suggests`, `Priority` and `Version`; `Filename`,
/// `Size`, `MD5sum` and `MSDOS-Filename` are dropped; known fields with
/// an empty value are dropped, unknown ones kept as `Name: `. Values are
/// otherwise verbatim, continuation lines included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRecord {
    known: BTreeMap<Known, String>,
    conffiles: Vec<Conffile>,
    arbitrary: Vec<(String, String)>,
    multi_arch_same: bool,
}

impl StatusRecord {
    /// Parse a package's control file (one paragraph).
    ///
    /// # Errors
    ///
    /// What dpkg refuses in a control file: bad syntax, more than one
    /// paragraph, bad or duplicate field names, database fields, values
    /// it cannot parse, a missing `Package`, `Version` or `Architecture`.
    pub fn from_control(text: &str) -> Result<StatusRecord> {
        let mut paras = Paragraphs::new(text);
        let package = || {
            Paragraphs::new(text)
                .next()
                .and_then(|p| p.ok())
                .and_then(|p| p.get("Package").map(str::to_string))
                .unwrap_or_else(|| "(unnamed package)".into())
        };
        let para = match paras.next() {
            Some(Ok(p)) => p,
            Some(Err(source)) => {
                return Err(Error::Syntax {
                    package: package(),
                    source,
                })
            }
            None => {
                return Err(Error::Malformed {
                    package: package(),
                    reason: "no paragraph".into(),
                })
            }
        };
        if paras.next().is_some() {
            return Err(Error::Malformed {
                package: package(),
                reason: "more than one paragraph (or a line of blanks)".into(),
            });
        }
        Self::parse(text, &para, Context::Control)
    }

    fn parse(
        text: &str,
        para: &Paragraph<'_>,
        cx: Context,
    ) -> Result<StatusRecord> {
        let package = para.get("Package").unwrap_or("(unnamed package)");
        let mut rec = StatusRecord {
            known: BTreeMap::new(),
            conffiles: Vec::new(),
            arbitrary: Vec::new(),
            multi_arch_same: false,
        };
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut revision: Option<&str> = None;
        for f in para.fields() {
            let name = f.name;
            let bad_name = |reason: &str| Error::Malformed {
                package: package.into(),
                reason: format!("field name \"{name}\" {reason}"),
            };
            if name.is_empty() {
                return Err(bad_name("is empty"));
            }
            if name.starts_with('-') {
                return Err(bad_name("starts with a hyphen"));
            }
            if name.contains(is_space) {
                return Err(bad_name("contains a blank"));
            }
            let known = Known::lookup(name);
            let key = match known {
                Some(k) => k.name().to_ascii_lowercase(),
                None if REVISION
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(name)) =>
                {
                    "revision".into()
                }
                None => name.to_ascii_lowercase(),
            };
            if !seen.insert(key) {
                return Err(Error::DuplicateField {
                    package: package.into(),
                    field: known.map_or_else(
                        || name.to_string(),
                        |k| k.name().to_string(),
                    ),
                });
            }
            let value = raw_value(text, f);
            let Some(k) = known else {
                if REVISION.iter().any(|r| r.eq_ignore_ascii_case(name)) {
                    revision = Some(value);
                    continue;
                }
                if name.len() < 2 {
                    return Err(bad_name("is too short"));
                }
                rec.arbitrary.push((name.into(), value.into()));
                continue;
            };
            if k.database_only() && cx == Context::Control {
                return Err(Error::NotAllowed {
                    package: package.into(),
                    field: k.name().into(),
                    place: "control file",
                });
            }
            if k.archive_detail() {
                if cx == Context::Status {
                    return Err(Error::NotAllowed {
                        package: package.into(),
                        field: k.name().into(),
                        place: "status file",
                    });
                }
                continue;
            }
            if value.is_empty() {
                continue;
            }
            if k == Known::Conffiles {
                rec.conffiles = parse_status_conffiles(package, value)?;
                continue;
            }
            if let Some(v) = normalise(package, k, value)? {
                if k == Known::MultiArch {
                    rec.multi_arch_same = v == "same";
                }
                rec.known.insert(k, v);
            }
        }
        if let Some(rev) = revision.filter(|r| !r.is_empty()) {
            if let Some(v) = rec.known.get(&Known::Version) {
                let base = v.rsplit_once('-').map_or(v.as_str(), |(u, _)| u);
                let v = normalise(
                    package,
                    Known::Version,
                    &format!("{base}-{rev}"),
                )?;
                if let Some(v) = v {
                    rec.known.insert(Known::Version, v);
                }
            }
        }
        for (k, field) in [
            (Known::Package, "Package"),
            (Known::Version, "Version"),
            (Known::Architecture, "Architecture"),
        ] {
            if !rec.known.contains_key(&k) {
                return Err(Error::MissingField {
                    package: package.into(),
                    field,
                });
            }
        }
        Ok(rec)
    }

    /// The package name (lowercased, as dpkg stores it).
    pub fn package(&self) -> &str {
        self.known.get(&Known::Package).map_or("", String::as_str)
    }

    /// The `Architecture` field.
    pub fn architecture(&self) -> &str {
        self.known
            .get(&Known::Architecture)
            .map_or("", String::as_str)
    }

    /// The `Version` field, as dpkg prints it.
    pub fn version(&self) -> &str {
        self.known.get(&Known::Version).map_or("", String::as_str)
    }

    /// The name of the package's files in `info/`: `name:arch` for
    /// `Multi-Arch: same`, else `name`.
    pub fn info_name(&self) -> String {
        if self.multi_arch_same {
            format!("{}:{}", self.package(), self.architecture())
        } else {
            self.package().into()
        }
    }

    /// Set the `Status` field.
    pub fn set_status(&mut self, state: PkgState) {
        self.known
            .insert(Known::Status, state.status_field().into());
    }

    /// The conffiles recorded.
    pub fn conffiles(&self) -> &[Conffile] {
        &self.conffiles
    }

    /// Set the conffiles recorded.
    pub fn set_conffiles(&mut self, conffiles: Vec<Conffile>) {
        self.conffiles = conffiles;
    }

    /// The paragraph as dpkg's `write_record` writes it, ending in a
    /// newline (without the empty line that separates paragraphs).
    pub fn encode(&self) -> String {
        let mut s = String::new();
        for (k, name) in FIELDINFOS {
            if k == Known::Conffiles && !self.conffiles.is_empty() {
                s.push_str("Conffiles:\n");
                for c in &self.conffiles {
                    s.push_str(&c.encode());
                }
            }
            if let Some(v) = self.known.get(&k) {
                s.push_str(&format!("{name}: {v}\n"));
            }
        }
        for (name, v) in &self.arbitrary {
            s.push_str(&format!("{name}: {v}\n"));
        }
        s
    }
}

/// A field's value as dpkg keeps it: from after the colon and any blanks
/// to the end of the field, trailing whitespace dropped. This differs
/// from [`Field::value`] only when the first line is empty
/// (`Description:\n text`), which dpkg keeps as `Description: \n text`.
/// The field borrows from `text`, so its place there is known.
fn raw_value<'t>(text: &'t str, f: &Field<'t>) -> &'t str {
    let base = text.as_ptr() as usize;
    let (Some(name_at), Some(value_at)) = (
        (f.name.as_ptr() as usize).checked_sub(base),
        (f.value.as_ptr() as usize).checked_sub(base),
    ) else {
        return f.value;
    };
    let name_end = name_at.saturating_add(f.name.len());
    let value_end = value_at.saturating_add(f.value.len());
    let Some(colon) = text.get(name_end..).and_then(|t| t.find(':')) else {
        return f.value;
    };
    let start = name_end.saturating_add(colon).saturating_add(1);
    match text.get(start..value_end) {
        Some(raw) if start <= value_at => raw.trim_start_matches([' ', '\t']),
        _ => f.value,
    }
}

/// A known field's value as dpkg re-prints it; `None` to drop it.
fn normalise(package: &str, k: Known, value: &str) -> Result<Option<String>> {
    let bad = |reason: String| Error::BadValue {
        package: package.into(),
        field: k.name().into(),
        value: value.into(),
        reason,
    };
    let bad_version = |source| Error::BadVersion {
        package: package.into(),
        field: k.name().into(),
        source,
    };
    Ok(match k {
        Known::Package => {
            if let Some(why) = package_name_problem(value) {
                return Err(bad(why));
            }
            Some(value.to_ascii_lowercase())
        }
        Known::Essential | Known::Protected => {
            match value.to_ascii_lowercase().as_str() {
                "yes" => Some("yes".into()),
                "no" => None,
                _ => return Err(bad("must be yes or no".into())),
            }
        }
        Known::MultiArch => match value.to_ascii_lowercase().as_str() {
            "no" => None,
            v @ ("same" | "allowed" | "foreign") => Some(v.into()),
            _ => {
                return Err(bad("must be no, same, allowed or foreign".into()))
            }
        },
        Known::Priority => {
            let lower = value.to_ascii_lowercase();
            Some(
                if matches!(
                    lower.as_str(),
                    "required"
                        | "important"
                        | "standard"
                        | "optional"
                        | "extra"
                ) {
                    lower
                } else {
                    value.into()
                },
            )
        }
        Known::Architecture => {
            if let Some(why) = arch_name_problem(value) {
                return Err(bad(why));
            }
            Some(value.into())
        }
        Known::Version | Known::ConfigVersion => {
            Some(Version::parse(value).map_err(bad_version)?.to_string())
        }
        _ => match k.relation() {
            Some(alternatives) => Some(
                format_relations(value, alternatives).map_err(|e| match e {
                    RelError::Reason(r) => bad(r),
                    RelError::Version(v) => bad_version(v),
                })?,
            ),
            None => Some(value.into()),
        },
    })
}

/// The `Conffiles` field of a `status` paragraph.
fn parse_status_conffiles(package: &str, value: &str) -> Result<Vec<Conffile>> {
    let mut out = Vec::new();
    for (i, line) in value.lines().enumerate() {
        let mut words = line.split_ascii_whitespace();
        let Some(path) = words.next() else { continue };
        let bad = || Error::BadValue {
            package: package.into(),
            field: "Conffiles".into(),
            value: line.into(),
            reason: format!("line {} is not \"path hash [flags]\"", i + 1),
        };
        let hash = words.next().ok_or_else(bad)?;
        let mut c = Conffile {
            path: path.into(),
            hash: hash.into(),
            obsolete: false,
            remove_on_upgrade: false,
        };
        for flag in words {
            match flag {
                "obsolete" => c.obsolete = true,
                "remove-on-upgrade" => c.remove_on_upgrade = true,
                _ => return Err(bad()),
            }
        }
        out.push(c);
    }
    Ok(out)
}

/// Why `name` is no valid package name (dpkg's `pkg_name_is_illegal`).
fn package_name_problem(name: &str) -> Option<String> {
    let Some(first) = name.chars().next() else {
        return Some("may not be empty".into());
    };
    if !first.is_ascii_alphanumeric() {
        return Some("must start with a letter or digit".into());
    }
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-+._".contains(*c)))
        .map(|c| format!("character {c} is not allowed in a package name"))
}

/// Why `arch` is no valid architecture name (dpkg's
/// `dpkg_arch_name_is_illegal`).
fn arch_name_problem(arch: &str) -> Option<String> {
    let Some(first) = arch.chars().next() else {
        return Some("may not be empty".into());
    };
    if !first.is_ascii_alphanumeric() {
        return Some("must start with a letter or digit".into());
    }
    arch.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        .map(|c| format!("character {c} is not allowed in an architecture"))
}

/// Why a relationship field is refused.
#[derive(Debug)]
enum RelError {
    Reason(String),
    Version(VersionError),
}

/// dpkg's `c_isspace`.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// A relationship field re-printed as dpkg's `varbufdependency` does.
fn format_relations(
    value: &str,
    alternatives: bool,
) -> std::result::Result<String, RelError> {
    let mut out = String::with_capacity(value.len());
    for (i, item) in value.split(',').enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if !alternatives && item.contains('|') {
            return Err(RelError::Reason(
                "alternatives (|) are not allowed in this field".into(),
            ));
        }
        for (j, alt) in item.split('|').enumerate() {
            if j > 0 {
                out.push_str(" | ");
            }
            format_relation(alt, &mut out)?;
        }
    }
    Ok(out)
}

fn format_relation(
    alt: &str,
    out: &mut String,
) -> std::result::Result<(), RelError> {
    let reason = |s: String| Err(RelError::Reason(s));
    let s = alt.trim_matches(is_space);
    let name_len = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || "-+._".contains(c)))
        .unwrap_or(s.len());
    let (name, mut rest) = s.split_at(name_len);
    if name.is_empty() {
        return reason("missing package name".into());
    }
    if let Some(why) = package_name_problem(name) {
        return reason(format!("package {name}: {why}"));
    }
    out.push_str(&name.to_ascii_lowercase());
    if let Some(r) = rest.strip_prefix(':') {
        let len = r
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(r.len());
        let (arch, r) = r.split_at(len);
        if let Some(why) = arch_name_problem(arch) {
            return reason(format!("architecture of {name}: {why}"));
        }
        out.push(':');
        out.push_str(arch);
        rest = r;
    }
    rest = rest.trim_start_matches(is_space);
    if let Some(r) = rest.strip_prefix('(') {
        let r = r.trim_start_matches(is_space);
        // The obsolete `<` and `>` mean `<=` and `>=`.
        let ops = [
            ("<<", "<<"),
            ("<=", "<="),
            (">>", ">>"),
            (">=", ">="),
            ("=", "="),
            ("<", "<="),
            (">", ">="),
        ];
        let Some((op, r)) = ops
            .iter()
            .find_map(|(spelt, op)| r.strip_prefix(spelt).map(|r| (*op, r)))
        else {
            return reason(format!("bad version relation for {name}"));
        };
        let Some((version, r)) = r.split_once(')') else {
            return reason(format!("missing ) after the version of {name}"));
        };
        let version = version.trim_matches(is_space);
        if version.is_empty() || version.contains(is_space) {
            return reason(format!("bad version for {name}"));
        }
        let v = Version::parse(version).map_err(RelError::Version)?;
        out.push_str(&format!(" ({op} {v})"));
        rest = r.trim_start_matches(is_space);
    }
    if rest.starts_with(['[', '<']) {
        return reason(format!(
            "{name}: architecture and build-profile restrictions are not \
             allowed in a binary package"
        ));
    }
    if !rest.is_empty() {
        return reason(format!("garbage after {name}"));
    }
    Ok(())
}

/// MD5 (RFC 1321), for conffile hashes and computed `md5sums`, which
/// dpkg defines as MD5; no MD5 crate is a dependency, and this is small.
#[derive(Debug, Clone)]
struct Md5 {
    state: [u32; 4],
    block: [u8; 64],
    filled: usize,
    total: u64,
}

/// Per-round left rotations.
const MD5_S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, //
    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, //
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, //
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

/// `floor(abs(sin(i + 1)) * 2^32)` (a test recomputes them).
const MD5_K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a,
    0xa8304613, 0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
    0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340,
    0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8,
    0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
    0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
    0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92,
    0xffeff47d, 0x85845dd1, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
    0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

impl Md5 {
    fn new() -> Md5 {
        Md5 {
            state: [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476],
            block: [0; 64],
            filled: 0,
            total: 0,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.total = self
            .total
            .wrapping_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
        while !data.is_empty() {
            let take = (64 - self.filled).min(data.len());
            self.block[self.filled..self.filled + take]
                .copy_from_slice(&data[..take]);
            self.filled += take;
            data = &data[take..];
            if self.filled == 64 {
                let block = self.block;
                self.compress(&block);
                self.filled = 0;
            }
        }
    }

    fn finish(mut self) -> [u8; 16] {
        let bits = self.total.wrapping_mul(8);
        self.update(&[0x80]);
        while self.filled != 56 {
            self.update(&[0]);
        }
        self.update(&bits.to_le_bytes());
        let mut out = [0u8; 16];
        for (o, s) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&s.to_le_bytes());
        }
        out
    }

    fn compress(&mut self, block: &[u8; 64]) {
        let mut m = [0u32; 16];
        for (w, b) in m.iter_mut().zip(block.chunks_exact(4)) {
            *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        let [mut a, mut b, mut c, mut d] = self.state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(MD5_K[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(MD5_S[i]));
        }
        for (s, v) in self.state.iter_mut().zip([a, b, c, d]) {
            *s = s.wrapping_add(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;
    use std::process::Command;

    fn p(s: &str) -> GuestPath {
        GuestPath::new(s).unwrap()
    }

    /// An entry of a fake package's data archive, by member name.
    #[derive(Debug, Clone)]
    enum E {
        Dir(&'static str),
        File(&'static str, &'static str, u32),
        Link(&'static str, &'static str),
        Hard(&'static str, &'static str),
    }

    impl E {
        fn member(&self) -> &'static str {
            match self {
                E::Dir(m) | E::File(m, ..) | E::Link(m, _) | E::Hard(m, _) => m,
            }
        }
        fn path(&self) -> GuestPath {
            GuestPath::from_member(self.member()).unwrap()
        }
    }

    /// A package as `dpkg-deb -b` would take it.
    struct Fake {
        name: &'static str,
        control: String,
        members: BTreeMap<String, (Vec<u8>, u32)>,
        data: Vec<E>,
    }

    const SCRIPT: &str = "#!/bin/sh\nset -e\nexit 0\n";
    const MAINT: &str = "Maintainer: Lunforge Tests <tests@example.org>\n";

    /// md5sums text for the regular files among `data`.
    fn md5sums_of(data: &[E]) -> Vec<u8> {
        let mut s = String::new();
        for e in data {
            if let E::File(m, body, _) = e {
                let mut h = Md5::new();
                h.update(body.as_bytes());
                let rel = GuestPath::from_member(m).unwrap();
                s.push_str(&format!(
                    "{}  {}\n",
                    hex::encode(h.finish()),
                    rel.relative()
                ));
            }
        }
        s.into_bytes()
    }

    /// Three packages: `bar` (Essential, files through `/bin ->
    /// usr/bin`, a hard link and a symlink, no md5sums, trigger
    /// interests), `foo-conf` (conffiles, one `remove-on-upgrade`,
    /// maintainer scripts, sloppy relationship spacing) and `libfoo1`
    /// (`Multi-Arch: same`, activates a trigger), in dpkg-deb's order.
    fn fakes() -> Vec<Fake> {
        let member = |b: &str, mode: u32| (b.as_bytes().to_vec(), mode);
        let bar_data = vec![
            E::Dir("./"),
            E::Dir("./bin/"),
            E::File("./bin/bar", "#!/bin/sh\necho bar\n", 0o755),
            E::Hard("./bin/bar2", "./bin/bar"),
            E::Dir("./usr/"),
            E::Dir("./usr/share/"),
            E::Dir("./usr/share/bar/"),
            E::File("./usr/share/bar/data", "x\n", 0o644),
            // dpkg-deb puts symlinks last.
            E::Link("./bin/barlink", "bar"),
        ];
        let bar = Fake {
            name: "bar",
            control: format!(
                "Package: bar\nVersion: 0.9\nArchitecture: amd64\n\
                 Essential: yes\n{MAINT}Installed-Size: 4\nSection: utils\n\
                 Priority: required\nDescription: bar tool\n Does bar.\n"
            ),
            members: [(
                "triggers".to_string(),
                member(
                    "# file and explicit interests\n\
                     interest-noawait /usr/share/bar\ninterest ldconfig\n",
                    0o644,
                ),
            )]
            .into(),
            data: bar_data,
        };
        let conf_data = vec![
            E::Dir("./"),
            E::Dir("./etc/"),
            E::File("./etc/foo.conf", "answer = 42\n", 0o644),
            E::Dir("./usr/"),
            E::Dir("./usr/share/"),
            E::Dir("./usr/share/doc/"),
            E::Dir("./usr/share/doc/foo-conf/"),
            E::File("./usr/share/doc/foo-conf/copyright", "(c)\n", 0o644),
        ];
        let mut conf_members: BTreeMap<String, (Vec<u8>, u32)> =
            ["preinst", "postinst", "prerm", "postrm", "config"]
                .iter()
                .map(|n| (n.to_string(), member(SCRIPT, 0o755)))
                .collect();
        conf_members.insert(
            "conffiles".into(),
            member(
                "/etc/foo.conf\nremove-on-upgrade /etc/foo-old.conf\n",
                0o644,
            ),
        );
        conf_members.insert(
            "templates".into(),
            member("Template: foo/q\nType: boolean\n", 0o644),
        );
        conf_members.insert("md5sums".into(), (md5sums_of(&conf_data), 0o644));
        let conf = Fake {
            name: "foo-conf",
            control: format!(
                "Package: foo-conf\nVersion: 2.0-1\nArchitecture: all\n\
                 {MAINT}Installed-Size: 8\nPre-Depends: bar\n\
                 Depends: libfoo1(>=1:2.0) ,  bar |baz\nRecommends: bar\n\
                 Conflicts: foo-old\nBreaks: foo-old (<< 1.0)\n\
                 Replaces: foo-old (<< 1.0)\nSection: admin\n\
                 Priority: Optional\nMulti-Arch: foreign\nEssential: no\n\
                 Description: foo configuration\n Config files for foo.\n \
                 .\n Second paragraph.\nX-Custom: kept\n"
            ),
            members: conf_members,
            data: conf_data,
        };
        let lib_data = vec![
            E::Dir("./"),
            E::Dir("./usr/"),
            E::Dir("./usr/lib/"),
            E::Dir("./usr/lib/x86_64-linux-gnu/"),
            E::File("./usr/lib/x86_64-linux-gnu/libfoo.so.1.0", "ELF\n", 0o644),
            E::Link("./usr/lib/x86_64-linux-gnu/libfoo.so.1", "libfoo.so.1.0"),
        ];
        let lib = Fake {
            name: "libfoo1",
            control: format!(
                "Package: libfoo1\nSource: foo (2.0-1)\nVersion: 1:2.0-1\n\
                 Architecture: amd64\n{MAINT}Installed-Size: 20\n\
                 Depends: bar\nSection: libs\nPriority: optional\n\
                 Multi-Arch: same\nHomepage: https://example.org/foo\n\
                 Description: foo library\n The foo library.\n"
            ),
            members: [
                ("md5sums".to_string(), (md5sums_of(&lib_data), 0o644)),
                (
                    "shlibs".into(),
                    member("libfoo 1 libfoo1 (>= 1:2.0)\n", 0o644),
                ),
                (
                    "symbols".into(),
                    member("libfoo.so.1 libfoo1 #MINVER#\n", 0o644),
                ),
                (
                    "triggers".into(),
                    member("activate-noawait ldconfig\n", 0o644),
                ),
            ]
            .into(),
            data: lib_data,
        };
        vec![bar, conf, lib]
    }

    /// A merged-/usr tree holding the fakes' data.
    fn tree_of(fakes: &[Fake]) -> Tree {
        let mut t = Tree::new(0).unwrap();
        t.create_dirs(&p("/usr/bin"), &Meta::root(0o755, 0))
            .unwrap();
        t.insert(
            &p("/bin"),
            Meta::root(0o777, 0),
            Kind::Symlink("usr/bin".into()),
        )
        .unwrap();
        for f in fakes {
            for e in &f.data {
                let at = e.path();
                match e {
                    E::Dir(_) => {
                        t.insert(&at, Meta::root(0o755, 0), Kind::Dir).unwrap();
                    }
                    E::File(_, body, mode) => {
                        t.write_file(
                            &at,
                            Meta::root(*mode, 0),
                            body.as_bytes(),
                        )
                        .unwrap();
                    }
                    E::Link(_, target) => {
                        t.insert(
                            &at,
                            Meta::root(0o777, 0),
                            Kind::Symlink((*target).into()),
                        )
                        .unwrap();
                    }
                    E::Hard(_, target) => {
                        t.link(&at, &GuestPath::from_member(target).unwrap())
                            .unwrap();
                    }
                }
            }
        }
        t
    }

    fn paths_of(fakes: &[Fake]) -> Vec<Vec<GuestPath>> {
        fakes
            .iter()
            .map(|f| f.data.iter().map(E::path).collect())
            .collect()
    }

    fn installed<'a>(
        fakes: &'a [Fake],
        paths: &'a [Vec<GuestPath>],
        state: PkgState,
    ) -> Vec<Installed<'a>> {
        fakes
            .iter()
            .zip(paths)
            .map(|(f, paths)| Installed {
                control: &f.control,
                control_files: &f.members,
                paths,
                status: state,
            })
            .collect()
    }

    /// The fakes written into a fresh tree in `state`.
    fn written(state: PkgState) -> Tree {
        let fakes = fakes();
        let mut t = tree_of(&fakes);
        let paths = paths_of(&fakes);
        write(
            &mut t,
            "amd64",
            &installed(&fakes, &paths, state),
            1_700_000_000,
        )
        .unwrap();
        t
    }

    fn text(t: &Tree, path: &str) -> String {
        let Some(Kind::File(c)) = t.get(&p(path)).map(|n| &n.kind) else {
            panic!("{path} is no file in the tree");
        };
        String::from_utf8(t.spool().read(c).unwrap()).unwrap()
    }

    const STATUS_UNPACKED: &str = "\
Package: bar
Essential: yes
Status: install ok unpacked
Priority: required
Section: utils
Installed-Size: 4
Maintainer: Lunforge Tests <tests@example.org>
Architecture: amd64
Version: 0.9
Description: bar tool
 Does bar.

Package: foo-conf
Status: install ok unpacked
Priority: optional
Section: admin
Installed-Size: 8
Maintainer: Lunforge Tests <tests@example.org>
Architecture: all
Multi-Arch: foreign
Version: 2.0-1
Replaces: foo-old (<< 1.0)
Depends: libfoo1 (>= 1:2.0), bar | baz
Pre-Depends: bar
Recommends: bar
Breaks: foo-old (<< 1.0)
Conflicts: foo-old
Conffiles:
 /etc/foo.conf newconffile
 /etc/foo-old.conf newconffile remove-on-upgrade
Description: foo configuration
 Config files for foo.
 .
 Second paragraph.
X-Custom: kept

Package: libfoo1
Status: install ok unpacked
Priority: optional
Section: libs
Installed-Size: 20
Maintainer: Lunforge Tests <tests@example.org>
Architecture: amd64
Multi-Arch: same
Source: foo (2.0-1)
Version: 1:2.0-1
Depends: bar
Description: foo library
 The foo library.
Homepage: https://example.org/foo

";

    #[test]
    fn status_has_dpkgs_field_order_and_spelling() {
        let t = written(PkgState::Unpacked);
        assert_eq!(text(&t, "/var/lib/dpkg/status"), STATUS_UNPACKED);
    }

    #[test]
    fn installed_status_records_conffile_hashes() {
        let t = written(PkgState::Installed);
        let want = STATUS_UNPACKED
            .replace("install ok unpacked", "install ok installed")
            .replace(
                " /etc/foo.conf newconffile\n",
                // md5("answer = 42\n")
                &format!(" /etc/foo.conf {}\n", {
                    let mut h = Md5::new();
                    h.update(b"answer = 42\n");
                    hex::encode(h.finish())
                }),
            );
        assert_eq!(text(&t, "/var/lib/dpkg/status"), want);
        // Installed conffiles stay in place.
        assert!(t.get(&p("/etc/foo.conf")).is_some());
        assert!(t.get(&p("/etc/foo.conf.dpkg-new")).is_none());
    }

    #[test]
    fn unpacked_conffiles_are_set_aside() {
        let t = written(PkgState::Unpacked);
        assert!(t.get(&p("/etc/foo.conf")).is_none());
        assert_eq!(text(&t, "/etc/foo.conf.dpkg-new"), "answer = 42\n");
        // The list names the conffile, not its temporary name.
        assert!(text(&t, "/var/lib/dpkg/info/foo-conf.list")
            .contains("\n/etc/foo.conf\n"));
    }

    #[test]
    fn info_files_names_modes_and_contents() {
        let t = written(PkgState::Unpacked);
        let mut got = Vec::new();
        for (path, _, inode) in t.iter() {
            if path.starts_with(&p("/var/lib/dpkg")) {
                assert_eq!((inode.meta.uid, inode.meta.gid), (0, 0));
                got.push(format!(
                    "{}{:o} {}",
                    inode.kind.letter(),
                    inode.meta.mode,
                    path
                ));
            }
        }
        let want = "\
d755 /var/lib/dpkg
d755 /var/lib/dpkg/alternatives
-644 /var/lib/dpkg/arch
d755 /var/lib/dpkg/info
-644 /var/lib/dpkg/info/bar.list
-644 /var/lib/dpkg/info/bar.md5sums
-644 /var/lib/dpkg/info/bar.triggers
-644 /var/lib/dpkg/info/foo-conf.conffiles
-755 /var/lib/dpkg/info/foo-conf.config
-644 /var/lib/dpkg/info/foo-conf.list
-644 /var/lib/dpkg/info/foo-conf.md5sums
-755 /var/lib/dpkg/info/foo-conf.postinst
-755 /var/lib/dpkg/info/foo-conf.postrm
-755 /var/lib/dpkg/info/foo-conf.preinst
-755 /var/lib/dpkg/info/foo-conf.prerm
-644 /var/lib/dpkg/info/foo-conf.templates
-644 /var/lib/dpkg/info/format
-644 /var/lib/dpkg/info/libfoo1:amd64.list
-644 /var/lib/dpkg/info/libfoo1:amd64.md5sums
-644 /var/lib/dpkg/info/libfoo1:amd64.shlibs
-644 /var/lib/dpkg/info/libfoo1:amd64.symbols
-644 /var/lib/dpkg/info/libfoo1:amd64.triggers
-640 /var/lib/dpkg/lock
-640 /var/lib/dpkg/lock-frontend
-644 /var/lib/dpkg/status
d755 /var/lib/dpkg/triggers
-644 /var/lib/dpkg/triggers/File
-600 /var/lib/dpkg/triggers/Lock
-644 /var/lib/dpkg/triggers/Unincorp
-644 /var/lib/dpkg/triggers/ldconfig
d755 /var/lib/dpkg/updates";
        assert_eq!(got.join("\n"), want);
        assert_eq!(text(&t, "/var/lib/dpkg/arch"), "amd64\n");
        assert_eq!(text(&t, "/var/lib/dpkg/info/format"), "1\n");
        assert_eq!(
            text(&t, "/var/lib/dpkg/info/bar.list"),
            "/.\n/bin\n/bin/bar\n/bin/bar2\n/usr\n/usr/share\n/usr/share/bar\n\
             /usr/share/bar/data\n/bin/barlink\n"
        );
        assert_eq!(
            text(&t, "/var/lib/dpkg/info/libfoo1:amd64.list"),
            "/.\n/usr\n/usr/lib\n/usr/lib/x86_64-linux-gnu\n\
             /usr/lib/x86_64-linux-gnu/libfoo.so.1.0\n\
             /usr/lib/x86_64-linux-gnu/libfoo.so.1\n"
        );
        // Computed for bar, which ships none: files and hard links, in
        // archive order, not the symlink.
        let md5 = |b: &[u8]| {
            let mut h = Md5::new();
            h.update(b);
            hex::encode(h.finish())
        };
        let sh = md5(b"#!/bin/sh\necho bar\n");
        assert_eq!(
            text(&t, "/var/lib/dpkg/info/bar.md5sums"),
            format!(
                "{sh}  bin/bar\n{sh}  bin/bar2\n{}  usr/share/bar/data\n",
                md5(b"x\n")
            )
        );
        assert_eq!(
            text(&t, "/var/lib/dpkg/triggers/File"),
            "/usr/share/bar bar/noawait\n"
        );
        assert_eq!(text(&t, "/var/lib/dpkg/triggers/ldconfig"), "bar\n");
        assert_eq!(text(&t, "/var/lib/dpkg/triggers/Unincorp"), "");
        let mtime = t.get(&p("/var/lib/dpkg/status")).unwrap().meta.mtime;
        assert_eq!(mtime, 1_700_000_000);
    }

    /// Every file, directory and link under `/var/lib/dpkg` with its
    /// metadata and bytes.
    fn snapshot(t: &Tree) -> Vec<(String, Meta, Vec<u8>)> {
        t.iter()
            .filter(|(path, ..)| {
                path.starts_with(&p("/etc")) || path.starts_with(&p(ADMINDIR))
            })
            .map(|(path, _, inode)| {
                let bytes = match &inode.kind {
                    Kind::File(c) => t.spool().read(c).unwrap(),
                    Kind::Symlink(s) => s.as_bytes().to_vec(),
                    _ => Vec::new(),
                };
                (path.to_string(), inode.meta.clone(), bytes)
            })
            .collect()
    }

    #[test]
    fn deterministic() {
        for state in [PkgState::Unpacked, PkgState::Installed] {
            let a = written(state);
            let b = written(state);
            assert_eq!(snapshot(&a), snapshot(&b));
            // Writing again changes nothing either.
            let fakes = fakes();
            let paths = paths_of(&fakes);
            let mut c = written(state);
            write(
                &mut c,
                "amd64",
                &installed(&fakes, &paths, state),
                1_700_000_000,
            )
            .unwrap();
            assert_eq!(snapshot(&a), snapshot(&c));
        }
    }

    #[test]
    fn computed_md5sums_cover_conffiles_set_aside() {
        let mut fakes = fakes();
        fakes[1].members.remove("md5sums");
        let paths = paths_of(&fakes);
        let pkgs = installed(&fakes, &paths, PkgState::Unpacked);
        let mut t = tree_of(&fakes);
        let want = String::from_utf8(md5sums_of(&fakes[1].data)).unwrap();
        for _ in 0..2 {
            write(&mut t, "amd64", &pkgs, 0).unwrap();
            assert_eq!(text(&t, "/var/lib/dpkg/info/foo-conf.md5sums"), want);
        }
    }

    #[test]
    fn arch_native_only_with_a_dpkg_that_writes_it() {
        let none = BTreeMap::new();
        let has = |version: &str| {
            let control = format!(
                "Package: dpkg\nVersion: {version}\nArchitecture: amd64\n"
            );
            let t = Tree::new(0).unwrap();
            let pkgs = [Installed {
                control: &control,
                control_files: &none,
                paths: &[],
                status: PkgState::Unpacked,
            }];
            let plan = plan(&t, "amd64", &pkgs).unwrap();
            plan.files.contains_key(&p("/var/lib/dpkg/arch-native"))
        };
        assert!(!has("1.21.22"));
        assert!(!has("1.22.15"));
        assert!(has("1.22.16"));
        assert!(has("1.22.21"));
    }

    /// Parse `control` and encode it as unpacked.
    fn status_of(control: &str) -> Result<String> {
        let mut r = StatusRecord::from_control(control)?;
        r.set_status(PkgState::Unpacked);
        Ok(r.encode())
    }

    #[test]
    fn normalises_as_dpkg_does() {
        // Given to dpkg 1.21.22 (`dpkg-deb --nocheck -b`, then `dpkg
        // --unpack`), which wrote the paragraph below.
        let control = "\
Package: Weird
Version: 0:1.0-1
X-Custom: first
Architecture: amd64
Filename: pool/x.deb
Size: 123
MD5sum: abc
SHA256: def
Homepage: http://x
Depends: foo(>=1.0),bar |baz:any,  qux (<< 2) , zz (< 3), yy (>4)
Recommended: rec
Provides: x (= 0:1)
Priority: Optional
Essential: Yes
Multi-Arch: Same
Source: src (1.0)
Maintainer: X <x@y>
Description: test  
 long   
 .
Built-Using: foo (= 1)
Installed-Size: 5
";
        let dpkg = "\
Package: weird
Essential: yes
Status: install ok unpacked
Priority: optional
Installed-Size: 5
Maintainer: X <x@y>
Architecture: amd64
Multi-Arch: same
Source: src (1.0)
Version: 1.0-1
Provides: x (= 1)
Depends: foo (>= 1.0), bar | baz:any, qux (<< 2), zz (<= 3), yy (>= 4)
Recommends: rec
Description: test  
 long   
 .
X-Custom: first
SHA256: def
Homepage: http://x
Built-Using: foo (= 1)
";
        assert_eq!(status_of(control).unwrap(), dpkg);
        // Also from dpkg 1.21.22: an empty first line is kept, empty
        // known fields go, empty unknown ones stay; Revision and Class.
        assert_eq!(
            status_of(
                "Package: e\nVersion: 1\nRevision: 3\nArchitecture: all\n\
                 Depends:\nX-Empty:\nBugs: \n Foo\nMaintainer: m\n\
                 Description:\n long\nClass: Extra\nX-Multi:\n a\n b\n"
            )
            .unwrap(),
            "Package: e\nStatus: install ok unpacked\nPriority: extra\n\
             Maintainer: m\nBugs: \n Foo\nArchitecture: all\nVersion: 1-3\n\
             Description: \n long\nX-Empty: \nX-Multi: \n a\n b\n"
        );
        assert_eq!(
            status_of(
                "Package: e\nVersion: 1\nArchitecture: all\n\
                 Depends: a:any (>= 1), B:amd64\nProvides: a (>= 1)\n"
            )
            .unwrap(),
            "Package: e\nStatus: install ok unpacked\nArchitecture: all\n\
             Version: 1\nProvides: a (>= 1)\nDepends: a:any (>= 1), b:amd64\n"
        );
    }

    #[test]
    fn control_errors_name_the_package_and_field() {
        let base = "Package: e\nVersion: 1\nArchitecture: all\n";
        let err =
            |extra: &str| status_of(&format!("{base}{extra}")).unwrap_err();
        let msg = |extra: &str| err(extra).to_string();
        // dpkg 1.21.22 refuses each of these.
        assert_eq!(msg("Version: 2\n"), "e: control: duplicate Version field");
        assert_eq!(
            msg("Recommends: a\nRecommended: b\n"),
            "e: control: duplicate Recommends field"
        );
        assert_eq!(msg("X-A: 1\nx-a: 2\n"), "e: control: duplicate x-a field");
        assert_eq!(
            msg("Status: install ok installed\n"),
            "e: control: field Status is not allowed in a control file"
        );
        assert!(matches!(
            err("Conffiles:\n /etc/x 123\n"),
            Error::NotAllowed { .. }
        ));
        assert_eq!(msg("X: y\n"), "e: control: field name \"X\" is too short");
        assert_eq!(
            msg("X Y: z\n"),
            "e: control: field name \"X Y\" contains a blank"
        );
        assert_eq!(
            msg("-X: y\n"),
            "e: control: field name \"-X\" starts with a hyphen"
        );
        assert_eq!(
            msg("Essential: maybe\n"),
            "e: control: Essential: bad value \"maybe\": must be yes or no"
        );
        assert!(matches!(err("Multi-Arch: bogus\n"), Error::BadValue { .. }));
        assert_eq!(
            msg("Depends: a, , b\n"),
            "e: control: Depends: bad value \"a, , b\": missing package name"
        );
        assert!(matches!(err("Depends: a,\n"), Error::BadValue { .. }));
        assert!(matches!(
            err("Depends: a [amd64]\n"),
            Error::BadValue { .. }
        ));
        assert!(matches!(
            err("Depends: a <!nocheck>\n"),
            Error::BadValue { .. }
        ));
        assert!(matches!(err("Depends: a (>= 1\n"), Error::BadValue { .. }));
        assert!(matches!(err("Depends: a (~ 1)\n"), Error::BadValue { .. }));
        assert!(matches!(
            err("Depends: a (>= 1 2)\n"),
            Error::BadValue { .. }
        ));
        assert!(matches!(err("Depends: -a\n"), Error::BadValue { .. }));
        assert!(matches!(err("Depends: a:\n"), Error::BadValue { .. }));
        assert!(matches!(
            err("Depends: a (>= 1.0-)\n"),
            Error::BadVersion { .. }
        ));
        assert_eq!(
            msg("Conflicts: a | b\n"),
            "e: control: Conflicts: bad value \"a | b\": alternatives (|) are \
             not allowed in this field"
        );
        for (text, field) in [
            ("Version: 1\nArchitecture: all\n", "Package"),
            ("Package: e\nArchitecture: all\n", "Version"),
            ("Package: e\nVersion: 1\n", "Architecture"),
            ("Package: e\nVersion:\nArchitecture: all\n", "Version"),
        ] {
            assert!(
                matches!(
                    status_of(text),
                    Err(Error::MissingField { field: f, .. }) if f == field
                ),
                "{text}"
            );
        }
        assert!(matches!(
            status_of("Package: e\nVersion: 1:\nArchitecture: all\n"),
            Err(Error::BadVersion { .. })
        ));
        assert!(matches!(
            status_of("Package: E_x!\nVersion: 1\nArchitecture: all\n"),
            Err(Error::BadValue { .. })
        ));
        assert!(matches!(
            status_of(&format!("{base}\nPackage: f\n")),
            Err(Error::Malformed { .. })
        ));
        assert!(matches!(status_of(""), Err(Error::Malformed { .. })));
        assert!(matches!(
            status_of("Package: e\nnot a field\n"),
            Err(Error::Syntax { .. })
        ));
    }

    #[test]
    fn conffiles_member_as_dpkg_reads_it() {
        let ok = |s: &str| parse_conffiles("p", s.as_bytes()).unwrap();
        assert_eq!(
            ok("/etc/a\n  \nremove-on-upgrade /etc/b\n/etc/c  \n"),
            [
                (p("/etc/a"), false),
                (p("/etc/b"), true),
                (p("/etc/c"), false)
            ]
        );
        assert!(ok("").is_empty());
        let bad = |s: &str| {
            parse_conffiles("p", s.as_bytes()).unwrap_err().to_string()
        };
        assert_eq!(bad("/etc/a"), "p: conffiles line 1: missing final newline");
        assert_eq!(bad("/etc/a\n\n"), "p: conffiles line 2: empty line");
        assert_eq!(
            bad("etc/a\n"),
            "p: conffiles line 1: etc/a is not an absolute path"
        );
        assert_eq!(
            bad("keep /etc/a\n"),
            "p: conffiles line 1: unknown flag keep for /etc/a"
        );
        assert_eq!(
            bad("remove-on-upgrade etc/a\n"),
            "p: conffiles line 1: etc/a is not an absolute path"
        );
        assert!(bad("/etc/../x\n").starts_with("p: conffiles line 1: "));
    }

    #[test]
    fn triggers_member_as_dpkg_reads_it() {
        let ok = |s: &str| parse_triggers("p", s.as_bytes()).unwrap();
        let i = |name: &str, noawait| Interest {
            name: name.into(),
            noawait,
        };
        assert_eq!(
            ok(
                "# c\n  interest-noawait   /usr/lib/x  \ninterest-await foo\n\
                \ninterest bar\nactivate-noawait ldconfig\n"
            ),
            [i("/usr/lib/x", true), i("foo", false), i("bar", false)]
        );
        let bad = |s: &str| {
            parse_triggers("p", s.as_bytes()).unwrap_err().to_string()
        };
        assert_eq!(
            bad("interest\n"),
            "p: triggers line 1: directive interest has no trigger"
        );
        assert_eq!(
            bad("x\nwatch foo\n"),
            "p: triggers line 1: directive x has no trigger"
        );
        assert_eq!(
            bad("watch foo\n"),
            "p: triggers line 1: unknown directive watch"
        );
        assert_eq!(
            bad("interest a b\n"),
            "p: triggers line 1: bad trigger name a b"
        );
        assert_eq!(
            bad("interest a/b\n"),
            "p: triggers line 1: bad trigger name a/b"
        );
        assert_eq!(
            bad("interest File\n"),
            "p: triggers line 1: bad trigger name File"
        );
    }

    #[test]
    fn explicit_interest_last_wins_file_interest_first_wins() {
        let mut members = BTreeMap::new();
        members.insert(
            "triggers".to_string(),
            (
                b"interest-noawait /x\ninterest /x\ninterest t\ninterest-noawait t\n"
                    .to_vec(),
                0o644,
            ),
        );
        let control = "Package: a\nVersion: 1\nArchitecture: all\n";
        let t = Tree::new(0).unwrap();
        let plan = plan(
            &t,
            "amd64",
            &[Installed {
                control,
                control_files: &members,
                paths: &[],
                status: PkgState::Unpacked,
            }],
        )
        .unwrap();
        let f = |s: &str| {
            String::from_utf8(plan.files[&p(s)].bytes.clone()).unwrap()
        };
        assert_eq!(f("/var/lib/dpkg/triggers/File"), "/x a/noawait\n");
        assert_eq!(f("/var/lib/dpkg/triggers/t"), "a/noawait\n");
        // An empty package still gets its list and computed md5sums.
        assert_eq!(f("/var/lib/dpkg/info/a.list"), "");
        assert_eq!(f("/var/lib/dpkg/info/a.md5sums"), "");
    }

    #[test]
    fn set_errors() {
        let fakes = fakes();
        let paths = paths_of(&fakes);
        let t = tree_of(&fakes);
        let mut pkgs = installed(&fakes, &paths, PkgState::Unpacked);
        assert_eq!(
            plan(&t, "i386", &pkgs).unwrap_err().to_string(),
            "bar: control: architecture amd64 is neither i386 nor all"
        );
        assert_eq!(
            plan(&t, "amd 64", &pkgs).unwrap_err().to_string(),
            "bad system architecture \"amd 64\""
        );
        pkgs.push(pkgs[0]);
        assert_eq!(
            plan(&t, "amd64", &pkgs).unwrap_err().to_string(),
            "bar: control: package given twice"
        );
        // An installed package's conffile must be a file in the tree.
        let mut t = tree_of(&fakes);
        t.remove(&p("/etc/foo.conf")).unwrap();
        let pkgs = installed(&fakes, &paths, PkgState::Installed);
        assert_eq!(
            plan(&t, "amd64", &pkgs).unwrap_err().to_string(),
            "foo-conf: conffiles: /etc/foo.conf is not a regular file in the \
             tree"
        );
        // A member name that cannot be a file.
        let mut members = fakes[0].members.clone();
        members.insert("a/b".into(), (Vec::new(), 0o644));
        let t = tree_of(&fakes);
        let bad = [Installed {
            control: &fakes[0].control,
            control_files: &members,
            paths: &paths[0],
            status: PkgState::Unpacked,
        }];
        assert_eq!(
            plan(&t, "amd64", &bad).unwrap_err().to_string(),
            "bar: a/b: bad control member name"
        );
        // dpkg skips names with a dot, `control` and `list`.
        let mut members = fakes[0].members.clone();
        for n in ["control", "list", "x.sh"] {
            members.insert(n.into(), (b"x".to_vec(), 0o644));
        }
        let ok = [Installed {
            control_files: &members,
            ..bad[0]
        }];
        let plan = plan(&t, "amd64", &ok).unwrap();
        assert_eq!(
            plan.files[&p("/var/lib/dpkg/info/bar.list")].bytes,
            list(&paths[0]).into_bytes()
        );
        assert!(!plan
            .files
            .contains_key(&p("/var/lib/dpkg/info/bar.control")));
        assert!(!plan.files.contains_key(&p("/var/lib/dpkg/info/bar.x.sh")));
    }

    #[test]
    fn error_messages() {
        let e = Error::MissingField {
            package: "dash".into(),
            field: "Version",
        };
        assert_eq!(e.to_string(), "dash: control: missing Version field");
        let e = Error::Read {
            package: "dash".into(),
            path: p("/usr/bin/dash"),
            source: std::io::Error::other("short read"),
        };
        assert_eq!(e.to_string(), "dash: reading /usr/bin/dash: short read");
        let e = Error::BadTriggers {
            package: "libc-bin".into(),
            line: 2,
            reason: "unknown directive x".into(),
        };
        assert_eq!(
            e.to_string(),
            "libc-bin: triggers line 2: unknown directive x"
        );
        let e = Error::BadVersion {
            package: "a".into(),
            field: "Depends".into(),
            source: Version::parse("1.0-").unwrap_err(),
        };
        assert_eq!(
            e.to_string(),
            "a: control: Depends: empty revision in version \"1.0-\""
        );
    }

    #[test]
    fn md5_matches_rfc_1321() {
        let md5 = |b: &[u8]| {
            let mut h = Md5::new();
            h.update(b);
            hex::encode(h.finish())
        };
        // RFC 1321 appendix A.5.
        for (input, hash) in [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "1234567890123456789012345678901234567890123456789012345678901234\
                 5678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ] {
            assert_eq!(md5(input.as_bytes()), hash, "{input:?}");
        }
        // Fed in pieces across block boundaries.
        let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let mut h = Md5::new();
        for chunk in data.chunks(37) {
            h.update(chunk);
        }
        assert_eq!(hex::encode(h.finish()), md5(&data));
        for (i, k) in MD5_K.iter().enumerate() {
            let want = ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32;
            assert_eq!(*k, want, "K[{i}]");
        }
    }

    /// The host's `status`, written by dpkg, re-emitted through
    /// [`StatusRecord`] paragraph by paragraph, must come out byte for
    /// byte: field order, spelling and normalisation are dpkg's.
    #[test]
    fn host_status_round_trips_byte_for_byte() {
        let path = "/var/lib/dpkg/status";
        let text = fs::read_to_string(path).unwrap_or_else(|e| {
            panic!("{path}: {e}: this test needs a Debian host (dpkg)")
        });
        let mut out = String::with_capacity(text.len());
        let mut n = 0;
        for para in Paragraphs::new(&text) {
            let para = para.unwrap();
            let rec = StatusRecord::parse(&text, &para, Context::Status)
                .unwrap_or_else(|e| {
                    panic!("paragraph at line {}: {e}", para.line())
                });
            let enc = rec.encode();
            let start = out.len();
            out.push_str(&enc);
            out.push('\n');
            assert_eq!(
                text.get(start..out.len()),
                Some(&out[start..]),
                "paragraph at line {} differs",
                para.line()
            );
            n += 1;
        }
        assert_eq!(out, text);
        assert!(n > 0, "{path} holds no package");
    }

    /// `tool` on `PATH`, or a failure naming its Debian package.
    fn tool(tool: &str, package: &str) -> Command {
        let found = std::env::var_os("PATH")
            .map(|paths| {
                std::env::split_paths(&paths).any(|d| d.join(tool).is_file())
            })
            .unwrap_or(false);
        assert!(
            found,
            "{tool} not found: install Debian package {package} \
             (apt-get install {package})"
        );
        let mut c = Command::new(tool);
        c.env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
        c
    }

    fn run(c: &mut Command) -> String {
        let out = c.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{c:?} failed:\n{text}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// dpkg on the root at `dir`, never touching the host's database or
    /// log; maintainer scripts run without chroot (ours only `exit 0`).
    fn dpkg(dir: &Path) -> Command {
        let mut c = tool("dpkg", "dpkg");
        c.arg(format!("--root={}", dir.display()))
            .arg("--log=/dev/null")
            .arg("--force-not-root")
            .arg("--force-script-chrootless");
        c
    }

    /// Write the tree out below `dir` (no owners: works unprivileged).
    fn materialise(t: &Tree, dir: &Path) {
        let mut first: HashMap<crate::tree::InodeId, std::path::PathBuf> =
            HashMap::new();
        for (path, id, inode) in t.iter() {
            let host = dir.join(path.relative());
            match &inode.kind {
                Kind::Dir => fs::create_dir_all(&host).unwrap(),
                Kind::Symlink(target) => {
                    std::os::unix::fs::symlink(target, &host).unwrap()
                }
                Kind::File(c) => {
                    if let Some(f) = first.get(&id) {
                        fs::hard_link(f, &host).unwrap();
                        continue;
                    }
                    fs::write(&host, t.spool().read(c).unwrap()).unwrap();
                    first.insert(id, host.clone());
                }
                _ => continue,
            }
            if !matches!(inode.kind, Kind::Symlink(_)) {
                fs::set_permissions(
                    &host,
                    fs::Permissions::from_mode(inode.meta.mode),
                )
                .unwrap();
            }
        }
    }

    /// A host directory as `path -> kind, mode, bytes or target`.
    fn walk(dir: &Path) -> BTreeMap<String, String> {
        fn go(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
            let mut entries: Vec<_> = fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            for path in entries {
                let rel =
                    format!("/{}", path.strip_prefix(root).unwrap().display());
                let md = fs::symlink_metadata(&path).unwrap();
                let mode = md.mode() & 0o7777;
                let v = if md.file_type().is_symlink() {
                    format!("l -> {}", fs::read_link(&path).unwrap().display())
                } else if md.is_dir() {
                    go(root, &path, out);
                    format!("d{mode:o}")
                } else {
                    format!(
                        "-{mode:o} {:?}",
                        String::from_utf8_lossy(&fs::read(&path).unwrap())
                    )
                };
                out.insert(rel, v);
            }
        }
        let mut out = BTreeMap::new();
        go(dir, dir, &mut out);
        out
    }

    /// Build the fakes as real packages with dpkg-deb; the `.deb`s in
    /// name order.
    fn build_debs(fakes: &[Fake], dir: &Path) -> Vec<std::path::PathBuf> {
        let mut debs = Vec::new();
        for f in fakes {
            let src = dir.join("src").join(f.name);
            let ctl = src.join("DEBIAN");
            fs::create_dir_all(&ctl).unwrap();
            fs::write(ctl.join("control"), &f.control).unwrap();
            for (name, (bytes, mode)) in &f.members {
                fs::write(ctl.join(name), bytes).unwrap();
                fs::set_permissions(
                    ctl.join(name),
                    fs::Permissions::from_mode(*mode),
                )
                .unwrap();
            }
            for e in &f.data {
                let host = src.join(e.path().relative());
                match e {
                    E::Dir(_) => fs::create_dir_all(&host).unwrap(),
                    E::File(_, body, mode) => {
                        fs::write(&host, body).unwrap();
                        fs::set_permissions(
                            &host,
                            fs::Permissions::from_mode(*mode),
                        )
                        .unwrap();
                    }
                    E::Link(_, target) => {
                        std::os::unix::fs::symlink(target, &host).unwrap()
                    }
                    E::Hard(_, target) => {
                        let t = GuestPath::from_member(target).unwrap();
                        fs::hard_link(src.join(t.relative()), &host).unwrap();
                    }
                }
            }
            let deb = dir.join(format!("{}.deb", f.name));
            run(tool("dpkg-deb", "dpkg")
                .args(["--root-owner-group", "-Zgzip", "-b"])
                .arg(&src)
                .arg(&deb));
            // Our archive order is dpkg-deb's.
            let mut tar = tool("sh", "dash");
            tar.arg("-c")
                .arg("dpkg-deb --fsys-tarfile \"$1\" | tar -t")
                .arg("sh")
                .arg(&deb);
            let members: Vec<String> =
                run(&mut tar).lines().map(str::to_string).collect();
            let ours: Vec<&str> = f.data.iter().map(E::member).collect();
            assert_eq!(members, ours, "archive order of {}", f.name);
            debs.push(deb);
        }
        debs
    }

    /// A root holding `/usr/bin`, `/bin -> usr/bin` and an empty
    /// database, as the tree of [`tree_of`] starts.
    fn empty_root(dir: &Path) {
        fs::create_dir_all(dir.join("usr/bin")).unwrap();
        std::os::unix::fs::symlink("usr/bin", dir.join("bin")).unwrap();
        fs::create_dir_all(dir.join("var/lib/dpkg")).unwrap();
        fs::write(dir.join("var/lib/dpkg/status"), "").unwrap();
    }

    fn umask022(c: Command) -> Command {
        // dpkg creates its files with the umask; pin the usual one.
        let mut sh = tool("sh", "dash");
        let prog = c.get_program().to_owned();
        let args: Vec<_> = c.get_args().map(|a| a.to_owned()).collect();
        sh.arg("-c")
            .arg("umask 022; exec \"$@\"")
            .arg("sh")
            .arg(prog)
            .args(args);
        sh
    }

    /// Every `.deb` below `dir`.
    fn debs_below(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                debs_below(&path, out);
            } else if path.extension().is_some_and(|x| x == "deb") {
                out.push(path);
            }
        }
    }

    /// A root made by mmdebstrap (dpkg 1.22.22) against our database for
    /// its very packages, taken apart with dpkg-deb: `status`, every
    /// `info/` file, `triggers/`, `arch`, `arch-native` and `info/format`
    /// must be byte for byte what dpkg wrote. Needs the tarball and the
    /// `.deb`s it was made from:
    ///
    /// ```text
    /// mmdebstrap --variant=minbase trixie /tmp/mmref/trixie-minbase.tar
    /// LUNFORGE_MMREF_DEBS=<dir holding those .debs> cargo test --release \
    ///     --lib dpkg_db -- --ignored
    /// ```
    #[test]
    #[ignore = "needs /tmp/mmref/trixie-minbase.tar and its .debs"]
    fn mmdebstrap_root_has_our_database() {
        let tarball = Path::new("/tmp/mmref/trixie-minbase.tar");
        let pool = std::env::var_os("LUNFORGE_MMREF_DEBS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                "/root/.cache/lunforge-bench/mirror/pool".into()
            });
        assert!(tarball.is_file(), "{} is missing", tarball.display());
        let tmp = tempfile::tempdir().unwrap();
        let refroot = tmp.path().join("ref");
        fs::create_dir(&refroot).unwrap();
        run(tool("tar", "tar")
            .arg("-xf")
            .arg(tarball)
            .arg("-C")
            .arg(&refroot)
            .arg("./var/lib/dpkg"));
        let admin = refroot.join("var/lib/dpkg");
        let status = fs::read_to_string(admin.join("status")).unwrap();
        let wanted: BTreeSet<(String, String)> = Paragraphs::new(&status)
            .map(|p| {
                let p = p.unwrap();
                (
                    p.get("Package").unwrap().to_string(),
                    p.get("Version").unwrap().to_string(),
                )
            })
            .collect();
        let mut all = Vec::new();
        debs_below(&pool, &mut all);
        let mut debs = BTreeMap::new();
        for deb in all {
            let out = run(tool("dpkg-deb", "dpkg")
                .arg("--show")
                .arg("--showformat=${Package} ${Version}")
                .arg(&deb));
            let (name, version) = out.split_once(' ').unwrap();
            let key = (name.to_string(), version.to_string());
            if wanted.contains(&key) {
                debs.insert(key, deb);
            }
        }
        assert_eq!(debs.len(), wanted.len(), "not every .deb is in {pool:?}");

        struct Pkg {
            control: String,
            members: BTreeMap<String, (Vec<u8>, u32)>,
            paths: Vec<GuestPath>,
        }
        let mut tree = Tree::new(0).unwrap();
        let mut pkgs = Vec::new();
        for (i, deb) in debs.values().enumerate() {
            let ctl = tmp.path().join(format!("ctl{i}"));
            run(tool("dpkg-deb", "dpkg").arg("-e").arg(deb).arg(&ctl));
            let mut members = BTreeMap::new();
            for e in fs::read_dir(&ctl).unwrap() {
                let e = e.unwrap();
                let name = e.file_name().into_string().unwrap();
                let mode = e.metadata().unwrap().mode() & 0o7777;
                members.insert(name, (fs::read(e.path()).unwrap(), mode));
            }
            let control =
                String::from_utf8(members.remove("control").unwrap().0)
                    .unwrap();
            let mut sh = tool("sh", "dash");
            sh.arg("-c")
                .arg("dpkg-deb --fsys-tarfile \"$1\" | tar -t")
                .arg("sh")
                .arg(deb);
            let paths = run(&mut sh)
                .lines()
                .map(|m| GuestPath::from_member(m).unwrap())
                .collect();
            if let Some((conffiles, _)) = members.get("conffiles") {
                let data = tmp.path().join(format!("data{i}"));
                run(tool("dpkg-deb", "dpkg").arg("-x").arg(deb).arg(&data));
                for (path, rou) in parse_conffiles("?", conffiles).unwrap() {
                    if rou {
                        continue;
                    }
                    let bytes = fs::read(data.join(path.relative())).unwrap();
                    tree.create_dirs(
                        &path.parent().unwrap(),
                        &Meta::root(0o755, 0),
                    )
                    .unwrap();
                    tree.write_file(&path, Meta::root(0o644, 0), &bytes)
                        .unwrap();
                }
            }
            pkgs.push(Pkg {
                control,
                members,
                paths,
            });
        }
        let installed: Vec<Installed<'_>> = pkgs
            .iter()
            .map(|p| Installed {
                control: &p.control,
                control_files: &p.members,
                paths: &p.paths,
                status: PkgState::Installed,
            })
            .collect();
        let plan = plan(&tree, "amd64", &installed).unwrap();
        assert!(plan.files.len() > 2 * installed.len());
        for (path, f) in &plan.files {
            let host = refroot.join(path.relative());
            if [
                "lock",
                "lock-frontend",
                "triggers/Lock",
                "triggers/Unincorp",
            ]
            .iter()
            .any(|n| host == admin.join(n))
            {
                // Empty files dpkg made; only their modes to compare.
            } else {
                let theirs = fs::read(&host)
                    .unwrap_or_else(|e| panic!("{}: {e}", host.display()));
                assert!(
                    theirs == f.bytes,
                    "{path} differs:\n--- dpkg\n{}\n--- ours\n{}",
                    String::from_utf8_lossy(&theirs),
                    String::from_utf8_lossy(&f.bytes)
                );
            }
            let mode = fs::metadata(&host).unwrap().mode() & 0o7777;
            assert_eq!(mode, f.mode, "mode of {path}");
        }
        for e in fs::read_dir(admin.join("info")).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            let ours = p(&format!("{ADMINDIR}/info/{name}"));
            assert!(plan.files.contains_key(&ours), "{ours} is not ours");
        }
    }

    /// The oracle: real dpkg unpacks real packages built from the fakes
    /// into an empty root, and the whole root must equal what we write
    /// for the same packages (except `status-old`, dpkg's backup, and
    /// `arch` and `alternatives/`, which mmdebstrap adds). Then `dpkg
    /// --configure -a` on both roots must give the same database as our
    /// installed one, `--audit` silent.
    #[test]
    fn real_dpkg_unpacks_and_configures_to_the_same_root() {
        let fakes = fakes();
        let tmp = tempfile::tempdir().unwrap();
        let debs = build_debs(&fakes, tmp.path());

        let real = tmp.path().join("real");
        empty_root(&real);
        run(&mut umask022({
            let mut c = dpkg(&real);
            c.args(["--force-depends", "--unpack"]).args(&debs);
            c
        }));

        let ours = tmp.path().join("ours");
        fs::create_dir(&ours).unwrap();
        let t = written(PkgState::Unpacked);
        materialise(&t, &ours);

        let mut want = walk(&real);
        want.remove("/var/lib/dpkg/status-old");
        let mut got = walk(&ours);
        for extra in ["/var/lib/dpkg/arch", "/var/lib/dpkg/alternatives"] {
            assert!(got.remove(extra).is_some(), "{extra}");
        }
        assert_eq!(got, want);

        let audit = run(dpkg(&ours).arg("--audit"));
        assert!(
            audit.contains("have been unpacked but not yet configured"),
            "{audit}"
        );
        for name in ["bar", "foo-conf", "libfoo1:amd64"] {
            assert!(
                audit.contains(&format!("\n {name} ")),
                "{name} in {audit}"
            );
        }
        let list = run(dpkg(&ours).arg("-l"));
        for name in ["bar", "foo-conf", "libfoo1:amd64"] {
            assert!(
                list.contains(&format!("\niU  {name} ")),
                "{name} in {list}"
            );
        }

        for root in [&real, &ours] {
            run(&mut umask022({
                let mut c = dpkg(root);
                c.args(["--configure", "-a"]);
                c
            }));
            assert_eq!(run(dpkg(root).arg("--audit")), "");
            assert_eq!(run(dpkg(root).arg("--verify")), "");
        }
        let installed = written(PkgState::Installed);
        let status = text(&installed, "/var/lib/dpkg/status");
        for root in [&real, &ours] {
            assert_eq!(
                fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap(),
                status
            );
        }
        let mut configured = walk(&ours);
        configured.remove("/var/lib/dpkg/status-old");
        let ours2 = tmp.path().join("ours2");
        fs::create_dir(&ours2).unwrap();
        materialise(&installed, &ours2);
        assert_eq!(walk(&ours2), configured);
        assert_eq!(run(dpkg(&ours2).arg("--audit")), "");
        let list = run(dpkg(&ours2).arg("-l"));
        assert!(list.contains("\nii  libfoo1:amd64 "), "{list}");
    }
}
