//! deb822 control paragraphs: the one syntax behind `Release`, `Packages`,
//! apt's `*.sources` and dpkg's `status`.
//!
//! Spec: Debian Policy §5.1 (syntax of control files) and deb822(5).
//!
//! Written by hand because the parser sits on the hot path: a `Packages`
//! index of a whole suite holds ~65,000 paragraphs (tens of MiB), and this
//! reader borrows field values straight from the input without copying,
//! splitting lines with `memchr`. The general-purpose crates we looked at
//! (`deb822-lossless`, `debian-control`) keep a lossless syntax tree, which
//! is what an editor needs but several times slower for a read-only scan.

use memchr::memchr;

/// Errors of the deb822 reader; each names the line that failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A line that is neither `Field: value`, a continuation, a comment nor
    /// blank.
    #[error("line {line}: expected \"Field: value\", found {text:?}")]
    NotAField {
        /// 1-based line number in the input.
        line: usize,
        /// The offending line, truncated to 60 bytes.
        text: String,
    },
    /// A continuation line (starting with a space) before any field.
    #[error("line {line}: continuation line without a field")]
    OrphanContinuation {
        /// 1-based line number in the input.
        line: usize,
    },
}

/// Result of deb822 parsing.
pub type Result<T> = std::result::Result<T, Error>;

/// One field of a paragraph: its name and its raw value.
///
/// For multi-line fields the value keeps its continuation lines verbatim
/// (newlines and leading spaces included); [`Paragraph::get`] returns it
/// trimmed at both ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// Field name as written (matching is case-insensitive).
    pub name: &'a str,
    /// Raw value after the colon, with surrounding whitespace trimmed.
    pub value: &'a str,
}

/// A paragraph: fields in input order, borrowed from the input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph<'a> {
    fields: Vec<Field<'a>>,
    /// 1-based line number of the first field (for error messages).
    line: usize,
}

impl<'a> Paragraph<'a> {
    /// The value of `name` (case-insensitive), if present.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value)
    }

    /// All fields in input order.
    pub fn fields(&self) -> &[Field<'a>] {
        &self.fields
    }

    /// 1-based line of the paragraph's first field in its input.
    pub fn line(&self) -> usize {
        self.line
    }
}

/// Iterator over the paragraphs of a deb822 text.
///
/// Comment lines (`#` in column 0) are skipped, as apt does for
/// `*.sources`; Packages files never contain them.
#[derive(Debug, Clone)]
pub struct Paragraphs<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Paragraphs<'a> {
    /// Iterate over the paragraphs of `text`.
    pub fn new(text: &'a str) -> Self {
        Paragraphs {
            text,
            pos: 0,
            line: 0,
        }
    }

    /// Next line without its newline, or `None` at the end.
    fn next_line(&mut self) -> Option<&'a str> {
        let rest = self.text.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        self.line += 1;
        let (line, advance) = match memchr(b'\n', rest.as_bytes()) {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        self.pos += advance;
        Some(line.strip_suffix('\r').unwrap_or(line))
    }
}

impl<'a> Iterator for Paragraphs<'a> {
    type Item = Result<Paragraph<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut para = Paragraph::default();
        // Start (byte offset) of the value of the last field, so that a
        // continuation extends it to a longer slice of the input.
        let mut open: Option<usize> = None;
        loop {
            let start = self.pos;
            let Some(line) = self.next_line() else { break };
            if line.trim().is_empty() {
                if para.fields.is_empty() {
                    continue;
                }
                break;
            }
            if line.starts_with('#') {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                let Some(vstart) = open else {
                    return Some(Err(Error::OrphanContinuation {
                        line: self.line,
                    }));
                };
                let end = start + line.len();
                if let Some(last) = para.fields.last_mut() {
                    last.value = self.text[vstart..end].trim();
                }
                continue;
            }
            let Some(colon) = memchr(b':', line.as_bytes()) else {
                return Some(Err(Error::NotAField {
                    line: self.line,
                    text: line.chars().take(60).collect(),
                }));
            };
            if para.fields.is_empty() {
                para.line = self.line;
            }
            let name = line[..colon].trim_end();
            let vstart = start + colon + 1;
            open = Some(vstart);
            para.fields.push(Field {
                name,
                value: line[colon + 1..].trim(),
            });
        }
        if para.fields.is_empty() {
            None
        } else {
            Some(Ok(para))
        }
    }
}

/// The whitespace-separated words of a (possibly multi-line) field value.
pub fn words(value: &str) -> impl Iterator<Item = &str> {
    value.split_ascii_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Package: base-files\nVersion: 13.8\n\
Description: Debian base system miscellaneous files\n This package \
contains\n .\n more\n\n\n# comment\nPackage: dash\nEssential: yes\n";

    #[test]
    fn splits_paragraphs_and_fields() {
        let paras: Vec<_> =
            Paragraphs::new(TEXT).collect::<Result<_>>().unwrap();
        assert_eq!(paras.len(), 2);
        assert_eq!(paras[0].get("package"), Some("base-files"));
        assert_eq!(paras[0].get("VERSION"), Some("13.8"));
        assert_eq!(
            paras[0].get("Description"),
            Some(
                "Debian base system miscellaneous files\n This package \
contains\n .\n more"
            )
        );
        assert_eq!(paras[1].get("Essential"), Some("yes"));
        assert_eq!(paras[1].line(), 10);
        assert_eq!(paras[1].get("Version"), None);
    }

    #[test]
    fn crlf_and_no_trailing_newline() {
        let t = "A: 1\r\nB: two\r\n words\r\n\r\nA: 3";
        let p: Vec<_> = Paragraphs::new(t).collect::<Result<_>>().unwrap();
        assert_eq!(p[0].get("B"), Some("two\r\n words"));
        assert_eq!(words(p[0].get("B").unwrap()).count(), 2);
        assert_eq!(p[1].get("A"), Some("3"));
    }

    #[test]
    fn rejects_bad_lines() {
        let mut it = Paragraphs::new("A: 1\nnot a field\n");
        assert_eq!(
            it.next(),
            Some(Err(Error::NotAField {
                line: 2,
                text: "not a field".into()
            }))
        );
        let mut it = Paragraphs::new(" orphan\n");
        assert_eq!(it.next(), Some(Err(Error::OrphanContinuation { line: 1 })));
    }

    #[test]
    fn error_messages() {
        let e = Error::NotAField {
            line: 3,
            text: "x".into(),
        };
        assert_eq!(
            e.to_string(),
            "line 3: expected \"Field: value\", found \"x\""
        );
        let e = Error::OrphanContinuation { line: 1 };
        assert_eq!(e.to_string(), "line 1: continuation line without a field");
    }
}
