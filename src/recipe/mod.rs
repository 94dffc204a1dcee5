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

pub mod extends;
pub mod file;
pub mod layout;
pub mod overrides;
pub mod resolve;

pub(crate) use resolve::cidr;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use file::{
    AptSource, ConfigureStrategy, DiskPaths, FsKind, Hypervisor, Loader,
    PartSize, PartitionUse, TableKind, Variant, XenBoot, XenType, XlAction,
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
    #[error("{location}: {key}: {message}")]
    Key {
        /// `FILE:LINE`, or `--set ARG` when an override set the key.
        location: String,
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
    /// `[xen]`, always resolved: the xl config is made for every guest.
    pub xen: Xen,
    /// `[access]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<file::AccessFile>,
    /// `[iscsi]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iscsi: Option<Iscsi>,
    /// `[boot]`, always resolved (`loader = "none"`: booted from
    /// outside, as a Xen guest).
    pub boot: Boot,
    /// `[host]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<Host>,
}

/// `[boot]`, resolved.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Boot {
    /// The boot loader on the disk.
    pub loader: Loader,
    /// What its entry starts.
    pub hypervisor: Hypervisor,
    /// More of the kernel's command line.
    pub cmdline: String,
    /// Seconds the menu waits.
    pub timeout: u32,
}

impl Boot {
    /// A disk booted from outside: no loader of its own.
    pub fn external() -> Boot {
        Boot {
            loader: Loader::None,
            hypervisor: Hypervisor::None,
            cmdline: String::new(),
            timeout: 5,
        }
    }
}

/// `[host]`, resolved.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Host {
    /// The guest recipes, as paths.
    pub guests: Vec<PathBuf>,
    /// The iSCSI initiator name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iscsi_initiator: Option<String>,
}

/// `[xen]`, resolved: the guest's domain on the hosts and the hosts' own
/// Xen boot entries.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Xen {
    /// The hosts that run (and migrate) the guest.
    pub hosts: Vec<String>,
    /// Guest memory, a whole number of MiB.
    pub memory: ByteSize,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Bridge of the guest's vif.
    pub bridge: String,
    /// Directory on the hosts for the guest's kernel and initrd.
    pub guest_boot_dir: String,
    /// How the xl config names the LUN.
    pub disk_paths: DiskPaths,
    /// xl `on_poweroff`.
    pub on_poweroff: XlAction,
    /// xl `on_reboot`.
    pub on_reboot: XlAction,
    /// xl `on_crash`.
    pub on_crash: XlAction,
    /// Domain 0's memory (`dom0_mem=`), a whole number of MiB.
    pub dom0_memory: ByteSize,
    /// Xen's command line after `dom0_mem=`.
    pub xen_cmdline: String,
    /// The hypervisor as GRUB finds it on the hosts; domain 0's kernel
    /// and initrd are looked for in the same directory.
    pub xen_path: String,
    /// Domain 0's kernel version; none means the guest's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dom0_kernel_version: Option<String>,
    /// Domain 0's `root=`; none means no host GRUB entries are made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dom0_root: Option<String>,
    /// More of domain 0's command line.
    pub dom0_cmdline: String,
    /// How Xen finds the guest's kernel.
    pub bootloader: XenBoot,
    /// The guest's kind (xl.cfg `type`).
    #[serde(rename = "type")]
    pub kind: XenType,
    /// GRUB's root device on the hosts; none leaves GRUB's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_boot_partition: Option<GrubPartition>,
}

/// A partition as GRUB names it: BIOS disk from 0, partition from 1
/// (GRUB 2's `hd0,1`; GRUB legacy writes it `(hd0,0)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrubPartition {
    /// BIOS disk number, from 0.
    pub disk: u32,
    /// Partition number, from 1.
    pub partition: u32,
}

impl std::str::FromStr for GrubPartition {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad =
            || format!("{s:?} is not a GRUB 2 partition such as \"hd0,1\"");
        let (disk, part) = s
            .strip_prefix("hd")
            .and_then(|r| r.split_once(','))
            .ok_or_else(bad)?;
        let disk: u32 = disk.parse().map_err(|_| bad())?;
        let partition: u32 = part.parse().map_err(|_| bad())?;
        if partition == 0 {
            return Err(bad());
        }
        Ok(GrubPartition { disk, partition })
    }
}

impl std::fmt::Display for GrubPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "hd{},{}", self.disk, self.partition)
    }
}

impl Serialize for GrubPartition {
    fn serialize<S: serde::Serializer>(
        &self,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `[iscsi]`, resolved.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Iscsi {
    /// Target IQN.
    pub target: String,
    /// Logical unit number.
    pub lun: u32,
    /// The target's portal, `ADDRESS:PORT`.
    pub portal: String,
    /// CHAP user name, when the target asks for CHAP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chap_user: Option<String>,
    /// Where the CHAP secret is read at build time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chap_secret: Option<SecretSource>,
    /// The file or block device behind the LUN on the target host.
    pub backing_store: String,
}

/// Where a secret comes from: never the recipe itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable of the build.
    Env(String),
    /// A file on the build host (relative to the recipe), whose first
    /// line is the secret.
    File(PathBuf),
}

impl SecretSource {
    /// The secret's text: the variable's value, or the file's first
    /// line; on failure, what is wrong (never the secret).
    pub fn read(&self) -> std::result::Result<String, String> {
        match self {
            SecretSource::Env(var) => std::env::var(var).map_err(|e| match e {
                std::env::VarError::NotPresent => "is not set".into(),
                std::env::VarError::NotUnicode(_) => {
                    "is not valid UTF-8".into()
                }
            }),
            SecretSource::File(p) => std::fs::read_to_string(p)
                .map(|t| t.lines().next().unwrap_or("").to_string())
                .map_err(|e| format!("cannot be read: {e}")),
        }
    }
}

impl std::str::FromStr for SecretSource {
    type Err = String;

    /// `env:VAR` or `file:PATH` (relative to the working directory).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        resolve::secret_source(None, s)
    }
}

impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Env(v) => write!(f, "env:{v}"),
            SecretSource::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

impl Serialize for SecretSource {
    fn serialize<S: serde::Serializer>(
        &self,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
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

/// Where an EFI system partition is mounted when the recipe names no
/// mount point: where Debian's installer mounts it and `grub-install`
/// looks for it.
pub const ESP_MOUNT: &str = "/boot/efi";

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
    /// Mount point: the recipe's, [`ESP_MOUNT`] for an EFI system
    /// partition that names none, `None` for swap and root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount: Option<String>,
    /// ext settings that replace mke2fs.conf's defaults.
    #[serde(flatten)]
    pub ext: ExtOptions,
}

/// ext settings of a partition that replace mke2fs.conf's defaults for
/// its size (each `None` keeps the default).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ExtOptions {
    /// Block size (`mke2fs -b`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_size: Option<u32>,
    /// Bytes per inode (`mke2fs -i`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inode_ratio: Option<u64>,
    /// Inode count (`mke2fs -N`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inodes: Option<u32>,
    /// Reserved percentage (`mke2fs -m`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_percent: Option<u8>,
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
    /// Extra packages, named for the guest's architecture.
    pub include: Vec<String>,
    /// The `include`s renamed for the guest's architecture
    /// (`linux-image-amd64 -> linux-image-arm64`), for `recipe show`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub include_mapped: Vec<String>,
    /// Excluded packages.
    pub exclude: Vec<String>,
    /// Keyring files; empty means the host's Debian archive keyring.
    pub keyring: Vec<PathBuf>,
    /// Maintainer-script strategy.
    pub configure: ConfigureStrategy,
    /// The archive of the suite's `-updates` in the guest's apt
    /// sources; none (shown as `false`) leaves it out.
    #[serde(serialize_with = "url_or_false")]
    pub updates: Option<String>,
    /// Where `updates` came from, or why there is none.
    pub updates_origin: String,
    /// The archive of the suite's security updates; none (`false`)
    /// leaves it out.
    #[serde(serialize_with = "url_or_false")]
    pub security: Option<String>,
    /// Where `security` came from, or why there is none.
    pub security_origin: String,
    /// The time zone, a name under `/usr/share/zoneinfo`.
    pub timezone: String,
    /// The locale (`LANG`).
    pub locale: String,
}

/// The time zone of a recipe that names none: Debian's own default
/// (tzdata's answer on a fresh install).
pub const DEFAULT_TIMEZONE: &str = "Etc/UTC";

/// The locale of a recipe that names none: built into the C library,
/// so it needs no package and no generation.
pub const DEFAULT_LOCALE: &str = "C.UTF-8";

/// Locales the C library has without the `locales` package.
pub const BUILTIN_LOCALES: &[&str] = &["C", "C.UTF-8", "POSIX"];

impl System {
    /// The guest's architecture. A resolved recipe names a known one
    /// (`resolve` refuses any other), so this cannot fail for a recipe
    /// from [`Recipe::load`].
    pub fn arch(&self) -> crate::arch::Arch {
        crate::arch::Arch::from_debian(&self.architecture).unwrap_or_else(
            || panic!("unchecked architecture {:?}", self.architecture),
        )
    }

    /// Packages that other keys than `include` ask for, each with its
    /// key: `locales` for a locale the C library lacks, `tzdata` for a
    /// time zone other than the default (which needs no zone file).
    pub fn implied_packages(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !BUILTIN_LOCALES.contains(&self.locale.as_str()) {
            out.push(("locales".into(), "system.locale".into()));
        }
        if self.timezone != DEFAULT_TIMEZONE {
            out.push(("tzdata".into(), "system.timezone".into()));
        }
        out
    }
}

/// A URL, or `false` for none: the recipe's own spelling, so that the
/// shown recipe reads back to the same one.
fn url_or_false<S: serde::Serializer>(
    v: &Option<String>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(url) => s.serialize_str(url),
        None => s.serialize_bool(false),
    }
}

impl Recipe {
    /// The guest's host name: `network.hostname`, else the image's name.
    pub fn hostname(&self) -> &str {
        self.network
            .as_ref()
            .map_or(self.image.name.as_str(), |n| n.hostname.as_str())
    }

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
        let path = match source {
            Source::Path(p) => Some(p.clone()),
            Source::Embedded => None,
        };
        let (file, layers) =
            parse_layers(&name, path.as_deref(), &text, overrides)?;
        let located = |e| locate(e, &layers, overrides);
        let mut recipe =
            resolve::resolve(&name, path, file, apt_root).map_err(located)?;
        layout::check(&recipe)
            .map_err(|(key, message)| Error::Invalid {
                file: name.clone(),
                key,
                message,
            })
            .map_err(located)?;
        if recipe.system.mirror_origin == resolve::FROM_RECIPE {
            let set_mirror = overrides.iter().rev().find(|o| {
                o.split_once('=')
                    .is_some_and(|(k, _)| k.trim() == "system.mirror")
            });
            if let Some(arg) = set_mirror {
                recipe.system.mirror_origin = format!("--set {arg}");
            }
        }
        if let Some(host) = &recipe.host {
            for guest in &host.guests {
                let g = Recipe::guest(guest, &recipe.system.mirror, apt_root)?;
                let (ours, theirs) =
                    (&recipe.system.architecture, &g.system.architecture);
                if ours != theirs {
                    return Err(located(Error::Invalid {
                        file: name.clone(),
                        key: "host.guests".into(),
                        message: format!(
                            "{} is an {theirs} guest, and Xen runs guests \
                             of its own architecture only ({ours})",
                            guest.display()
                        ),
                    }));
                }
            }
        }
        Ok(recipe)
    }

    /// The guest recipe at `path` of a host built from `mirror` (the
    /// host and its guests come from one archive), checked as its own
    /// build would check it: so a host's build stops on a bad guest
    /// recipe before anything is downloaded. A guest that is a host
    /// itself is refused (a host's guests are domains, and a cycle of
    /// hosts would never end).
    pub fn guest(path: &Path, mirror: &str, apt_root: &Path) -> Result<Recipe> {
        let set = [format!("system.mirror={mirror}")];
        let source = Source::Path(path.to_path_buf());
        let text = source.read()?;
        let (file, layers) =
            parse_layers(&source.name(), Some(path), &text, &set)?;
        if file.host.is_some() {
            let e = Error::Invalid {
                file: source.name(),
                key: "host".into(),
                message: "a guest of a Xen host cannot be a Xen host itself: \
                          name a guest recipe, without [host]"
                    .into(),
            };
            return Err(locate(e, &layers, &set));
        }
        Recipe::load(&source, &set, apt_root)
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
    parse_file(name, None, text, overrides)
}

/// [`parse`] of the recipe at `path` (when it is a file), whose
/// `extends` is read relative to it ([`extends`]).
pub fn parse_file(
    name: &str,
    path: Option<&Path>,
    text: &str,
    overrides: &[String],
) -> Result<file::RecipeFile> {
    parse_layers(name, path, text, overrides).map(|(file, _)| file)
}

/// [`parse_file`], with the files the recipe was made of, where the
/// errors of later checks are located ([`locate`]).
fn parse_layers(
    name: &str,
    path: Option<&Path>,
    text: &str,
    overrides: &[String],
) -> Result<(file::RecipeFile, extends::Layers)> {
    let (mut doc, layers) = extends::load(name, path, text)?;
    for arg in overrides {
        overrides::apply(&mut doc, arg)?;
    }
    let text = doc.to_string();
    let de = toml::Deserializer::new(&text);
    let file = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let location = match set_by(overrides, &key) {
            Some(arg) => format!("--set {arg}"),
            // A merged recipe's text is not any one file's: look the
            // key up in the file that set it.
            None if layers.extended() => {
                layers.locate(&key).unwrap_or_else(|| name.to_string())
            }
            None => format!(
                "{name}:{}",
                line_of(&text, inner.span().map(|s| s.start))
            ),
        };
        Error::Key {
            location,
            key: if key == "." {
                "(top level)".into()
            } else {
                key
            },
            message: first_line(inner.message()),
        }
    })?;
    Ok((file, layers))
}

/// The `--set` argument that set `key` (the last one, which won).
fn set_by<'a>(overrides: &'a [String], key: &str) -> Option<&'a String> {
    overrides.iter().rev().find(|o| {
        o.split_once('=')
            .is_some_and(|(k, _)| normalise_key(k) == normalise_key(key))
    })
}

/// A rule broken across keys ([`Error::Invalid`]), located like a key's
/// own error: at the `--set` that set the key, else at its line in the
/// file (the layer of an `extends` chain) that set it or the table that
/// holds it.
fn locate(e: Error, layers: &extends::Layers, overrides: &[String]) -> Error {
    let Error::Invalid { file, key, message } = e else {
        return e;
    };
    let location = match set_by(overrides, &key) {
        Some(arg) => format!("--set {arg}"),
        None => layers.locate(&key).unwrap_or(file),
    };
    Error::Key {
        location,
        key,
        message,
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// An apt root whose sources name a Debian archive.
    fn apt_root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("etc/apt/sources.list.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("debian.sources"),
            "Types: deb\nURIs: http://mirror.invalid/debian\n\
             Suites: bookworm\nComponents: main\n",
        )
        .unwrap();
        dir
    }

    fn load_text(text: &str, sets: &[&str]) -> Result<Recipe> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.toml");
        std::fs::write(&path, text).unwrap();
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Recipe::load(&Source::Path(path), &sets, apt_root().path())
    }

    #[test]
    fn variant_names_are_the_recipe_spellings() {
        use Variant::*;
        for v in [Essential, Apt, Required, Minbase, Important, Standard] {
            let written = toml::Value::try_from(v).unwrap();
            assert_eq!(written.as_str(), Some(v.name()));
        }
    }

    /// The embedded recipe with `sets`.
    fn embedded(sets: &[&str]) -> Result<Recipe> {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Recipe::load(&Source::Embedded, &sets, apt_root().path())
    }

    #[test]
    fn an_arm64_guest_from_the_embedded_recipe() {
        let amd = embedded(&[]).unwrap();
        assert_eq!(amd.image.table, TableKind::Msdos);
        assert_eq!(amd.xen.kind, XenType::Pvh);
        assert!(amd.system.include_mapped.is_empty());
        let arm = embedded(&["system.architecture=arm64"]).unwrap();
        assert_eq!(arm.system.architecture, "arm64");
        assert_eq!(arm.image.table, TableKind::Gpt);
        assert_eq!(
            arm.system.include,
            [
                "linux-image-arm64",
                "systemd-sysv",
                "ifupdown",
                "openssh-server"
            ]
        );
        assert_eq!(
            arm.system.include_mapped,
            ["linux-image-amd64 -> linux-image-arm64"]
        );
        let shown = arm.to_toml();
        assert!(shown.contains("linux-image-amd64 -> linux-image-arm64"));
        // A table the recipe names is kept.
        let mbr = embedded(&["system.architecture=arm64", "image.table=msdos"])
            .unwrap();
        assert_eq!(mbr.image.table, TableKind::Msdos);
        // Xen's guest type defaults to Arm's only one.
        let pv = "[image]\nname = \"g\"\nsize = \"1GiB\"\n\
                  [[partitions]]\nuse = \"root\"\nsize = \"rest\"\n\
                  [system]\nsuite = \"trixie\"\nmirror = \"http://m.invalid/d\"\n";
        let r = load_text(pv, &["system.architecture=arm64"]).unwrap();
        assert_eq!(r.xen.kind, XenType::Pvh);
        let r = load_text(pv, &["system.architecture=amd64"]).unwrap();
        assert_eq!(r.xen.kind, XenType::Pv);
    }

    #[test]
    fn arm64_refusals_name_their_key() {
        let e = embedded(&["system.architecture=i386"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "system.architecture: \"i386\" is not an architecture \
                        lunforge builds guests for (amd64, arm64)"
            ),
            "{e}"
        );
        let e = embedded(&["system.architecture=arm64", "xen.type=pv"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"pv\": Xen on Arm has one guest type"), "{e}");
        assert!(e.contains("--set"), "{e}");
    }

    #[test]
    fn embedded_recipe_resolves_with_the_host_mirror() {
        let root = apt_root();
        let r = Recipe::load(&Source::Embedded, &[], root.path()).unwrap();
        assert_eq!(r.image.name, "virtual01");
        assert_eq!(r.image.size, ByteSize(8 << 30));
        assert_eq!(r.system.suite, "trixie");
        assert_eq!(r.system.variant, Variant::Required);
        assert_eq!(r.system.mirror, "http://mirror.invalid/debian");
        assert!(r.system.mirror_origin.ends_with("debian.sources:1"));
        assert_eq!(r.partitions[1].fs, Some(FsKind::Ext3));
        assert_eq!(r.partitions[0].fs, None);
    }

    /// `-updates` and security: the host's entries mapped to the
    /// guest's release, or beside an explicit mirror; what is missing is
    /// said in the origin, and an explicit request that cannot be met
    /// is an error naming the key.
    #[test]
    fn updates_and_security_sources() {
        let root = apt_root();
        let r = Recipe::load(&Source::Embedded, &[], root.path()).unwrap();
        let s = &r.system;
        assert_eq!(s.updates.as_deref(), Some("http://mirror.invalid/debian"));
        assert_eq!(
            s.updates_origin,
            "system.mirror, as the host's apt sources have no \
             bookworm-updates entry (trixie-updates is on every mirror of \
             the suite)"
        );
        assert_eq!(s.security, None);
        assert_eq!(
            s.security_origin,
            "none: the host's apt sources have no bookworm-security entry; \
             set system.security to its URL"
        );
        let e = Recipe::load(
            &Source::Embedded,
            &["system.security=true".into()],
            root.path(),
        )
        .unwrap_err();
        assert!(
            e.to_string().ends_with(
                "system.security: the host's apt sources have no \
                 bookworm-security entry: give the security archive's \
                 URL, or false"
            ),
            "{e}"
        );

        let host = crate::repo::host_sources::tests::root(&[(
            "etc/apt/sources.list",
            "deb http://mirror.invalid/debian bookworm main\n\
             deb http://updates.invalid/debian bookworm-updates main\n\
             deb http://security.invalid/debian-security bookworm-security \
             main\n",
        )]);
        let r = Recipe::load(&Source::Embedded, &[], host.path()).unwrap();
        let s = &r.system;
        assert_eq!(s.updates.as_deref(), Some("http://updates.invalid/debian"));
        assert!(s
            .updates_origin
            .ends_with("sources.list:2 (bookworm-updates)"));
        assert_eq!(
            s.security.as_deref(),
            Some("http://security.invalid/debian-security")
        );
        assert!(s.security_origin.ends_with(":3 (bookworm-security)"));
        let off = Recipe::load(
            &Source::Embedded,
            &[
                "system.updates=false".into(),
                "system.security=false".into(),
            ],
            host.path(),
        )
        .unwrap();
        assert_eq!((off.system.updates, off.system.security), (None, None));

        let head = "[image]\nname = \"a\"\nsize = \"1G\"\n[system]\n\
                    suite = \"trixie\"\nmirror = \"http://m.example/debian\"\n";
        let r = load_text(head, &[]).unwrap();
        assert_eq!(
            r.system.updates.as_deref(),
            Some("http://m.example/debian")
        );
        assert_eq!(
            r.system.security.as_deref(),
            Some("http://m.example/debian-security")
        );
        let local = ["system.mirror=http://127.0.0.1:8080/"];
        let r = load_text(head, &local).unwrap();
        assert_eq!(r.system.updates.as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(r.system.security, None);
        assert!(r.system.security_origin.starts_with("none: the path of"));
        let sets = [local[0], "system.security=http://127.0.0.1:8081/s/"];
        let r = load_text(head, &sets).unwrap();
        assert_eq!(
            r.system.security.as_deref(),
            Some("http://127.0.0.1:8081/s")
        );
        for (set, want) in [
            (
                "system.security=true",
                "system.security: the path of system.mirror does not end in \
                 /debian",
            ),
            (
                "system.updates=ftp://x",
                "system.updates: unsupported mirror URL ftp://x: expected",
            ),
        ] {
            let e = load_text(head, &[local[0], set]).unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
        }
        let sid = ["system.suite=sid"];
        let r = load_text(head, &sid).unwrap();
        assert_eq!((r.system.updates, r.system.security), (None, None));
        let e = load_text(head, &[sid[0], "system.updates=true"]).unwrap_err();
        assert!(
            e.to_string().ends_with(
                "system.updates: sid has no -updates suite: leave it out or \
                 set false"
            ),
            "{e}"
        );
    }

    #[test]
    fn timezone_and_locale_keys() {
        let head = "[image]\nname = \"a\"\nsize = \"1G\"\n[system]\n\
                    suite = \"trixie\"\n";
        let r = load_text(head, &[]).unwrap();
        assert_eq!(r.system.timezone, DEFAULT_TIMEZONE);
        assert_eq!(r.system.locale, DEFAULT_LOCALE);
        assert_eq!(r.system.implied_packages(), []);
        let r = load_text(
            head,
            &[
                "system.timezone=America/Argentina/Cordoba",
                "system.locale=sr_RS@latin",
            ],
        )
        .unwrap();
        assert_eq!(
            r.system.implied_packages(),
            [
                ("locales".to_string(), "system.locale".to_string()),
                ("tzdata".to_string(), "system.timezone".to_string())
            ]
        );
        for ok in ["C", "POSIX", "en_GB.UTF-8", "eo.UTF-8", "ast_ES"] {
            let set = format!("system.locale={ok}");
            assert!(load_text(head, &[&set]).is_ok(), "{ok}");
        }
        for (set, key) in [
            ("system.timezone=UTC", "system.timezone"),
            ("system.timezone=posix/Europe/London", "system.timezone"),
            ("system.timezone=Europe/../London", "system.timezone"),
            ("system.timezone=/Europe/London", "system.timezone"),
            ("system.timezone=Europe/London now", "system.timezone"),
            ("system.locale=en_gb.utf8", "system.locale"),
            ("system.locale=C.utf8", "system.locale"),
            ("system.locale=en_GB.", "system.locale"),
            ("system.locale=en_GB.UTF-8 UTF-8", "system.locale"),
        ] {
            let e = load_text(head, &[set]).unwrap_err().to_string();
            assert!(e.contains(&format!(": {key}: ")), "{set}: {e}");
            assert!(e.contains("e.g."), "{set}: {e}");
        }
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let base = "[image]\nname = \"a\"\nsize = \"1G\"\n\n[system]\n";
        let e = load_text(&format!("{base}suit = \"x\"\n"), &[]).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("r.toml:6: system.suit: unknown field `suit`"),
            "{msg}"
        );
        let e = load_text("[image]\nname = \"a\"\nsize = \"8 GB s\"\n", &[])
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("r.toml:3: image.size: bad size \"8 GB s\""),
            "{msg}"
        );
        let e = load_text(&format!("{base}suite = 3\n"), &[]).unwrap_err();
        assert!(
            e.to_string()
                .contains("r.toml:6: system.suite: invalid type"),
            "{e}"
        );
        let e = load_text("[image\n", &[]).unwrap_err();
        assert!(matches!(e, Error::Syntax { line: 1, .. }), "{e}");
        let e =
            load_text(&format!("{base}suite = \"x\"\n"), &["image.size=3X"])
                .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--set image.size=3X: image.size: bad size"),
            "{e}"
        );
    }

    #[test]
    fn cross_key_rules() {
        let head =
            "[image]\nname = \"a\"\nsize = \"4G\"\n[system]\nsuite = \"x\"\n";
        let part = |u: &str, s: &str| {
            format!("[[partitions]]\nuse = \"{u}\"\nsize = \"{s}\"\n")
        };
        let two_rest =
            format!("{head}{}{}", part("swap", "rest"), part("root", "rest"));
        let e = load_text(&two_rest, &[]).unwrap_err();
        // Located at the key's line: the second `size`.
        assert_eq!(
            e.to_string().rsplit_once("r.toml:").unwrap().1,
            "11: partitions[1].size: only one partition may be \"rest\" \
             (partitions[0] is too)"
        );
        let ext_opts = format!(
            "{head}{}reserved_percent = 1\n{}block_size = 2048\n\
             inode_ratio = 8192\nreserved_percent = 0\n",
            part("swap", "1G"),
            part("root", "rest")
        );
        let e = load_text(&ext_opts, &[]).unwrap_err();
        assert_eq!(
            e.to_string().rsplit_once("r.toml:").unwrap().1,
            "9: partitions[0].reserved_percent: only an ext2, ext3 or ext4 \
             partition takes it"
        );
        let ok = ext_opts.replacen("reserved_percent = 1\n", "", 1);
        let r = load_text(&ok, &[]).unwrap();
        let want = ExtOptions {
            block_size: Some(2048),
            inode_ratio: Some(8192),
            inodes: None,
            reserved_percent: Some(0),
        };
        assert_eq!(r.partitions[1].ext, want);
        let e = load_text(&ok, &["partitions.1.block_size=3000"]).unwrap_err();
        assert!(
            e.to_string().contains("3000 is not 1024, 2048 or 4096"),
            "{e}"
        );
        for (mount, why) in [
            ("/", "is the root, which the root partition holds"),
            ("//.", "is the root, which the root partition holds"),
            ("/boot/", "\"/boot\" stays on the root file system"),
            ("/srv/../etc", "has a \"..\" component"),
            ("srv", "is not an absolute path"),
        ] {
            let text = format!(
                "{head}{}{}mount = \"{mount}\"\n",
                part("root", "1M"),
                part("data", "rest")
            );
            let e = load_text(&text, &[]).unwrap_err().to_string();
            assert!(e.contains("partitions[1].mount: "), "{e}");
            assert!(e.contains(why), "{mount}: {e}");
        }
        let twice = format!(
            "{head}{}{}mount = \"/srv\"\n{}mount = \"/srv/\"\n",
            part("root", "1M"),
            part("data", "1M"),
            part("data", "rest")
        );
        let e = load_text(&twice, &[]).unwrap_err().to_string();
        assert!(
            e.contains(
                "partitions[2].mount: /srv is the mount point of another"
            ),
            "{e}"
        );
        // An ESP is mounted at /boot/efi unless it says otherwise, and
        // that mount point is taken like any other.
        let esp =
            format!("{head}{}{}", part("esp", "64M"), part("root", "rest"));
        let r = load_text(&esp, &[]).unwrap();
        assert_eq!(r.partitions[0].mount.as_deref(), Some(ESP_MOUNT));
        assert_eq!(r.partitions[0].fs, Some(FsKind::Vfat));
        let efi = format!(
            "{head}{}mount = \"/efi\"\n{}",
            part("esp", "64M"),
            part("root", "rest")
        );
        let r = load_text(&efi, &[]).unwrap();
        assert_eq!(r.partitions[0].mount.as_deref(), Some("/efi"));
        let both = format!(
            "{head}{}{}{}mount = \"/boot/efi\"\n",
            part("esp", "64M"),
            part("root", "1G"),
            part("data", "rest")
        );
        let e = load_text(&both, &[]).unwrap_err().to_string();
        assert!(
            e.contains(
                "partitions[2].mount: /boot/efi is the mount point of another"
            ),
            "{e}"
        );
        let no_root = format!("{head}{}", part("swap", "1G"));
        assert!(load_text(&no_root, &[])
            .unwrap_err()
            .to_string()
            .contains("no partition has use = \"root\""));
        let e = load_text(head, &["system.mirror=ftp://x"]).unwrap_err();
        assert!(e.to_string().contains("system.mirror"), "{e}");
        let e =
            load_text(head, &["system.include=[\"bad/name\"]"]).unwrap_err();
        assert!(
            e.to_string().contains("\"bad/name\" is not a package name"),
            "{e}"
        );
        let e = load_text(head, &["system.mirror=mirror+http://x/debian"])
            .unwrap_err();
        assert!(
            e.to_string().ends_with(
                "system.mirror: unsupported mirror URL mirror+http://x/debian: \
                 expected http://HOST…, https://HOST…, file:///PATH or \
                 file:/PATH, or \"host\""
            ),
            "{e}"
        );
        let ok = load_text(head, &["system.mirror=file:/srv/m/"]).unwrap();
        assert_eq!(ok.system.mirror, "file:///srv/m");
        let e = load_text(head, &["image.name=-x"]).unwrap_err();
        assert!(e.to_string().contains("image.name"), "{e}");
        let ok =
            load_text(head, &["system.mirror=file:///srv/mirror/"]).unwrap();
        assert_eq!(ok.system.mirror, "file:///srv/mirror");
        assert_eq!(
            ok.system.mirror_origin,
            "--set system.mirror=file:///srv/mirror/"
        );
    }

    #[test]
    fn xen_and_iscsi_keys() {
        let head = "[image]\nname = \"a\"\nsize = \"1G\"\n[system]\n\
                    suite = \"x\"\n";
        let e = load_text(&format!("{head}[xen]\ndisk_paths = \"nfs\"\n"), &[])
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("r.toml:7: xen.disk_paths: unknown variant"),
            "{e}"
        );
        let e = load_text(head, &["xen.memory=1000kB"]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(": xen.memory: "), "{msg}");
        assert!(msg.ends_with(" is not a whole number of MiB"), "{msg}");
        let lun =
            format!("{head}[iscsi]\ntarget = \"iqn.2001-04.com.example:d\"\n");
        let e = load_text(&lun, &[]).unwrap_err();
        assert!(e.to_string().contains(": iscsi.portal: "), "{e}");
        let e = load_text(&lun, &["iscsi.portal=t", "iscsi.chap_user=jim"])
            .unwrap_err();
        assert!(e.to_string().contains(": iscsi.chap_secret: "), "{e}");
        let e = load_text(
            &lun,
            &["iscsi.portal=t", "iscsi.chap_secret=sekritsekrit"],
        )
        .unwrap_err();
        assert!(e.to_string().contains("never goes in the recipe"), "{e}");
        let r = load_text(&lun, &["iscsi.portal=t", "xen.vcpus=2"]).unwrap();
        let i = r.iscsi.unwrap();
        assert_eq!(i.portal, "t:3260");
        assert_eq!(i.backing_store, "/srv/lunforge/a.img");
        assert_eq!(r.xen.vcpus, 2);
        assert_eq!(r.xen.bridge, "xenbr0");
    }

    #[test]
    fn host_mirror_missing_is_explained() {
        let empty = tempfile::tempdir().unwrap();
        let e = Recipe::load(&Source::Embedded, &[], empty.path()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with(
            "<embedded>/virtual01.toml: system.mirror: \"host\" asks for the \
             host's Debian mirror, but"
        ), "{msg}");
        assert!(msg.ends_with("give --mirror URL or system.mirror"), "{msg}");
    }

    #[test]
    fn error_messages() {
        let e = Error::Key {
            location: "r.toml:3".into(),
            key: "image.size".into(),
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "r.toml:3: image.size: bad");
        let e = Error::Syntax {
            file: "r".into(),
            line: 2,
            message: "m".into(),
        };
        assert_eq!(e.to_string(), "r:2: m");
        let e = Error::Invalid {
            file: "r".into(),
            key: "k".into(),
            message: "m".into(),
        };
        assert_eq!(e.to_string(), "r: k: m");
    }

    /// The shipped host recipes, with a keys file of the test's.
    fn host(name: &str, keys: &Path) -> Result<Recipe> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("recipes")
            .join(format!("{name}.toml"));
        let set =
            format!("access.root_authorized_keys_file={}", keys.display());
        Recipe::load(&Source::Path(path), &[set], apt_root().path())
    }

    #[test]
    fn host_recipes_share_their_base() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        std::fs::write(&keys, "# operator\nssh-ed25519 AAAA op@desk\n\n")
            .unwrap();
        let d = host("dangermouse", &keys).unwrap();
        let b = host("buggles", &keys).unwrap();
        assert_eq!(d.image.name, "dangermouse");
        assert_eq!(b.image.name, "buggles");
        for r in [&d, &b] {
            assert_eq!(r.boot.loader, Loader::GrubEfi);
            assert_eq!(r.boot.hypervisor, Hypervisor::Xen);
            assert_eq!(r.image.table, TableKind::Gpt);
            assert_eq!(r.partitions[0].usage, PartitionUse::Esp);
            let net = r.network.as_ref().unwrap();
            assert_eq!(net.bridge.as_deref(), Some("xenbr0"));
            let h = r.host.as_ref().unwrap();
            assert!(h.guests[0].ends_with("recipes/virtual01.toml"));
            let a = r.access.as_ref().unwrap();
            assert_eq!(a.root_authorized_keys, ["ssh-ed25519 AAAA op@desk"]);
            assert!(r.system.include.iter().any(|p| p == "xen-system-amd64"));
        }
        let iqn = |r: &Recipe| r.host.as_ref().unwrap().iscsi_initiator.clone();
        assert_eq!(
            iqn(&d).as_deref(),
            Some("iqn.2006-05.com.performancemagic:dangermouse.01")
        );
        assert_ne!(iqn(&d), iqn(&b));
        assert_eq!(d.system.include, b.system.include);
        assert_eq!(d.system.suite, b.system.suite);
        assert_eq!(d.partitions, b.partitions);
    }

    #[test]
    fn a_host_runs_guests_of_its_architecture() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        std::fs::write(&keys, "ssh-ed25519 AAAA op@desk\n").unwrap();
        let guest = dir.path().join("arm.toml");
        let base = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("recipes/virtual01.toml");
        std::fs::write(
            &guest,
            format!(
                "extends = {:?}\n[system]\narchitecture = \"arm64\"\n",
                base.display().to_string()
            ),
        )
        .unwrap();
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("recipes/dangermouse.toml");
        let sets = [
            format!("access.root_authorized_keys_file={}", keys.display()),
            format!("host.guests=[{:?}]", guest.display().to_string()),
        ];
        let e = Recipe::load(&Source::Path(path), &sets, apt_root().path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "is an arm64 guest, and Xen runs guests of its own \
                        architecture only (amd64)"
            ),
            "{e}"
        );
        assert!(e.contains("host.guests"), "{e}");
        // And a host itself is amd64 (multiboot2), said at the key.
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("recipes/dangermouse.toml");
        let sets = [sets[0].clone(), "system.architecture=arm64".to_string()];
        let e = Recipe::load(&Source::Path(path), &sets, apt_root().path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("system.architecture: arm64: a Xen host disk boots Xen with GRUB's multiboot2"),
            "{e}"
        );
    }

    #[test]
    fn host_keys_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let e = host("dangermouse", &dir.path().join("none"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("access.root_authorized_keys_file:"), "{e}");
        assert!(e.contains("none: No such file"), "{e}");
        let base = "[image]\nname = \"h\"\nsize = \"1GiB\"\ntable = \"gpt\"\n\
                    [system]\nsuite = \"trixie\"\n";
        let root = "[[partitions]]\nuse = \"root\"\nsize = \"rest\"\n";
        let esp = "[[partitions]]\nuse = \"esp\"\nsize = \"64MiB\"\n";
        let cases = [
            (
                format!("{base}{root}[boot]\nloader = \"grub-efi\"\n"),
                "boot.loader: \"grub-efi\" needs a partition with use = \"esp\"",
            ),
            (
                format!("{base}{esp}{root}[boot]\nhypervisor = \"xen\"\n"),
                "boot.hypervisor: \"xen\" is started by the disk's own boot loader",
            ),
            (
                format!("{base}{root}[host]\nguests = [\"nowhere.toml\"]\n"),
                "host.guests: ",
            ),
            (
                format!("{base}{root}[host]\niscsi_initiator = \"disk1\"\n"),
                "host.iscsi_initiator: ",
            ),
            (
                format!(
                    "{base}{root}[network]\nhostname = \"h\"\n\
                     interface = \"br0\"\nbridge = \"br0\"\n"
                ),
                "network.bridge: \"br0\" is network.interface itself",
            ),
            (
                format!(
                    "{base}{root}[network]\nhostname = \"h\"\n\
                     [[network.extra_interfaces]]\ninterface = \"eth0\"\n"
                ),
                "network.extra_interfaces[0].interface: \"eth0\" is configured already",
            ),
            (
                format!(
                    "{base}{root}[network]\nhostname = \"h\"\n\
                     [[network.extra_interfaces]]\ninterface = \"eth1\"\n\
                     address = \"10.0.2.300/24\"\n"
                ),
                "network.extra_interfaces[0].address: \"10.0.2.300/24\": expected",
            ),
            (
                format!(
                    "{base}{root}[network]\nhostname = \"h\"\n\
                     [[network.extra_interfaces]]\ninterface = \"eth1\"\n\
                     address = \"10.0.2.15/24\"\ndhcp = true\n"
                ),
                "network.extra_interfaces[0].dhcp: address is set too",
            ),
            (
                format!(
                    "{base}{root}[network]\nhostname = \"h\"\n\
                     [network.hosts]\n\"a;rm\" = \"192.0.2.12\"\n"
                ),
                "network.hosts.a;rm: \"a;rm\" is not a host name",
            ),
            (
                format!(
                    "{base}{root}[network]\nhostname = \"h\"\n\
                     [network.hosts]\nbuggles = \"buggles\"\n"
                ),
                "network.hosts.buggles: \"buggles\" is not an IP address",
            ),
            (
                format!(
                    "{base}{root}[network]\nhostname = \"h\"\n\
                     [network.hosts]\nh = \"192.0.2.12\"\n"
                ),
                "network.hosts.h: this is network.hostname, whose address is network.address (not set)",
            ),
            (
                format!("{base}{root}[boot]\nloader = \"grub\"\n"),
                "boot.loader: unknown variant `grub`",
            ),
        ];
        for (text, want) in cases {
            let e = load_text(&text, &[]).unwrap_err().to_string();
            assert!(e.contains(want), "{e}\n--- wanted: {want}");
        }
        // GRUB boots Xen by multiboot2 on x86 alone; GRUB EFI itself
        // is there for arm64.
        let arm = ["system.architecture=arm64"];
        let xen = format!(
            "{base}{esp}{root}[boot]\nloader = \"grub-efi\"\nhypervisor = \"xen\"\n"
        );
        let e = load_text(&xen, &arm).unwrap_err().to_string();
        assert!(
            e.contains("boot.hypervisor: \"xen\" is booted by GRUB's multiboot2, which arm64 lacks"),
            "{e}"
        );
        let efi = format!("{base}{esp}{root}[boot]\nloader = \"grub-efi\"\n");
        assert_eq!(load_text(&efi, &arm).unwrap().system.architecture, "arm64");
        let ok = format!(
            "{base}{esp}{root}[boot]\nloader = \"grub-efi\"\nhypervisor = \"xen\"\n"
        );
        let r = load_text(&ok, &[]).unwrap();
        assert_eq!(r.boot.timeout, 5);
        let plain = load_text(&format!("{base}{root}"), &[]).unwrap();
        assert_eq!(plain.boot, Boot::external());
        assert_eq!(plain.host, None);
    }
}
