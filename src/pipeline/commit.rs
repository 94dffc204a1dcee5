//! The end of a build: its outputs appear together or not at all.
//!
//! By the time [`commit`] runs, everything is written and synced under
//! temporary names beside the final ones: `OUT/<name>/` in
//! `OUT/.<name>.XXXXXX.boot` ([`crate::boot::staging`]), the image in
//! `.<name>.img.XXXXXX.part` ([`crate::sink::file::Staged`]) or the
//! tarball in `.<name>.tar.XXXXXX.tmp`. Until then an error or a signal
//! drops them all, and `OUT` is as it was.
//!
//! Two names cannot change in one atomic step, so the commit orders its
//! two renames so that the second is the one that cannot be undone:
//!
//! 1. the directory takes its place, the old one kept aside (an
//!    exchange, undone by exchanging again);
//! 2. the image (or tarball) is renamed over the old one: the commit
//!    point. If that fails, step 1 is undone, and the old outputs stand
//!    as they were;
//! 3. the old directory's files are removed.
//!
//! A crash (not an error) between 1 and 2 leaves the new directory
//! beside the old image, and the old directory and the new image under
//! their hidden temporary names (left for the operator: a later build
//! cannot tell them from a concurrent build's); rebuilding puts the
//! pair right. A device or LUN is written in place before the commit,
//! by design: there only the directory is committed.

use std::path::PathBuf;

use crate::boot::staging::Sealed;
use crate::error::{Error, Result};

/// Swap the directory in, then run `image`, the last step; undo the
/// swap when it fails. What `image` returns, and the directory.
pub(super) fn commit<T>(
    sealed: Sealed,
    image: impl FnOnce() -> Result<T>,
) -> Result<(T, PathBuf)> {
    let swapped = sealed.swap()?;
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
    use crate::boot::staging;
    use crate::boot::tests::artifact;

    fn sealed(out: &std::path::Path, bytes: &[u8]) -> Sealed {
        let files = [artifact("f", bytes)];
        staging::stage(out, "g", &files).unwrap().seal(&[]).unwrap()
    }

    #[test]
    fn a_failed_image_step_puts_the_old_boot_directory_back() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        sealed(out, b"old").commit().unwrap();
        let e = commit(sealed(out, b"new"), || -> Result<()> {
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

        let (_, d) = commit(sealed(out, b"new"), || Ok(())).unwrap();
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
