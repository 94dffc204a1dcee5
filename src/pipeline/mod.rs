//! The build, as the seed's procedure reads: resolve the package set,
//! fetch it, unpack it, configure the installed system, make the boot
//! files, partition and format the disk, write it to its target. Read
//! [`build`] first: it is that list of stage calls, each with a typed
//! input and output, timed for the [`BuildReport`].
//!
//! The stages' plumbing sits next to the stage it serves:
//! [`packages`] (the suite, the lock, the build's tools), [`system`]
//! (unpack and configure), [`host`] (a Xen host's guests and initiator
//! name), [`boot`] (kernel, initrd, host files, the disk's own boot
//! loader) and [`disk`] (layout, file systems, the sink). The image (or
//! tarball) and `OUT/<name>/` (the boot files, and what the build says
//! of itself: the SBOM and the manifest, [`record`]) are staged under
//! temporary names and appear together at the end ([`commit`]).
//!
//! A [`Lock`](crate::resolve::lockfile::Lock) is the one representation
//! of a resolved package set: fresh from the resolver ([`resolve`]) or
//! read back from `<recipe>.lock` ([`locked`]); [`fetch`] takes either.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::context::Context;
use crate::error::Result;
use crate::output::manifest::Entry;
use crate::progress::{Level, Progress};
use crate::recipe::Recipe;
use crate::sink::target::{Target, TargetOptions};

pub mod boot;
mod commit;
pub mod disk;
pub mod host;
pub mod packages;
mod record;
mod report;
pub mod system;

pub use self::boot::{boot, host_initrd, stage_files};
pub use self::disk::{check_image, write_disk, write_image, Written};
pub use self::packages::{fetch, locked, resolve, tool_deb, BUSYBOX};
pub use self::report::{BuildReport, Made, StageTime};
pub use self::system::{root_tree, source_date_epoch, write_tar};

/// What a build makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The partitioned disk, and its boot files.
    Image,
    /// The installed root file system as a tarball.
    Tar,
}

/// Everything about one build that is not in the recipe or the context.
#[derive(Debug, Clone)]
pub struct Request {
    /// What to make.
    pub format: Format,
    /// The output directory: boot files go to `OUT/<name>/`, and the
    /// image to `OUT/<name>.img` unless `target` says otherwise.
    pub out_dir: PathBuf,
    /// Where the disk goes instead of `OUT/<name>.img`.
    pub target: Option<Target>,
    /// How the target is written.
    pub target_options: TargetOptions,
    /// Use exactly this lockfile's package set (`--locked`).
    pub lockfile: Option<PathBuf>,
}

impl Request {
    /// A disk image in `out_dir`, resolved afresh.
    pub fn image(out_dir: &Path) -> Request {
        Request {
            format: Format::Image,
            out_dir: out_dir.to_path_buf(),
            target: None,
            target_options: TargetOptions::default(),
            lockfile: None,
        }
    }

    /// Where the disk is written.
    pub fn disk_target(&self, recipe: &Recipe) -> Target {
        self.target.clone().unwrap_or_else(|| {
            let name = format!("{}.img", recipe.image.name);
            Target::File(self.out_dir.join(name))
        })
    }
}

/// Build the recipe's guest: the whole procedure, one stage after the
/// other. Nothing is printed; progress goes to `ctx.progress`, and the
/// report says what was made.
pub fn build(
    recipe: &Recipe,
    ctx: &Context,
    req: &Request,
) -> Result<BuildReport> {
    let mut t = Timer::new(&*ctx.progress);
    let target = req.disk_target(recipe);
    check_out_dir(&req.out_dir)?;
    if req.format == Format::Image {
        // Before any download: the layout fits, and the target takes it.
        let size = check_image(recipe)?;
        target.preflight(size, &req.target_options)?;
    }
    let lock = t.stage("resolve", || match &req.lockfile {
        Some(path) => locked(recipe, path),
        None => resolve(recipe, ctx),
    })?;
    let fetched = t.stage("fetch", || fetch(recipe, ctx, &lock))?;
    let unpacked = t.stage("unpack", || system::unpack(&lock, &fetched))?;
    let (mut tree, strategy) = t.stage("configure", || {
        system::configure(recipe, ctx, &lock, unpacked)
    })?;
    let time = source_date_epoch(&lock);
    let locked_guests = req.lockfile.is_some();
    let mut host_files =
        || host::install(recipe, ctx, &lock, locked_guests, &mut tree, time);
    match recipe.host {
        Some(_) => t.stage("guests' files", host_files)?,
        None => host_files()?,
    }
    let paths = tree.len();
    std::fs::create_dir_all(&req.out_dir).map_err(|source| {
        crate::Error::Io {
            path: req.out_dir.clone(),
            source,
        }
    })?;
    let mut about = record::About {
        recipe,
        lock: &lock,
        format: req.format,
        configure: strategy.to_string(),
        installed: Vec::new(),
    };
    let name = &recipe.image.name;
    if req.format == Format::Tar {
        let path = req.out_dir.join(format!("{name}.tar"));
        t.stage("initrd", || {
            self::boot::initrd_in_guest(
                &mut tree,
                recipe.system.arch(),
                &lock,
                &fetched,
            )
        })?;
        about.installed =
            t.stage("SBOM", || record::installed(&tree, &lock))?;
        let tar = t.stage("write", || write_tar(&tree, &path, &lock))?;
        let staged = stage_files(recipe, &req.out_dir, &[], &*ctx.progress)?;
        let output = Entry {
            name: format!("{name}.tar"),
            size: tar.stats.bytes,
            sha256: hex::encode(tar.sha256),
        };
        let sealed = t.stage("manifest", || {
            record::seal(staged, &about, output.clone())
        })?;
        crate::cancel::check()?;
        let files = sealed.files().to_vec();
        let (_, dir) = commit::commit(sealed, || Ok(tar.commit()?))?;
        let made = Made::Tar(path);
        return Ok(t.report(&about, paths, (made, output), (dir, files), 0));
    }
    let arch = recipe.system.arch();
    if recipe.xen.dom0_root.is_some() && !arch.grub_boots_xen() {
        ctx.progress.note(&format!(
            "xen.dom0_root: no GRUB entries for the Xen hosts: lunforge \
             writes them with multiboot2, which {arch} lacks (an {arch} \
             host starts Xen from UEFI or with GRUB's xen_hypervisor)"
        ));
    }
    let artifacts =
        t.stage("boot files", || boot(recipe, &mut tree, &lock, &fetched))?;
    let artifacts = artifacts.unwrap_or_default();
    about.installed = t.stage("SBOM", || record::installed(&tree, &lock))?;
    // Staged first: a boot file that cannot be written fails the build
    // before the disk is, and before a device is written over.
    let staged = t.stage("write boot files", || {
        stage_files(recipe, &req.out_dir, &artifacts, &*ctx.progress)
    })?;
    let (written, size, sha256) = t
        .stage("partition, format and write", || {
            write_disk(recipe, tree, time, &target, &req.target_options, ctx)
        })?;
    let output = Entry {
        name: match &req.target {
            None => format!("{name}.img"),
            Some(target) => target.to_string(),
        },
        size,
        sha256: hex::encode(sha256),
    };
    let sealed =
        t.stage("manifest", || record::seal(staged, &about, output.clone()))?;
    // The last moment a signal can keep both outputs from appearing: the
    // staged directory and image remove themselves when dropped.
    crate::cancel::check()?;
    let files = sealed.files().to_vec();
    let (finished, dir) = commit::commit(sealed, || written.commit())?;
    let made = (Made::Disk(finished), output);
    Ok(t.report(&about, paths, made, (dir, files), artifacts.len()))
}

/// Check, before anything is downloaded, that the output directory can
/// be written: `dir`, or while it does not exist the nearest directory
/// above it, which `create_dir_all` will write in. A read-only file
/// system (or, for a user, a directory without write permission) is an
/// error naming the directory now, not after the whole build. Nothing
/// is created: `access(2)` asks the kernel, which answers `EROFS` for a
/// read-only mount even to root.
fn check_out_dir(dir: &Path) -> Result<()> {
    let existing = dir
        .ancestors()
        .map(|a| {
            if a.as_os_str().is_empty() {
                Path::new(".")
            } else {
                a
            }
        })
        .find(|a| a.exists())
        .unwrap_or(Path::new("/"));
    let mode = rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK;
    rustix::fs::access(existing, mode).map_err(|e| crate::Error::OutputDir {
        path: existing.to_path_buf(),
        source: e.into(),
    })
}

/// Times the stages in the order they run, and says when each starts
/// (and, at `-v`, when it ends).
struct Timer<'a> {
    times: Vec<StageTime>,
    progress: &'a dyn Progress,
}

impl<'a> Timer<'a> {
    fn new(progress: &'a dyn Progress) -> Timer<'a> {
        Timer {
            times: Vec::new(),
            progress,
        }
    }

    /// Run one stage. A signal that came while the stage before ran
    /// (or one that finished without a check of its own after it)
    /// stops the build here, before the stage starts.
    fn stage<T>(
        &mut self,
        name: &'static str,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        crate::cancel::check()?;
        self.progress.stage(name);
        let start = Instant::now();
        let out = f();
        let time = start.elapsed();
        if out.is_ok() {
            self.progress.detail(
                Level::Verbose,
                format_args!("{name}: done in {:.1} s", time.as_secs_f64()),
            );
        }
        self.times.push(StageTime { stage: name, time });
        out
    }

    /// The report of a build that made `made` (`output` in the
    /// manifest), its directory `dir` holding `files`, `boot` of them
    /// boot files.
    fn report(
        self,
        about: &record::About<'_>,
        paths: usize,
        (made, output): (Made, Entry),
        (dir, files): (PathBuf, Vec<Entry>),
        boot: usize,
    ) -> BuildReport {
        BuildReport {
            name: about.recipe.image.name.clone(),
            packages: about.lock.packages.len(),
            paths,
            architecture: about.recipe.system.architecture.clone(),
            configure: about.configure.clone(),
            made,
            output,
            dir,
            files,
            boot_files: boot,
            stages: self.times,
        }
    }
}
