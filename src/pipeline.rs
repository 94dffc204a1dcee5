//! The build, stage by stage. Read this file first: each function is a
//! short list of stage calls with typed inputs and outputs.
//!
//! So far the pipeline runs from the recipe to the guest's installed
//! root file system, written as a tarball:
//!
//! ```text
//! recipe ──► repo (InRelease, Packages) ──► resolve ──► Lock ──► fetch
//!        ──► unpack ──► configure (Tree) ──► output (tar)
//! ```
//!
//! A [`Lock`] is the one representation of a resolved package set: fresh
//! from the resolver ([`resolve`]) or read back from `<recipe>.lock`
//! ([`locked`]); [`fetch`] takes either.

use std::path::{Path, PathBuf};

use crate::boot::{self, initrd};
use crate::configure::{self, maintscripts};
use crate::context::Context;
use crate::error::Result;
use crate::fetch::{self, Cache};
use crate::recipe::Recipe;
use crate::repo::{self, inrelease::Keyring, transport, Trust};
use crate::resolve::lockfile::{
    Inputs, Lock, LockedPackage, LockedRelease, FORMAT,
};
use crate::resolve::{self, Request};
use crate::sink::{FileSink, Sink, Window};
use crate::tree::{self, GuestPath, Meta, Spool, Tree};
use crate::{disk, filesystems, output, unpack};

/// The recipe's suite, read and verified (its indexes cached), with
/// the transport to fetch its packages and the cache.
fn open_suite(
    recipe: &Recipe,
    ctx: &Context,
) -> Result<(Box<dyn transport::Transport>, Cache, repo::Suite)> {
    let sys = &recipe.system;
    let t = transport::for_mirror(&sys.mirror).map_err(repo::Error::from)?;
    let cache = Cache::open(&ctx.cache_dir)?;
    let opts = repo::Options {
        suite: sys.suite.clone(),
        architecture: sys.architecture.clone(),
        components: sys.components.clone(),
        trust: trust(recipe, ctx)?,
        ignore_valid_until: ctx.ignore_valid_until,
        now: ctx.now,
    };
    let suite = repo::open(&*t, &opts, Some(&cache), &*ctx.progress)?;
    Ok((t, cache, suite))
}

/// Read the suite, verify it, and resolve the recipe's package set.
pub fn resolve(recipe: &Recipe, ctx: &Context) -> Result<Lock> {
    let sys = &recipe.system;
    let (_, _, suite) = open_suite(recipe, ctx)?;
    let request = Request {
        variant: sys.variant,
        include: sys.include.clone(),
        exclude: sys.exclude.clone(),
        architecture: sys.architecture.clone(),
    };
    let selection = resolve::resolve(&suite.packages, &request)?;
    let tools = resolve::tools(
        &suite.packages,
        &tools_for(&selection),
        &sys.architecture,
    )?;
    let r = &suite.release;
    Ok(Lock {
        format: FORMAT,
        release: LockedRelease {
            suite: sys.suite.clone(),
            codename: r.codename.clone().unwrap_or_default(),
            version: r.version.clone().unwrap_or_default(),
            date: r.date.clone().unwrap_or_default(),
            path: suite.origin.path.clone(),
            sha256: suite.origin.sha256,
            signer: suite.origin.signer.clone().unwrap_or_default(),
        },
        inputs: inputs(recipe),
        packages: selection
            .packages
            .iter()
            .map(|p| locked_package(p))
            .collect(),
        tools: tools.iter().map(|p| locked_package(p)).collect(),
    })
}

/// What the fetcher needs of a locked package.
fn fetch_item(p: &LockedPackage) -> fetch::Item {
    fetch::Item {
        package: format!("{} {}", p.name, p.version),
        path: p.path.clone(),
        expected: p.expected(),
    }
}

fn locked_package(p: &repo::packages::BinaryPackage) -> LockedPackage {
    LockedPackage {
        name: p.name.to_string(),
        version: p.version.to_string(),
        architecture: p.architecture.to_string(),
        path: p.filename.to_string(),
        size: p.file.size,
        sha256: p.file.sha256,
    }
}

/// The build's tools for a package set: packages fetched from the
/// guest's suite and lock but not installed in it. A guest with a
/// kernel gets an initrd, whose shell and utilities are busybox-static's.
fn tools_for(selection: &resolve::Selection<'_>) -> Vec<String> {
    let kernel = selection
        .packages
        .iter()
        .any(|p| p.name.starts_with("linux-image-"));
    if kernel {
        vec![BUSYBOX.to_string()]
    } else {
        Vec::new()
    }
}

/// The package whose static busybox goes into the initrd.
pub const BUSYBOX: &str = "busybox-static";

/// The cached `.deb` of the tool `name` after [`fetch`].
pub fn tool_deb<'a>(
    lock: &Lock,
    fetched: &'a fetch::Report,
    name: &str,
) -> Option<&'a Path> {
    let i = lock.tools.iter().position(|t| t.name == name)?;
    fetched
        .paths
        .get(lock.packages.len().checked_add(i)?)
        .map(PathBuf::as_path)
}

/// Read `<recipe>.lock` and check it still matches the recipe.
pub fn locked(recipe: &Recipe, lock_path: &Path) -> Result<Lock> {
    let lock = Lock::read(lock_path)?;
    lock.check_inputs(lock_path, &inputs(recipe))?;
    Ok(lock)
}

/// Download every package of `lock` into the cache.
pub fn fetch(
    recipe: &Recipe,
    ctx: &Context,
    lock: &Lock,
) -> Result<fetch::Report> {
    let t = transport::for_mirror(&recipe.system.mirror)
        .map_err(repo::Error::from)?;
    let cache = Cache::open(&ctx.cache_dir)?;
    // Packages first, then tools: `root_tree` and `tool_deb` rely on
    // that order of `Report::paths`.
    let items: Vec<fetch::Item> = lock
        .packages
        .iter()
        .chain(&lock.tools)
        .map(fetch_item)
        .collect();
    Ok(fetch::fetch_all(
        &*t,
        &cache,
        &items,
        ctx.jobs,
        &*ctx.progress,
    )?)
}

/// The guest's root file system: every package of `lock` (already in
/// the cache, at `fetched.paths`) unpacked and configured.
pub fn root_tree(
    recipe: &Recipe,
    ctx: &Context,
    lock: &Lock,
    fetched: &fetch::Report,
) -> Result<Tree> {
    let debs: Vec<(PathBuf, String)> = fetched
        .paths
        .iter()
        .zip(&lock.packages)
        .map(|(path, p)| (path.clone(), format!("{} {}", p.name, p.version)))
        .collect();
    let spool = Spool::new().map_err(|source| crate::Error::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    let packages = unpack::read_all(
        &debs,
        &spool,
        &unpack::Limits::default(),
        unpack::default_jobs(),
    )?;
    let arch = &recipe.system.architecture;
    let (strategy, why) = maintscripts::choose(recipe.system.configure, arch)?;
    ctx.progress
        .note(&format!("configure: {strategy:?} ({why})"));
    let opts = configure::Options {
        recipe: recipe.clone(),
        strategy,
        source_date_epoch: source_date_epoch(lock),
        staging: std::env::temp_dir(),
    };
    Ok(configure::assemble(
        &packages,
        spool,
        &opts,
        &*ctx.progress,
    )?)
}

/// Every timestamp of the output: `SOURCE_DATE_EPOCH` when set, else the
/// `Date` of the locked Release, so that a lock alone fixes the bytes.
pub fn source_date_epoch(lock: &Lock) -> i64 {
    crate::context::source_date_epoch()
        .or_else(|| repo::release::parse_date(&lock.release.date))
        .unwrap_or(0)
}

/// Write `tree` as a deterministic tarball at `path`, atomically.
pub fn write_tar(tree: &Tree, path: &Path, lock: &Lock) -> Result<()> {
    let opts = output::tar::TarOptions {
        source_date_epoch: Some(source_date_epoch(lock)),
    };
    output::tar::write_tar_file(tree, path, &opts)?;
    Ok(())
}

/// Where the guest's kernel modules are (merged /usr).
const MODULES_DIR: &str = "/usr/lib/modules";

/// The boot stage: the guest kernel and an initrd made for it, the
/// guest's own GRUB files (put into `tree`, so pygrub and pvgrub find
/// them), and the files for the Xen hosts and the iSCSI target. `None`
/// for a guest without a kernel (nothing to boot; the build says so).
/// The initrd also goes into the guest's `/boot` when the guest has
/// none yet (the first-boot strategy: initramfs-tools has not run).
pub fn boot(
    recipe: &Recipe,
    tree: &mut Tree,
    lock: &Lock,
    fetched: &fetch::Report,
) -> Result<Option<Vec<boot::Artifact>>> {
    let modules = GuestPath::new(MODULES_DIR)
        .map_err(|e| boot::Error::from(tree::Error::from(e)))?;
    let version = match initrd::pick_version(tree, &modules, None) {
        Err(initrd::Error::NoKernel { .. }) => return Ok(None),
        v => v.map_err(boot::Error::from)?,
    };
    let deb = tool_deb(lock, fetched, BUSYBOX)
        .ok_or(boot::Error::NoBusybox { package: BUSYBOX })?;
    let busybox = initrd::busybox_from_deb(deb).map_err(boot::Error::from)?;
    let time = source_date_epoch(lock);
    let params = initrd::InitrdParams::new(&version, time);
    let image = initrd::build(tree, &modules, &busybox, &params)
        .map_err(boot::Error::from)?;
    let kernel = kernel_image(tree, &version)?;
    let in_guest = GuestPath::new(&format!("/boot/initrd.img-{version}"))
        .map_err(|e| boot::Error::from(tree::Error::from(e)))?;
    if tree.get(&in_guest).is_none() {
        tree.write_file(&in_guest, Meta::root(0o644, time), &image)
            .map_err(boot::Error::from)?;
    }
    let facts = boot::BootFacts::new(recipe, &version)?;
    let grub = boot::guest_grub::files(recipe, &facts);
    boot::guest_grub::install(tree, &grub, time)?;
    let mut artifacts = boot::artifacts(recipe, &facts)?;
    for (name, bytes) in [("vmlinuz", kernel), ("initrd.img", image)] {
        artifacts.push(boot::Artifact {
            name: format!("{name}-{version}"),
            bytes,
            mode: 0o644,
        });
    }
    artifacts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Some(artifacts))
}

/// `lunforge initrd`: an initrd for the kernel whose modules are in the
/// host directory `modules` (a `/lib/modules`, or one version's
/// directory in it), with busybox-static resolved and fetched from the
/// recipe's suite (verified like any package) and `extra` modules.
pub fn host_initrd(
    recipe: &Recipe,
    ctx: &Context,
    lock: Option<&Lock>,
    modules: &Path,
    version: Option<&str>,
    extra: &[String],
    compression: initrd::Compression,
) -> Result<(String, Vec<u8>)> {
    let boot_err = |e: initrd::Error| crate::Error::from(boot::Error::from(e));
    // One kernel's directory names its version; read its parent then.
    let own = ["modules.dep", "modules.order", "modules.builtin"]
        .iter()
        .any(|f| modules.join(f).exists());
    let (dir, version) = match (own, modules.file_name()) {
        (true, Some(name)) => (
            match modules.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                // `--kernel-modules 6.1.0-x`: its parent is ".".
                Some(_) => Path::new("."),
                None => Path::new("/"),
            },
            Some(version.unwrap_or(&name.to_string_lossy()).to_string()),
        ),
        _ => (modules, version.map(str::to_string)),
    };
    let tree =
        tree::host::read_dir_referenced(dir, &[]).map_err(boot::Error::from)?;
    let root = GuestPath::root();
    let version = initrd::pick_version(&tree, &root, version.as_deref())
        .map_err(boot_err)?;
    let deb = fetch_tool(recipe, ctx, lock, BUSYBOX)?;
    let busybox = initrd::busybox_from_deb(&deb).map_err(boot_err)?;
    let mut params =
        initrd::InitrdParams::new(&version, initrd_time(&tree, &version));
    params.modules.extend(extra.iter().cloned());
    params.compression = compression;
    let image =
        initrd::build(&tree, &root, &busybox, &params).map_err(boot_err)?;
    Ok((version, image))
}

/// `SOURCE_DATE_EPOCH`, else the newest mtime below the kernel's own
/// modules directory (other kernels beside it do not change its initrd).
fn initrd_time(tree: &Tree, version: &str) -> i64 {
    crate::context::source_date_epoch().unwrap_or_else(|| {
        let dir = GuestPath::root().join(version).ok();
        tree.iter()
            .filter(|(p, _, _)| dir.as_ref().is_some_and(|d| p.starts_with(d)))
            .map(|(_, _, n)| n.meta.mtime)
            .max()
            .unwrap_or(0)
    })
}

/// The tool `name`, fetched into the cache: the version `lock` pins
/// (`--locked`), else the newest in the recipe's suite; the path of its
/// verified `.deb`.
fn fetch_tool(
    recipe: &Recipe,
    ctx: &Context,
    lock: Option<&Lock>,
    name: &str,
) -> Result<PathBuf> {
    let wanted = match lock {
        Some(l) => l
            .tools
            .iter()
            .find(|t| t.name == name)
            .cloned()
            .ok_or(boot::Error::NoBusybox { package: BUSYBOX })?,
        None => {
            let (_, _, suite) = open_suite(recipe, ctx)?;
            let arch = &recipe.system.architecture;
            let found =
                resolve::tools(&suite.packages, &[name.to_string()], arch)?;
            found
                .first()
                .map(|p| locked_package(p))
                .ok_or(boot::Error::NoBusybox { package: BUSYBOX })?
        }
    };
    let t = transport::for_mirror(&recipe.system.mirror)
        .map_err(repo::Error::from)?;
    let cache = Cache::open(&ctx.cache_dir)?;
    let items = [fetch_item(&wanted)];
    let report =
        fetch::fetch_all(&*t, &cache, &items, ctx.jobs, &*ctx.progress)?;
    report
        .paths
        .into_iter()
        .next()
        .ok_or_else(|| boot::Error::NoBusybox { package: BUSYBOX }.into())
}

/// The bytes of `/boot/vmlinuz-VERSION` in the guest tree.
fn kernel_image(tree: &Tree, version: &str) -> Result<Vec<u8>> {
    let path = GuestPath::new(&format!("/boot/vmlinuz-{version}"))
        .map_err(|e| boot::Error::from(tree::Error::from(e)))?;
    let missing = || boot::Error::NoKernelImage { path: path.clone() };
    let real = tree.resolve(&path, true).map_err(|_| missing())?;
    match tree.get(&real).map(|n| &n.kind) {
        Some(tree::Kind::File(c)) => Ok(tree
            .spool()
            .read(c)
            .map_err(|e| boot::Error::from(tree::Error::from(e)))?),
        _ => Err(missing().into()),
    }
}

/// Check, before anything is downloaded, that the recipe's disk can be
/// written: the layout fits and every partition's contents are a kind
/// lunforge writes.
pub fn check_image(recipe: &Recipe) -> Result<()> {
    let layout = disk::plan(recipe)?;
    for p in &layout.partitions {
        if let Some(fs) = p.fs {
            if fs == crate::recipe::FsKind::Vfat {
                return Err(filesystems::Error::Unsupported {
                    index: p.index,
                    fs: filesystems::fs_name(fs),
                }
                .into());
            }
        }
    }
    Ok(())
}

/// Write the guest's partitioned disk image at `path`, atomically: the
/// layout and every partition's contents are planned first (so a tree
/// that does not fit fails before any output exists), then the table
/// and the contents go into a sparse file renamed into place at the end.
pub fn write_image(
    recipe: &Recipe,
    tree: Tree,
    time: i64,
    path: &Path,
) -> Result<disk::DiskLayout> {
    let layout = disk::plan(recipe)?;
    let contents = filesystems::plan(&layout, tree, time)?;
    let size =
        layout
            .disk_sectors
            .bytes()
            .ok_or(disk::Error::UnalignedDisk {
                size: recipe.image.size.bytes(),
            })?;
    let mut sink: Box<dyn Sink> = Box::new(FileSink::create(path, size)?);
    disk::write_table(&mut Window::whole(&mut *sink), &layout)?;
    filesystems::write(&layout, &contents, &mut *sink)?;
    sink.finish()?;
    Ok(layout)
}

/// The recipe inputs a lock records.
fn inputs(recipe: &Recipe) -> Inputs {
    let s = &recipe.system;
    Inputs {
        suite: s.suite.clone(),
        architecture: s.architecture.clone(),
        variant: s.variant.name().into(),
        components: s.components.clone(),
        include: s.include.clone(),
        exclude: s.exclude.clone(),
    }
}

/// Keyring from the command line, else the recipe, else the host's.
fn trust(recipe: &Recipe, ctx: &Context) -> Result<Trust> {
    if ctx.insecure_unsigned {
        return Ok(Trust::InsecureUnsigned);
    }
    let files = if ctx.keyring.is_empty() {
        &recipe.system.keyring
    } else {
        &ctx.keyring
    };
    let keyring = if files.is_empty() {
        Keyring::host_default()?
    } else {
        Keyring::from_files(files)?
    };
    Ok(Trust::Keyring(keyring))
}
