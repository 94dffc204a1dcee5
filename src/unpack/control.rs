//! The control archive (`control.tar*`): `./control` and the other
//! control members (deb(5), deb-control(5), and Debian Policy §3.1 for
//! the maintainer scripts, `conffiles`, `triggers`, …).
//!
//! Every member must be a plain file directly under `./`; they are small
//! and are read into memory, within [`MAX_CONTROL_BYTES`] in total.

use std::collections::BTreeMap;
use std::io::{self, Read};

use crate::repo::deb822::Paragraphs;
use crate::tree::node::PERMISSION_BITS;
use crate::tree::GuestPath;

use super::limits::{drain, Counted, Limit, MAX_CONTROL_BYTES};
use super::{ControlError, ControlFile, Cx, Error, Result};

/// The control archive of a package.
#[derive(Debug)]
pub(super) struct Control {
    /// The `Package` field.
    pub(super) name: String,
    /// The text of `./control`.
    pub(super) text: String,
    /// The other members by name.
    pub(super) files: BTreeMap<String, ControlFile>,
}

/// Fields every binary package's control file has (deb-control(5)).
const REQUIRED: [&str; 3] = ["Package", "Version", "Architecture"];

/// Read the control archive `member` from its decompressed bytes `raw`.
pub(super) fn read(
    cx: &Cx<'_>,
    member: &str,
    raw: impl Read,
) -> Result<Control> {
    let mut archive = tar::Archive::new(Counted::new(raw, &cx.budget));
    let mut text = None;
    let mut files = BTreeMap::new();
    let mut total: u64 = 0;
    let mut entries = archive.entries().map_err(|e| cx.stream(member, e))?;
    while let Some(entry) = cx.budget.headers(|| entries.next()) {
        let mut entry = entry.map_err(|e| cx.stream(member, e))?;
        cx.budget.entry().map_err(|l| cx.limit(l))?;
        let raw_name = entry.path_bytes().into_owned();
        let name = std::str::from_utf8(&raw_name)
            .map_err(|_| cx.not_utf8("control member name", &raw_name))?;
        let path = GuestPath::from_member(name).map_err(|e| cx.bad_path(e))?;
        let bad = |reason| Error::BadControlMember {
            package: cx.package.into(),
            member: name.into(),
            reason,
        };
        let kind = entry.header().entry_type();
        if path.is_root() && kind.is_dir() {
            drain(&mut entry).map_err(|e| cx.stream(member, e))?;
            continue;
        }
        if !(kind.is_file() || kind.is_contiguous()) {
            return Err(bad("not a regular file"));
        }
        if !path.parent().is_some_and(|p| p.is_root()) {
            return Err(bad("not directly under ./"));
        }
        let at = format!("{member}: {name}");
        let mode = entry.header().mode().map_err(|e| cx.stream(&at, e))?;
        let size = entry.size();
        total = total.saturating_add(size);
        if total > MAX_CONTROL_BYTES {
            return Err(cx.limit(Limit::ControlBytes));
        }
        cx.budget.fits(size).map_err(|l| cx.limit(l))?;
        // OK to unwrap: the size is at most MAX_CONTROL_BYTES.
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        entry
            .read_to_end(&mut data)
            .map_err(|e| cx.stream(&at, e))?;
        if u64::try_from(data.len()).ok() != Some(size) {
            let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
            return Err(cx.stream(&at, eof));
        }
        // OK to unwrap: a path below the root has a file name.
        let file_name = path.file_name().unwrap_or_default().to_owned();
        if file_name == "control" {
            if text.is_some() {
                return Err(bad("appears twice"));
            }
            text = Some(String::from_utf8(data).map_err(|_| {
                Error::BadControl {
                    package: cx.package.into(),
                    source: ControlError::NotUtf8,
                }
            })?);
            continue;
        }
        let file = ControlFile {
            data,
            mode: mode & PERMISSION_BITS,
        };
        if files.insert(file_name, file).is_some() {
            return Err(bad("appears twice"));
        }
    }
    // Read to the end of the compressed stream, so that its checksum
    // (gzip CRC-32, xz and zstd check) is verified too.
    io::copy(&mut archive.into_inner(), &mut io::sink())
        .map_err(|e| cx.stream(member, e))?;

    let text = text.ok_or_else(|| Error::MissingControl {
        package: cx.package.into(),
    })?;
    let name = package_name(cx, &text)?;
    Ok(Control { name, text, files })
}

/// Check the control file (one paragraph with the required fields) and
/// return its `Package`.
fn package_name(cx: &Cx<'_>, text: &str) -> Result<String> {
    let bad = |source| Error::BadControl {
        package: cx.package.into(),
        source,
    };
    let paragraphs = Paragraphs::new(text)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(ControlError::Syntax(e)))?;
    let [para] = paragraphs.as_slice() else {
        return Err(bad(ControlError::Paragraphs(paragraphs.len())));
    };
    for field in REQUIRED {
        if para.get(field).map_or(true, str::is_empty) {
            return Err(Error::MissingControlField {
                package: cx.package.into(),
                field,
            });
        }
    }
    // OK to unwrap: checked just above.
    Ok(para.get("Package").unwrap_or_default().to_owned())
}
