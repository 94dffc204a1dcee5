//! `lunforge write IMAGE TARGET`: an image file already built, copied to
//! a target through the same sinks a build streams into. Only the
//! image's data regions are read (`SEEK_DATA`/`SEEK_HOLE`), so an 8 GiB
//! image with 400 MiB of data costs 400 MiB of reading; the target's
//! sink then makes the holes read as zeros its own way.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rustix::fs::SeekFrom;

use super::target::{Target, TargetOptions};
use super::{Error, Finished, Result};
use crate::progress::Progress;

/// Bytes read from the image at a time.
const CHUNK: u64 = 4 << 20;

/// Copy the image file at `image` to `target`.
pub fn write_image(
    image: &Path,
    target: &Target,
    opts: &TargetOptions,
    progress: &dyn Progress,
) -> Result<Finished> {
    let io = |what, source| Error::Io {
        path: image.to_path_buf(),
        what,
        source,
    };
    let file = File::open(image).map_err(|e| io("opening the image", e))?;
    let meta = file.metadata().map_err(|e| io("reading the image", e))?;
    if !meta.is_file() {
        return Err(Error::NotAFile {
            path: image.to_path_buf(),
        });
    }
    if let Target::File(out) = target {
        if same_file(image, out) {
            return Err(Error::SameFile {
                path: image.to_path_buf(),
            });
        }
    }
    // Opening the target makes every check a preflight would.
    let mut sink = target.open(meta.len(), opts, progress)?;
    let mut buf = Vec::new();
    for (start, end) in data_regions(&file, meta.len())
        .map_err(|e| io("finding the image's data", e))?
    {
        let mut at = start;
        while at < end {
            crate::cancel::check()?;
            let n = (end - at).min(CHUNK);
            buf.resize(usize::try_from(n).unwrap_or(usize::MAX), 0);
            file.read_exact_at(&mut buf, at)
                .map_err(|e| io("reading the image", e))?;
            sink.write_at(at, &buf)?;
            at += n;
        }
    }
    crate::cancel::check()?;
    sink.finish()
}

/// Whether `a` and `b` name one file.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// The ranges of `file` (of `size` bytes) that hold data, in order;
/// the whole file when the file system cannot tell.
fn data_regions(file: &File, size: u64) -> std::io::Result<Vec<(u64, u64)>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < size {
        let start = match rustix::fs::seek(file, SeekFrom::Data(at)) {
            Ok(s) => s,
            // ENXIO: no data after `at`.
            Err(rustix::io::Errno::NXIO) => break,
            Err(rustix::io::Errno::INVAL) if at == 0 => {
                return Ok(vec![(0, size)])
            }
            Err(e) => return Err(e.into()),
        };
        let end = rustix::fs::seek(file, SeekFrom::Hole(start))?.min(size);
        if end > start {
            out.push((start, end));
        }
        at = end.max(start + 1);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    #[test]
    fn copies_data_and_keeps_holes() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("a.img");
        let f = File::create(&img).unwrap();
        f.set_len(64 << 20).unwrap();
        f.write_all_at(b"head", 0).unwrap();
        f.write_all_at(&[7u8; 5000], 40 << 20).unwrap();
        drop(f);
        let regions =
            data_regions(&File::open(&img).unwrap(), 64 << 20).unwrap();
        assert!(regions.len() >= 2, "{regions:?}");
        let out = dir.path().join("b.img");
        let t = Target::parse(out.to_str().unwrap()).unwrap();
        let done =
            write_image(&img, &t, &TargetOptions::default(), &Silent).unwrap();
        assert_eq!(done.size, 64 << 20);
        assert_eq!(std::fs::read(&img).unwrap(), std::fs::read(&out).unwrap());
        let e = write_image(
            &img,
            &Target::File(img.clone()),
            &TargetOptions::default(),
            &Silent,
        )
        .unwrap_err();
        assert!(e.to_string().contains("same file"), "{e}");
    }
}
