//! The end of a build: its outputs appear together or not at all.
//!
//! By the time [`commit`] runs, everything is written and synced under
//! temporary names beside the final ones: the boot files in
//! `OUT/.<name>.XXXXXX.boot` ([`crate::boot::staging`]), the image in
//! `.<name>.img.XXXXXX.part` ([`crate::sink::file::Staged`]). Until
//! then an error or a signal drops both, and `OUT` is as it was.
//!
//! Two names cannot change in one atomic step, so the commit orders its
//! two renames so that the second is the one that cannot be undone:
//!
//! 1. the boot directory takes its place, the old one kept aside
//!    (an exchange, undone by exchanging again);
//! 2. the image is renamed over the old one: the commit point. If that
//!    fails, step 1 is undone, and the old outputs stand as they were;
//! 3. the old boot files are removed.
//!
//! A crash (not an error) between 1 and 2 leaves the new boot files
//! beside the old image, and the old boot files and the new image
//! under their hidden temporary names (left for the operator: a later
//! build cannot tell them from a concurrent build's); rebuilding puts
//! the pair right.
//! A device or LUN is written in place before the commit, by design:
//! there only the boot directory is committed.

use std::path::PathBuf;

use super::disk::Written;
use super::report::BootFile;
use crate::boot::staging::Staged;
use crate::error::{Error, Result};
use crate::sink::Finished;

/// The boot files of a build, staged, and the report's list of them
/// (`None` for a guest without a kernel).
pub(super) type Boot = (Staged, Option<Vec<BootFile>>);

/// The boot directory in place and its files, for the report.
type BootDir = (PathBuf, Vec<BootFile>);

/// Put the staged boot directory and then the disk in place (see the
/// module doc). The disk, and the boot directory with its files when
/// the guest has a kernel.
pub(super) fn commit(
    (staged, files): Boot,
    disk: Written,
) -> Result<(Finished, Option<BootDir>)> {
    let (finished, dir) = together(staged, || disk.commit())?;
    Ok((finished, files.map(|f| (dir, f))))
}

/// Swap the boot directory in, then run `image`, the last step; undo
/// the swap when it fails.
fn together<T>(
    staged: Staged,
    image: impl FnOnce() -> Result<T>,
) -> Result<(T, PathBuf)> {
    let swapped = staged.swap()?;
    match image() {
        Ok(t) => Ok((t, swapped.finish()?)),
        Err(e) => match swapped.undo() {
            Ok(()) => Err(e),
            Err(undo) => Err(Error::Uncommitted {
                source: Box::new(e),
                undo: Box::new(undo),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::tests::artifact;
    use crate::boot::{staging, Artifact};

    fn files(bytes: &[u8]) -> Vec<Artifact> {
        vec![artifact("f", bytes)]
    }

    #[test]
    fn a_failed_image_step_puts_the_old_boot_directory_back() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        staging::stage(out, "g", Some(&files(b"old")))
            .unwrap()
            .commit()
            .unwrap();
        let staged = staging::stage(out, "g", Some(&files(b"new"))).unwrap();
        let e = together(staged, || -> Result<()> {
            // The new boot files are in place while the image goes in.
            assert_eq!(std::fs::read(out.join("g/f")).unwrap(), b"new");
            Err(Error::Io {
                path: out.join("g.img"),
                source: std::io::Error::from_raw_os_error(28),
            })
        })
        .unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert_eq!(std::fs::read(out.join("g/f")).unwrap(), b"old");
        let left: Vec<_> = std::fs::read_dir(out).unwrap().collect();
        assert_eq!(left.len(), 1, "left in OUT: {left:?}");

        let staged = staging::stage(out, "g", Some(&files(b"new"))).unwrap();
        let (_, d) = together(staged, || Ok(())).unwrap();
        assert_eq!(std::fs::read(d.join("f")).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(out).unwrap().count(), 1);
    }

    #[test]
    fn error_message() {
        let e = Error::Uncommitted {
            source: Box::new(Error::Io {
                path: "out/g.img".into(),
                source: std::io::Error::from_raw_os_error(5),
            }),
            undo: Box::new(crate::boot::Error::Out {
                path: "out/g".into(),
                what: "putting the old one back",
                source: std::io::Error::from_raw_os_error(5),
            }),
        };
        assert_eq!(
            e.to_string(),
            "out/g.img: Input/output error (os error 5); and the new boot \
             files stay beside the old image: out/g: putting the old one \
             back: Input/output error (os error 5)"
        );
    }
}
