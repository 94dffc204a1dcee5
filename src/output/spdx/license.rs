//! A Debian license short name as an SPDX license: the identifier of
//! the SPDX License List when the name is one (or DEP-5's spelling of
//! one), else a `LicenseRef-` of the document's own.
//!
//! Spec: SPDX 2.3 annex D (license expressions: `AND`, `OR`, `WITH`,
//! `+`, `LicenseRef-[idstring]`, idstring `[A-Za-z0-9.-]+`) and the
//! "License specification" of Debian's copyright-format 1.0 (DEP-5),
//! whose short names differ from SPDX's for the GNU licenses: DEP-5
//! writes `GPL-2` for "version 2 only" and `GPL-2+` for "version 2 or
//! any later version", where SPDX has `GPL-2.0-only` and
//! `GPL-2.0-or-later` (its `GPL-2.0` and `GPL-2.0+` are deprecated).
//!
//! Only what is certain is translated: the GNU family (GPL, LGPL, AGPL,
//! GFDL and GFDL-NIV, each with a version), `Expat` (DEP-5's name for
//! what SPDX calls `MIT`), and any name that is an SPDX identifier up to
//! case, as the SPDX spec matches them. An exception (`GPL-2 with
//! Linux-syscall-note exception`) becomes `WITH` when both sides are on
//! the lists. Anything else (`public-domain`, `Artistic` without a
//! version, a package's own `permissive`) is a `LicenseRef-`, whose text
//! the SBOM carries ([`super::refs`]). The identifiers come from the
//! `spdx` crate's copy of the SPDX License List.

/// A license term of a DEP-5 expression: a short name, perhaps with an
/// exception.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Term {
    /// A term the SPDX License List has: `GPL-2.0-or-later`,
    /// `GPL-2.0-only WITH Linux-syscall-note`.
    Spdx(String),
    /// A term it has not, as the copyright file writes it (`Artistic`,
    /// `GPL-2+ with OpenSSL exception`): a `LicenseRef-` in the SBOM.
    Other(String),
}

impl Term {
    /// The term for the short name `name` and the exception named
    /// `exception` (the words between `with` and `exception`), if any.
    pub fn new(name: &str, exception: Option<&str>) -> Term {
        let written = match exception {
            Some(e) => format!("{name} with {e} exception"),
            None => name.to_string(),
        };
        let Some(id) = license(name) else {
            return Term::Other(written);
        };
        match exception.map(exception_id) {
            None => Term::Spdx(id),
            Some(Some(e)) => Term::Spdx(format!("{id} WITH {e}")),
            Some(None) => Term::Other(written),
        }
    }
}

/// The SPDX expression of the DEP-5 short name `name`, or `None`.
fn license(name: &str) -> Option<String> {
    if let Some(id) = gnu(name) {
        return Some(id);
    }
    let (base, plus) = match name.strip_suffix('+') {
        Some(b) => (b, true),
        None => (name, false),
    };
    let base = if base.eq_ignore_ascii_case("Expat") {
        "MIT"
    } else {
        base
    };
    let id =
        listed(spdx::identifiers::LICENSES.iter().map(|l| (l.0, l.2)), base)?;
    // `GPL-2.0+` is a deprecated identifier of its own: the GNU rule
    // above takes it.
    Some(if plus {
        format!("{id}+")
    } else {
        id.to_string()
    })
}

/// DEP-5's GNU short names: `GPL-2` (that version only), `LGPL-2.1+`
/// (or any later), `GFDL-NIV-1.3` (no invariant sections), a version
/// of one number meaning `N.0`.
fn gnu(name: &str) -> Option<String> {
    let (base, later) = match name.strip_suffix('+') {
        Some(b) => (b, true),
        None => (name, false),
    };
    let (family, version) = base.split_once('-')?;
    let family = ["GPL", "LGPL", "AGPL", "GFDL"]
        .into_iter()
        .find(|f| f.eq_ignore_ascii_case(family))?;
    let (variant, version) = match version.split_once('-') {
        Some((niv, v))
            if family == "GFDL" && niv.eq_ignore_ascii_case("NIV") =>
        {
            ("-no-invariants", v)
        }
        _ => ("", version),
    };
    let numeric =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let version = match version.split_once('.') {
        Some((major, minor)) if numeric(major) && numeric(minor) => {
            version.to_string()
        }
        None if numeric(version) => format!("{version}.0"),
        _ => return None,
    };
    let range = if later { "or-later" } else { "only" };
    let id = format!("{family}-{version}{variant}-{range}");
    spdx::license_id(&id).map(|l| l.name.to_string())
}

/// The SPDX exception identifier for the words of a DEP-5 `with …
/// exception`, up to case: the words themselves
/// (`Linux-syscall-note`), with `-exception` (`Libtool` →
/// `Libtool-exception`), or with `-exception` before a trailing version,
/// as SPDX names versioned exceptions (`Bison-2.2` →
/// `Bison-exception-2.2`).
fn exception_id(words: &str) -> Option<String> {
    let all = || spdx::identifiers::EXCEPTIONS.iter().map(|e| (e.0, e.1));
    let versioned = words.rsplit_once('-').and_then(|(name, version)| {
        let numeric = version.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        (numeric && !version.is_empty())
            .then(|| format!("{name}-exception-{version}"))
    });
    [
        Some(words.to_string()),
        Some(format!("{words}-exception")),
        versioned,
    ]
    .into_iter()
    .flatten()
    .find_map(|w| listed(all(), &w))
    .map(str::to_string)
}

/// The identifier of `list` equal to `name` up to ASCII case, unless
/// the list deprecates it.
fn listed(
    mut list: impl Iterator<Item = (&'static str, u8)>,
    name: &str,
) -> Option<&'static str> {
    list.find(|(id, flags)| {
        id.eq_ignore_ascii_case(name)
            && flags & spdx::identifiers::IS_DEPRECATED == 0
    })
    .map(|(id, _)| id)
}

/// `name` made an SPDX idstring (`[A-Za-z0-9.-]+`): `+` spelt `plus`,
/// any other character outside the set a `-`.
pub fn idstring(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '.' | '-' => out.push(c),
            '+' => out.push_str("plus"),
            _ => out.push('-'),
        }
    }
    if out.is_empty() {
        out.push('-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spdx(name: &str) -> Option<String> {
        match Term::new(name, None) {
            Term::Spdx(s) => Some(s),
            Term::Other(_) => None,
        }
    }

    #[test]
    fn gnu_short_names_take_the_spdx_range_suffixes() {
        for (dep5, want) in [
            ("GPL-2", "GPL-2.0-only"),
            ("GPL-2+", "GPL-2.0-or-later"),
            ("GPL-2.0+", "GPL-2.0-or-later"),
            ("gpl-3+", "GPL-3.0-or-later"),
            ("GPL-1+", "GPL-1.0-or-later"),
            ("LGPL-2", "LGPL-2.0-only"),
            ("LGPL-2.1", "LGPL-2.1-only"),
            ("LGPL-2.1+", "LGPL-2.1-or-later"),
            ("AGPL-3", "AGPL-3.0-only"),
            ("GFDL-1.3+", "GFDL-1.3-or-later"),
            ("GFDL-NIV-1.2", "GFDL-1.2-no-invariants-only"),
            // Written the SPDX way already.
            ("GPL-3.0-or-later", "GPL-3.0-or-later"),
        ] {
            assert_eq!(spdx(dep5).as_deref(), Some(want), "{dep5}");
        }
        // No version, a version SPDX lacks, not a version at all.
        for other in ["GPL", "LGPL-4+", "GPL-2.x", "GPLv2+", "GPL-"] {
            assert_eq!(spdx(other), None, "{other}");
        }
    }

    #[test]
    fn other_names_are_spdx_identifiers_up_to_case_or_refs() {
        for (dep5, want) in [
            ("Expat", "MIT"),
            ("BSD-3-clause", "BSD-3-Clause"),
            ("apache-2.0", "Apache-2.0"),
            ("Zlib", "Zlib"),
            ("MPL-1.1+", "MPL-1.1+"),
            ("CC0-1.0", "CC0-1.0"),
        ] {
            assert_eq!(spdx(dep5).as_deref(), Some(want), "{dep5}");
        }
        for other in ["public-domain", "Artistic", "permissive", "BSD"] {
            assert_eq!(
                Term::new(other, None),
                Term::Other(other.into()),
                "{other}"
            );
        }
        // A deprecated identifier is not taken as written.
        assert_eq!(spdx("eCos-2.0"), None);
    }

    #[test]
    fn exceptions_become_with_when_both_sides_are_listed() {
        assert_eq!(
            Term::new("GPL-2", Some("Linux-syscall-note")),
            Term::Spdx("GPL-2.0-only WITH Linux-syscall-note".into())
        );
        assert_eq!(
            Term::new("GPL-3+", Some("GCC-exception-3.1")),
            Term::Spdx("GPL-3.0-or-later WITH GCC-exception-3.1".into())
        );
        assert_eq!(
            Term::new("GPL-3+", Some("Bison-2.2")),
            Term::Spdx("GPL-3.0-or-later WITH Bison-exception-2.2".into())
        );
        assert_eq!(
            Term::new("GPL-2+", Some("libtool")),
            Term::Spdx("GPL-2.0-or-later WITH Libtool-exception".into())
        );
        // Autoconf has two versions of its exception: which one is not
        // said.
        assert_eq!(
            Term::new("GPL-2+", Some("Autoconf")),
            Term::Other("GPL-2+ with Autoconf exception".into())
        );
        assert_eq!(
            Term::new("GPL-2+", Some("Classpath")),
            Term::Other("GPL-2+ with Classpath exception".into())
        );
        assert_eq!(
            Term::new("Artistic", Some("Linux-syscall-note")),
            Term::Other("Artistic with Linux-syscall-note exception".into())
        );
    }

    #[test]
    fn idstrings_keep_only_what_spdx_allows() {
        assert_eq!(idstring("public-domain"), "public-domain");
        assert_eq!(
            idstring("GPL-2+ with OpenSSL exception"),
            "GPL-2plus-with-OpenSSL-exception"
        );
        assert_eq!(idstring("MIT/X11"), "MIT-X11");
        assert_eq!(idstring(""), "-");
    }
}
