//! The lockfile: `<recipe>.lock`, the exact package set of a build.
//!
//! A locked build fetches exactly these files by path, size and SHA-256,
//! without reading the suite's indexes again, so a mirror that moved on
//! cannot change the result; a file the mirror no longer has is a clear
//! error naming the package. The file is TOML, sorted by package name and
//! architecture, with no timestamps of its own, so the same resolution
//! always writes the same bytes. It records the Release it came from
//! (suite, codename, date, the signed file's SHA-256 and signer) and the
//! recipe inputs of the resolution, so a lock that no longer matches its
//! recipe is refused rather than silently used.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::repo::transport::{check_relative_path, Expected};

/// Errors of reading and writing lockfiles.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The lockfile cannot be read or written.
    #[error("lockfile {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The lockfile is not valid.
    #[error("lockfile {path}: {message}")]
    Invalid {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The lock was made from different recipe inputs.
    #[error(
        "lockfile {path} is stale: {key} is {locked} in the lock but {now} \
         in the recipe; run `lunforge lock` again"
    )]
    Stale {
        /// The path.
        path: PathBuf,
        /// The input that changed.
        key: String,
        /// Value in the lock.
        locked: String,
        /// Value now.
        now: String,
    },
}

/// Result of lockfile operations.
pub type Result<T> = std::result::Result<T, Error>;

/// Format version written in every lockfile. Format 2 added each
/// package's `why` and `auto`; a lock of format 1 is refused (run
/// `lunforge lock` again).
pub const FORMAT: u32 = 2;

/// A lockfile's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Format version ([`FORMAT`]).
    pub format: u32,
    /// The signed Release the packages came from.
    pub release: LockedRelease,
    /// The recipe inputs of the resolution.
    pub inputs: Inputs,
    /// The packages, sorted by name then architecture.
    #[serde(rename = "package")]
    pub packages: Vec<LockedPackage>,
    /// The build's tools ([`crate::resolve::tools`]): fetched and
    /// verified like the packages, never installed in the guest.
    #[serde(rename = "tool", default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<LockedPackage>,
}

/// The Release a lock was resolved from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedRelease {
    /// Suite as requested.
    pub suite: String,
    /// `Codename`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub codename: String,
    /// `Version`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// `Date`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub date: String,
    /// `dists/SUITE/InRelease` or `…/Release`.
    pub path: String,
    /// SHA-256 of that file (hex in the file).
    #[serde(with = "sha256_hex")]
    pub sha256: [u8; 32],
    /// Fingerprint of the signing key (empty when unsigned).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signer: String,
}

/// The recipe inputs that decide the package set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    /// Suite or codename, as the recipe names it.
    pub suite: String,
    /// Architecture.
    pub architecture: String,
    /// Variant name.
    pub variant: String,
    /// Components.
    pub components: Vec<String>,
    /// `system.include`.
    pub include: Vec<String>,
    /// `system.exclude`.
    pub exclude: Vec<String>,
    /// Packages other keys ask for (`locales` for `system.locale`,
    /// `tzdata` for `system.timezone`), as `NAME (KEY)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub implied: Vec<String>,
}

/// One locked package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub architecture: String,
    /// Pool path relative to the mirror base.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 (hex in the file).
    #[serde(with = "sha256_hex")]
    pub sha256: [u8; 32],
    /// Why the package is in the set ([`super::Selected::why`]); empty
    /// for a build tool.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub why: String,
    /// Installed automatically ([`super::Selected::auto`]): written only
    /// when true, so a package without it is manually installed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto: bool,
}

impl LockedPackage {
    /// Size and digest as the fetcher checks them.
    pub fn expected(&self) -> Expected {
        Expected {
            size: self.size,
            sha256: self.sha256,
        }
    }
}

/// A SHA-256 digest as the lockfile writes it: 64 lowercase hex digits.
/// A digest that is not one is refused when the lock is read, so a
/// [`Lock`] in memory always holds usable digests.
mod sha256_hex {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        digest: &[u8; 32],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(digest))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<[u8; 32], D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
        let mut digest = [0u8; 32];
        hex::decode_to_slice(&*text, &mut digest).map_err(|_| {
            D::Error::custom(format_args!(
                "bad sha256 {text:?}: expected 64 hex digits"
            ))
        })?;
        Ok(digest)
    }
}

impl Lock {
    /// Sort packages canonically.
    pub fn normalise(&mut self) {
        for list in [&mut self.packages, &mut self.tools] {
            list.sort_by(|a, b| {
                (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture))
            });
        }
    }

    /// The lockfile text.
    pub fn to_text(&self) -> String {
        let mut lock = self.clone();
        lock.normalise();
        // OK to unwrap: the structure has only strings, numbers and
        // arrays of tables, which always serialise.
        let body = toml::to_string(&lock).expect("lock serialises");
        format!(
            "# lunforge lockfile: the exact package set of a build.\n\
             # Written by `lunforge lock`; used by `--locked`.\n\n{body}"
        )
    }

    /// Parse and check a lockfile's text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Lock> {
        let invalid = |message: String| Error::Invalid {
            path: path.into(),
            message,
        };
        let lock: Lock = toml::from_str(text).map_err(|e| {
            invalid(match e.span() {
                Some(span) => {
                    let before = text.get(..span.start).unwrap_or(text);
                    let line = before.lines().count().max(1);
                    format!("line {line}: {}", e.message())
                }
                None => e.message().to_string(),
            })
        })?;
        if lock.format != FORMAT {
            return Err(invalid(format!(
                "format {} is not the supported {FORMAT}: run `lunforge \
                 lock` again",
                lock.format
            )));
        }
        for p in lock.packages.iter().chain(&lock.tools) {
            if let Err(reason) = check_relative_path(&p.path) {
                return Err(invalid(format!(
                    "package {}: bad path {:?}: {reason}",
                    p.name, p.path
                )));
            }
        }
        Ok(lock)
    }

    /// Read a lockfile.
    pub fn read(path: &Path) -> Result<Lock> {
        let text =
            std::fs::read_to_string(path).map_err(|source| Error::Io {
                path: path.into(),
                source,
            })?;
        Lock::parse(path, &text)
    }

    /// Write atomically: a temporary file in the same directory, flushed
    /// to disk, then a rename, so a reader never sees half a lock.
    pub fn write(&self, path: &Path) -> Result<()> {
        let io = |source| Error::Io {
            path: path.into(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".lunforge-lock-")
            .tempfile_in(dir)
            .map_err(io)?;
        std::io::Write::write_all(&mut tmp, self.to_text().as_bytes())
            .map_err(io)?;
        // On disk before the rename, so that a crash cannot leave an
        // empty lock in place of the old one.
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// Refuse a lock resolved from other inputs than `now`.
    pub fn check_inputs(&self, path: &Path, now: &Inputs) -> Result<()> {
        let l = &self.inputs;
        let pairs = [
            ("system.suite", l.suite.clone(), now.suite.clone()),
            (
                "system.architecture",
                l.architecture.clone(),
                now.architecture.clone(),
            ),
            ("system.variant", l.variant.clone(), now.variant.clone()),
            (
                "system.components",
                l.components.join(","),
                now.components.join(","),
            ),
            ("system.include", l.include.join(","), now.include.join(",")),
            ("system.exclude", l.exclude.join(","), now.exclude.join(",")),
            (
                "what system.locale and system.timezone need",
                l.implied.join(","),
                now.implied.join(","),
            ),
        ];
        for (key, locked, now) in pairs {
            if locked != now {
                return Err(Error::Stale {
                    path: path.into(),
                    key: key.into(),
                    locked: format!("{locked:?}"),
                    now: format!("{now:?}"),
                });
            }
        }
        Ok(())
    }
}

/// The lockfile path of a recipe: `x.toml` → `x.lock`; the embedded
/// recipe locks to `virtual01.lock` in the current directory.
pub fn path_for(recipe: Option<&Path>) -> PathBuf {
    match recipe {
        Some(p) => p.with_extension("lock"),
        None => PathBuf::from("virtual01.lock"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A lock of two packages (not sorted) and one tool.
    pub(crate) fn sample() -> Lock {
        let pkg = |name: &str| LockedPackage {
            name: name.into(),
            version: "1.0-1".into(),
            architecture: "amd64".into(),
            path: format!("pool/main/{name}.deb"),
            size: 3,
            sha256: [0xab; 32],
            why: "system.include".into(),
            auto: name == "zsh",
        };
        Lock {
            format: FORMAT,
            release: LockedRelease {
                suite: "trixie".into(),
                codename: "trixie".into(),
                version: "13.2".into(),
                date: "Sat, 21 Nov 2026 09:15:44 UTC".into(),
                path: "dists/trixie/InRelease".into(),
                sha256: [0; 32],
                signer: "ABCD".into(),
            },
            inputs: Inputs {
                suite: "trixie".into(),
                architecture: "amd64".into(),
                variant: "required".into(),
                components: vec!["main".into()],
                include: vec!["vim".into()],
                exclude: vec![],
                implied: vec![],
            },
            packages: vec![pkg("zsh"), pkg("bash")],
            tools: vec![LockedPackage {
                why: String::new(),
                ..pkg("busybox-static")
            }],
        }
    }

    #[test]
    fn round_trips_sorted_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        sample().write(&path).unwrap();
        let back = Lock::read(&path).unwrap();
        assert_eq!(back.packages[0].name, "bash");
        let mut want = sample();
        want.normalise();
        assert_eq!(back, want);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(&format!("sha256 = \"{}\"", "ab".repeat(32))));
        assert!(text.contains(&format!("sha256 = \"{}\"", "00".repeat(32))));
        // Only an automatically installed package says so; a tool has
        // no reason of its own.
        assert_eq!(text.matches("\nauto = true\n").count(), 1);
        assert!(text.contains("why = \"system.include\"\nauto = true"));
        assert_eq!(text.matches("why = ").count(), 2);
        assert_eq!(back.to_text(), std::fs::read_to_string(&path).unwrap());
    }

    #[test]
    fn rejects_bad_and_stale_locks() {
        let p = Path::new("x.lock");
        let text = sample().to_text().replacen(&"ab".repeat(32), "zz", 1);
        let e = Lock::parse(p, &text).unwrap_err();
        let line = 1 + text.lines().position(|l| l.contains("zz")).unwrap();
        assert_eq!(
            e.to_string(),
            format!(
                "lockfile x.lock: line {line}: bad sha256 \"zz\": expected \
                 64 hex digits"
            )
        );
        let text = sample().to_text().replace(&"00".repeat(32), "00");
        assert!(Lock::parse(p, &text).is_err());
        let text = sample()
            .to_text()
            .replace("pool/main/zsh.deb", "../zsh.deb");
        let e = Lock::parse(p, &text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "lockfile x.lock: package zsh: bad path \"../zsh.deb\": it has \
             a '.' or '..' segment"
        );
        let text = sample()
            .to_text()
            .replace("pool/main/zsh.deb", "pool/%2e%2e/zsh.deb");
        assert!(Lock::parse(p, &text).is_err());
        let text = sample().to_text().replace("format = 2", "format = 1");
        assert_eq!(
            Lock::parse(p, &text).unwrap_err().to_string(),
            "lockfile x.lock: format 1 is not the supported 2: run \
             `lunforge lock` again"
        );
        let mut now = sample().inputs;
        now.include.push("less".into());
        let e = sample().check_inputs(p, &now).unwrap_err();
        assert_eq!(
            e.to_string(),
            "lockfile x.lock is stale: system.include is \"vim\" in the lock \
             but \"vim,less\" in the recipe; run `lunforge lock` again"
        );
        let text = sample()
            .to_text()
            .replace("pool/main/busybox-static.deb", "/etc/passwd");
        assert!(Lock::parse(p, &text).is_err());
        let mut now = sample().inputs;
        now.implied.push("locales (system.locale)".into());
        let e = sample().check_inputs(p, &now).unwrap_err();
        assert!(
            e.to_string().contains(
                "what system.locale and system.timezone need is \"\" in \
                 the lock but \"locales (system.locale)\""
            ),
            "{e}"
        );
        let mut now = sample().inputs;
        now.suite = "forky".into();
        let e = sample().check_inputs(p, &now).unwrap_err();
        assert_eq!(
            e.to_string(),
            "lockfile x.lock is stale: system.suite is \"trixie\" in the \
             lock but \"forky\" in the recipe; run `lunforge lock` again"
        );
    }

    #[test]
    fn lock_path() {
        assert_eq!(
            path_for(Some(Path::new("r/a.toml"))),
            PathBuf::from("r/a.lock")
        );
        assert_eq!(path_for(None), PathBuf::from("virtual01.lock"));
    }
}
