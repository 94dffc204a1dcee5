//! The package set: the recipe's suite read and verified, resolved (or
//! read back from the lock) into a [`Lock`], and fetched into the cache;
//! and the build's tools (busybox-static for the initrd), fetched from
//! the same suite and lock but not installed in the guest.

use std::path::{Path, PathBuf};

use crate::context::Context;
use crate::error::Result;
use crate::fetch::{self, Cache};
use crate::progress::Level;
use crate::recipe::{Loader, Recipe};
use crate::repo::{self, inrelease::Keyring, transport, Trust};
use crate::resolve::lockfile::{
    Inputs, Lock, LockedPackage, LockedRelease, FORMAT,
};
use crate::resolve::{self, Request};

/// The recipe's mirror, each request reported (at `-vv`); which mirror
/// and why is said at `-v`.
fn mirror<'a>(
    recipe: &Recipe,
    ctx: &'a Context,
) -> Result<transport::Traced<'a>> {
    let sys = &recipe.system;
    let origin = match sys.mirror_origin.as_str() {
        crate::recipe::resolve::FROM_RECIPE => "the recipe's system.mirror",
        other => other,
    };
    ctx.progress.detail(
        Level::Verbose,
        format_args!("mirror {} (from {origin})", sys.mirror),
    );
    let t = transport::for_mirror(&sys.mirror)?;
    Ok(transport::Traced::new(t, &*ctx.progress))
}

/// The recipe's suite, read and verified (its indexes cached), with
/// the transport to fetch its packages and the cache.
fn open_suite<'a>(
    recipe: &Recipe,
    ctx: &'a Context,
) -> Result<(transport::Traced<'a>, Cache, repo::Suite)> {
    let sys = &recipe.system;
    let t = mirror(recipe, ctx)?;
    let cache = Cache::open(&ctx.cache_dir)?;
    let opts = repo::Options {
        suite: sys.suite.clone(),
        architecture: sys.architecture.clone(),
        components: sys.components.clone(),
        trust: trust(recipe, ctx)?,
        ignore_valid_until: ctx.ignore_valid_until,
        now: ctx.now,
    };
    let suite = repo::open(&t, &opts, Some(&cache), &*ctx.progress)?;
    let origin = &suite.origin;
    ctx.progress.detail(
        Level::Verbose,
        format_args!(
            "{}: {} verified ({})",
            suite.release.name(),
            origin.path,
            origin.signer.as_deref().map_or_else(
                || "unsigned, --insecure-unsigned".to_string(),
                |s| format!("signed by {s}")
            )
        ),
    );
    Ok((t, cache, suite))
}

/// Read the suite, verify it, and resolve the recipe's package set.
pub fn resolve(recipe: &Recipe, ctx: &Context) -> Result<Lock> {
    let sys = &recipe.system;
    let (_, _, suite) = open_suite(recipe, ctx)?;
    let request = Request {
        variant: sys.variant,
        include: sys.include.clone(),
        implied: sys.implied_packages(),
        exclude: sys.exclude.clone(),
        architecture: sys.architecture.clone(),
    };
    let selection = resolve::resolve(&suite.packages, &request)?;
    let tools = resolve::tools(
        &suite.packages,
        &tools_for(recipe, &selection, &suite.packages)?,
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
            .map(|s| LockedPackage {
                why: s.why.clone(),
                auto: s.auto,
                ..locked_package(s.package)
            })
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
        why: String::new(),
        auto: false,
    }
}

/// The build's tools for a package set: packages fetched from the
/// guest's suite and lock but not installed in it. A guest with a
/// kernel gets an initrd, whose shell and utilities are busybox-static's.
fn tools_for(
    recipe: &Recipe,
    selection: &resolve::Selection<'_>,
    suite: &[repo::packages::BinaryPackage],
) -> Result<Vec<String>> {
    let kernel = selection
        .packages
        .iter()
        .any(|p| p.package.name.starts_with("linux-image-"));
    let mut tools = Vec::new();
    if kernel {
        tools.push(BUSYBOX.to_string());
    }
    if recipe.boot.loader == Loader::GrubEfi {
        tools.extend(grub_tools(recipe, suite)?);
    }
    Ok(tools)
}

/// The GRUB EFI packages of the recipe's architecture: the modules, and
/// the prebuilt images where the suite has them in a package of their
/// own (trixie and later).
fn grub_tools(
    recipe: &Recipe,
    suite: &[repo::packages::BinaryPackage],
) -> Result<Vec<String>> {
    let arch = &recipe.system.architecture;
    let efi = crate::boot::efi::arch(arch).ok_or_else(|| {
        crate::boot::Error::NoGrubFile {
            what: format!("EFI image for architecture {arch}"),
        }
    })?;
    let mut names = vec![efi.modules_package.to_string()];
    if suite.iter().any(|p| *p.name == *efi.image_package) {
        names.push(efi.image_package.to_string());
    }
    Ok(names)
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
    let t = mirror(recipe, ctx)?;
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
        &t,
        &cache,
        &items,
        ctx.jobs,
        &*ctx.progress,
    )?)
}

/// The tool `name`, fetched into the cache: the version `lock` pins
/// (`--locked`), else the newest in the recipe's suite; the path of its
/// verified `.deb`.
pub(crate) fn fetch_tool(
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
            .ok_or(crate::boot::Error::NoBusybox { package: BUSYBOX })?,
        None => {
            let (_, _, suite) = open_suite(recipe, ctx)?;
            let arch = &recipe.system.architecture;
            let found =
                resolve::tools(&suite.packages, &[name.to_string()], arch)?;
            found
                .first()
                .map(|p| locked_package(p))
                .ok_or(crate::boot::Error::NoBusybox { package: BUSYBOX })?
        }
    };
    let t = mirror(recipe, ctx)?;
    let cache = Cache::open(&ctx.cache_dir)?;
    let items = [fetch_item(&wanted)];
    let report =
        fetch::fetch_all(&t, &cache, &items, ctx.jobs, &*ctx.progress)?;
    report.paths.into_iter().next().ok_or_else(|| {
        crate::boot::Error::NoBusybox { package: BUSYBOX }.into()
    })
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
        implied: s
            .implied_packages()
            .into_iter()
            .map(|(name, key)| format!("{name} ({key})"))
            .collect(),
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
