//! The installed system: every package of the lock unpacked into the
//! in-memory tree, then configured (dpkg database, maintainer scripts by
//! the chosen strategy, the guest's own files); or that tree written as
//! a tarball.

use std::path::{Path, PathBuf};

use crate::configure::{self, maintscripts};
use crate::context::Context;
use crate::error::Result;
use crate::fetch;
use crate::recipe::Recipe;
use crate::repo;
use crate::resolve::lockfile::Lock;
use crate::tree::{Spool, Tree};
use crate::{output, unpack};

/// The packages of `lock`, unpacked from the cache (`fetched.paths`)
/// into one spool, not yet installed.
pub fn unpack(
    lock: &Lock,
    fetched: &fetch::Report,
) -> Result<(Vec<unpack::Unpacked>, Spool)> {
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
    Ok((packages, spool))
}

/// The unpacked packages made an installed system: the guest's root
/// file system, and the strategy that configured it.
pub fn configure(
    recipe: &Recipe,
    ctx: &Context,
    lock: &Lock,
    (packages, spool): (Vec<unpack::Unpacked>, Spool),
) -> Result<(Tree, maintscripts::Strategy)> {
    let arch = &recipe.system.architecture;
    let (strategy, why) = maintscripts::choose(recipe.system.configure, arch)?;
    ctx.progress.note(&format!("configure: {strategy} ({why})"));
    if recipe.system.security.is_none() {
        ctx.progress.note(&format!(
            "configure: the guest's apt sources have no security suite \
             ({})",
            recipe.system.security_origin
        ));
    }
    let opts = configure::Options {
        recipe: recipe.clone(),
        strategy,
        source_date_epoch: source_date_epoch(lock),
        staging: std::env::temp_dir(),
        debian_keyring: ctx.keyring.is_empty()
            && recipe.system.keyring.is_empty()
            && !ctx.insecure_unsigned,
        auto_installed: lock
            .packages
            .iter()
            .filter(|p| p.auto)
            .map(|p| (p.name.clone(), p.architecture.clone()))
            .collect(),
    };
    let tree = configure::assemble(&packages, spool, &opts, &*ctx.progress)?;
    Ok((tree, strategy))
}

/// The guest's root file system: every package of `lock` (already in
/// the cache, at `fetched.paths`) unpacked and configured.
pub fn root_tree(
    recipe: &Recipe,
    ctx: &Context,
    lock: &Lock,
    fetched: &fetch::Report,
) -> Result<Tree> {
    let unpacked = unpack(lock, fetched)?;
    Ok(configure(recipe, ctx, lock, unpacked)?.0)
}

/// Every timestamp of the output: `SOURCE_DATE_EPOCH` when set, else the
/// `Date` of the locked Release, so that a lock alone fixes the bytes.
pub fn source_date_epoch(lock: &Lock) -> i64 {
    crate::context::source_date_epoch()
        .or_else(|| repo::release::parse_date(&lock.release.date))
        .unwrap_or(0)
}

/// Write `tree` as a deterministic tarball for `path`, synced under a
/// temporary name: the build renames it into place with `OUT/<name>/`.
pub fn write_tar(
    tree: &Tree,
    path: &Path,
    lock: &Lock,
) -> Result<output::StagedTar> {
    let opts = output::tar::TarOptions {
        source_date_epoch: Some(source_date_epoch(lock)),
    };
    Ok(output::tar::stage_tar_file(tree, path, &opts)?)
}
