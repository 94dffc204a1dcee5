//! Recipes: the declarative description of one guest disk.
//!
//! Loading happens in two phases (the way ripgrep separates `LowArgs` from
//! `HiArgs`): [`file::RecipeFile`] mirrors the TOML exactly and rejects
//! unknown keys, wrong types and bad sizes, naming the file, line and key;
//! [`resolve`] then fills in defaults, reads the host's apt sources for the
//! mirror and checks rules that span several keys, giving the immutable
//! [`Recipe`] every stage reads. `--set` overrides are applied to the TOML
//! document before typing ([`overrides`]), so they are checked like the
//! file itself.

pub mod file;
pub mod overrides;
pub mod resolve;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use file::{
    ConfigureStrategy, FsKind, PartSize, PartitionUse, TableKind, Variant,
};

use crate::units::ByteSize;

/// The default recipe, built into the binary: the seed's guest.
pub const EMBEDDED: &str = include_str!("../../recipes/virtual01.toml");
/// The name the embedded recipe goes by in messages.
pub const EMBEDDED_NAME: &str = "<embedded>/virtual01.toml";

/// Errors of recipe loading; each names the file and, where known, the
/// line and key.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The recipe file cannot be read.
    #[error("cannot read recipe {path}: {source}")]
    Read {
        /// The recipe path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not valid TOML.
    #[error("{file}:{line}: {message}")]
    Syntax {
        /// The recipe's name.
        file: String,
        /// 1-based line.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// A key that is unknown, of the wrong type, or with a bad value.
    #[error("{file}:{line}: {key}: {message}")]
    Key {
        /// The recipe's name.
        file: String,
        /// 1-based line of the offending value (0 when unknown).
        line: usize,
        /// Dotted key path, e.g. `partitions[1].size`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A `--set` override that cannot be applied.
    #[error(transparent)]
    Override(#[from] overrides::Error),
    /// A rule across keys is broken (two `rest` partitions, no root, …).
    #[error("{file}: {key}: {message}")]
    Invalid {
        /// The recipe's name.
        file: String,
        /// The key the rule is about.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// `mirror = "host"` but the host's apt sources name no Debian archive.
    #[error(
        "{file}: system.mirror: \"host\" asks for the host's Debian mirror, \
         but {detail}; give --mirror URL or system.mirror"
    )]
    NoHostMirror {
        /// The recipe's name.
        file: String,
        /// Why none was found.
        detail: String,
    },
}

/// Result of recipe loading.
pub type Result<T> = std::result::Result<T, Error>;

/// Where a recipe comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The recipe built into the binary.
    Embedded,
    /// A recipe file.
    Path(PathBuf),
}

impl Source {
    /// The name used in messages.
    pub fn name(&self) -> String {
        match self {
            Source::Embedded => EMBEDDED_NAME.into(),
            Source::Path(p) => p.display().to_string(),
        }
    }

    /// The recipe's text.
    pub fn read(&self) -> Result<String> {
        match self {
            Source::Embedded => Ok(EMBEDDED.into()),
            Source::Path(p) => {
                std::fs::read_to_string(p).map_err(|source| Error::Read {
                    path: p.clone(),
                    source,
                })
            }
        }
    }
}

/// A loaded, checked recipe with every default filled in.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Recipe {
    /// Where it came from (not serialised).
    #[serde(skip)]
    pub source: Option<PathBuf>,
    /// `[image]`.
    pub image: Image,
    /// `[[partitions]]`.
    pub partitions: Vec<Partition>,
    /// `[system]`.
    pub system: System,
    /// `[network]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<file::NetworkFile>,
    /// `[xen]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xen: Option<file::XenFile>,
    /// `[iscsi]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iscsi: Option<file::IscsiFile>,
}

/// The disk image.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Image {
    /// Guest name.
    pub name: String,
    /// Disk size.
    pub size: ByteSize,
    /// Partition table.
    pub table: TableKind,
}

/// One partition.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Partition {
    /// Role.
    #[serde(rename = "use")]
    pub usage: PartitionUse,
    /// Size or rest.
    pub size: PartSize,
    /// File system, when the role has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fs: Option<FsKind>,
    /// Label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Mount point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount: Option<String>,
}

/// What Debian to install, resolved.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct System {
    /// Suite or codename as given.
    pub suite: String,
    /// Debian architecture.
    pub architecture: String,
    /// Variant (`minbase` is stored as its synonym `required`).
    pub variant: Variant,
    /// Mirror base URL.
    pub mirror: String,
    /// Where the mirror came from (`--mirror`, the recipe, or the host's
    /// apt sources file and line).
    pub mirror_origin: String,
    /// Components.
    pub components: Vec<String>,
    /// Extra packages.
    pub include: Vec<String>,
    /// Excluded packages.
    pub exclude: Vec<String>,
    /// Keyring files; empty means the host's Debian archive keyring.
    pub keyring: Vec<PathBuf>,
    /// Maintainer-script strategy.
    pub configure: ConfigureStrategy,
}

impl Recipe {
    /// Load a recipe from `source`, apply `overrides` (`key.path=value`),
    /// and resolve it against the host whose apt configuration lives under
    /// `apt_root` (normally `/`).
    pub fn load(
        source: &Source,
        overrides: &[String],
        apt_root: &Path,
    ) -> Result<Recipe> {
        let text = source.read()?;
        let name = source.name();
        let file = parse(&name, &text, overrides)?;
        let path = match source {
            Source::Path(p) => Some(p.clone()),
            Source::Embedded => None,
        };
        resolve::resolve(&name, path, file, apt_root)
    }

    /// The resolved recipe as TOML (what `lunforge recipe show` prints).
    pub fn to_toml(&self) -> String {
        // OK to unwrap: every field serialises to TOML (no maps with
        // non-string keys, no bare values at top level).
        toml::to_string_pretty(self).expect("recipe serialises")
    }
}

/// Parse recipe text with overrides into the 1:1 file model.
pub fn parse(
    name: &str,
    text: &str,
    overrides: &[String],
) -> Result<file::RecipeFile> {
    let mut doc: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| Error::Syntax {
                file: name.into(),
                line: line_of(text, e.span().map(|s| s.start)),
                message: first_line(e.message()),
            })?;
    for arg in overrides {
        overrides::apply(&mut doc, arg)?;
    }
    let text = doc.to_string();
    let de = toml::Deserializer::new(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let key_name = key.rsplit('.').next().unwrap_or(&key).to_string();
        let from_set = overrides.iter().find(|o| {
            o.split_once('=')
                .map(|(k, _)| normalise_key(k) == normalise_key(&key))
                .unwrap_or(false)
        });
        let file = match from_set {
            Some(arg) => format!("--set {arg}"),
            None => name.into(),
        };
        let _ = key_name;
        Error::Key {
            file,
            line: line_of(&text, inner.span().map(|s| s.start)),
            key: if key == "." {
                "(top level)".into()
            } else {
                key
            },
            message: first_line(inner.message()),
        }
    })
}

/// `partitions[1].size` and `partitions.1.size` compare equal.
fn normalise_key(k: &str) -> String {
    k.trim().replace('[', ".").replace(']', "")
}

/// 1-based line of byte `offset` in `text` (0 when unknown).
fn line_of(text: &str, offset: Option<usize>) -> usize {
    offset.map_or(0, |o| {
        text.as_bytes()[..o.min(text.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    })
}

fn first_line(s: &str) -> String {
    s.trim().lines().next().unwrap_or("").to_string()
}
