//! `OUT/<name>/sbom.spdx.json`: the guest's software bill of materials,
//! an SPDX 2.3 document in its JSON form.
//!
//! Spec: SPDX 2.3 (<https://spdx.github.io/spdx-spec/v2.3/>): §6 the
//! document's creation information, §7 packages, §10 other licensing
//! information, §11 relationships, annex D license expressions, annex F
//! external references (`purl`, <https://github.com/package-url/purl-spec>,
//! type `deb`). The document:
//!
//! * DESCRIBES one package, the guest (`SPDXRef-guest`): the disk or
//!   tarball, by file name and SHA-256, of purpose `OPERATING_SYSTEM`;
//! * the guest CONTAINS one package per `.deb` installed (name, version,
//!   the `.deb`'s file name and SHA-256, its download location on the
//!   mirror the recipe names, a `purl`
//!   `pkg:deb/debian/NAME@VERSION?arch=ARCH`, and the licenses its
//!   copyright file declares, [`dep5`]); each is GENERATED_FROM its
//!   source package (a package of purpose `SOURCE`, `arch=source`), as
//!   the guest's dpkg `status` names it ([`installed`]);
//! * the guest CONTAINS the build's tools too (busybox-static, whose
//!   busybox is in the initrd; GRUB's EFI packages): not installed, so
//!   with no license read;
//! * what is not known is `NOASSERTION`: suppliers, concluded licenses,
//!   copyright texts, a license without a machine-readable copyright
//!   file (with the reason in `licenseComments`).
//!
//! Deterministic: `created` is `SOURCE_DATE_EPOCH`, the namespace a
//! `urn:uuid:` derived from the recipe's and the lock's digests, that
//! time and the output's digest (a URI that changes whenever the
//! document does, as §6.5 asks, and names no host), identifiers are
//! numbered in the lock's sorted order, and every list is sorted.
//!
//! The records are typed serde structs; no crate writes SPDX 2.3 JSON
//! from Rust types without bringing a model of its own much larger than
//! these few records.

pub mod dep5;
pub mod installed;
pub mod license;
mod refs;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use self::dep5::{Declared, Expr};
use self::installed::Installed;
use self::license::{idstring, Term};
use self::refs::Refs;
use super::manifest::{Entry, LockInput, RecipeInput};
use crate::ids::Uuid;
use crate::resolve::lockfile::{Lock, LockedPackage};
use crate::tree::GuestPath;

/// Errors of making the SBOM.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file of the guest tree cannot be read back.
    #[error("{path}: reading it from the guest tree for the SBOM: {source}")]
    Read {
        /// The file, in the guest.
        path: GuestPath,
        /// The spool's error.
        source: std::io::Error,
    },
}

/// Result of making the SBOM.
pub type Result<T> = std::result::Result<T, Error>;

/// The SBOM's file name in `OUT/<name>/`.
pub const NAME: &str = "sbom.spdx.json";

/// The guest's element.
const GUEST: &str = "SPDXRef-guest";

/// The document's element.
const DOCUMENT: &str = "SPDXRef-DOCUMENT";

/// What is not known.
const NOASSERTION: &str = "NOASSERTION";

/// What the SBOM is made from.
#[derive(Debug)]
pub struct Guest<'a> {
    /// The image's name.
    pub name: &'a str,
    /// The suite, as the recipe names it.
    pub suite: &'a str,
    /// The architecture.
    pub architecture: &'a str,
    /// The mirror the packages came from (`system.mirror`).
    pub mirror: &'a str,
    /// The package set.
    pub lock: &'a Lock,
    /// What the guest says of each of `lock.packages`, in order.
    pub installed: &'a [Installed],
    /// The recipe's digest.
    pub recipe: &'a RecipeInput,
    /// The lock's digest.
    pub lock_input: &'a LockInput,
    /// `SOURCE_DATE_EPOCH`.
    pub source_date_epoch: i64,
    /// The disk or the tarball.
    pub output: &'a Entry,
}

/// An SPDX 2.3 document (the fields this SBOM uses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    /// `SPDX-2.3`.
    pub spdx_version: &'static str,
    /// `CC0-1.0`, as §6.2 requires.
    pub data_license: &'static str,
    /// `SPDXRef-DOCUMENT`.
    #[serde(rename = "SPDXID")]
    pub spdx_id: &'static str,
    /// The guest's name.
    pub name: String,
    /// The document's URI.
    pub document_namespace: String,
    /// Who made it, when.
    pub creation_info: CreationInfo,
    /// The guest, its packages, its tools, their sources.
    pub packages: Vec<Package>,
    /// The `LicenseRef-`s.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub has_extracted_licensing_infos: Vec<ExtractedLicense>,
    /// How the elements relate.
    pub relationships: Vec<Relationship>,
}

/// §6.8-6.11.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationInfo {
    /// `SOURCE_DATE_EPOCH`, `YYYY-MM-DDThh:mm:ssZ`.
    pub created: String,
    /// `Tool: lunforge-VERSION`.
    pub creators: Vec<String>,
    /// The SPDX License List the identifiers come from, `M.N`.
    pub license_list_version: String,
}

/// A package (§7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    /// Its element identifier.
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    /// Name.
    pub name: String,
    /// Version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_info: Option<String>,
    /// The file it came as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package_file_name: Option<String>,
    /// Always `NOASSERTION`.
    pub supplier: &'static str,
    /// A URL, `NONE` or `NOASSERTION`.
    pub download_location: String,
    /// Always false: the files of a package are not listed.
    pub files_analyzed: bool,
    /// The file's digests.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<Checksum>,
    /// Always `NOASSERTION`.
    pub license_concluded: &'static str,
    /// What the copyright file declares, or `NOASSERTION`.
    pub license_declared: String,
    /// Why the declared license is `NOASSERTION`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_comments: Option<String>,
    /// Always `NOASSERTION`.
    pub copyright_text: &'static str,
    /// A note on the package.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The `purl`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_refs: Vec<ExternalRef>,
    /// `OPERATING_SYSTEM` (the guest) or `SOURCE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_package_purpose: Option<&'static str>,
}

impl Package {
    /// A package of which nothing but its name is known.
    fn new(spdx_id: String, name: &str) -> Package {
        Package {
            spdx_id,
            name: name.into(),
            version_info: None,
            package_file_name: None,
            supplier: NOASSERTION,
            download_location: NOASSERTION.into(),
            files_analyzed: false,
            checksums: Vec::new(),
            license_concluded: NOASSERTION,
            license_declared: NOASSERTION.into(),
            license_comments: None,
            copyright_text: NOASSERTION,
            comment: None,
            external_refs: Vec::new(),
            primary_package_purpose: None,
        }
    }
}

/// §7.10.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Checksum {
    /// `SHA256`.
    pub algorithm: &'static str,
    /// Lower-case hex.
    pub checksum_value: String,
}

/// §7.21.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalRef {
    /// `PACKAGE-MANAGER`.
    pub reference_category: &'static str,
    /// `purl`.
    pub reference_type: &'static str,
    /// The purl.
    pub reference_locator: String,
}

/// §11.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Relationship {
    /// The subject.
    pub spdx_element_id: String,
    /// `DESCRIBES`, `CONTAINS`, `GENERATED_FROM`.
    pub relationship_type: &'static str,
    /// The object.
    pub related_spdx_element: String,
}

/// §10.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtractedLicense {
    /// `LicenseRef-…`.
    pub license_id: String,
    /// The short name the copyright file uses.
    pub name: String,
    /// Its text.
    pub extracted_text: String,
}

impl Document {
    /// The file's bytes: pretty-printed, with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        // OK to unwrap: strings, numbers and booleans only.
        let mut v = serde_json::to_vec_pretty(self).expect("SBOM");
        v.push(b'\n');
        v
    }
}

/// The SBOM of `g`.
pub fn document(g: &Guest<'_>) -> Document {
    let mut rows: Vec<(&LockedPackage, Option<&Installed>)> = g
        .lock
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| (p, g.installed.get(i)))
        .collect();
    rows.sort_by(|a, b| {
        (&a.0.name, &a.0.architecture).cmp(&(&b.0.name, &b.0.architecture))
    });
    let refs = Refs::new(rows.iter().filter_map(|r| r.1).map(|i| &i.declared));
    let sources: BTreeSet<&(String, String)> =
        rows.iter().filter_map(|r| r.1?.source.as_ref()).collect();
    let source_ids: BTreeMap<&(String, String), String> = sources
        .iter()
        .zip(1..)
        .map(|(s, n)| (*s, format!("SPDXRef-debsrc-{n}-{}", idstring(&s.0))))
        .collect();

    let mut packages = vec![guest(g)];
    let mut relationships = vec![relationship(DOCUMENT, "DESCRIBES", GUEST)];
    for ((p, installed), n) in rows.iter().zip(1..) {
        let id = format!("SPDXRef-deb-{n}-{}", idstring(&p.name));
        packages.push(binary(g.mirror, p, *installed, &refs, id.clone()));
        relationships.push(relationship(GUEST, "CONTAINS", &id));
        let src = installed.and_then(|i| i.source.as_ref());
        // Every source is there: `source_ids` was made from these rows.
        if let Some(of) = src.and_then(|s| source_ids.get(s)) {
            relationships.push(relationship(&id, "GENERATED_FROM", of));
        }
    }
    let mut tools: Vec<&LockedPackage> = g.lock.tools.iter().collect();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    for (p, n) in tools.into_iter().zip(1..) {
        let id = format!("SPDXRef-tool-{n}-{}", idstring(&p.name));
        packages.push(tool(g.mirror, p, id.clone()));
        relationships.push(relationship(GUEST, "CONTAINS", &id));
    }
    packages.extend(source_ids.iter().map(|(s, id)| source(s, id)));

    Document {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: DOCUMENT,
        name: g.name.into(),
        document_namespace: namespace(g),
        creation_info: CreationInfo {
            created: rfc3339(g.source_date_epoch),
            creators: vec![format!(
                "Tool: lunforge-{}",
                env!("CARGO_PKG_VERSION")
            )],
            license_list_version: list_version(),
        },
        packages,
        has_extracted_licensing_infos: refs.extracted(),
        relationships,
    }
}

/// The guest's package.
fn guest(g: &Guest<'_>) -> Package {
    let mut p = Package::new(GUEST.into(), g.name);
    p.package_file_name = Some(g.output.name.clone());
    // Built here: there is nowhere to download it from.
    p.download_location = "NONE".into();
    p.checksums = vec![sha256(&g.output.sha256)];
    p.primary_package_purpose = Some("OPERATING_SYSTEM");
    p.comment = Some(format!(
        "Debian {} {} guest built by lunforge from the recipe {} \
         (SHA-256 {}) and the lock of SHA-256 {}",
        g.suite,
        g.architecture,
        g.recipe.source,
        g.recipe.sha256,
        g.lock_input.sha256
    ));
    p
}

/// An installed `.deb`.
fn binary(
    mirror: &str,
    lp: &LockedPackage,
    installed: Option<&Installed>,
    refs: &Refs,
    id: String,
) -> Package {
    let mut p = fetched(mirror, lp, id);
    match installed.map(|i| &i.declared) {
        Some(Declared::Licenses { all, texts }) => {
            let name = |t: &Term| match t {
                Term::Spdx(id) => id.clone(),
                Term::Other(n) => refs.id(n, texts),
            };
            p.license_declared = declared(all, &name);
        }
        Some(Declared::Unknown(why)) => {
            p.license_comments =
                Some(format!("/usr/share/doc/{}/copyright: {why}", lp.name));
        }
        None => {}
    }
    p
}

/// A build tool: fetched, never installed.
fn tool(mirror: &str, lp: &LockedPackage, id: String) -> Package {
    let mut p = fetched(mirror, lp, id);
    p.comment = Some(
        "a build tool of the guest: not installed by dpkg; the guest holds \
         what the build made from it (the initrd's busybox, the EFI boot \
         loader)"
            .into(),
    );
    p
}

/// What is known of any package of the lock.
fn fetched(mirror: &str, lp: &LockedPackage, id: String) -> Package {
    let mut p = Package::new(id, &lp.name);
    p.version_info = Some(lp.version.clone());
    p.package_file_name = lp.path.rsplit('/').next().map(str::to_string);
    p.download_location = download_location(mirror, &lp.path);
    p.checksums = vec![sha256(&hex::encode(lp.sha256))];
    p.external_refs = vec![purl(&lp.name, &lp.version, &lp.architecture)];
    p
}

/// A source package.
fn source((name, version): &(String, String), id: &str) -> Package {
    let mut p = Package::new(id.into(), name);
    p.version_info = Some(version.clone());
    p.external_refs = vec![purl(name, version, "source")];
    p.primary_package_purpose = Some("SOURCE");
    p
}

/// Every expression of a copyright file, together: the terms that
/// must all hold (each expression, or the parts of one that is itself
/// an `AND`), each once, in byte order.
fn declared(all: &[Expr], name: &impl Fn(&Term) -> String) -> String {
    let mut parts: BTreeMap<String, Expr> = BTreeMap::new();
    for e in all {
        let conjuncts = match e {
            Expr::And(v) => v.clone(),
            e => vec![e.clone()],
        };
        for c in conjuncts {
            parts.entry(c.render(name)).or_insert(c);
        }
    }
    let mut parts: Vec<Expr> = parts.into_values().collect();
    match parts.len() {
        1 => parts.remove(0).render(name),
        _ => Expr::And(parts).render(name),
    }
}

fn sha256(hex: &str) -> Checksum {
    Checksum {
        algorithm: "SHA256",
        checksum_value: hex.into(),
    }
}

fn relationship(from: &str, kind: &'static str, to: &str) -> Relationship {
    Relationship {
        spdx_element_id: from.into(),
        relationship_type: kind,
        related_spdx_element: to.into(),
    }
}

/// `pkg:deb/debian/NAME@VERSION?arch=ARCH`, name and version
/// percent-encoded as the purl spec asks (all but `A-Za-z0-9.-_~`, and
/// `:`, which it never encodes: `1:2.0+dfsg` is `1:2.0%2Bdfsg`).
fn purl(name: &str, version: &str, arch: &str) -> ExternalRef {
    ExternalRef {
        reference_category: "PACKAGE-MANAGER",
        reference_type: "purl",
        reference_locator: format!(
            "pkg:deb/debian/{}@{}?arch={}",
            percent(name),
            percent(version),
            percent(arch)
        ),
    }
}

/// What a purl leaves unencoded: letters, digits, `.-_~` and `:`.
const PURL: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~')
    .remove(b':');

fn percent(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, PURL).to_string()
}

/// The `.deb`'s URL on `mirror`, without any user or password the
/// mirror's URL may carry.
fn download_location(mirror: &str, path: &str) -> String {
    let mirror = mirror.trim_end_matches('/');
    let mirror = match mirror.split_once("://") {
        Some((scheme, rest)) => {
            let host_end = rest.find('/').unwrap_or(rest.len());
            match rest[..host_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => mirror.to_string(),
            }
        }
        None => mirror.to_string(),
    };
    format!("{mirror}/{path}")
}

/// `urn:uuid:` of a UUID derived from what the document is made of.
fn namespace(g: &Guest<'_>) -> String {
    let time = g.source_date_epoch.to_string();
    let uuid = Uuid::derive(&[
        "spdx",
        g.name,
        &g.recipe.sha256,
        &g.lock_input.sha256,
        &time,
        &g.output.sha256,
    ]);
    format!("urn:uuid:{uuid}")
}

/// The SPDX License List version of the `spdx` crate, `M.N`.
fn list_version() -> String {
    let v = spdx::identifiers::VERSION;
    let mut parts = v.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => format!("{major}.{minor}"),
        _ => v.to_string(),
    }
}

/// `t` (seconds since 1970, UTC) as `YYYY-MM-DDThh:mm:ssZ`.
fn rfc3339(t: i64) -> String {
    let (y, m, d) =
        crate::filesystems::fat::time::civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

#[cfg(test)]
mod tests;
