//! What a build says of itself in `OUT/<name>/`: the guest's SBOM
//! ([`crate::output::spdx`]) and the build's manifest
//! ([`crate::output::manifest`]), written into the staged directory
//! last, once the disk's (or tarball's) digest is known, and followed
//! by `SHA256SUMS` over the whole directory.
//!
//! What the SBOM needs of the guest's tree (each package's source and
//! copyright file) is read before the tree goes to the disk's writer,
//! which consumes it ([`installed`]).

use super::{source_date_epoch, Format};
use crate::boot::staging::{Sealed, Staged};
use crate::boot::Artifact;
use crate::error::Result;
use crate::output::manifest::{self, Entry, LockInput, Manifest, RecipeInput};
use crate::output::spdx::{self, installed::Installed};
use crate::recipe::Recipe;
use crate::resolve::lockfile::Lock;
use crate::tree::Tree;

/// What the guest says of each package of the lock.
pub(super) fn installed(tree: &Tree, lock: &Lock) -> Result<Vec<Installed>> {
    Ok(spdx::installed::read(tree, lock)?)
}

/// What the manifest and the SBOM say besides the files.
pub(super) struct About<'a> {
    pub(super) recipe: &'a Recipe,
    pub(super) lock: &'a Lock,
    pub(super) format: Format,
    /// The configure strategy that ran.
    pub(super) configure: String,
    pub(super) installed: Vec<Installed>,
}

/// Add the SBOM and the manifest of a build that made `output` to
/// `staged`, and seal it.
pub(super) fn seal(
    staged: Staged,
    about: &About<'_>,
    output: Entry,
) -> Result<Sealed> {
    let recipe = RecipeInput::of(about.recipe);
    let lock = LockInput::of(about.lock);
    let sys = &about.recipe.system;
    let time = source_date_epoch(about.lock);
    // The SBOM describes the disk (or tarball) by the name it has in
    // OUT, wherever it was written: a build to a LUN and a build to a
    // file of the same lock have one SBOM. The manifest records where
    // it went.
    let extension = match about.format {
        Format::Image => "img",
        Format::Tar => "tar",
    };
    let described = Entry {
        name: format!("{}.{extension}", about.recipe.image.name),
        ..output.clone()
    };
    let sbom = spdx::document(&spdx::Guest {
        name: &about.recipe.image.name,
        suite: &sys.suite,
        architecture: &sys.architecture,
        mirror: &sys.mirror,
        lock: about.lock,
        installed: &about.installed,
        recipe: &recipe,
        lock_input: &lock,
        source_date_epoch: time,
        output: &described,
    });
    let sbom = artifact(spdx::NAME, sbom.to_json());
    let mut files = staged.files().to_vec();
    files.push(Entry::of(&sbom.name, &sbom.bytes));
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let (packages, tools) = Manifest::packages_of(about.lock);
    let manifest = Manifest {
        version: manifest::VERSION,
        name: about.recipe.image.name.clone(),
        format: match about.format {
            Format::Image => "image",
            Format::Tar => "tar",
        },
        recipe,
        lock,
        suite: sys.suite.clone(),
        architecture: sys.architecture.clone(),
        configure: about.configure.clone(),
        source_date_epoch: time,
        output,
        files,
        packages,
        tools,
    };
    let manifest = artifact(manifest::NAME, manifest.to_json());
    Ok(staged.seal(&[sbom, manifest])?)
}

fn artifact(name: &str, bytes: Vec<u8>) -> Artifact {
    Artifact {
        name: name.into(),
        bytes,
        mode: 0o644,
    }
}
