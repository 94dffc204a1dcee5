//! The directory `OUT/<name>/`, put in place whole, and only when the
//! build's image (or tarball) is ready to go beside it.
//!
//! [`stage`] writes the boot files into a fresh temporary directory
//! beside the final one, `OUT/.<name>.XXXXXX.boot`: on the same file
//! system, so that a rename can move it in. [`Staged::seal`] adds what
//! is written once the disk is (the SBOM, the manifest), then
//! [`SHA256SUMS`](super::sums) over every file, and syncs the files and
//! directories, before anything is renamed. Dropped, a [`Staged`] or
//! [`Sealed`] removes the directory, so an error or a signal before the
//! commit leaves nothing in `OUT`.
//!
//! The commit is two steps, so that the caller can put the image in
//! place between them and undo the first if that fails:
//!
//! 1. [`Sealed::swap`]: `renameat2(RENAME_EXCHANGE)` swaps the staging
//!    directory with an old `OUT/<name>` in one step, so `OUT/<name>`
//!    is never missing nor half old, half new; the old files are now
//!    under the staging name. Exchanging rather than renaming the old
//!    directory aside first means no moment without the directory,
//!    and the same call undoes it ([`Swapped::undo`]). Without an old
//!    directory a plain rename moves the new one in.
//! 2. [`Swapped::finish`]: the output directory is synced (the renames
//!    are durable), then the old files are removed.
//!
//! A crash between the two steps (power, `SIGKILL`; a signal lunforge
//! catches is an error, and undone) leaves the new directory beside
//! the old image, and the old files under the hidden staging name,
//! which a later build does not touch: remove it.

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::{renameat_with, RenameFlags, CWD};

use super::{sums, write_file, Artifact, Error, Result};
use crate::output::manifest::Entry;

/// The files of a build, written and synced under a temporary name,
/// more to come; removed when dropped unsealed.
#[derive(Debug)]
pub struct Staged {
    /// `OUT/<name>`.
    target: PathBuf,
    temp: tempfile::TempDir,
    /// What is written so far.
    files: Vec<Entry>,
    /// The directories made, the staging directory's own included.
    dirs: BTreeSet<PathBuf>,
}

/// The files of a build, complete with their `SHA256SUMS`, synced;
/// removed when dropped without [`Sealed::swap`].
#[derive(Debug)]
pub struct Sealed {
    target: PathBuf,
    temp: tempfile::TempDir,
    files: Vec<Entry>,
}

/// What [`Sealed::swap`] did, so that it can be undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Swap {
    /// The new directory and the old one traded names.
    Exchanged,
    /// The new directory took a name that was free.
    Moved,
}

/// The directory in place, the old one (if any) kept aside until
/// [`Swapped::finish`] or [`Swapped::undo`].
#[derive(Debug)]
#[must_use = "finish() removes the old files, undo() restores them"]
pub struct Swapped {
    target: PathBuf,
    /// The old files after [`Swap::Exchanged`].
    temp: tempfile::TempDir,
    swap: Swap,
}

/// Stage `artifacts` for `out_dir/<name>/`. Something other than a
/// directory at `out_dir/<name>` is refused now, before the disk is
/// written: the swap would move it away with the old files.
pub fn stage(
    out_dir: &Path,
    name: &str,
    artifacts: &[Artifact],
) -> Result<Staged> {
    let target = out_dir.join(name);
    match std::fs::symlink_metadata(&target) {
        Ok(m) if !m.is_dir() => return Err(Error::NotADir { path: target }),
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(out(&target, "inspecting the output directory", e));
        }
        _ => {}
    }
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".boot")
        .tempdir_in(out_dir)
        .map_err(|e| out(&target, "creating a staging directory", e))?;
    let dirs = BTreeSet::from([temp.path().to_path_buf()]);
    let mut staged = Staged {
        target,
        temp,
        files: Vec::new(),
        dirs,
    };
    staged.add(artifacts)?;
    Ok(staged)
}

impl Staged {
    /// The final directory, `OUT/<name>`.
    pub fn path(&self) -> &Path {
        &self.target
    }

    /// The files staged so far.
    pub fn files(&self) -> &[Entry] {
        &self.files
    }

    /// Write `artifacts` beside the files staged so far; names must be
    /// plain relative paths, new to the directory.
    pub fn add(&mut self, artifacts: &[Artifact]) -> Result<()> {
        for a in artifacts {
            sums::check_name(&a.name)?;
            if self.files.iter().any(|f| f.name == a.name) {
                return Err(Error::Duplicate(a.name.clone()));
            }
            self.write(a)?;
        }
        Ok(())
    }

    /// Write `a` into the staging directory, its parents made.
    fn write(&mut self, a: &Artifact) -> Result<()> {
        // Errors name the file's final path: the staging name is gone
        // by the time the operator reads the message.
        let named = self.target.join(&a.name);
        let path = self.temp.path().join(&a.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| out(&named, "creating its directory", e))?;
            let temp = self.temp.path();
            self.dirs.extend(
                parent
                    .ancestors()
                    .take_while(|d| d.starts_with(temp))
                    .map(Path::to_path_buf),
            );
        }
        write_file(&path, &a.bytes, a.mode)
            .map_err(|e| out(&named, "writing a file", e))?;
        self.files.push(Entry::of(&a.name, &a.bytes));
        Ok(())
    }

    /// Add `last`, then `SHA256SUMS` over every file, and make the
    /// entries durable: the directory is ready to go in place.
    pub fn seal(mut self, last: &[Artifact]) -> Result<Sealed> {
        self.add(last)?;
        let sums = sums::sums(&self.files)?;
        self.write(&sums)?;
        // The entries, like the files' data, are durable before the
        // swap.
        for d in &self.dirs {
            File::open(d).and_then(|f| f.sync_all()).map_err(|e| {
                out(&self.target, "syncing the staged files", e)
            })?;
        }
        let Staged {
            target,
            temp,
            mut files,
            ..
        } = self;
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Sealed {
            target,
            temp,
            files,
        })
    }
}

impl Sealed {
    /// The final directory, `OUT/<name>`.
    pub fn path(&self) -> &Path {
        &self.target
    }

    /// Every file of the directory, `SHA256SUMS` included, by name.
    pub fn files(&self) -> &[Entry] {
        &self.files
    }

    /// Put the staged directory in place, keeping the old one aside
    /// (see the module doc). Nothing has changed when this fails.
    pub fn swap(self) -> Result<Swapped> {
        let Sealed { target, temp, .. } = self;
        let swap = if target.exists() {
            Swap::Exchanged
        } else {
            Swap::Moved
        };
        let swapped = Swapped { target, temp, swap };
        swapped
            .rename()
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
    /// The rename of `swap`, or of its undoing: an exchange is its own
    /// inverse, and the directory moved in moves back onto the staging
    /// name, which it left free.
    fn rename(&self) -> io::Result<()> {
        let (t, s) = (&self.target, self.temp.path());
        match self.swap {
            Swap::Exchanged => {
                Ok(renameat_with(CWD, s, CWD, t, RenameFlags::EXCHANGE)?)
            }
            Swap::Moved => std::fs::rename(s, t),
        }
    }

    /// Put the old directory back (or none, if there was none) and drop
    /// the new files: the image could not be put in place.
    pub fn undo(self) -> Result<()> {
        let back = match self.swap {
            Swap::Exchanged => self.rename(),
            Swap::Moved => std::fs::rename(&self.target, self.temp.path()),
        };
        back.map_err(|e| out(&self.target, "putting the old one back", e))
        // Dropping `temp` removes the new files.
    }

    /// Make the swap durable, then remove the old files. Returns the
    /// directory.
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
                .map_err(|e| out(&aside, "removing the old files", e))?;
        }
        Ok(target)
    }
}

/// An output directory error naming `path` and what was being done.
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

    fn commit(dir: &Path, artifacts: &[Artifact]) -> PathBuf {
        sealed(dir, artifacts).commit().unwrap()
    }

    fn sealed(dir: &Path, artifacts: &[Artifact]) -> Sealed {
        stage(dir, "g", artifacts).unwrap().seal(&[]).unwrap()
    }

    #[test]
    fn a_commit_replaces_the_old_directory_whole() {
        let dir = tempfile::tempdir().unwrap();
        let d = commit(dir.path(), &[a("old", b"1"), a("x/y", b"2")]);
        assert_eq!(std::fs::read(d.join("x/y")).unwrap(), b"2");
        let d = commit(dir.path(), &[a("new", b"3")]);
        assert!(!d.join("old").exists());
        assert_eq!(std::fs::read(d.join("new")).unwrap(), b"3");
        assert!(d.join(sums::NAME).exists());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("new")).unwrap().permissions();
        assert_eq!(mode.mode() & 0o777, 0o600);
        let names: Vec<_> =
            listing(dir.path()).into_iter().map(|e| e.0).collect();
        assert_eq!(names, ["g", "g/SHA256SUMS", "g/new"]);
        // Nothing but the sums: still a directory of its own.
        commit(dir.path(), &[]);
        let names: Vec<_> =
            listing(dir.path()).into_iter().map(|e| e.0).collect();
        assert_eq!(names, ["g", "g/SHA256SUMS"]);
    }

    #[test]
    fn sealing_adds_the_last_files_and_sums_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let mut staged = stage(dir.path(), "g", &[a("b/boot", b"1")]).unwrap();
        assert_eq!(staged.files().len(), 1);
        let e = staged.add(&[a("b/boot", b"2")]).unwrap_err();
        assert!(matches!(e, Error::Duplicate(_)), "{e}");
        let sealed = staged.seal(&[a("manifest.json", b"{}")]).unwrap();
        let names: Vec<&str> =
            sealed.files().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["SHA256SUMS", "b/boot", "manifest.json"]);
        let d = sealed.commit().unwrap();
        let sums = std::fs::read_to_string(d.join("SHA256SUMS")).unwrap();
        assert!(sums.contains("  b/boot\n"), "{sums}");
        assert!(sums.ends_with("  manifest.json\n"), "{sums}");
        assert_eq!(sums.lines().count(), 2);
    }

    #[test]
    fn staged_but_not_swapped_leaves_nothing_and_the_old_intact() {
        let dir = tempfile::tempdir().unwrap();
        commit(dir.path(), &[a("old", b"1")]);
        let before = listing(dir.path());
        let staged = stage(dir.path(), "g", &[a("new", b"2")]).unwrap();
        assert_eq!(listing(dir.path()).len(), before.len() + 2, "staged");
        drop(staged);
        assert_eq!(listing(dir.path()), before);
        drop(sealed(dir.path(), &[a("new", b"2")]));
        assert_eq!(listing(dir.path()), before);
        let e = stage(dir.path(), "g", &[a("../x", b"")]).unwrap_err();
        assert!(matches!(e, Error::BadName(_)), "{e}");
        assert_eq!(listing(dir.path()), before);
    }

    #[test]
    fn undo_puts_back_what_was_there() {
        let dir = tempfile::tempdir().unwrap();
        for old in [None, Some(&[a("old", b"1")][..])] {
            if let Some(old) = old {
                commit(dir.path(), old);
            }
            let before = listing(dir.path());
            let swapped = sealed(dir.path(), &[a("new", b"2")]).swap();
            let swapped = swapped.unwrap();
            assert!(dir.path().join("g/new").exists(), "swapped in");
            swapped.undo().unwrap();
            assert_eq!(listing(dir.path()), before, "{old:?}");
        }
    }

    #[test]
    fn a_file_where_the_directory_goes_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("g"), b"mine").unwrap();
        let e = stage(dir.path(), "g", &[a("new", b"")]).unwrap_err();
        assert!(matches!(e, Error::NotADir { .. }), "{e}");
        assert_eq!(std::fs::read(dir.path().join("g")).unwrap(), b"mine");
        assert_eq!(listing(dir.path()).len(), 1);
    }
}
