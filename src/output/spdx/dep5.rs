//! A package's `/usr/share/doc/PKG/copyright` in Debian's
//! machine-readable format (copyright-format 1.0, "DEP-5"): the
//! licenses it declares.
//!
//! Spec: <https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/>.
//! The file is deb822 ([`crate::repo::deb822`]); it is machine-readable
//! when its first paragraph (the header) has a `Format` field. A
//! `License` field's first line is a license expression over short
//! names: `or` (a choice) and `and` (both), `and` binding tighter,
//! unless a comma stands before the operator, which makes it bind
//! loosest (`GPL-2+ or Artistic, and BSD-3-clause` is
//! `(GPL-2+ or Artistic) and BSD-3-clause`); a name may carry an
//! exception, `GPL-2+ with OpenSSL exception`. The lines after it are
//! the license's text, a line of ` .` standing for an empty line. A
//! paragraph with `License` and no `Files` (a stand-alone License
//! paragraph) gives the text of the short name its first line names.
//!
//! What a package declares is every license the header and the Files
//! paragraphs name, together: the file describes the source package, so
//! for one binary package this may name more than it holds, never less.
//! A file that is not machine-readable, or one whose expression does
//! not parse, declares nothing we can state ([`Declared::Unknown`]).
//!
//! Written by hand: the grammar is a dozen lines, and the deb822 reader
//! is the crate's own; no crate reads DEP-5 license expressions.

use std::collections::BTreeMap;

use super::license::Term;
use crate::repo::deb822::Paragraphs;

/// A DEP-5 license expression.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expr {
    /// One license.
    Term(Term),
    /// Every one of these.
    And(Vec<Expr>),
    /// Any one of these.
    Or(Vec<Expr>),
}

impl Expr {
    /// Every term of the expression, in order.
    pub fn terms(&self) -> Vec<&Term> {
        match self {
            Expr::Term(t) => vec![t],
            Expr::And(v) | Expr::Or(v) => {
                v.iter().flat_map(Expr::terms).collect()
            }
        }
    }

    /// The expression in SPDX syntax, `name` spelling each term;
    /// parentheses where `OR` stands inside `AND` (which binds tighter).
    pub fn render(&self, name: &impl Fn(&Term) -> String) -> String {
        match self {
            Expr::Term(t) => name(t),
            Expr::And(v) => v
                .iter()
                .map(|e| match e {
                    Expr::Or(_) => format!("({})", e.render(name)),
                    _ => e.render(name),
                })
                .collect::<Vec<_>>()
                .join(" AND "),
            Expr::Or(v) => v
                .iter()
                .map(|e| e.render(name))
                .collect::<Vec<_>>()
                .join(" OR "),
        }
    }
}

/// What a copyright file says of a package's licenses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Declared {
    /// The licenses named, all of them applying (deduplicated, sorted),
    /// and the texts of the short names the file gives one for (the
    /// key in lower case: short names are case-insensitive).
    Licenses {
        /// The expressions.
        all: Vec<Expr>,
        /// Short name (lower case) → its text.
        texts: BTreeMap<String, String>,
    },
    /// Nothing that can be stated, and why.
    Unknown(String),
}

/// Read a copyright file.
pub fn declared(text: &str) -> Declared {
    let mut paragraphs = Paragraphs::new(text);
    let header = match paragraphs.next() {
        Some(Ok(p)) if p.get("Format").is_some() => p,
        _ => return Declared::Unknown("not machine-readable".into()),
    };
    let mut all = Vec::new();
    let mut texts = BTreeMap::new();
    for p in std::iter::once(Ok(header)).chain(paragraphs) {
        let Ok(p) = p else {
            return Declared::Unknown("not valid deb822".into());
        };
        let Some(field) = p.get("License") else {
            continue;
        };
        let (first, body) = match field.split_once('\n') {
            Some((f, b)) => (f.trim(), Some(license_text(b))),
            None => (field.trim(), None),
        };
        let expr = match parse(first) {
            Ok(e) => e,
            Err(why) => {
                return Declared::Unknown(format!(
                    "License {first:?} (line {}): {why}",
                    p.line()
                ))
            }
        };
        let files = p.get("Files").is_some();
        // A text belongs to a single name: a stand-alone paragraph's, or
        // a Files paragraph's own.
        if let (Some(body), Expr::Term(_)) = (body, &expr) {
            texts.entry(first.to_ascii_lowercase()).or_insert(body);
        }
        if files || p.get("Format").is_some() {
            all.push(expr);
        }
    }
    if all.is_empty() {
        return Declared::Unknown(
            "no License in its header or Files paragraphs".into(),
        );
    }
    all.sort();
    all.dedup();
    Declared::Licenses { all, texts }
}

/// The text of a `License` field after its first line: each line's one
/// leading space removed, ` .` an empty line.
fn license_text(body: &str) -> String {
    let lines: Vec<&str> = body
        .lines()
        .map(|l| {
            let l = l.strip_prefix([' ', '\t']).unwrap_or(l);
            if l.trim_end() == "." {
                ""
            } else {
                l.trim_end()
            }
        })
        .collect();
    let mut text = lines.join("\n").trim_matches('\n').to_string();
    text.push('\n');
    text
}

/// Tokens of a license expression: words, and commas as their own.
fn tokens(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for word in s.split_whitespace() {
        let mut rest = word;
        while let Some(i) = rest.find(',') {
            if i > 0 {
                out.push(&rest[..i]);
            }
            out.push(",");
            rest = &rest[i + 1..];
        }
        if !rest.is_empty() {
            out.push(rest);
        }
    }
    out
}

/// Parse the first line of a `License` field.
pub fn parse(s: &str) -> Result<Expr, String> {
    let toks = tokens(s);
    let mut p = Parser { toks: &toks, at: 0 };
    let e = p.comma_level()?;
    match p.peek() {
        None => Ok(e),
        Some(t) => Err(format!("unexpected {t:?}")),
    }
}

struct Parser<'a> {
    toks: &'a [&'a str],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.at).copied()
    }

    fn take(&mut self) -> Option<&str> {
        let t = self.toks.get(self.at).copied();
        self.at += usize::from(t.is_some());
        t
    }

    fn at_word(&self, word: &str) -> bool {
        self.peek().is_some_and(|t| t.eq_ignore_ascii_case(word))
    }

    /// `clause (, and|or clause)*`, left to right.
    fn comma_level(&mut self) -> Result<Expr, String> {
        let mut e = self.or_level()?;
        while self.peek() == Some(",") {
            self.at += 1;
            let and = if self.at_word("and") {
                true
            } else if self.at_word("or") {
                false
            } else {
                return Err("a comma not followed by \"and\" or \"or\"".into());
            };
            self.at += 1;
            let rhs = self.or_level()?;
            e = join(e, rhs, and);
        }
        Ok(e)
    }

    /// `conj (or conj)*`.
    fn or_level(&mut self) -> Result<Expr, String> {
        let mut e = self.and_level()?;
        while self.at_word("or") {
            self.at += 1;
            let rhs = self.and_level()?;
            e = join(e, rhs, false);
        }
        Ok(e)
    }

    /// `term (and term)*`.
    fn and_level(&mut self) -> Result<Expr, String> {
        let mut e = self.term()?;
        while self.at_word("and") {
            self.at += 1;
            let rhs = self.term()?;
            e = join(e, rhs, true);
        }
        Ok(e)
    }

    /// `NAME [with WORD… exception]`.
    fn term(&mut self) -> Result<Expr, String> {
        let name = match self.take() {
            None => return Err("a license name is missing".into()),
            Some(t)
                if t == ","
                    || ["and", "or", "with"]
                        .iter()
                        .any(|k| k.eq_ignore_ascii_case(t)) =>
            {
                return Err(format!("{t:?} where a license name goes"))
            }
            Some(t) => t.to_string(),
        };
        if !self.at_word("with") {
            return Ok(Expr::Term(Term::new(&name, None)));
        }
        self.at += 1;
        let start = self.at;
        while !self.at_word("exception") {
            if self.take().is_none() {
                return Err("\"with\" without \"exception\"".into());
            }
        }
        let words = self.toks[start..self.at].join(" ");
        self.at += 1;
        if words.is_empty() {
            return Err("an exception without a name".into());
        }
        Ok(Expr::Term(Term::new(&name, Some(&words))))
    }
}

/// `a and b` (or `a or b`), flattening a run of the same operator.
fn join(a: Expr, b: Expr, and: bool) -> Expr {
    match (a, and) {
        (Expr::And(mut v), true) => {
            v.push(b);
            Expr::And(v)
        }
        (Expr::Or(mut v), false) => {
            v.push(b);
            Expr::Or(v)
        }
        (a, true) => Expr::And(vec![a, b]),
        (a, false) => Expr::Or(vec![a, b]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expression as SPDX, `LicenseRef-` standing for the terms not
    /// on the list.
    fn spdx(s: &str) -> String {
        parse(s).unwrap().render(&|t| match t {
            Term::Spdx(id) => id.clone(),
            Term::Other(n) => {
                format!("LicenseRef-{}", super::super::license::idstring(n))
            }
        })
    }

    #[test]
    fn expressions_follow_the_precedence_of_the_spec() {
        assert_eq!(spdx("GPL-2+"), "GPL-2.0-or-later");
        assert_eq!(
            spdx("GPL-2+ or Artistic"),
            "GPL-2.0-or-later OR LicenseRef-Artistic"
        );
        // `and` binds tighter than `or`…
        assert_eq!(
            spdx("GPL-2+ or Artistic and BSD-3-clause"),
            "GPL-2.0-or-later OR LicenseRef-Artistic AND BSD-3-Clause"
        );
        // …unless a comma stands before it.
        assert_eq!(
            spdx("GPL-2+ or Artistic-2.0, and BSD-3-clause"),
            "(GPL-2.0-or-later OR Artistic-2.0) AND BSD-3-Clause"
        );
        assert_eq!(spdx("MIT and Zlib, or ISC"), "MIT AND Zlib OR ISC");
        assert_eq!(
            spdx("GPL-2 with Linux-syscall-note exception or MIT"),
            "GPL-2.0-only WITH Linux-syscall-note OR MIT"
        );
        assert_eq!(
            spdx("LGPL-3+ OR GPL-2+"),
            "LGPL-3.0-or-later OR GPL-2.0-or-later"
        );
        assert_eq!(
            spdx("GPL-2+ with Font exception"),
            "LicenseRef-GPL-2plus-with-Font-exception"
        );
    }

    #[test]
    fn malformed_expressions_are_errors() {
        for bad in [
            "",
            "GPL-2+ or",
            "and MIT",
            "GPL-2+, LGPL-2+",
            "BSD 3-clause",
            "GPL-2+ with OpenSSL",
            "GPL-2+ with exception",
            "MIT or or ISC",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    const COPYRIGHT: &str = "\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: foo
Source: https://example.org/foo

Files: *
Copyright: 2001 Someone
License: GPL-2+ or Artistic

Files: lib/*
Copyright: 2002 Other
License: Expat

Files: debian/*
Copyright: 2003 Packager
License: GPL-2+
Comment: the same license as the upstream's, named again

Files: extra/*
Copyright: 2004 Another
License: permissive
 Do what you like with this file,
 .
   as long as this notice stays.

License: Artistic
 This program is free software; you can redistribute it
 under the terms of the \"Artistic License\".
";

    #[test]
    fn a_package_declares_every_files_paragraph() {
        let Declared::Licenses { all, texts } = declared(COPYRIGHT) else {
            panic!("not read")
        };
        let rendered: Vec<String> = all
            .iter()
            .map(|e| {
                e.render(&|t| match t {
                    Term::Spdx(id) => id.clone(),
                    Term::Other(n) => format!("<{n}>"),
                })
            })
            .collect();
        // Each distinct expression once, in a fixed order.
        assert_eq!(
            rendered,
            [
                "GPL-2.0-or-later",
                "MIT",
                "<permissive>",
                "GPL-2.0-or-later OR <Artistic>"
            ]
        );
        assert_eq!(
            texts["permissive"],
            "Do what you like with this file,\n\n  as long as this notice stays.\n"
        );
        assert!(texts["artistic"].starts_with("This program is free"));
        assert_eq!(texts.len(), 2);
    }

    #[test]
    fn files_that_say_nothing_certain_are_unknown() {
        for (text, why) in [
            (
                "This package was debianized by someone.\n\nIt is GPL.\n",
                "not machine-readable",
            ),
            (
                "Files: *\nCopyright: me\nLicense: MIT\n",
                "not machine-readable",
            ),
            ("", "not machine-readable"),
            (
                "Format: x\n\nFiles: *\nLicense: BSD 3-clause\n",
                "License \"BSD 3-clause\" (line 3): unexpected \"3-clause\"",
            ),
            (
                "Format: x\n\nFiles: *\nCopyright: me\n",
                "no License in its header or Files paragraphs",
            ),
            ("Format: x\n\n not a field\n", "not valid deb822"),
        ] {
            assert_eq!(declared(text), Declared::Unknown(why.into()), "{text}");
        }
    }

    #[test]
    fn the_header_license_counts() {
        let text = "Format: x\nLicense: ISC\n\nFiles: *\nLicense: ISC\n";
        let Declared::Licenses { all, .. } = declared(text) else {
            panic!("not read")
        };
        assert_eq!(all, [Expr::Term(Term::Spdx("ISC".into()))]);
    }
}
