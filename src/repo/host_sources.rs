//! The host's apt sources: which Debian archive mirror this host already
//! uses, so that a recipe may leave the mirror out.
//!
//! Spec: sources.list(5), both formats: the one-line format of
//! `/etc/apt/sources.list` and `sources.list.d/*.list`
//! (`deb [ opt=value … ] uri suite [component …]`), and the deb822
//! format of `sources.list.d/*.sources` (read with [`super::deb822`]).
//!
//! Why read the host's sources: like mmdebstrap, lunforge should work
//! without being told a mirror, and the host's own apt configuration names
//! the one mirror known to be reachable (and possibly a local proxy or
//! snapshot) from this host. Why by hand: apt's parser lives in the C++
//! libapt-pkg, and the part we need (which files apt reads, in which
//! order, and the fields of an entry) is small. We follow apt's rules:
//! `sources.list` first, then the files of `sources.list.d` whose names
//! end in `.list` or `.sources` and consist of letters, digits, `_`, `-`
//! and `.` only, sorted by name; every other file (`*.save`,
//! `*.disabled-by-upgrade`, …) is ignored. In the one-line format `#`
//! starts a comment anywhere on a line; deb822 paragraphs with
//! `Enabled: no` are skipped.
//!
//! [`debian_archive`] then picks the Debian archive among the entries by
//! a heuristic, documented on that function.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::deb822::{self, Paragraph, Paragraphs};

/// Errors of reading the host's apt sources; each names the file, and the
/// line where there is one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A sources file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A `.sources` file is not valid deb822.
    #[error("{file}: {source}")]
    Syntax {
        /// The file.
        file: PathBuf,
        /// The deb822 error, which names the line.
        source: deb822::Error,
    },
    /// An entry type other than `deb` or `deb-src`.
    #[error(
        "{file}:{line}: unknown source type {kind}: expected deb or deb-src"
    )]
    UnknownType {
        /// The file.
        file: PathBuf,
        /// 1-based line of the entry.
        line: usize,
        /// The type as written.
        kind: String,
    },
    /// A deb822 entry lacks a required field (or it is empty).
    #[error("{file}:{line}: entry has no {field} field")]
    MissingField {
        /// The file.
        file: PathBuf,
        /// 1-based line of the entry's first field.
        line: usize,
        /// The missing field.
        field: &'static str,
    },
    /// A field value that is not allowed.
    #[error("{file}:{line}: bad {field} value {value}")]
    BadValue {
        /// The file.
        file: PathBuf,
        /// 1-based line of the entry.
        line: usize,
        /// The field or option.
        field: &'static str,
        /// The value as written.
        value: String,
    },
    /// A one-line entry, or the suite/component combination of an entry,
    /// that apt would refuse.
    #[error("{file}:{line}: malformed entry: {reason}")]
    Malformed {
        /// The file.
        file: PathBuf,
        /// 1-based line of the entry.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Result of reading the host's sources.
pub type Result<T> = std::result::Result<T, Error>;

/// The keys an entry is restricted to (`Signed-By`, `signed-by=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedBy {
    /// One absolute path to a keyring file (the usual form).
    Path(PathBuf),
    /// An ASCII-armored key block written into the field itself (deb822
    /// only), unfolded back to ordinary armor text ending in a newline.
    Inline(String),
    /// Anything else apt allows: several keyring paths and/or key
    /// fingerprints, as written (comma or space separated in the source).
    List(Vec<String>),
}

/// One enabled entry of the host's sources: a one-line entry or a deb822
/// paragraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    /// `deb` and/or `deb-src`.
    pub types: Vec<String>,
    /// Archive URIs, as written.
    pub uris: Vec<String>,
    /// Suites (codenames, `stable`, or an exact path ending in `/`).
    pub suites: Vec<String>,
    /// Components (empty for an exact-path suite).
    pub components: Vec<String>,
    /// The `Signed-By` restriction, if any.
    pub signed_by: Option<SignedBy>,
    /// The file the entry was read from (under the given root).
    pub file: PathBuf,
    /// 1-based line of the entry (of its first field in deb822).
    pub line: usize,
}

/// Reads the enabled entries of the apt sources under `root` (`/` for the
/// host): `etc/apt/sources.list`, then `etc/apt/sources.list.d/*.list` and
/// `*.sources` in name order, in file order within each file. Missing files
/// and directories are not errors.
pub fn read(root: &Path) -> Result<Vec<SourceEntry>> {
    let mut entries = Vec::new();
    let main = root.join("etc/apt/sources.list");
    if let Some(text) = read_optional(&main)? {
        parse_one_line(&main, &text, &mut entries)?;
    }
    for file in parts(&root.join("etc/apt/sources.list.d"))? {
        let text = fs::read_to_string(&file).map_err(|source| Error::Io {
            path: file.clone(),
            source,
        })?;
        if file.extension().is_some_and(|e| e == "list") {
            parse_one_line(&file, &text, &mut entries)?;
        } else {
            parse_deb822(&file, &text, &mut entries)?;
        }
    }
    Ok(entries)
}

/// The first `deb` entry (and its URI) that is the Debian archive itself.
///
/// Heuristic, in this order, for each entry and each of its URIs:
///
/// 1. the entry has type `deb` and component `main` (every Debian suite
///    has `main`; most third-party repositories name theirs otherwise);
/// 2. it is not a security archive: no suite ends in `-security` (or in
///    `/updates`, the pre-bullseye security suites) and the URI path does
///    not end in `debian-security`;
/// 3. if `Signed-By` names keyring files, one of them is a Debian archive
///    keyring (file name starting with `debian-archive-`, as installed by
///    `debian-archive-keyring`, but not `debian-archive-removed-keys`): a
///    third-party keyring excludes the entry even when its URI ends in
///    `/debian`, as many vendors' do;
/// 4. otherwise (no `Signed-By`, an inline key, or fingerprints only) the
///    URI path ends in `/debian`, the archive's usual path on mirrors;
/// 5. lunforge can read the URI ([`super::transport::parse_mirror`]):
///    `http`, `https` or `file`, not apt's `mirror+http`, `tor+http` or
///    `cdrom` methods, which need apt's own helpers.
///
/// Entries are tried in the order [`read`] returns them, as apt would list
/// them.
pub fn debian_archive(entries: &[SourceEntry]) -> Option<(&SourceEntry, &str)> {
    entries.iter().find_map(|e| {
        let plausible = e.types.iter().any(|t| t == "deb")
            && e.components.iter().any(|c| c == "main")
            && !e.suites.iter().any(|s| is_security_suite(s));
        if !plausible {
            return None;
        }
        let keyring = match &e.signed_by {
            Some(SignedBy::Path(p)) => Some(is_debian_keyring(p)),
            Some(SignedBy::List(items)) => {
                let paths: Vec<&Path> = items
                    .iter()
                    .filter(|i| i.starts_with('/'))
                    .map(Path::new)
                    .collect();
                (!paths.is_empty())
                    .then(|| paths.iter().any(|p| is_debian_keyring(p)))
            }
            Some(SignedBy::Inline(_)) | None => None,
        };
        let uri = e.uris.iter().map(String::as_str).find(|u| {
            let path = u.trim_end_matches('/');
            !path.ends_with("debian-security")
                && keyring.unwrap_or_else(|| path.ends_with("/debian"))
                && super::transport::parse_mirror(u).is_ok()
        })?;
        Some((e, uri))
    })
}

fn is_security_suite(suite: &str) -> bool {
    suite.ends_with("-security") || suite.ends_with("/updates")
}

fn is_debian_keyring(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        n.starts_with("debian-archive-") && !n.contains("removed")
    })
}

/// The text of `path`, `None` if it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            path: path.into(),
            source,
        }),
    }
}

/// The files of `sources.list.d` apt reads, sorted by name.
fn parts(dir: &Path) -> Result<Vec<PathBuf>> {
    let io_err = |source| Error::Io {
        path: dir.into(),
        source,
    };
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(io_err(source)),
    };
    let mut names = Vec::new();
    for entry in listing {
        let entry = entry.map_err(io_err)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let valid_chars = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        let suffix = name.ends_with(".list") || name.ends_with(".sources");
        if !valid_chars || !suffix {
            continue;
        }
        // Follows symbolic links, as apt does; skips directories.
        let path = entry.path();
        if fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

/// Parses the one-line format into `out`.
fn parse_one_line(
    file: &Path,
    text: &str,
    out: &mut Vec<SourceEntry>,
) -> Result<()> {
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let malformed = |reason| Error::Malformed {
            file: file.into(),
            line,
            reason,
        };
        let content = raw.split('#').next().unwrap_or_default().trim();
        if content.is_empty() {
            continue;
        }
        let (kind, rest) = content
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((content, ""));
        check_type(file, line, kind)?;
        let rest = rest.trim_start();
        let (options, rest) = match rest.strip_prefix('[') {
            Some(after) => after
                .split_once(']')
                .ok_or_else(|| malformed("option list without ']'"))?,
            None => ("", rest),
        };
        let mut signed_by = None;
        for option in options.split_ascii_whitespace() {
            let (key, value) = option
                .split_once('=')
                .ok_or_else(|| malformed("option without '='"))?;
            if key == "signed-by" {
                signed_by = parse_signed_by(value);
            }
        }
        let mut words = rest.split_ascii_whitespace().map(str::to_owned);
        let uri = words.next().ok_or_else(|| malformed("no URI"))?;
        let suite = words.next().ok_or_else(|| malformed("no suite"))?;
        let components: Vec<String> = words.collect();
        let suites = vec![suite];
        check_components(&suites, &components).map_err(malformed)?;
        out.push(SourceEntry {
            types: vec![kind.to_owned()],
            uris: vec![uri],
            suites,
            components,
            signed_by,
            file: file.into(),
            line,
        });
    }
    Ok(())
}

/// Parses the deb822 format into `out`.
fn parse_deb822(
    file: &Path,
    text: &str,
    out: &mut Vec<SourceEntry>,
) -> Result<()> {
    for para in Paragraphs::new(text) {
        let para = para.map_err(|source| Error::Syntax {
            file: file.into(),
            source,
        })?;
        let line = para.line();
        if let Some(value) = para.get("Enabled") {
            let enabled = parse_bool(value).ok_or_else(|| Error::BadValue {
                file: file.into(),
                line,
                field: "Enabled",
                value: value.into(),
            })?;
            if !enabled {
                continue;
            }
        }
        let required = |field: &'static str| -> Result<Vec<String>> {
            let values = words(&para, field);
            if values.is_empty() {
                return Err(Error::MissingField {
                    file: file.into(),
                    line,
                    field,
                });
            }
            Ok(values)
        };
        let types = required("Types")?;
        for kind in &types {
            check_type(file, line, kind)?;
        }
        let uris = required("URIs")?;
        let suites = required("Suites")?;
        let components = words(&para, "Components");
        check_components(&suites, &components).map_err(|reason| {
            Error::Malformed {
                file: file.into(),
                line,
                reason,
            }
        })?;
        out.push(SourceEntry {
            types,
            uris,
            suites,
            components,
            signed_by: para.get("Signed-By").and_then(parse_signed_by),
            file: file.into(),
            line,
        });
    }
    Ok(())
}

fn words(para: &Paragraph<'_>, field: &str) -> Vec<String> {
    para.get(field)
        .map(|v| deb822::words(v).map(str::to_owned).collect())
        .unwrap_or_default()
}

fn check_type(file: &Path, line: usize, kind: &str) -> Result<()> {
    if kind == "deb" || kind == "deb-src" {
        return Ok(());
    }
    Err(Error::UnknownType {
        file: file.into(),
        line,
        kind: kind.into(),
    })
}

/// apt's rule: an exact-path suite (ending in `/`) takes no component,
/// any other suite needs at least one.
fn check_components(
    suites: &[String],
    components: &[String],
) -> std::result::Result<(), &'static str> {
    let exact = suites.iter().any(|s| s.ends_with('/'));
    match (exact, components.is_empty()) {
        (true, false) => Err("a suite ending in '/' takes no components"),
        (false, true) => Err("no components"),
        _ => Ok(()),
    }
}

/// apt's boolean words (`StringToBool`).
fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "with" | "on" | "enable" | "1" => Some(true),
        "no" | "false" | "without" | "off" | "disable" | "0" => Some(false),
        _ => None,
    }
}

/// A `Signed-By` value; `None` if it is empty.
fn parse_signed_by(value: &str) -> Option<SignedBy> {
    if value.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
        return Some(SignedBy::Inline(unfold(value)));
    }
    let mut items: Vec<String> = value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    match items.len() {
        0 => None,
        1 if items[0].starts_with('/') => {
            items.pop().map(|p| SignedBy::Path(p.into()))
        }
        _ => Some(SignedBy::List(items)),
    }
}

/// A multi-line deb822 value back to plain lines: continuation
/// indentation removed and ` .` lines turned into empty lines (Debian
/// Policy §5.1), each line ending in `\n`.
fn unfold(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for line in value.lines() {
        let line = line.trim();
        if line != "." {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const SOURCES_LIST: &str = "\
# The host's one-line sources.
#deb http://commented.invalid/debian bookworm main
deb [arch=amd64 signed-by=/etc/apt/keyrings/vendor.gpg] \
http://vendor.invalid/debian bookworm main # vendor, path ends in /debian
deb-src http://mirror.invalid/debian bookworm main

deb http://mirror.invalid/debian-security bookworm-security main
";

    const DEBIAN_SOURCES: &str = "\
# Disabled first paragraph.
Types: deb
URIs: http://disabled.invalid/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb deb-src
# a comment inside the paragraph
URIs: http://mirror.invalid/debian http://mirror2.invalid/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.invalid/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

    const VENDOR_SOURCES: &str = "\
Types: deb
URIs: http://vendor.invalid/apt
Suites: stable
Components: main
Enabled: yes
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 Comment: test block
 .
 AQID
 BA==
 =abcd
 -----END PGP PUBLIC KEY BLOCK-----
";

    const INLINE_KEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----
Comment: test block

AQID
BA==
=abcd
-----END PGP PUBLIC KEY BLOCK-----
";

    /// A temporary root holding `files` (relative path, content): a
    /// host's apt configuration for the tests that read one.
    pub(crate) fn root(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc/apt/sources.list.d")).unwrap();
        for (path, text) in files {
            fs::write(dir.path().join(path), text).unwrap();
        }
        dir
    }

    fn entry(line: &str) -> SourceEntry {
        let mut out = Vec::new();
        parse_one_line(Path::new("/t.list"), line, &mut out).unwrap();
        out.remove(0)
    }

    #[test]
    fn reads_both_formats_in_apt_order() {
        let dir = root(&[
            ("etc/apt/sources.list", SOURCES_LIST),
            ("etc/apt/sources.list.d/debian.sources", DEBIAN_SOURCES),
            ("etc/apt/sources.list.d/00-vendor.sources", VENDOR_SOURCES),
            (
                "etc/apt/sources.list.d/zz.list.disabled-by-upgrade",
                "deb http://wrong.invalid/debian bookworm main\n",
            ),
            (
                "etc/apt/sources.list.d/old.list.save",
                "deb http://wrong.invalid/debian bookworm main\n",
            ),
            (
                "etc/apt/sources.list.d/bad name.list",
                "deb http://wrong.invalid/debian bookworm main\n",
            ),
        ]);
        fs::create_dir(dir.path().join("etc/apt/sources.list.d/dir.list"))
            .unwrap();
        let entries = read(dir.path()).unwrap();
        let summary: Vec<_> = entries
            .iter()
            .map(|e| {
                let name = e.file.file_name().unwrap().to_str().unwrap();
                (name.to_owned(), e.line, e.uris[0].as_str())
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("sources.list".into(), 3, "http://vendor.invalid/debian"),
                ("sources.list".into(), 4, "http://mirror.invalid/debian"),
                (
                    "sources.list".into(),
                    6,
                    "http://mirror.invalid/debian-security"
                ),
                ("00-vendor.sources".into(), 1, "http://vendor.invalid/apt"),
                ("debian.sources".into(), 8, "http://mirror.invalid/debian"),
                (
                    "debian.sources".into(),
                    15,
                    "http://mirror.invalid/debian-security"
                ),
            ]
        );
        let vendor = &entries[0];
        assert_eq!(vendor.types, ["deb"]);
        assert_eq!(vendor.suites, ["bookworm"]);
        assert_eq!(vendor.components, ["main"]);
        assert_eq!(
            vendor.signed_by,
            Some(SignedBy::Path("/etc/apt/keyrings/vendor.gpg".into()))
        );
        assert_eq!(
            entries[3].signed_by,
            Some(SignedBy::Inline(INLINE_KEY.into()))
        );
        let debian = &entries[4];
        assert_eq!(debian.types, ["deb", "deb-src"]);
        assert_eq!(
            debian.uris,
            [
                "http://mirror.invalid/debian",
                "http://mirror2.invalid/debian"
            ]
        );
        assert_eq!(debian.suites, ["bookworm", "bookworm-updates"]);
        assert_eq!(debian.components, ["main", "contrib"]);
        assert_eq!(
            debian.file,
            dir.path().join("etc/apt/sources.list.d/debian.sources")
        );

        let (chosen, uri) = debian_archive(&entries).unwrap();
        assert_eq!(chosen, debian);
        assert_eq!(uri, "http://mirror.invalid/debian");
    }

    #[test]
    fn inline_key_dearmors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inline.asc");
        fs::write(&path, INLINE_KEY).unwrap();
        let keyring = super::super::inrelease::Keyring::from_files(
            std::slice::from_ref(&path),
        );
        assert_eq!(keyring.unwrap().paths(), [path]);
    }

    #[test]
    fn missing_files_are_no_sources() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), []);
        let dir = root(&[]);
        assert_eq!(read(dir.path()).unwrap(), []);
        assert_eq!(debian_archive(&[]), None);
    }

    #[test]
    fn archive_heuristic() {
        let pick = |lines: &str| {
            let mut out = Vec::new();
            parse_one_line(Path::new("/t.list"), lines, &mut out).unwrap();
            debian_archive(&out).map(|(e, uri)| (e.line, uri.to_owned()))
        };
        // No Signed-By: the URI path decides; a trailing slash is fine.
        assert_eq!(
            pick("deb http://mirror.invalid/debian/ trixie main\n"),
            Some((1, "http://mirror.invalid/debian/".into()))
        );
        // A Debian keyring: any URI (a snapshot) is the archive.
        let snapshot = "deb [signed-by=/usr/share/keyrings/\
debian-archive-keyring.gpg] http://snapshot.invalid/archive/debian/\
20250520T000000Z/ bookworm main\n";
        assert_eq!(
            pick(snapshot),
            Some((
                1,
                "http://snapshot.invalid/archive/debian/20250520T000000Z/"
                    .into()
            ))
        );
        // Security, old-style security, vendor keyring, no main, deb-src,
        // a removed-keys keyring, debian-ports: never the archive.
        let never = [
            "deb http://mirror.invalid/debian-security/ bookworm-security main",
            "deb http://mirror.invalid/debian buster/updates main",
            "deb [signed-by=/etc/apt/keyrings/docker.asc] \
             http://vendor.invalid/debian bookworm main",
            "deb http://vendor.invalid/linux/debian bookworm stable",
            "deb-src http://mirror.invalid/debian bookworm main",
            "deb [signed-by=/usr/share/keyrings/\
             debian-archive-removed-keys.gpg] http://old.invalid/x b main",
            "deb http://mirror.invalid/debian-ports unstable main",
            "deb mirror+http://mirror.invalid/debian trixie main",
            "deb tor+http://onion.invalid/debian trixie main",
            "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] \
             cdrom:[Debian GNU/Linux 13]/ trixie main",
            "deb mirror+file:/etc/apt/mirrors/debian.list trixie main",
        ];
        for line in never {
            assert_eq!(pick(line), None, "{line}");
        }
        // Fingerprints only: fall back to the URI path.
        let fpr = "deb [signed-by=0123456789ABCDEF0123456789ABCDEF01234567] \
http://mirror.invalid/debian sid main\n";
        assert_eq!(pick(fpr), Some((1, "http://mirror.invalid/debian".into())));
        // A list with a Debian keyring among vendor ones.
        let list = "deb [signed-by=/etc/apt/keyrings/x.gpg,\
/usr/share/keyrings/debian-archive-trixie-stable.gpg] \
http://proxy.invalid/deb trixie main\n";
        assert_eq!(pick(list), Some((1, "http://proxy.invalid/deb".into())));
        // An entry lunforge cannot read is passed over for the next one,
        // and within an entry, a URI for the next URI.
        let unusable = "deb tor+http://onion.invalid/debian trixie main\n\
deb http://mirror.invalid/debian trixie main\n";
        assert_eq!(
            pick(unusable),
            Some((2, "http://mirror.invalid/debian".into()))
        );
        let mut out = Vec::new();
        parse_deb822(
            Path::new("/t.sources"),
            "Types: deb\nURIs: mirror+http://m.invalid/debian \
             file:/srv/debian\nSuites: trixie\nComponents: main\n",
            &mut out,
        )
        .unwrap();
        assert_eq!(debian_archive(&out).unwrap().1, "file:/srv/debian");
        // The first matching entry wins.
        let two = "deb http://one.invalid/debian a main\n\
deb http://two.invalid/debian b main\n";
        assert_eq!(pick(two), Some((1, "http://one.invalid/debian".into())));
    }

    #[test]
    fn one_line_details() {
        let e = entry("deb file:/srv/repo ./\n");
        assert_eq!(e.suites, ["./"]);
        assert!(e.components.is_empty());
        let e = entry(
            "  deb  [ arch=amd64  trusted=yes ]  http://m.invalid/debian  \
             sid  main  contrib#x\n",
        );
        assert_eq!(e.components, ["main", "contrib"]);
        assert_eq!(e.signed_by, None);
        let e = entry(
            "deb [signed-by=/a.gpg,/b.gpg] http://m.invalid/debian sid \
             main\r\n",
        );
        assert_eq!(
            e.signed_by,
            Some(SignedBy::List(vec!["/a.gpg".into(), "/b.gpg".into()]))
        );
        assert_eq!(e.components, ["main"]);
    }

    #[test]
    fn deb822_details() {
        let mut out = Vec::new();
        let text = "types: deb\nuris: http://m.invalid/debian\n\
suites: ./\nSigned-By: AAAA BBBB\nenabled: TRUE\n";
        parse_deb822(Path::new("/t.sources"), text, &mut out).unwrap();
        assert_eq!(out[0].suites, ["./"]);
        assert_eq!(
            out[0].signed_by,
            Some(SignedBy::List(vec!["AAAA".into(), "BBBB".into()]))
        );
    }

    fn one_line_err(text: &str) -> Error {
        parse_one_line(Path::new("/t.list"), text, &mut Vec::new()).unwrap_err()
    }

    fn deb822_err(text: &str) -> Error {
        parse_deb822(Path::new("/t.sources"), text, &mut Vec::new())
            .unwrap_err()
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases = [
            (
                one_line_err("\n\ndev http://m.invalid/debian sid main\n"),
                "/t.list:3: unknown source type dev: expected deb or deb-src",
            ),
            (
                one_line_err(
                    "deb [arch=amd64 http://m.invalid/debian sid main",
                ),
                "/t.list:1: malformed entry: option list without ']'",
            ),
            (
                one_line_err("deb [arch] http://m.invalid/debian sid main"),
                "/t.list:1: malformed entry: option without '='",
            ),
            (
                one_line_err("deb [arch=amd64]"),
                "/t.list:1: malformed entry: no URI",
            ),
            (
                one_line_err("deb http://m.invalid/debian"),
                "/t.list:1: malformed entry: no suite",
            ),
            (
                one_line_err("deb http://m.invalid/debian sid"),
                "/t.list:1: malformed entry: no components",
            ),
            (
                one_line_err("deb file:/srv ./ main"),
                "/t.list:1: malformed entry: a suite ending in '/' takes no \
                 components",
            ),
            (
                deb822_err("\nTypes: deb\nURIs: http://m.invalid/debian\n"),
                "/t.sources:2: entry has no Suites field",
            ),
            (
                deb822_err("Types:\nURIs: x\n"),
                "/t.sources:1: entry has no Types field",
            ),
            (
                deb822_err("Types: rpm\nURIs: x\nSuites: a\nComponents: b\n"),
                "/t.sources:1: unknown source type rpm: expected deb or \
                 deb-src",
            ),
            (
                deb822_err("Types: deb\nEnabled: maybe\n"),
                "/t.sources:1: bad Enabled value maybe",
            ),
            (
                deb822_err("Types: deb\nnot a field\n"),
                "/t.sources: line 2: expected \"Field: value\", found \
                 \"not a field\"",
            ),
        ];
        for (err, text) in cases {
            assert_eq!(err.to_string(), text);
        }
    }

    #[test]
    fn io_error_names_the_path() {
        let dir = root(&[]);
        fs::create_dir(dir.path().join("etc/apt/sources.list")).unwrap();
        let err = read(dir.path()).unwrap_err();
        let path = dir.path().join("etc/apt/sources.list");
        assert!(
            matches!(&err, Error::Io { path: p, .. } if *p == path),
            "{err:?}"
        );
        let err = Error::Io {
            path: "/etc/apt/sources.list".into(),
            source: io::Error::new(io::ErrorKind::PermissionDenied, "denied"),
        };
        assert_eq!(err.to_string(), "/etc/apt/sources.list: denied");
    }

    #[test]
    fn unfold_and_bool() {
        assert_eq!(unfold("a\n .\n b\r\n\tc"), "a\n\nb\nc\n");
        assert_eq!(parse_bool("No"), Some(false));
        assert_eq!(parse_bool("yes"), Some(true));
        assert_eq!(parse_bool("y"), None);
        assert_eq!(parse_signed_by(" , "), None);
    }
}
