//! The build, stage by stage. Read this file first: each function is a
//! short list of stage calls with typed inputs and outputs.
//!
//! So far the pipeline runs from the recipe to a verified, resolved,
//! downloaded and locked package set:
//!
//! ```text
//! recipe ──► repo (InRelease, Packages) ──► resolve ──► Lock ──► fetch
//! ```
//!
//! A [`Lock`] is the one representation of a resolved package set: fresh
//! from the resolver ([`resolve`]) or read back from `<recipe>.lock`
//! ([`locked`]); [`fetch`] takes either.

use std::path::Path;

use crate::context::Context;
use crate::error::Result;
use crate::fetch::{self, Cache};
use crate::recipe::{Recipe, Variant};
use crate::repo::{self, inrelease::Keyring, transport, Trust};
use crate::resolve::lockfile::Error::Invalid;
use crate::resolve::lockfile::{
    self, Inputs, Lock, LockedPackage, LockedRelease, FORMAT,
};
use crate::resolve::{self, Request};

/// Read the suite, verify it, and resolve the recipe's package set.
pub fn resolve(recipe: &Recipe, ctx: &Context) -> Result<Lock> {
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
    let request = Request {
        variant: sys.variant,
        include: sys.include.clone(),
        exclude: sys.exclude.clone(),
        architecture: sys.architecture.clone(),
    };
    let selection = resolve::resolve(&suite.packages, &request)?;
    let r = &suite.release;
    Ok(Lock {
        format: FORMAT,
        release: LockedRelease {
            suite: sys.suite.clone(),
            codename: r.codename.clone().unwrap_or_default(),
            version: r.version.clone().unwrap_or_default(),
            date: r.date.clone().unwrap_or_default(),
            path: suite.origin.path.clone(),
            sha256: hex::encode(suite.origin.sha256),
            signer: suite.origin.signer.clone().unwrap_or_default(),
        },
        inputs: inputs(recipe),
        packages: selection
            .packages
            .iter()
            .map(|p| LockedPackage {
                name: p.name.to_string(),
                version: p.version.to_string(),
                architecture: p.architecture.to_string(),
                path: p.filename.to_string(),
                size: p.file.size,
                sha256: hex::encode(p.file.sha256),
            })
            .collect(),
    })
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
    let items = lock
        .packages
        .iter()
        .map(|p| {
            Ok(fetch::Item {
                package: format!("{} {}", p.name, p.version),
                path: p.path.clone(),
                expected: p.expected().ok_or_else(|| Invalid {
                    path: "(lock)".into(),
                    message: format!(
                        "package {}: bad sha256 {:?}",
                        p.name, p.sha256
                    ),
                })?,
            })
        })
        .collect::<std::result::Result<Vec<_>, lockfile::Error>>()?;
    Ok(fetch::fetch_all(
        &*t,
        &cache,
        &items,
        ctx.jobs,
        &*ctx.progress,
    )?)
}

/// The recipe inputs a lock records.
fn inputs(recipe: &Recipe) -> Inputs {
    let s = &recipe.system;
    Inputs {
        architecture: s.architecture.clone(),
        variant: variant_name(s.variant).into(),
        components: s.components.clone(),
        include: s.include.clone(),
        exclude: s.exclude.clone(),
    }
}

/// mmdebstrap's name of a variant.
pub fn variant_name(v: Variant) -> &'static str {
    match v {
        Variant::Essential => "essential",
        Variant::Apt => "apt",
        Variant::Required | Variant::Minbase => "required",
        Variant::Important => "important",
        Variant::Standard => "standard",
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
