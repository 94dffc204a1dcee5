//! The boot directory `OUT/<name>/`, put in place whole, and only when
//! the build's image is ready to go beside it.
//!
//! [`stage`] writes every file (and the [`manifest`](super::manifest))
//! into a fresh temporary directory beside the final one,
//! `OUT/.<name>.XXXXXX.boot`: on the same file system, so that a rename
//! can move it in. Files and directories are synced there, before
//! anything is renamed. Dropped, a [`Staged`] removes the directory, so
//! an error or a signal before the commit leaves nothing in `OUT`.
//!
//! The commit is two steps, so that the caller can put the image in
//! place between them and undo the first if that fails:
//!
//! 1. [`Staged::swap`]: `renameat2(RENAME_EXCHANGE)` swaps the staging
//!    directory with an old `OUT/<name>` in one step, so `OUT/<name>`
//!    is never missing nor half old, half new; the old files are now
//!    under the staging name. Exchanging rather than renaming the old
//!    directory aside first means no moment without a boot directory,
//!    and the same call undoes it ([`Swapped::undo`]). Without an old
//!    directory a plain rename moves the new one in.
//! 2. [`Swapped::finish`]: the output directory is synced (the renames
//!    are durable), then the old files are removed.
//!
//! A crash between the two steps (power, `SIGKILL`; a signal lunforge
//! catches is an error, and undone) leaves the new boot directory
//! beside the old image, and the old boot files under the hidden
//! staging name, which a later build does not touch: remove it.

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::{renameat_with, RenameFlags, CWD};

use super::{manifest, write_file, Artifact, Error, Result};

/// The boot files of a build, written and synced under a temporary
/// name; removed when dropped without [`Staged::swap`].
#[derive(Debug)]
pub struct Staged {
    /// `OUT/<name>`.
    target: PathBuf,
    /// The new files; an empty directory for a guest without a kernel,
    /// which takes an old `OUT/<name>` away (it would not match).
    temp: tempfile::TempDir,
    /// Whether there are new files.
    files: bool,
}

/// What [`Staged::swap`] did, so that it can be undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Swap {
    /// The new directory and the old one traded names.
    Exchanged,
    /// The new directory took a name that was free.
    Moved,
    /// No new files: the old directory moved onto the empty staging
    /// directory.
    Removed,
    /// Neither new files nor an old directory.
    Nothing,
}

/// The boot directory in place, the old one (if any) kept aside until
/// [`Swapped::finish`] or [`Swapped::undo`].
#[derive(Debug)]
#[must_use = "finish() removes the old boot files, undo() restores them"]
pub struct Swapped {
    target: PathBuf,
    /// The old boot files after [`Swap::Exchanged`] or
    /// [`Swap::Removed`].
    temp: tempfile::TempDir,
    swap: Swap,
}

/// Stage `artifacts` and their manifest for `out_dir/<name>/`; `None`
/// stages the removal of an old boot directory. Something other than a
/// directory at `out_dir/<name>` is refused now, before the disk is
/// written: the swap would move it away with the old boot files.
pub fn stage(
    out_dir: &Path,
    name: &str,
    artifacts: Option<&[Artifact]>,
) -> Result<Staged> {
    let target = out_dir.join(name);
    match std::fs::symlink_metadata(&target) {
        Ok(m) if !m.is_dir() => return Err(Error::NotADir { path: target }),
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(out(&target, "inspecting the boot directory", e));
        }
        _ => {}
    }
    let sums = artifacts.map(manifest::manifest).transpose()?;
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".boot")
        .tempdir_in(out_dir)
        .map_err(|e| out(&target, "creating a staging directory", e))?;
    let mut dirs = BTreeSet::from([temp.path().to_path_buf()]);
    for a in artifacts.into_iter().flatten().chain(sums.as_ref()) {
        // Errors name the file's final path: the staging name is gone
        // by the time the operator reads the message.
        let named = target.join(&a.name);
        let path = temp.path().join(&a.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| out(&named, "creating its directory", e))?;
            dirs.extend(
                parent
                    .ancestors()
                    .take_while(|d| d.starts_with(temp.path()))
                    .map(Path::to_path_buf),
            );
        }
        write_file(&path, &a.bytes, a.mode)
            .map_err(|e| out(&named, "writing a boot file", e))?;
    }
    // The entries, like the files' data, are durable before the swap.
    for d in &dirs {
        File::open(d)
            .and_then(|f| f.sync_all())
            .map_err(|e| out(&target, "syncing the staged boot files", e))?;
    }
    Ok(Staged {
        target,
        temp,
        files: artifacts.is_some(),
    })
}

impl Staged {
    /// The final boot directory, `OUT/<name>`.
    pub fn path(&self) -> &Path {
        &self.target
    }

    /// Put the staged directory in place, keeping the old one aside
    /// (see the module doc). Nothing has changed when this fails.
    pub fn swap(self) -> Result<Swapped> {
        let Staged {
            target,
            temp,
            files,
        } = self;
        let old = target.exists();
        let swap = match (files, old) {
            (true, true) => Swap::Exchanged,
            (true, false) => Swap::Moved,
            (false, true) => Swap::Removed,
            (false, false) => Swap::Nothing,
        };
        let swapped = Swapped { target, temp, swap };
        swapped
            .rename(swap)
            .map_err(|e| out(&swapped.target, "putting it in place", e))?;
        Ok(swapped)
    }

    /// [`swap`](Self::swap) and [`finish`](Swapped::finish): for a
    /// build whose disk went to a device or LUN, written in place
    /// already.
    pub fn commit(self) -> Result<PathBuf> {
        self.swap()?.finish()
    }
}

impl Swapped {
    /// The renames of `swap`, which are also their own undoing but for
    /// the direction of [`Swap::Moved`] and [`Swap::Removed`].
    fn rename(&self, swap: Swap) -> io::Result<()> {
        let (t, s) = (&self.target, self.temp.path());
        let flags = RenameFlags::EXCHANGE;
        match swap {
            Swap::Exchanged => Ok(renameat_with(CWD, s, CWD, t, flags)?),
            // Onto a free name, or onto the empty staging directory.
            Swap::Moved => std::fs::rename(s, t),
            Swap::Removed => std::fs::rename(t, s),
            Swap::Nothing => Ok(()),
        }
    }

    /// Put the old boot directory back (or none, if there was none) and
    /// drop the new files: the image could not be put in place.
    pub fn undo(self) -> Result<()> {
        let back = match self.swap {
            Swap::Moved => Swap::Removed,
            Swap::Removed => Swap::Moved,
            same => same,
        };
        self.rename(back)
            .map_err(|e| out(&self.target, "putting the old one back", e))
        // Dropping `temp` removes the new files.
    }

    /// Make the swap durable, then remove the old boot files. Returns
    /// the boot directory.
    pub fn finish(self) -> Result<PathBuf> {
        let Swapped { target, temp, swap } = self;
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty())
        {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| out(dir, "syncing the output directory", e))?;
        }
        if swap == Swap::Moved {
            // Its name is the new directory's now: nothing to remove.
            let _ = temp.keep();
        } else {
            let aside = temp.path().to_path_buf();
            temp.close()
                .map_err(|e| out(&aside, "removing the old boot files", e))?;
        }
        Ok(target)
    }
}

/// A boot directory error naming `path` and what was being done.
fn out(path: &Path, what: &'static str, source: io::Error) -> Error {
    Error::Out {
        path: path.to_path_buf(),
        what,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::tests::artifact as a;

    /// Everything in `dir`, relative, sorted, with file contents.
    fn listing(dir: &Path) -> Vec<(String, Option<Vec<u8>>)> {
        let mut v: Vec<_> = walk(dir)
            .into_iter()
            .map(|p| {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                (rel, std::fs::read(&p).ok())
            })
            .collect();
        v.sort();
        v
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            out.push(e.path());
            if e.file_type().unwrap().is_dir() {
                out.extend(walk(&e.path()));
            }
        }
        out
    }

    fn commit(dir: &Path, artifacts: Option<&[Artifact]>) -> PathBuf {
        stage(dir, "g", artifacts).unwrap().commit().unwrap()
    }

    #[test]
    fn a_commit_replaces_the_old_directory_whole() {
        let dir = tempfile::tempdir().unwrap();
        let d = commit(dir.path(), Some(&[a("old", b"1"), a("x/y", b"2")]));
        assert_eq!(std::fs::read(d.join("x/y")).unwrap(), b"2");
        let d = commit(dir.path(), Some(&[a("new", b"3")]));
        assert!(!d.join("old").exists());
        assert_eq!(std::fs::read(d.join("new")).unwrap(), b"3");
        assert!(d.join(manifest::NAME).exists());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("new")).unwrap().permissions();
        assert_eq!(mode.mode() & 0o777, 0o600);
        let names: Vec<_> =
            listing(dir.path()).into_iter().map(|e| e.0).collect();
        assert_eq!(names, ["g", "g/SHA256SUMS", "g/new"]);
        // No kernel: the old directory goes.
        commit(dir.path(), None);
        assert_eq!(listing(dir.path()), []);
        commit(dir.path(), None);
        assert_eq!(listing(dir.path()), []);
    }

    #[test]
    fn staged_but_not_swapped_leaves_nothing_and_the_old_intact() {
        let dir = tempfile::tempdir().unwrap();
        commit(dir.path(), Some(&[a("old", b"1")]));
        let before = listing(dir.path());
        let staged = stage(dir.path(), "g", Some(&[a("new", b"2")])).unwrap();
        assert_eq!(listing(dir.path()).len(), before.len() + 3, "staged");
        drop(staged);
        assert_eq!(listing(dir.path()), before);
        let e = stage(dir.path(), "g", Some(&[a("../x", b"")])).unwrap_err();
        assert!(matches!(e, Error::BadName(_)), "{e}");
        assert_eq!(listing(dir.path()), before);
    }

    #[test]
    fn undo_puts_back_what_was_there() {
        let dir = tempfile::tempdir().unwrap();
        for old in [None, Some(&[a("old", b"1")][..])] {
            if let Some(old) = old {
                commit(dir.path(), Some(old));
            }
            let before = listing(dir.path());
            for new in [None, Some(&[a("new", b"2")][..])] {
                let swapped = stage(dir.path(), "g", new).unwrap().swap();
                let swapped = swapped.unwrap();
                let has_new = dir.path().join("g/new").exists();
                assert_eq!(has_new, new.is_some(), "swapped in");
                swapped.undo().unwrap();
                assert_eq!(listing(dir.path()), before, "{old:?} {new:?}");
            }
        }
    }

    #[test]
    fn a_file_where_the_directory_goes_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("g"), b"mine").unwrap();
        let e = stage(dir.path(), "g", Some(&[a("new", b"")])).unwrap_err();
        assert!(matches!(e, Error::NotADir { .. }), "{e}");
        assert_eq!(std::fs::read(dir.path().join("g")).unwrap(), b"mine");
        assert_eq!(listing(dir.path()).len(), 1);
    }
}
