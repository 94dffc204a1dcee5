//! The configure stage: from unpacked packages to an installed Debian
//! system, held as a [`Tree`].
//!
//! In order: the merged-/usr layout ([`layout`]); every package's files,
//! in a fixed order, with ownership tracked so that two packages shipping
//! one file is an error unless the later one `Replaces` the earlier; the
//! dpkg database, every package "unpacked" ([`dpkg_db`]); `/dev`
//! ([`devices`]); the guest files of the recipe ([`etc`]), its apt
//! sources and automatic marks ([`apt`]), time zone and locale
//! ([`locale`]); then the maintainer scripts by strategy
//! ([`maintscripts`]); last, what must not be shared by every copy of the
//! image is taken out ([`scrub`]).

pub mod access;
pub mod apt;
pub mod devices;
pub mod dpkg_db;
pub mod essentials;
pub mod etc;
pub mod idmap;
pub mod layout;
pub mod locale;
pub mod maintscripts;
pub mod sandbox;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::progress::Progress;
use crate::repo::deb822::Paragraphs;
use crate::resolve::relation;
use crate::tree::{GuestPath, Kind, Meta, Spool, Tree};
use crate::unpack::{self, EntryKind, Unpacked};
use maintscripts::{Package, Strategy};

/// Errors of the configure stage; each names the package or path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tree refused an entry.
    #[error(transparent)]
    Tree(#[from] crate::tree::Error),
    /// A path is invalid.
    #[error(transparent)]
    Path(#[from] crate::tree::path::Error),
    /// Writing out or reading back the staging directory failed.
    #[error(transparent)]
    Host(#[from] crate::tree::host::Error),
    /// Unpacking failed.
    #[error(transparent)]
    Unpack(#[from] unpack::Error),
    /// The dpkg database could not be written.
    #[error(transparent)]
    DpkgDb(#[from] dpkg_db::Error),
    /// Two packages ship the same file and neither replaces the other.
    #[error(
        "{path} is shipped by both {first} and {second}, and {second} \
         does not declare Replaces: {first}"
    )]
    Overwrite {
        /// The path.
        path: GuestPath,
        /// The package unpacked first.
        first: String,
        /// The package that would overwrite it.
        second: String,
    },
    /// `configure = "chroot"` without root.
    #[error(
        "configure = \"chroot\" needs root; as a normal user use \
         configure = \"unshare\" (a user namespace with subordinate ids) \
         or configure = \"firstboot\""
    )]
    ChrootNeedsRoot,
    /// `configure = "unshare"` where no user namespace can be made.
    #[error("configure = \"unshare\": {0}; use configure = \"firstboot\"")]
    Unshare(idmap::Unavailable),
    /// A package name or host name is not safe to put in the sandbox's
    /// script.
    #[error("{name:?} is not a valid package, architecture or host name")]
    UnsafeName {
        /// The name.
        name: String,
    },
    /// `configure = "chroot"` for another architecture.
    #[error(
        "configure = \"chroot\" and \"unshare\" cannot run {guest} \
         maintainer scripts on this {host} host; use configure = \"firstboot\""
    )]
    ForeignArchitecture {
        /// Guest architecture.
        guest: String,
        /// Host architecture.
        host: String,
    },
    /// The `[access]` settings cannot be applied.
    #[error("access: {what}")]
    Access {
        /// What is wrong.
        what: String,
    },
    /// A network setting of the recipe is invalid.
    #[error("{key} = {value:?}: {why}")]
    Network {
        /// The recipe key.
        key: String,
        /// Its value.
        value: String,
        /// What is wrong.
        why: String,
    },
    /// A `[system]` setting the built system cannot take (a time zone
    /// its tzdata lacks, a locale its locales package does not support).
    #[error("{key} = {value:?}: {why}")]
    System {
        /// The recipe key.
        key: &'static str,
        /// Its value.
        value: String,
        /// What is wrong, and what would do.
        why: String,
    },
    /// A command could not be started.
    #[error("cannot run {what}: {source}")]
    Spawn {
        /// What was being run.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// A maintainer script or dpkg failed.
    #[error("{what} failed ({status}):\n{output}")]
    Script {
        /// What was run.
        what: String,
        /// Exit status.
        status: String,
        /// The end of its output.
        output: String,
    },
    /// A signal stopped the stage ([`crate::cancel`]).
    #[error(transparent)]
    Interrupted(#[from] crate::cancel::Interrupted),
    /// The staging directory failed.
    #[error("staging directory {path}: {source}")]
    Staging {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Result of the configure stage.
pub type Result<T> = std::result::Result<T, Error>;

/// What the configure stage needs besides the packages.
#[derive(Debug, Clone)]
pub struct Options {
    /// The recipe: the guest's architecture, files and access.
    pub recipe: crate::recipe::Recipe,
    /// The strategy, decided by [`maintscripts::choose`].
    pub strategy: Strategy,
    /// Every timestamp lunforge writes.
    pub source_date_epoch: i64,
    /// Where the chroot strategy makes its staging directory.
    pub staging: PathBuf,
    /// The suite was verified with the Debian archive keyring, so the
    /// guest's sources may name it ([`apt`]).
    pub debian_keyring: bool,
    /// The automatically installed packages, `(name, architecture)`.
    pub auto_installed: Vec<(String, String)>,
}

/// The packages' files alone, unpacked into a tree in the suite's
/// merged-/usr layout: no dpkg database, no configuration. Enough for
/// what is read from a system's files without running it (its kernel,
/// its modules, the initrd made from them), as a Xen host's build reads
/// its guests'.
pub fn unpacked_tree(
    packages: &[Unpacked],
    spool: Spool,
    arch: &str,
    sde: i64,
) -> Result<Tree> {
    let mut tree = Tree::with_spool(sde, spool);
    layout::merged_usr(&mut tree, packages, arch, sde)?;
    unpack_all(&mut tree, packages)?;
    Ok(tree)
}

/// Build the installed system from `packages` (in resolver order), whose
/// contents are in `spool`.
pub fn assemble(
    packages: &[Unpacked],
    spool: Spool,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<Tree> {
    let sde = opts.source_date_epoch;
    let arch = &opts.recipe.system.architecture;
    let mut tree = Tree::with_spool(sde, spool);
    layout::merged_usr(&mut tree, packages, arch, sde)?;
    let lists = unpack_all(&mut tree, packages)?;
    let infos: Vec<Package> =
        packages.iter().map(package_info).collect::<Result<_>>()?;
    // Both strategies start from what dpkg calls unpacked; the chroot
    // strategy's dpkg --configure -a then records them installed.
    let state = dpkg_db::PkgState::Unpacked;
    let files: Vec<BTreeMap<String, (Vec<u8>, u32)>> = packages
        .iter()
        .map(|u| {
            u.control_files
                .iter()
                .map(|(k, v)| (k.clone(), (v.data.clone(), v.mode)))
                .collect()
        })
        .collect();
    let installed: Vec<dpkg_db::Installed<'_>> = packages
        .iter()
        .zip(&lists)
        .zip(&files)
        .map(|((u, paths), files)| dpkg_db::Installed {
            control: &u.control,
            control_files: files,
            paths,
            status: state,
        })
        .collect();
    dpkg_db::write(&mut tree, arch, &installed, sde)?;
    devices::populate(&mut tree, opts.recipe.partitions.len(), sde)?;
    etc::write(&mut tree, &opts.recipe, sde)?;
    apt::write(
        &mut tree,
        &opts.recipe,
        opts.debian_keyring,
        &opts.auto_installed,
        sde,
    )?;
    locale::write(&mut tree, &opts.recipe, sde)?;
    let access = opts.recipe.access.clone().unwrap_or_default();
    access::authorized_keys(&mut tree, &access, sde)?;
    let order = maintscripts::preinst_order(&infos);
    let run_before = under(&tree, "/run")?;
    let mut tree = match opts.strategy {
        Strategy::Chroot | Strategy::Unshare(_) => {
            progress.note(&format!(
                "configure: {} preinsts, then dpkg --configure -a, in a sandbox",
                order.len()
            ));
            let privilege = match opts.strategy {
                Strategy::Unshare(map) => sandbox::Privilege::User(map),
                _ => sandbox::Privilege::Root,
            };
            let sandbox = sandbox::Sandbox {
                privilege,
                hostname: opts.recipe.hostname(),
                source_date_epoch: sde,
                staging: &opts.staging,
            };
            let (mut tree, times) =
                sandbox::configure(&tree, &order, &sandbox, progress)?;
            progress.note(&format!("configure: sandbox: {times}"));
            if let Some(hash) = &access.root_password_hash {
                access::set_root_password(&mut tree, hash)?;
            }
            tree
        }
        Strategy::Firstboot => {
            let after = access
                .root_password_hash
                .as_deref()
                .map(access::firstboot_password_line)
                .unwrap_or_default();
            essentials::apply(&mut tree, sde)?;
            firstboot(&mut tree, &order, &after, sde)?;
            tree
        }
    };
    scrub(&mut tree, sde, &run_before)?;
    Ok(tree)
}

/// Unpack every package in order; the paths each names, for its `.list`.
/// A non-directory that an earlier package already shipped is an error
/// unless the later package replaces the earlier one (checked after the
/// package is applied: the build fails either way).
fn unpack_all(
    tree: &mut Tree,
    packages: &[Unpacked],
) -> Result<Vec<Vec<GuestPath>>> {
    let mut owner: BTreeMap<GuestPath, usize> = BTreeMap::new();
    let mut lists = Vec::with_capacity(packages.len());
    for (i, u) in packages.iter().enumerate() {
        crate::cancel::check()?;
        let paths = unpack::apply(tree, u)?;
        let replaces = replaced_names(u);
        let dirs: BTreeSet<&GuestPath> = u
            .entries
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::Dir))
            .map(|e| &e.path)
            .collect();
        for path in paths.iter().filter(|p| !dirs.contains(p)) {
            let at = tree.placement(path)?;
            if let Some(&j) = owner.get(&at) {
                if j != i && !replaces.contains(&packages[j].name) {
                    return Err(Error::Overwrite {
                        path: at,
                        first: packages[j].name.clone(),
                        second: u.name.clone(),
                    });
                }
            }
            owner.insert(at, i);
        }
        lists.push(paths);
    }
    Ok(lists)
}

/// The package names in a package's `Replaces`.
fn replaced_names(u: &Unpacked) -> BTreeSet<String> {
    let field = Paragraphs::new(&u.control)
        .next()
        .and_then(|p| p.ok())
        .and_then(|p| p.get("Replaces").map(str::to_string))
        .unwrap_or_default();
    relation::parse_dependencies(&field, "any")
        .map(|deps| {
            deps.into_iter()
                .flat_map(|d| {
                    d.alternatives.into_iter().map(|r| r.name.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What the preinst ordering needs to know of a package.
fn package_info(u: &Unpacked) -> Result<Package> {
    let para = Paragraphs::new(&u.control).next().and_then(|p| p.ok());
    let get = |f: &str| para.as_ref().and_then(|p| p.get(f)).unwrap_or("");
    let arch = get("Architecture").to_string();
    let key = if get("Multi-Arch") == "same" {
        format!("{}:{arch}", u.name)
    } else {
        u.name.clone()
    };
    let mut needs = BTreeSet::new();
    for field in ["Pre-Depends", "Depends"] {
        if let Ok(deps) = relation::parse_dependencies(get(field), &arch) {
            needs.extend(deps.into_iter().filter_map(|d| {
                d.alternatives.first().map(|r| r.name.to_string())
            }));
        }
    }
    Ok(Package {
        name: u.name.clone(),
        key,
        arch,
        needs,
        has_preinst: u.control_files.contains_key("preinst"),
    })
}

/// Every path strictly below `dir`.
fn under(tree: &Tree, dir: &str) -> Result<BTreeSet<GuestPath>> {
    let dir = GuestPath::new(dir)?;
    Ok(tree
        .iter()
        .map(|(p, _, _)| p)
        .filter(|p| p.starts_with(&dir) && **p != dir)
        .cloned()
        .collect())
}

/// The first-boot step, its marker, its list of owed preinsts and its
/// unit (enabled).
fn firstboot(
    tree: &mut Tree,
    order: &[&Package],
    after: &str,
    sde: i64,
) -> Result<()> {
    let dir = Meta::root(0o755, sde);
    let exe = Meta::root(0o755, sde);
    let file = Meta::root(0o644, sde);
    let p = |s: &str| GuestPath::new(s);
    tree.create_dirs(&p("/usr/lib/lunforge")?, &dir)?;
    tree.create_dirs(&p("/var/lib/lunforge")?, &dir)?;
    tree.write_file(
        &p(maintscripts::FIRSTBOOT_SCRIPT)?,
        exe,
        maintscripts::firstboot_script(order, after).as_bytes(),
    )?;
    tree.write_file(
        &p(maintscripts::PREINST_LIST)?,
        file.clone(),
        maintscripts::preinst_list(order).as_bytes(),
    )?;
    tree.write_file(&p(maintscripts::FIRSTBOOT_MARKER)?, file.clone(), b"")?;
    let unit = p(maintscripts::FIRSTBOOT_UNIT)?;
    if let Some(parent) = unit.parent() {
        tree.create_dirs(&parent.join("sysinit.target.wants")?, &dir)?;
    }
    tree.write_file(&unit, file, maintscripts::firstboot_unit().as_bytes())?;
    tree.insert(
        &p("/usr/lib/systemd/system/sysinit.target.wants/lunforge-firstboot.service")?,
        Meta::root(0o777, sde),
        Kind::Symlink("../lunforge-firstboot.service".into()),
    )?;
    Ok(())
}

/// A unit that makes the SSH host keys on the guest's first boot, before
/// the SSH server starts (Debian's `ssh.service` does not make them).
const SSH_KEYGEN_UNIT: &str = "[Unit]
Description=lunforge: SSH host keys for this machine
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target ssh.service
";

fn ssh_keygen_unit(tree: &mut Tree, sde: i64) -> Result<()> {
    let dir = GuestPath::new("/usr/lib/systemd/system")?;
    tree.create_dirs(
        &dir.join("multi-user.target.wants")?,
        &Meta::root(0o755, sde),
    )?;
    tree.write_file(
        &dir.join("lunforge-ssh-keygen.service")?,
        Meta::root(0o644, sde),
        SSH_KEYGEN_UNIT.as_bytes(),
    )?;
    tree.insert(
        &dir.join("multi-user.target.wants")?
            .join("lunforge-ssh-keygen.service")?,
        Meta::root(0o777, sde),
        Kind::Symlink("../lunforge-ssh-keygen.service".into()),
    )?;
    Ok(())
}

/// Files that must not be the same in every copy of the image, or that
/// record the build rather than the system, as mmdebstrap removes them;
/// plus SSH host keys, which every clone would otherwise share.
const SCRUBBED: &[&str] = &[
    "/var/log/dpkg.log",
    "/var/log/apt/history.log",
    "/var/log/apt/term.log",
    "/var/log/alternatives.log",
    "/var/cache/ldconfig/aux-cache",
    "/var/log/apt/eipp.log.xz",
    "/var/lib/dbus/machine-id",
    "/var/lib/systemd/random-seed",
    "/etc/ssh/ssh_host_ecdsa_key",
    "/etc/ssh/ssh_host_ecdsa_key.pub",
    "/etc/ssh/ssh_host_ed25519_key",
    "/etc/ssh/ssh_host_ed25519_key.pub",
    "/etc/ssh/ssh_host_rsa_key",
    "/etc/ssh/ssh_host_rsa_key.pub",
];

/// Remove [`SCRUBBED`], leave `/etc/machine-id` empty (machine-id(5):
/// an empty file makes systemd generate the id on first boot), and take
/// out of `/run` what the scripts left there (`run_before` is what the
/// packages themselves ship).
fn scrub(
    tree: &mut Tree,
    sde: i64,
    run_before: &BTreeSet<GuestPath>,
) -> Result<()> {
    let mut removed_keys = false;
    for path in SCRUBBED {
        let p = GuestPath::new(path)?;
        if tree.get(&p).is_some() {
            tree.remove(&p)?;
            removed_keys |= path.starts_with("/etc/ssh/");
        }
    }
    if removed_keys
        || tree.get(&GuestPath::new("/usr/bin/ssh-keygen")?).is_some()
    {
        ssh_keygen_unit(tree, sde)?;
    }
    let machine_id = GuestPath::new("/etc/machine-id")?;
    if let Some(old) = tree.get(&machine_id) {
        let meta = old.meta.clone();
        tree.write_file(&machine_id, meta, b"")?;
    }
    // /run is a tmpfs on the running guest: what scripts left there in
    // the chroot is not part of the image, except /run/lock, which
    // base-files' postinst makes as part of the layout (/var/lock points
    // to it) and which mmdebstrap's roots carry too.
    let lock = GuestPath::new("/run/lock")?;
    let made: Vec<GuestPath> = under(tree, "/run")?
        .difference(run_before)
        .filter(|p| !p.starts_with(&lock))
        .cloned()
        .collect();
    for p in &made {
        if tree.get(p).is_some() {
            tree.remove(p)?;
        }
    }
    Ok(())
}
