//! What a build made, for the caller to print or check: the disk (or
//! tarball) and where it went, the boot files with their SHA-256s, and
//! how long each stage took.

use std::path::PathBuf;
use std::time::Duration;

use crate::sink::Finished;

/// One stage's wall-clock time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageTime {
    /// The stage, as the procedure names it.
    pub stage: &'static str,
    /// How long it took.
    pub time: Duration,
}

/// The build's main output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Made {
    /// The disk, written to its target.
    Disk(Finished),
    /// The root file system as a tarball at this path.
    Tar(PathBuf),
}

/// One boot file under `OUT/<name>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootFile {
    /// Its path relative to the boot directory.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, in hex (as in `SHA256SUMS`).
    pub sha256: String,
}

/// What [`super::build`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildReport {
    /// Packages installed.
    pub packages: usize,
    /// Paths in the root file system.
    pub paths: usize,
    /// The disk or the tarball.
    pub made: Made,
    /// The boot directory and its files; `None` for a tarball, or a
    /// guest without a kernel.
    pub boot: Option<(PathBuf, Vec<BootFile>)>,
    /// Every stage that ran, in order.
    pub stages: Vec<StageTime>,
}
