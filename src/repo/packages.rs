//! `Packages` indexes: one paragraph per binary package.
//!
//! Spec: Debian Policy §5.3 (binary package control fields) and the
//! repository format's `Packages` index. Only the fields the resolver and
//! the fetcher need are kept; relationship fields stay as text and are
//! parsed when the resolver visits the package, since a suite has ~65,000
//! packages and a build needs a few hundred of them.

use super::deb822::{self, Paragraphs};
use super::transport::Expected;
use super::version::{Version, VersionError};

/// Errors of index parsing; each names the index and the line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The deb822 syntax is broken.
    #[error("{index}: {source}")]
    Syntax {
        /// The index path.
        index: String,
        /// The deb822 error.
        source: deb822::Error,
    },
    /// A mandatory field is missing.
    #[error("{index}:{line}: package {package}: no {field} field")]
    MissingField {
        /// The index path.
        index: String,
        /// Line of the paragraph.
        line: usize,
        /// Package name (or `?`).
        package: String,
        /// The field.
        field: &'static str,
    },
    /// A field has an invalid value.
    #[error("{index}:{line}: package {package}: bad {field} {value:?}")]
    BadField {
        /// The index path.
        index: String,
        /// Line of the paragraph.
        line: usize,
        /// Package name.
        package: String,
        /// The field.
        field: &'static str,
        /// The text.
        value: String,
    },
    /// The version does not parse.
    #[error("{index}:{line}: package {package}: {source}")]
    Version {
        /// The index path.
        index: String,
        /// Line of the paragraph.
        line: usize,
        /// Package name.
        package: String,
        /// The version error.
        source: VersionError,
    },
}

/// Result of index parsing.
pub type Result<T> = std::result::Result<T, Error>;

/// `Priority` values (Policy §2.5), in decreasing importance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Necessary for the proper functioning of the system.
    Required,
    /// Expected on any Unix-like system.
    Important,
    /// A reasonably small character-mode system.
    Standard,
    /// The default.
    Optional,
    /// Deprecated synonym of optional.
    Extra,
    /// Missing or unknown.
    Unknown,
}

impl Priority {
    /// The field value as Debian writes it (`required`, …); `unknown`
    /// for a missing or unknown one.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Required => "required",
            Priority::Important => "important",
            Priority::Standard => "standard",
            Priority::Optional => "optional",
            Priority::Extra => "extra",
            Priority::Unknown => "unknown",
        }
    }

    fn parse(s: Option<&str>) -> Priority {
        match s {
            Some("required") => Priority::Required,
            Some("important") => Priority::Important,
            Some("standard") => Priority::Standard,
            Some("optional") => Priority::Optional,
            Some("extra") => Priority::Extra,
            _ => Priority::Unknown,
        }
    }
}

/// `Multi-Arch` values (the MultiArch spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MultiArch {
    /// Not multi-arch aware.
    No,
    /// Co-installable across architectures.
    Same,
    /// Satisfies dependencies of any architecture.
    Foreign,
    /// Satisfies `pkg:any` dependencies.
    Allowed,
}

/// One binary package of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryPackage {
    /// `Package`.
    pub name: Box<str>,
    /// `Version`.
    pub version: Version,
    /// `Architecture` (`all` or the index's architecture).
    pub architecture: Box<str>,
    /// `Multi-Arch`.
    pub multi_arch: MultiArch,
    /// `Essential: yes`.
    pub essential: bool,
    /// `Priority`.
    pub priority: Priority,
    /// `Source` name, when it differs from the package name.
    pub source: Option<Box<str>>,
    /// `Pre-Depends`, unparsed.
    pub pre_depends: Box<str>,
    /// `Depends`, unparsed.
    pub depends: Box<str>,
    /// `Provides`, unparsed.
    pub provides: Box<str>,
    /// `Conflicts`, unparsed.
    pub conflicts: Box<str>,
    /// `Breaks`, unparsed.
    pub breaks: Box<str>,
    /// `Filename`: pool path relative to the mirror base.
    pub filename: Box<str>,
    /// `Size` and `SHA256` of the `.deb`.
    pub file: Expected,
}

/// Parse a whole (decompressed) `Packages` index; `index` names it in
/// errors.
pub fn parse_index(index: &str, text: &str) -> Result<Vec<BinaryPackage>> {
    let mut out = Vec::with_capacity(text.len() / 1500);
    for para in Paragraphs::new(text) {
        let para = para.map_err(|source| Error::Syntax {
            index: index.into(),
            source,
        })?;
        out.push(package(index, &para)?);
    }
    Ok(out)
}

fn package(index: &str, p: &deb822::Paragraph<'_>) -> Result<BinaryPackage> {
    let line = p.line();
    let name = p.get("Package").ok_or_else(|| Error::MissingField {
        index: index.into(),
        line,
        package: "?".into(),
        field: "Package",
    })?;
    let missing = |field| Error::MissingField {
        index: index.into(),
        line,
        package: name.into(),
        field,
    };
    let bad = |field, value: &str| Error::BadField {
        index: index.into(),
        line,
        package: name.into(),
        field,
        value: value.into(),
    };
    let version_text = p.get("Version").ok_or_else(|| missing("Version"))?;
    let version = version_text.parse().map_err(|source| Error::Version {
        index: index.into(),
        line,
        package: name.into(),
        source,
    })?;
    let size_text = p.get("Size").ok_or_else(|| missing("Size"))?;
    let size = size_text.parse().map_err(|_| bad("Size", size_text))?;
    let hash_text = p.get("SHA256").ok_or_else(|| missing("SHA256"))?;
    let mut sha256 = [0u8; 32];
    hex::decode_to_slice(hash_text, &mut sha256)
        .map_err(|_| bad("SHA256", hash_text))?;
    let filename = p.get("Filename").ok_or_else(|| missing("Filename"))?;
    if super::transport::check_relative_path(filename).is_err() {
        return Err(bad("Filename", filename));
    }
    let multi_arch = match p.get("Multi-Arch") {
        None | Some("no") => MultiArch::No,
        Some("same") => MultiArch::Same,
        Some("foreign") => MultiArch::Foreign,
        Some("allowed") => MultiArch::Allowed,
        Some(other) => return Err(bad("Multi-Arch", other)),
    };
    let text = |f: &str| Box::<str>::from(p.get(f).unwrap_or(""));
    Ok(BinaryPackage {
        name: name.into(),
        version,
        architecture: p
            .get("Architecture")
            .ok_or_else(|| missing("Architecture"))?
            .into(),
        multi_arch,
        essential: p.get("Essential").is_some_and(|v| v == "yes"),
        priority: Priority::parse(p.get("Priority")),
        source: p
            .get("Source")
            .map(|s| s.split_once(' ').map_or(s, |(n, _)| n))
            .filter(|s| *s != name)
            .map(Into::into),
        pre_depends: text("Pre-Depends"),
        depends: text("Depends"),
        provides: text("Provides"),
        conflicts: text("Conflicts"),
        breaks: text("Breaks"),
        filename: filename.into(),
        file: Expected { size, sha256 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "Package: dash\nVersion: 0.5.12-12\n\
Architecture: amd64\nEssential: yes\nMulti-Arch: foreign\n\
Pre-Depends: libc6 (>= 2.34),\n debianutils (>= 5.6-0.1)\n\
Priority: required\nSection: shells\n\
Filename: pool/main/d/dash/dash_0.5.12-12_amd64.deb\nSize: 97012\n\
SHA256: 6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d\n\
\nPackage: libc6\nSource: glibc (2.41-12)\nVersion: 2.41-12\n\
Architecture: amd64\nMulti-Arch: same\nPriority: optional\n\
Filename: pool/main/g/glibc/libc6_2.41-12_amd64.deb\nSize: 1\n\
SHA256: 0000000000000000000000000000000000000000000000000000000000000000\n";

    #[test]
    fn parses_packages() {
        let pkgs = parse_index("Packages", INDEX).unwrap();
        assert_eq!(pkgs.len(), 2);
        let dash = &pkgs[0];
        assert_eq!(&*dash.name, "dash");
        assert!(dash.essential);
        assert_eq!(dash.priority, Priority::Required);
        assert_eq!(dash.priority.as_str(), "required");
        assert_eq!(pkgs[1].priority.as_str(), "optional");
        assert_eq!(dash.multi_arch, MultiArch::Foreign);
        assert_eq!(
            &*dash.pre_depends,
            "libc6 (>= 2.34),\n debianutils (>= 5.6-0.1)"
        );
        assert_eq!(dash.file.size, 97012);
        assert_eq!(dash.source, None);
        assert_eq!(pkgs[1].source.as_deref(), Some("glibc"));
        assert_eq!(pkgs[1].multi_arch, MultiArch::Same);
        assert_eq!(pkgs[1].version.to_string(), "2.41-12");
    }

    #[test]
    fn rejects_broken_paragraphs() {
        let e = parse_index("P", "Package: a\nVersion: 1\n").unwrap_err();
        assert_eq!(e.to_string(), "P:1: package a: no Size field");
        let t = INDEX.replace("Size: 97012", "Size: many");
        let e = parse_index("P", &t).unwrap_err();
        assert_eq!(e.to_string(), "P:1: package dash: bad Size \"many\"");
        let t = INDEX.replace("pool/main/d/dash", "../../etc");
        assert!(matches!(
            parse_index("P", &t),
            Err(Error::BadField {
                field: "Filename",
                ..
            })
        ));
        for evil in ["pool/%2e%2e/x", "pool\\..\\x", "/etc", "pool//a"] {
            let t = INDEX.replace(
                "pool/main/d/dash/dash_0.5.12-12_amd64.deb",
                &evil.replace('\\', "\\\\"),
            );
            let e = parse_index("P", &t).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::BadField {
                        field: "Filename",
                        ..
                    }
                ),
                "{e}"
            );
        }
        let t = INDEX.replace("0.5.12-12\n", "\n");
        assert!(parse_index("P", &t).is_err());
    }
}
