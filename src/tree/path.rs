//! `GuestPath`: a path inside the guest, normalised and validated.
//!
//! Every path the tree holds is absolute (`/usr/bin/sh`), has no empty,
//! `.` or `..` component, no trailing slash and no NUL byte; the root is
//! `/`. Archive member names (`./usr/bin/sh`, `usr/bin/`) are accepted and
//! normalised by [`GuestPath::from_member`], which refuses `..` and
//! absolute names, so nothing a package ships can name a place outside
//! the guest's root.

use std::fmt;

/// Why a path is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A `..` component.
    #[error("path {0:?} has a \"..\" component")]
    DotDot(String),
    /// An absolute archive member name.
    #[error("archive member {0:?} is absolute")]
    Absolute(String),
    /// A NUL byte, or an empty name.
    #[error("path {0:?} is empty or contains a NUL byte")]
    Invalid(String),
    /// A component longer than 255 bytes (the limit of every Linux file
    /// system lunforge writes).
    #[error("path {0:?} has a component longer than 255 bytes")]
    TooLong(String),
}

/// Result of path handling.
pub type Result<T> = std::result::Result<T, Error>;

/// A normalised absolute path inside the guest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GuestPath(String);

impl GuestPath {
    /// The root directory `/`.
    pub fn root() -> GuestPath {
        GuestPath("/".into())
    }

    /// An absolute path as the guest sees it (`/etc/fstab`); `.` and
    /// empty components are dropped, `..` is refused.
    pub fn new(path: &str) -> Result<GuestPath> {
        if !path.starts_with('/') {
            return Err(Error::Invalid(path.into()));
        }
        Self::normalise(path)
    }

    /// A member name of a package's data archive (`./usr/bin/sh`,
    /// `usr/share/`); absolute names and `..` are refused.
    pub fn from_member(name: &str) -> Result<GuestPath> {
        if name.starts_with('/') {
            return Err(Error::Absolute(name.into()));
        }
        Self::normalise(name)
    }

    fn normalise(path: &str) -> Result<GuestPath> {
        if path.contains('\0') || path.is_empty() {
            return Err(Error::Invalid(path.into()));
        }
        let mut out = String::with_capacity(path.len() + 1);
        for c in path.split('/') {
            match c {
                "" | "." => {}
                ".." => return Err(Error::DotDot(path.into())),
                c if c.len() > 255 => return Err(Error::TooLong(path.into())),
                c => {
                    out.push('/');
                    out.push_str(c);
                }
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        Ok(GuestPath(out))
    }

    /// The path as a string (`/` for the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `true` for `/`.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The parent directory; `None` for the root.
    pub fn parent(&self) -> Option<GuestPath> {
        if self.is_root() {
            return None;
        }
        let cut = self.0.rfind('/').unwrap_or(0);
        Some(if cut == 0 {
            GuestPath::root()
        } else {
            GuestPath(self.0[..cut].into())
        })
    }

    /// The last component; `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        if self.is_root() {
            None
        } else {
            self.0.rsplit('/').next()
        }
    }

    /// The components from the root down.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// `self/name` for one component `name`.
    pub fn join(&self, name: &str) -> Result<GuestPath> {
        if name.is_empty() || name.contains('/') {
            return Err(Error::Invalid(name.into()));
        }
        if self.is_root() {
            GuestPath::new(&format!("/{name}"))
        } else {
            GuestPath::new(&format!("{}/{name}", self.0))
        }
    }

    /// The path relative to the root, for archive member names
    /// (`usr/bin/sh`; empty for the root).
    pub fn relative(&self) -> &str {
        &self.0[1..]
    }

    /// `true` when `self` is `other` or below it.
    pub fn starts_with(&self, other: &GuestPath) -> bool {
        other.is_root()
            || self.0 == other.0
            || (self.0.starts_with(&other.0)
                && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }
}

impl fmt::Display for GuestPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_member_names() {
        let p = |s| GuestPath::from_member(s).unwrap().to_string();
        assert_eq!(p("./usr/bin/sh"), "/usr/bin/sh");
        assert_eq!(p("usr//share/./doc/"), "/usr/share/doc");
        assert_eq!(p("./"), "/");
        assert_eq!(p("."), "/");
    }

    #[test]
    fn refuses_escapes() {
        assert_eq!(
            GuestPath::from_member("./usr/../../etc/passwd"),
            Err(Error::DotDot("./usr/../../etc/passwd".into()))
        );
        assert_eq!(
            GuestPath::from_member("/etc/passwd"),
            Err(Error::Absolute("/etc/passwd".into()))
        );
        assert!(GuestPath::from_member("a\0b").is_err());
        assert!(GuestPath::from_member("").is_err());
        assert!(GuestPath::new("relative").is_err());
        let long = format!("./{}", "x".repeat(256));
        assert!(matches!(
            GuestPath::from_member(&long),
            Err(Error::TooLong(_))
        ));
    }

    #[test]
    fn navigation() {
        let p = GuestPath::new("/usr/bin/sh").unwrap();
        assert_eq!(p.parent().unwrap().as_str(), "/usr/bin");
        assert_eq!(p.file_name(), Some("sh"));
        assert_eq!(p.relative(), "usr/bin/sh");
        assert_eq!(p.components().collect::<Vec<_>>(), ["usr", "bin", "sh"]);
        let top = GuestPath::new("/usr").unwrap();
        assert_eq!(top.parent(), Some(GuestPath::root()));
        assert_eq!(GuestPath::root().parent(), None);
        assert_eq!(GuestPath::root().join("etc").unwrap().as_str(), "/etc");
        assert!(p.starts_with(&top));
        assert!(!GuestPath::new("/usrx").unwrap().starts_with(&top));
        assert!(p.join("a/b").is_err());
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            Error::DotDot("a/..".into()).to_string(),
            "path \"a/..\" has a \"..\" component"
        );
        assert_eq!(
            Error::Absolute("/x".into()).to_string(),
            "archive member \"/x\" is absolute"
        );
    }
}
