//! `OUT/<name>/manifest.json`: what one build made, and from what.
//!
//! A JSON object (`serde_json`, pretty-printed, keys in the order of the
//! struct fields below, a final newline):
//!
//! * `version`: of this format, [`VERSION`];
//! * `name`, `format` (`image` or `tar`, as `--format`);
//! * `recipe`: its source (`<embedded>/virtual01.toml` or the path as
//!   given) and the SHA-256 of the resolved recipe as `lunforge recipe
//!   show` prints it, so `--set`, `--mirror` and `--configure` count;
//! * `lock`: the SHA-256 of the lock as `lunforge lock` writes it (with
//!   `--locked`, of the lockfile read; else of the resolution a `lunforge
//!   lock` would have written);
//! * `suite`, `architecture`, `configure` (the strategy that ran: `auto`
//!   resolved), `source_date_epoch` (every timestamp of the outputs);
//! * `output`: the disk (its name in `OUT`, or the `--target` as given,
//!   never with a secret) or the tarball, with its size and SHA-256: of
//!   every byte of the disk, holes read as zeros, what `sha256sum` of
//!   the image file prints;
//! * `files`: every file of `OUT/<name>/` but this one and `SHA256SUMS`,
//!   named relative to it, as in `SHA256SUMS`;
//! * `packages` installed in the guest and the build's `tools` (fetched
//!   from the same lock, not installed: busybox-static for the initrd),
//!   each with name, version and architecture, sorted by name and
//!   architecture as in the lockfile.
//!
//! No wall-clock time, no host name, no absolute path of the build: the
//! same inputs give the same bytes. `SHA256SUMS` lists this file (it
//! lists every file of the directory but itself); the manifest cannot
//! list its own digest, nor that of `SHA256SUMS`, which depends on it.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::recipe::{Recipe, EMBEDDED_NAME};
use crate::resolve::lockfile::{Lock, LockedPackage};

/// The manifest's file name in `OUT/<name>/`.
pub const NAME: &str = "manifest.json";

/// The version of the manifest's format.
pub const VERSION: u32 = 1;

/// A file a build made: its name, size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The name (see where the entry is used).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, 64 lower-case hex digits.
    pub sha256: String,
}

impl Entry {
    /// The entry of `bytes` named `name`.
    pub fn of(name: &str, bytes: &[u8]) -> Entry {
        Entry {
            name: name.into(),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
        }
    }
}

/// Where the recipe came from, and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipeInput {
    /// `<embedded>/virtual01.toml`, or the recipe's path as given.
    pub source: String,
    /// SHA-256 of `lunforge recipe show`'s output.
    pub sha256: String,
}

impl RecipeInput {
    /// The input of `recipe`.
    pub fn of(recipe: &Recipe) -> RecipeInput {
        RecipeInput {
            source: recipe
                .source
                .as_ref()
                .map_or(EMBEDDED_NAME.into(), |p| p.display().to_string()),
            sha256: hex::encode(Sha256::digest(recipe.to_toml())),
        }
    }
}

/// The lock's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockInput {
    /// SHA-256 of the lockfile's bytes ([`Lock::to_text`]).
    pub sha256: String,
}

impl LockInput {
    /// The input of `lock`.
    pub fn of(lock: &Lock) -> LockInput {
        LockInput {
            sha256: hex::encode(Sha256::digest(lock.to_text())),
        }
    }
}

/// A package by name, version and architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Package {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub architecture: String,
}

impl From<&LockedPackage> for Package {
    fn from(p: &LockedPackage) -> Package {
        Package {
            name: p.name.clone(),
            version: p.version.clone(),
            architecture: p.architecture.clone(),
        }
    }
}

/// The manifest (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// [`VERSION`].
    pub version: u32,
    /// The image's name.
    pub name: String,
    /// `image` or `tar`.
    pub format: &'static str,
    /// The recipe.
    pub recipe: RecipeInput,
    /// The lock.
    pub lock: LockInput,
    /// The suite.
    pub suite: String,
    /// The architecture.
    pub architecture: String,
    /// The configure strategy that ran.
    pub configure: String,
    /// `SOURCE_DATE_EPOCH` of the outputs.
    pub source_date_epoch: i64,
    /// The disk or the tarball.
    pub output: Entry,
    /// The files of `OUT/<name>/` but this and `SHA256SUMS`, by name.
    pub files: Vec<Entry>,
    /// The packages installed in the guest.
    pub packages: Vec<Package>,
    /// The build's tools.
    pub tools: Vec<Package>,
}

impl Manifest {
    /// The packages and the tools of `lock`, sorted as in the lockfile
    /// (a fresh resolution and the lock read back give one order).
    pub fn packages_of(lock: &Lock) -> (Vec<Package>, Vec<Package>) {
        let mut lock = lock.clone();
        lock.normalise();
        (
            lock.packages.iter().map(Package::from).collect(),
            lock.tools.iter().map(Package::from).collect(),
        )
    }

    /// The file's bytes.
    pub fn to_json(&self) -> Vec<u8> {
        // OK to unwrap: strings and numbers only, which always
        // serialise.
        let mut v = serde_json::to_vec_pretty(self).expect("manifest");
        v.push(b'\n');
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_inputs_are_digests_of_the_bytes() {
        // FIPS 180-2's test vector for "abc".
        let e = Entry::of("a", b"abc");
        assert_eq!(e.size, 3);
        assert_eq!(
            e.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let r = crate::boot::tests::recipe();
        let input = RecipeInput::of(&r);
        assert_eq!(input.source, EMBEDDED_NAME);
        assert_eq!(
            input.sha256,
            hex::encode(Sha256::digest(r.to_toml().as_bytes()))
        );
        let mut other = r.clone();
        other.system.include.push("less".into());
        assert_ne!(RecipeInput::of(&other).sha256, input.sha256);
        let lock = crate::resolve::lockfile::tests::sample();
        assert_eq!(
            LockInput::of(&lock).sha256,
            hex::encode(Sha256::digest(lock.to_text()))
        );
    }

    #[test]
    fn the_json_has_the_fields_in_order_and_a_final_newline() {
        let lock = crate::resolve::lockfile::tests::sample();
        let (packages, tools) = Manifest::packages_of(&lock);
        let m = Manifest {
            version: VERSION,
            name: "g".into(),
            format: "tar",
            recipe: RecipeInput {
                source: "g.toml".into(),
                sha256: "0".repeat(64),
            },
            lock: LockInput::of(&lock),
            suite: "trixie".into(),
            architecture: "amd64".into(),
            configure: "firstboot".into(),
            source_date_epoch: 1_700_000_000,
            output: Entry::of("g.tar", b""),
            files: vec![Entry::of("sbom.spdx.json", b"{}")],
            packages,
            tools,
        };
        let bytes = m.to_json();
        assert_eq!(bytes.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let keys: Vec<&str> =
            v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 13);
        let text = String::from_utf8(bytes).unwrap();
        let at = |k: &str| text.find(&format!("\"{k}\"")).unwrap();
        assert!(at("version") < at("recipe") && at("output") < at("tools"));
        assert_eq!(v["packages"][0]["name"], "bash");
        assert_eq!(v["tools"][0]["name"], "busybox-static");
        assert_eq!(v["source_date_epoch"], 1_700_000_000);
    }
}
