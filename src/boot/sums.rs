//! `SHA256SUMS`: the checksums of `OUT/<name>/`.
//!
//! Format: the output of GNU `sha256sum` (coreutils), one line per
//! file, `<64 lower-case hex digits><space><space><name>\n`, names
//! relative to `OUT/<name>/` in byte order, every file of the directory
//! listed but `SHA256SUMS` itself: the boot files, `sbom.spdx.json` and
//! `manifest.json` (which, written before this file, cannot list it).
//! So `cd OUT/<name> && sha256sum -c SHA256SUMS` verifies the whole
//! directory. Names are held to `[A-Za-z0-9._+-]` and `/`, which
//! `sha256sum` would never escape, so a line is exactly what it prints.

use super::{Artifact, Error, Result};
use crate::output::manifest::Entry;

/// The file's name.
pub const NAME: &str = "SHA256SUMS";

/// `SHA256SUMS` of the files `entries` (as an artifact, mode 0644);
/// refuses names that are not plain relative paths, and duplicates.
pub fn sums(entries: &[Entry]) -> Result<Artifact> {
    let mut lines: Vec<(&str, &str)> = Vec::with_capacity(entries.len());
    for e in entries {
        check_name(&e.name)?;
        lines.push((&e.name, &e.sha256));
    }
    lines.sort();
    if let Some(w) = lines.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::Duplicate(w[0].0.into()));
    }
    let mut text = String::new();
    for (name, digest) in lines {
        text.push_str(digest);
        text.push_str("  ");
        text.push_str(name);
        text.push('\n');
    }
    Ok(Artifact {
        name: NAME.into(),
        bytes: text.into_bytes(),
        mode: 0o644,
    })
}

/// A relative `/`-separated path of plain components, not `SHA256SUMS`.
pub(super) fn check_name(name: &str) -> Result<()> {
    let plain = |c: &str| {
        !c.is_empty()
            && c != "."
            && c != ".."
            && c.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "._+-".contains(ch))
    };
    if name != NAME && name.split('/').all(plain) {
        Ok(())
    } else {
        Err(Error::BadName(name.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(name: &str, bytes: &[u8]) -> Entry {
        Entry::of(name, bytes)
    }

    #[test]
    fn sorted_sha256sum_lines() {
        let m = sums(&[e("b/x", b""), e("a", b"abc")]).unwrap();
        let text = String::from_utf8(m.bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        // FIPS 180-2's test vector for "abc", and SHA-256 of nothing.
        assert_eq!(
            lines[0],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  a"
        );
        assert_eq!(
            lines[1],
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  b/x"
        );
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", "/a", "a/../b", "a//b", "a b", "a\nb", "./a", NAME] {
            assert!(
                matches!(sums(&[e(bad, b"")]), Err(Error::BadName(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            sums(&[e("x", b"1"), e("x", b"2")]),
            Err(Error::Duplicate(n)) if n == "x"
        ));
    }
}
