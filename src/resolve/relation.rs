//! Package relationship fields: `Depends`, `Pre-Depends`, `Recommends`,
//! `Conflicts`, `Breaks` and `Provides`.
//!
//! Follows the syntax of Debian Policy §7.1: a comma-separated list of
//! items, each a `|`-separated list of alternatives, each alternative
//! `name[:arch] [(op version)] [[arch list]] [<profiles>]...`, with
//! whitespace (including the line breaks of a folded field) allowed
//! between tokens. Versions are [`Version`]s compared with dpkg's
//! `verrevcmp`. Architecture restriction lists are evaluated like
//! dpkg's `Dpkg::Arch::debarch_is_concerned`; build-profile restrictions
//! are accepted and ignored.
//!
//! Hand-written rather than taken from a crate: `debversion` and
//! `debian-packaging` were considered, but `debian-packaging` pulls in a
//! large async dependency tree, and we only need a small, fast parser
//! that runs over every relationship field of a ~65k-package index. It
//! uses no regular expressions and allocates only the parsed names and
//! versions (errors allocate their context on the error path only).
//!
//! Leniency: empty items (`a, , b` or a trailing comma) are skipped
//! rather than rejected (dpkg rejects them), so one sloppy field cannot
//! fail a whole index; empty alternatives (`a | | b`) are an error.

use std::fmt;

use crate::repo::version::{Version, VersionError};

/// Why a relationship field could not be parsed.
///
/// Every variant carries the whole field text (`field`) and the part
/// that was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RelationError {
    /// An alternative with nothing in it (`a | | b`, `a |`).
    #[error("empty alternative in {field:?}")]
    EmptyAlternative {
        /// The whole field value.
        field: String,
    },
    /// A package name that is empty or has characters dpkg forbids.
    #[error("bad package name {name:?} in {field:?}")]
    BadName {
        /// The offending name.
        name: String,
        /// The whole field value.
        field: String,
    },
    /// An empty or malformed `:arch` qualifier.
    #[error("bad architecture qualifier {qualifier:?} in {field:?}")]
    BadArchQualifier {
        /// The offending qualifier, including the colon.
        qualifier: String,
        /// The whole field value.
        field: String,
    },
    /// A malformed `(op version)` part: unclosed, unknown operator or
    /// missing version.
    #[error("bad version constraint {constraint:?} in {field:?}")]
    BadConstraint {
        /// The offending constraint, parentheses included.
        constraint: String,
        /// The whole field value.
        field: String,
    },
    /// A well-formed constraint whose version does not parse.
    #[error("bad version in constraint {constraint:?} in {field:?}")]
    BadVersion {
        /// The offending constraint, parentheses included.
        constraint: String,
        /// The whole field value.
        field: String,
        /// Why the version was rejected.
        #[source]
        source: VersionError,
    },
    /// A malformed `[arch list]`.
    #[error("bad architecture restriction {restriction:?} in {field:?}")]
    BadArchRestriction {
        /// The offending restriction, brackets included.
        restriction: String,
        /// The whole field value.
        field: String,
    },
    /// A malformed `<profile list>`.
    #[error("bad build-profile restriction {restriction:?} in {field:?}")]
    BadProfileRestriction {
        /// The offending restriction, angle brackets included.
        restriction: String,
        /// The whole field value.
        field: String,
    },
    /// Text left over after a complete relation.
    #[error("unexpected {text:?} after relation in {field:?}")]
    Trailing {
        /// The unexpected text.
        text: String,
        /// The whole field value.
        field: String,
    },
    /// A `|` in a `Provides` field.
    #[error("alternatives are not allowed in provides {field:?}")]
    ProvidesAlternative {
        /// The whole field value.
        field: String,
    },
    /// A `Provides` constraint with an operator other than `=`.
    #[error("only \"=\" is allowed in provides, got \"{op}\" in {field:?}")]
    ProvidesOperator {
        /// The operator that was used.
        op: VersionOp,
        /// The whole field value.
        field: String,
    },
    /// A `Provides` entry with an `:arch` qualifier or a restriction
    /// list.
    #[error("qualifier or restriction in provides {relation:?} in {field:?}")]
    ProvidesQualifier {
        /// The offending entry.
        relation: String,
        /// The whole field value.
        field: String,
    },
}

/// A version comparison operator of a relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionOp {
    /// `<<`: strictly earlier.
    Lt,
    /// `<=`: earlier or equal.
    Le,
    /// `=`: exactly equal.
    Eq,
    /// `>=`: later or equal.
    Ge,
    /// `>>`: strictly later.
    Gt,
}

impl VersionOp {
    /// Parses `<<`, `<=`, `=`, `>=`, `>>`, and the obsolete `<` (meaning
    /// `<=`) and `>` (meaning `>=`) that dpkg still accepts.
    pub fn parse(s: &str) -> Option<VersionOp> {
        Some(match s {
            "<<" => VersionOp::Lt,
            "<=" | "<" => VersionOp::Le,
            "=" => VersionOp::Eq,
            ">=" | ">" => VersionOp::Ge,
            ">>" => VersionOp::Gt,
            _ => return None,
        })
    }

    /// The canonical spelling (`<<`, `<=`, `=`, `>=`, `>>`).
    pub fn as_str(self) -> &'static str {
        match self {
            VersionOp::Lt => "<<",
            VersionOp::Le => "<=",
            VersionOp::Eq => "=",
            VersionOp::Ge => ">=",
            VersionOp::Gt => ">>",
        }
    }

    /// Whether `candidate` satisfies `candidate <op> wanted`.
    pub fn matches(self, candidate: &Version, wanted: &Version) -> bool {
        let ord = candidate.cmp(wanted);
        match self {
            VersionOp::Lt => ord.is_lt(),
            VersionOp::Le => ord.is_le(),
            VersionOp::Eq => ord.is_eq(),
            VersionOp::Ge => ord.is_ge(),
            VersionOp::Gt => ord.is_gt(),
        }
    }
}

impl fmt::Display for VersionOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alternative of a relationship: a package name with an optional
/// architecture qualifier and version constraint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Relation {
    /// The package name.
    pub name: Box<str>,
    /// The qualifier after the name (`any`, `native`, `amd64`...),
    /// without the colon.
    pub arch: Option<Box<str>>,
    /// The version constraint, if any.
    pub constraint: Option<(VersionOp, Version)>,
}

impl Relation {
    /// Whether version `v` of the named package satisfies the constraint
    /// (always true when there is none).
    pub fn satisfied_by_version(&self, v: &Version) -> bool {
        match &self.constraint {
            None => true,
            Some((op, wanted)) => op.matches(v, wanted),
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(arch) = &self.arch {
            write!(f, ":{arch}")?;
        }
        if let Some((op, version)) = &self.constraint {
            write!(f, " ({op} {version})")?;
        }
        Ok(())
    }
}

/// One comma-separated item of a relationship field: satisfied when any
/// of its alternatives is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dependency {
    /// The `|`-separated alternatives, in preference order; never empty.
    pub alternatives: Vec<Relation>,
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, relation) in self.alternatives.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{relation}")?;
        }
        Ok(())
    }
}

/// One entry of a `Provides` field: a virtual package name with an
/// optional exact version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Provide {
    /// The provided (usually virtual) package name.
    pub name: Box<str>,
    /// The provided version, from `(= version)`.
    pub version: Option<Version>,
}

impl fmt::Display for Provide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(version) = &self.version {
            write!(f, " (= {version})")?;
        }
        Ok(())
    }
}

/// Parses a `Depends`-like field value (`Depends`, `Pre-Depends`,
/// `Recommends`, `Suggests`, `Conflicts`, `Breaks`...), possibly folded
/// over several lines.
///
/// Alternatives whose `[arch list]` excludes `host_arch` are dropped, and
/// so is an item whose alternatives are all dropped. Build-profile
/// restrictions (`<!nocheck>`) are ignored. An empty field gives an
/// empty list.
///
/// # Errors
///
/// A [`RelationError`] naming the field and the first malformed part.
pub fn parse_dependencies(
    field: &str,
    host_arch: &str,
) -> Result<Vec<Dependency>, RelationError> {
    let mut deps = Vec::new();
    for item in field.split(',') {
        if item.trim_ascii().is_empty() {
            continue;
        }
        let mut alternatives = Vec::with_capacity(1);
        for alt in item.split('|') {
            let parsed = parse_relation(alt, field)?;
            let applies = match parsed.arches {
                None => true,
                Some(list) => arch_is_concerned(host_arch, list),
            };
            if applies {
                alternatives.push(parsed.relation);
            }
        }
        if !alternatives.is_empty() {
            deps.push(Dependency { alternatives });
        }
    }
    Ok(deps)
}

/// Parses a `Provides` field value. Only `(= version)` constraints are
/// allowed, and no alternatives, qualifiers or restriction lists.
///
/// # Errors
///
/// A [`RelationError`] naming the field and the first malformed or
/// disallowed part.
pub fn parse_provides(field: &str) -> Result<Vec<Provide>, RelationError> {
    let mut provides = Vec::new();
    for item in field.split(',') {
        if item.trim_ascii().is_empty() {
            continue;
        }
        if item.contains('|') {
            return Err(RelationError::ProvidesAlternative {
                field: field.to_owned(),
            });
        }
        let parsed = parse_relation(item, field)?;
        if parsed.relation.arch.is_some()
            || parsed.arches.is_some()
            || parsed.has_profiles
        {
            return Err(RelationError::ProvidesQualifier {
                relation: item.trim_ascii().to_owned(),
                field: field.to_owned(),
            });
        }
        let version = match parsed.relation.constraint {
            None => None,
            Some((VersionOp::Eq, version)) => Some(version),
            Some((op, _)) => {
                return Err(RelationError::ProvidesOperator {
                    op,
                    field: field.to_owned(),
                })
            }
        };
        provides.push(Provide {
            name: parsed.relation.name,
            version,
        });
    }
    Ok(provides)
}

/// One parsed alternative, with its restrictions still unevaluated.
struct Parsed<'a> {
    relation: Relation,
    /// The contents of `[...]`, validated.
    arches: Option<&'a str>,
    has_profiles: bool,
}

/// Characters that end a package name or architecture qualifier.
fn ends_word(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b':' | b'(' | b'[' | b'<')
}

/// Length of the leading word of `s` (up to whitespace or `:([<`).
fn word_len(s: &str) -> usize {
    s.bytes().position(ends_word).unwrap_or(s.len())
}

/// dpkg's `pkg_name_is_illegal`: an alphanumeric first character, then
/// alphanumerics or `-+._`. The one package-name check of the crate: the
/// recipe's `include` and `exclude` use it too.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphanumeric() => bytes.all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.' | b'_')
        }),
        _ => false,
    }
}

/// An architecture name or wildcard: alphanumerics and hyphens.
fn is_valid_arch(arch: &str) -> bool {
    !arch.is_empty()
        && arch.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Splits `s`, which starts with an opening bracket, at the first
/// `close`, returning the inside and the rest after `close`.
fn split_group(s: &str, close: char) -> Option<(&str, &str)> {
    let end = s.find(close)?;
    Some((&s[1..end], &s[end + 1..]))
}

fn parse_relation<'a>(
    text: &'a str,
    field: &str,
) -> Result<Parsed<'a>, RelationError> {
    let text = text.trim_ascii();
    if text.is_empty() {
        return Err(RelationError::EmptyAlternative {
            field: field.to_owned(),
        });
    }

    let name_len = word_len(text);
    let name = &text[..name_len];
    if !is_valid_name(name) {
        return Err(RelationError::BadName {
            name: name.to_owned(),
            field: field.to_owned(),
        });
    }
    let mut rest = &text[name_len..];

    let arch = match rest.strip_prefix(':') {
        None => None,
        Some(after) => {
            let len = word_len(after);
            let qualifier = &after[..len];
            if !is_valid_arch(qualifier) {
                return Err(RelationError::BadArchQualifier {
                    qualifier: rest[..len + 1].to_owned(),
                    field: field.to_owned(),
                });
            }
            rest = &after[len..];
            Some(Box::from(qualifier))
        }
    };
    rest = rest.trim_ascii_start();

    let mut constraint = None;
    if rest.starts_with('(') {
        let bad = |constraint: &str| RelationError::BadConstraint {
            constraint: constraint.to_owned(),
            field: field.to_owned(),
        };
        let Some((inside, after)) = split_group(rest, ')') else {
            return Err(bad(rest));
        };
        let whole = &rest[..rest.len() - after.len()];
        let inside = inside.trim_ascii();
        let op_len = inside
            .bytes()
            .position(|b| !matches!(b, b'<' | b'>' | b'='))
            .unwrap_or(inside.len());
        let op =
            VersionOp::parse(&inside[..op_len]).ok_or_else(|| bad(whole))?;
        let version = inside[op_len..].trim_ascii();
        if version.is_empty() {
            return Err(bad(whole));
        }
        let version = Version::parse(version).map_err(|source| {
            RelationError::BadVersion {
                constraint: whole.to_owned(),
                field: field.to_owned(),
                source,
            }
        })?;
        constraint = Some((op, version));
        rest = after.trim_ascii_start();
    }

    let mut arches = None;
    if rest.starts_with('[') {
        let bad = |restriction: &str| RelationError::BadArchRestriction {
            restriction: restriction.to_owned(),
            field: field.to_owned(),
        };
        let Some((inside, after)) = split_group(rest, ']') else {
            return Err(bad(rest));
        };
        let whole = &rest[..rest.len() - after.len()];
        let mut any = false;
        for arch in inside.split_ascii_whitespace() {
            if !is_valid_arch(arch.strip_prefix('!').unwrap_or(arch)) {
                return Err(bad(whole));
            }
            any = true;
        }
        if !any {
            return Err(bad(whole));
        }
        arches = Some(inside);
        rest = after.trim_ascii_start();
    }

    let mut has_profiles = false;
    while rest.starts_with('<') {
        let bad = |restriction: &str| RelationError::BadProfileRestriction {
            restriction: restriction.to_owned(),
            field: field.to_owned(),
        };
        let Some((inside, after)) = split_group(rest, '>') else {
            return Err(bad(rest));
        };
        let whole = &rest[..rest.len() - after.len()];
        let mut any = false;
        for profile in inside.split_ascii_whitespace() {
            let profile = profile.strip_prefix('!').unwrap_or(profile);
            if !is_valid_name(profile) {
                return Err(bad(whole));
            }
            any = true;
        }
        if !any {
            return Err(bad(whole));
        }
        has_profiles = true;
        rest = after.trim_ascii_start();
    }

    if !rest.is_empty() {
        return Err(RelationError::Trailing {
            text: rest.to_owned(),
            field: field.to_owned(),
        });
    }
    Ok(Parsed {
        relation: Relation {
            name: name.into(),
            arch,
            constraint,
        },
        arches,
        has_profiles,
    })
}

/// dpkg's `debarch_is_concerned`: whether an architecture restriction
/// list (the inside of `[...]`) includes `host`.
///
/// Scanned in order: a matching `!arch` excludes, a matching `arch`
/// includes; a non-matching `!arch` includes unless a later entry decides
/// otherwise; if nothing matched the host is excluded.
fn arch_is_concerned(host: &str, list: &str) -> bool {
    let mut seen = false;
    for arch in list.split_ascii_whitespace() {
        if let Some(negated) = arch.strip_prefix('!') {
            if arch_is(host, negated) {
                return false;
            }
            seen = true;
        } else if arch_is(host, arch) {
            return true;
        }
    }
    seen
}

/// dpkg's `debarch_is`: whether architecture `real` matches `alias`,
/// which is an architecture name or a wildcard such as `any`,
/// `linux-any`, `any-amd64` or `musl-linux-any`.
fn arch_is(real: &str, alias: &str) -> bool {
    if alias == real || alias == "any" {
        return true;
    }
    let Some(wildcard) = wildcard_tuple(alias) else {
        return false;
    };
    let Some(tuple) = arch_tuple(real) else {
        return false;
    };
    tuple
        .iter()
        .zip(wildcard.iter())
        .all(|(r, w)| *w == "any" || r == w)
}

/// dpkg's `debwildcard_to_debtuple`, for aliases containing `any`: the
/// (abi, libc, os, cpu) tuple, padded on the left with `any`. `None` for
/// plain architecture names (which only match themselves).
fn wildcard_tuple(alias: &str) -> Option<[&str; 4]> {
    let mut parts = alias.splitn(4, '-');
    let mut got = ["any"; 4];
    let mut n = 0;
    for (slot, part) in got.iter_mut().zip(&mut parts) {
        *slot = part;
        n += 1;
    }
    if !got[..n].contains(&"any") {
        return None;
    }
    // Right-align: "linux-any" is (any, any, linux, any).
    got.rotate_right(4 - n);
    for slot in &mut got[..4 - n] {
        *slot = "any";
    }
    Some(got)
}

/// The (abi, libc, os, cpu) tuple of a Debian architecture name, after
/// dpkg's `tupletable`. The CPU is not checked against `cputable`.
fn arch_tuple(arch: &str) -> Option<[&str; 4]> {
    let linux = |abi, cpu| [abi, "gnu", "linux", cpu];
    Some(match arch {
        "uclibc-linux-armel" => ["eabi", "uclibc", "linux", "arm"],
        "musl-linux-armhf" => ["eabihf", "musl", "linux", "arm"],
        "arm64ilp32" => linux("ilp32", "arm64"),
        "armhf" => linux("eabihf", "arm"),
        "armel" => linux("eabi", "arm"),
        "mipsn32r6el" => linux("abin32", "mips64r6el"),
        "mipsn32r6" => linux("abin32", "mips64r6"),
        "mipsn32el" => linux("abin32", "mips64el"),
        "mipsn32" => linux("abin32", "mips64"),
        "mips64r6el" | "mips64r6" | "mips64el" | "mips64" => {
            linux("abi64", arch)
        }
        "powerpcspe" => linux("spe", "powerpc"),
        "x32" => linux("x32", "amd64"),
        "kfreebsd-armhf" => ["eabihf", "gnu", "kfreebsd", "arm"],
        "uclinux-armel" => ["eabi", "uclibc", "uclinux", "arm"],
        "mint-m68k" => ["base", "tos", "mint", "m68k"],
        _ => {
            const PREFIXES: &[(&str, &str, &str)] = &[
                ("uclibc-linux-", "uclibc", "linux"),
                ("musl-linux-", "musl", "linux"),
                ("kfreebsd-", "gnu", "kfreebsd"),
                ("knetbsd-", "gnu", "knetbsd"),
                ("kopensolaris-", "gnu", "kopensolaris"),
                ("hurd-", "gnu", "hurd"),
                ("darwin-", "bsd", "darwin"),
                ("dragonflybsd-", "bsd", "dragonflybsd"),
                ("freebsd-", "bsd", "freebsd"),
                ("netbsd-", "bsd", "netbsd"),
                ("openbsd-", "bsd", "openbsd"),
                ("aix-", "sysv", "aix"),
                ("solaris-", "sysv", "solaris"),
                ("uclinux-", "uclibc", "uclinux"),
            ];
            for &(prefix, libc, os) in PREFIXES {
                if let Some(cpu) = arch.strip_prefix(prefix) {
                    return Some(["base", libc, os, cpu]);
                }
            }
            if arch.is_empty() || arch.contains('-') {
                return None;
            }
            linux("base", arch)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn deps(field: &str) -> Vec<Dependency> {
        deps_on(field, "amd64")
    }

    fn deps_on(field: &str, arch: &str) -> Vec<Dependency> {
        parse_dependencies(field, arch)
            .unwrap_or_else(|e| panic!("{field:?}: {e}"))
    }

    fn shown(deps: &[Dependency]) -> Vec<String> {
        deps.iter().map(ToString::to_string).collect()
    }

    fn err(field: &str) -> RelationError {
        match parse_dependencies(field, "amd64") {
            Ok(d) => panic!("{field:?} parsed as {d:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn version_ops() {
        let table = [
            ("<<", VersionOp::Lt),
            ("<=", VersionOp::Le),
            ("<", VersionOp::Le),
            ("=", VersionOp::Eq),
            (">=", VersionOp::Ge),
            (">", VersionOp::Ge),
            (">>", VersionOp::Gt),
        ];
        for (s, op) in table {
            assert_eq!(VersionOp::parse(s), Some(op), "{s}");
        }
        for bad in ["", "==", "=>", "=<", "<>", "!=", "<<=", "~"] {
            assert_eq!(VersionOp::parse(bad), None, "{bad}");
        }
        let shown: Vec<String> = [VersionOp::Lt, VersionOp::Le, VersionOp::Eq]
            .iter()
            .chain(&[VersionOp::Ge, VersionOp::Gt])
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["<<", "<=", "=", ">=", ">>"]);

        let (one, two) = (v("1.0"), v("2.0"));
        let same = v("1.00");
        assert!(VersionOp::Lt.matches(&one, &two));
        assert!(!VersionOp::Lt.matches(&one, &same));
        assert!(VersionOp::Le.matches(&one, &same));
        assert!(VersionOp::Eq.matches(&one, &same));
        assert!(!VersionOp::Eq.matches(&one, &two));
        assert!(VersionOp::Ge.matches(&two, &one));
        assert!(VersionOp::Ge.matches(&one, &same));
        assert!(VersionOp::Gt.matches(&two, &one));
        assert!(!VersionOp::Gt.matches(&one, &same));
    }

    #[test]
    fn realistic_depends() {
        let field = "libc6 (>= 2.34), libselinux1 (>= 3.1~), \
                     libzstd1 (>= 1.5.5), debconf (>= 0.5) | debconf-2.0";
        let d = deps(field);
        assert_eq!(d.len(), 4);
        assert_eq!(&*d[0].alternatives[0].name, "libc6");
        assert_eq!(
            d[0].alternatives[0].constraint,
            Some((VersionOp::Ge, v("2.34")))
        );
        assert_eq!(d[3].alternatives.len(), 2);
        assert_eq!(&*d[3].alternatives[1].name, "debconf-2.0");
        assert_eq!(d[3].alternatives[1].constraint, None);
        assert_eq!(
            shown(&d),
            [
                "libc6 (>= 2.34)",
                "libselinux1 (>= 3.1~)",
                "libzstd1 (>= 1.5.5)",
                "debconf (>= 0.5) | debconf-2.0",
            ]
        );
    }

    #[test]
    fn arch_qualifiers_and_ranges() {
        let d = deps("perl:any, python3 (<< 3.12), python3 (>= 3.11~)");
        assert_eq!(
            shown(&d),
            ["perl:any", "python3 (<< 3.12)", "python3 (>= 3.11~)"]
        );
        assert_eq!(d[0].alternatives[0].arch.as_deref(), Some("any"));
        let d = deps("gcc-13:amd64 (= 13.2.0-25), libfoo1:native");
        assert_eq!(d[0].alternatives[0].arch.as_deref(), Some("amd64"));
        assert_eq!(d[1].alternatives[0].arch.as_deref(), Some("native"));
        assert_eq!(shown(&d), ["gcc-13:amd64 (= 13.2.0-25)", "libfoo1:native"]);
    }

    #[test]
    fn multi_line_field() {
        // As in a Packages file: folded with a leading space per line.
        let field = "libc6 (>= 2.36),\n libgcc-s1 (>= 3.0),\n \
                     libstdc++6 (>= 13.1)\n | libstdc++6-13-dbg,\n \
                     zlib1g\t(>=\t1:1.2.0)\n";
        let d = deps(field);
        assert_eq!(
            shown(&d),
            [
                "libc6 (>= 2.36)",
                "libgcc-s1 (>= 3.0)",
                "libstdc++6 (>= 13.1) | libstdc++6-13-dbg",
                "zlib1g (>= 1:1.2.0)",
            ]
        );
    }

    #[test]
    fn whitespace_and_obsolete_forms() {
        let d = deps("  foo(>=1.0)  ,bar ( << 2 ) ,baz (<1), qux (> 1:2)");
        assert_eq!(
            shown(&d),
            ["foo (>= 1.0)", "bar (<< 2)", "baz (<= 1)", "qux (>= 1:2)"]
        );
    }

    #[test]
    fn empty_fields_and_items() {
        assert!(deps("").is_empty());
        assert!(deps("  \n ").is_empty());
        assert_eq!(shown(&deps("a, , b,")), ["a", "b"]);
        assert!(parse_provides("")
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty());
    }

    #[test]
    fn arch_restrictions() {
        let field = "foo [amd64], bar [!amd64], baz [i386 amd64] | qux, \
                     quux [!i386] | corge [i386]";
        assert_eq!(
            shown(&deps_on(field, "amd64")),
            ["foo", "baz | qux", "quux"]
        );
        assert_eq!(
            shown(&deps_on(field, "i386")),
            ["bar", "baz | qux", "corge"]
        );
        assert_eq!(shown(&deps_on(field, "arm64")), ["bar", "qux", "quux"]);

        // A mixed list (positive and negated): scanned in order like dpkg.
        let mixed = "a [amd64 !i386 linux-any]";
        assert_eq!(shown(&deps_on(mixed, "amd64")), ["a"]);
        assert!(deps_on(mixed, "i386").is_empty());
        assert_eq!(shown(&deps_on(mixed, "arm64")), ["a"]);
        assert_eq!(shown(&deps_on(mixed, "hurd-amd64")), ["a"]);

        let wild = "l [linux-any], k [kfreebsd-any], h [hurd-any], \
                    x [any-amd64], arm [any-arm], m [musl-linux-any], \
                    all [any], nl [!linux-any]";
        let on = |arch| shown(&deps_on(wild, arch));
        assert_eq!(on("amd64"), ["l", "x", "all"]);
        assert_eq!(on("x32"), ["l", "x", "all"]);
        assert_eq!(on("armhf"), ["l", "arm", "all"]);
        assert_eq!(on("armel"), ["l", "arm", "all"]);
        assert_eq!(on("arm64"), ["l", "all"]);
        assert_eq!(on("kfreebsd-amd64"), ["k", "x", "all", "nl"]);
        assert_eq!(on("hurd-i386"), ["h", "all", "nl"]);
        assert_eq!(on("musl-linux-amd64"), ["l", "x", "m", "all"]);

        // Restrictions between a constraint and the separator.
        let d = deps_on(
            "libc6 (>= 2.36) [linux-any] | libc0.1 [kfreebsd-any]",
            "amd64",
        );
        assert_eq!(shown(&d), ["libc6 (>= 2.36)"]);
    }

    #[test]
    fn build_profiles_are_ignored() {
        let field = "debhelper-compat (= 13), python3-pytest <!nocheck>, \
                     libfoo-dev [linux-any] <!stage1> <!nocheck cross>";
        assert_eq!(
            shown(&deps(field)),
            ["debhelper-compat (= 13)", "python3-pytest", "libfoo-dev"]
        );
    }

    #[test]
    fn satisfied_by_version() {
        let d = deps("python3 (<< 3.12), python3 (>= 3.11~), perl");
        let py = v("3.11.2-1+b1");
        assert!(d[0].alternatives[0].satisfied_by_version(&py));
        assert!(d[1].alternatives[0].satisfied_by_version(&py));
        assert!(!d[0].alternatives[0].satisfied_by_version(&v("3.12.1-1")));
        assert!(!d[1].alternatives[0].satisfied_by_version(&v("3.10.9")));
        assert!(d[1].alternatives[0].satisfied_by_version(&v("3.11~rc1")));
        assert!(d[2].alternatives[0].satisfied_by_version(&v("0.1")));
    }

    #[test]
    fn display_round_trips() {
        let fields = [
            "libc6 (>= 2.34), libselinux1 (>= 3.1~), \
             debconf (>= 0.5) | debconf-2.0",
            "perl:any, python3 (<< 3.12), python3 (>= 3.11~)",
            "foo:amd64 (= 1:2.3-4+b1) | bar (<= 1) | baz:native (>> 0)",
        ];
        for field in fields {
            let d = deps(field);
            let text = shown(&d).join(", ");
            assert_eq!(text, field);
            assert_eq!(deps(&text), d);
        }
    }

    #[test]
    fn bad_inputs() {
        let field = "libc6 (>> )";
        assert_eq!(
            err(field),
            RelationError::BadConstraint {
                constraint: "(>> )".into(),
                field: field.into(),
            }
        );
        // (field, variant, offending part)
        let cases = [
            ("a | | b", "EmptyAlternative", ""),
            ("a |", "EmptyAlternative", ""),
            ("| a", "EmptyAlternative", ""),
            ("-foo", "BadName", "-foo"),
            ("fo/o", "BadName", "fo/o"),
            ("(>= 1)", "BadName", ""),
            ("${misc:Depends}", "BadName", "${misc"),
            ("foo:", "BadArchQualifier", ":"),
            ("foo:a_b", "BadArchQualifier", ":a_b"),
            ("foo (>= 1.0", "BadConstraint", "(>= 1.0"),
            ("foo (1.0)", "BadConstraint", "(1.0)"),
            ("foo (== 1.0)", "BadConstraint", "(== 1.0)"),
            ("foo ()", "BadConstraint", "()"),
            ("foo (>= 1.0$)", "BadVersion", "(>= 1.0$)"),
            ("foo (>= a:1)", "BadVersion", "(>= a:1)"),
            ("foo [amd64", "BadArchRestriction", "[amd64"),
            ("foo []", "BadArchRestriction", "[]"),
            ("foo [!] | bar", "BadArchRestriction", "[!]"),
            ("foo <!nocheck", "BadProfileRestriction", "<!nocheck"),
            ("foo <>", "BadProfileRestriction", "<>"),
            ("foo bar", "Trailing", "bar"),
            ("foo (>= 1) (<< 2)", "Trailing", "(<< 2)"),
            ("foo [amd64] (>= 1)", "Trailing", "(>= 1)"),
        ];
        for (field, variant, part) in cases {
            let e = err(field);
            assert_eq!(describe(&e), (variant, part), "{field:?}: {e:?}");
            assert!(e.to_string().contains(&format!("{field:?}")), "{e}");
        }
    }

    /// The variant name and offending part of a parse error.
    fn describe(e: &RelationError) -> (&'static str, &str) {
        use RelationError as E;
        match e {
            E::EmptyAlternative { .. } => ("EmptyAlternative", ""),
            E::BadName { name, .. } => ("BadName", name),
            E::BadArchQualifier { qualifier, .. } => {
                ("BadArchQualifier", qualifier)
            }
            E::BadConstraint { constraint, .. } => {
                ("BadConstraint", constraint)
            }
            E::BadVersion { constraint, .. } => ("BadVersion", constraint),
            E::BadArchRestriction { restriction, .. } => {
                ("BadArchRestriction", restriction)
            }
            E::BadProfileRestriction { restriction, .. } => {
                ("BadProfileRestriction", restriction)
            }
            E::Trailing { text, .. } => ("Trailing", text),
            E::ProvidesAlternative { .. } => ("ProvidesAlternative", ""),
            E::ProvidesOperator { op, .. } => ("ProvidesOperator", op.as_str()),
            E::ProvidesQualifier { relation, .. } => {
                ("ProvidesQualifier", relation)
            }
        }
    }

    #[test]
    fn provides() {
        let field = "mail-transport-agent, default-mta (= 1:4.96-15), \n \
                     python3-foo (= 1.0)";
        let p = parse_provides(field).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.len(), 3);
        assert_eq!(&*p[0].name, "mail-transport-agent");
        assert_eq!(p[0].version, None);
        assert_eq!(p[1].version, Some(v("1:4.96-15")));
        let text: Vec<String> = p.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "mail-transport-agent",
                "default-mta (= 1:4.96-15)",
                "python3-foo (= 1.0)"
            ]
        );

        assert_eq!(
            parse_provides("foo (>= 1.0)"),
            Err(RelationError::ProvidesOperator {
                op: VersionOp::Ge,
                field: "foo (>= 1.0)".into(),
            })
        );
        assert!(matches!(
            parse_provides("foo | bar"),
            Err(RelationError::ProvidesAlternative { .. })
        ));
        assert!(matches!(
            parse_provides("foo:any"),
            Err(RelationError::ProvidesQualifier { .. })
        ));
        assert!(matches!(
            parse_provides("foo [amd64]"),
            Err(RelationError::ProvidesQualifier { .. })
        ));
        assert!(matches!(
            parse_provides("foo (= )"),
            Err(RelationError::BadConstraint { .. })
        ));
    }

    #[test]
    fn error_display() {
        let show = |field: &str| err(field).to_string();
        assert_eq!(
            show("libc6 (>> )"),
            r#"bad version constraint "(>> )" in "libc6 (>> )""#
        );
        assert_eq!(show("a | | b"), r#"empty alternative in "a | | b""#);
        assert_eq!(show("a, -b"), r#"bad package name "-b" in "a, -b""#);
        assert_eq!(show("a:"), r#"bad architecture qualifier ":" in "a:""#);
        assert_eq!(
            show("a (= 1_0)"),
            r#"bad version in constraint "(= 1_0)" in "a (= 1_0)""#
        );
        assert_eq!(
            show("a [amd64"),
            r#"bad architecture restriction "[amd64" in "a [amd64""#
        );
        assert_eq!(
            show("a <>"),
            r#"bad build-profile restriction "<>" in "a <>""#
        );
        assert_eq!(
            show("a b,\n c"),
            r#"unexpected "b" after relation in "a b,\n c""#
        );
        let provides = |field: &str| match parse_provides(field) {
            Ok(p) => panic!("{field:?} parsed as {p:?}"),
            Err(e) => e.to_string(),
        };
        assert_eq!(
            provides("a | b"),
            r#"alternatives are not allowed in provides "a | b""#
        );
        assert_eq!(
            provides("a (>= 1)"),
            r#"only "=" is allowed in provides, got ">=" in "a (>= 1)""#
        );
        assert_eq!(
            provides("a:any"),
            r#"qualifier or restriction in provides "a:any" in "a:any""#
        );

        // The version error stays reachable as the source.
        let e = err("a (= 1_0)");
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(
            source.as_deref(),
            Some(r#"invalid character '_' in upstream version of "1_0""#)
        );
    }
}
