//! `SHA256SUMS`: the manifest of `OUT/<name>/`.
//!
//! Format: the output of GNU `sha256sum` (coreutils), one line per
//! artifact, `<64 lower-case hex digits><space><space><name>\n`, names
//! relative to `OUT/<name>/` in byte order, the manifest itself not
//! listed. So `cd OUT/<name> && sha256sum -c SHA256SUMS` verifies the
//! whole output. Names are held to `[A-Za-z0-9._+-]` and `/`, which
//! `sha256sum` would never escape, so a line is exactly what it prints.

use sha2::{Digest, Sha256};

use super::{Artifact, Error, Result};

/// The manifest's file name.
pub const NAME: &str = "SHA256SUMS";

/// The manifest of `artifacts` (as an artifact, mode 0644); refuses
/// names that are not plain relative paths, and duplicates.
pub fn manifest(artifacts: &[Artifact]) -> Result<Artifact> {
    let mut lines: Vec<(&str, String)> = Vec::with_capacity(artifacts.len());
    for a in artifacts {
        check_name(&a.name)?;
        lines.push((&a.name, hex::encode(Sha256::digest(&a.bytes))));
    }
    lines.sort();
    if let Some(w) = lines.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::Duplicate(w[0].0.into()));
    }
    let mut text = String::new();
    for (name, digest) in lines {
        text.push_str(&digest);
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

/// A relative `/`-separated path of plain components, not the manifest.
fn check_name(name: &str) -> Result<()> {
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

    fn a(name: &str, bytes: &[u8]) -> Artifact {
        Artifact {
            name: name.into(),
            bytes: bytes.to_vec(),
            mode: 0o644,
        }
    }

    #[test]
    fn sorted_sha256sum_lines() {
        let m = manifest(&[a("b/x", b""), a("a", b"abc")]).unwrap();
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
                matches!(manifest(&[a(bad, b"")]), Err(Error::BadName(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            manifest(&[a("x", b"1"), a("x", b"2")]),
            Err(Error::Duplicate(n)) if n == "x"
        ));
    }
}
