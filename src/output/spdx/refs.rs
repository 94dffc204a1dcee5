//! The SBOM's own licenses: a `LicenseRef-` for each license that is
//! not on the SPDX License List, with its text in
//! `hasExtractedLicensingInfos` (SPDX 2.3 §10).
//!
//! Packages name such licenses by their copyright files' short names
//! (`public-domain`, `permissive`), and two packages may mean different
//! texts by one name. So a reference stands for a name *and* its text:
//! `LicenseRef-<name>` while one text goes by that name in the whole
//! guest, `LicenseRef-<name>-<8 hex digits of the text's SHA-256>` for
//! each when several do. A license whose copyright file gives no text
//! gets a sentence saying so, the same for every package that names
//! it. The identifiers depend on the set of (name, text) pairs alone,
//! never on the order packages come in.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::dep5::Declared;
use super::license::{idstring, Term};
use super::ExtractedLicense;

/// A license not on the list, as one package names it.
type Use = (String, String);

/// The document's `LicenseRef-` identifiers.
#[derive(Debug, Default)]
pub(super) struct Refs {
    /// (name as written, text) → identifier.
    ids: BTreeMap<Use, String>,
}

impl Refs {
    /// The references that the licenses of `declared` need.
    pub(super) fn new<'a>(
        declared: impl IntoIterator<Item = &'a Declared>,
    ) -> Refs {
        let mut uses = BTreeSet::new();
        for d in declared {
            let Declared::Licenses { all, texts } = d else {
                continue;
            };
            for term in all.iter().flat_map(|e| e.terms()) {
                if let Term::Other(name) = term {
                    uses.insert((name.clone(), text(name, texts)));
                }
            }
        }
        let mut by_base: BTreeMap<String, Vec<&Use>> = BTreeMap::new();
        for u in &uses {
            by_base.entry(idstring(&u.0)).or_default().push(u);
        }
        let mut ids = BTreeMap::new();
        for (base, list) in by_base {
            let alone = list.len() == 1;
            for u in list {
                let id = if alone {
                    format!("LicenseRef-{base}")
                } else {
                    let digest = Sha256::digest(u.1.as_bytes());
                    format!("LicenseRef-{base}-{}", hex::encode(&digest[..4]))
                };
                ids.insert(u.clone(), id);
            }
        }
        Refs { ids }
    }

    /// The identifier of `name` as a package whose copyright file has
    /// `texts` uses it.
    pub(super) fn id(
        &self,
        name: &str,
        texts: &BTreeMap<String, String>,
    ) -> String {
        let key = (name.to_string(), text(name, texts));
        // `new` saw every use the document makes; a name it did not see
        // would still get a valid identifier.
        self.ids
            .get(&key)
            .cloned()
            .unwrap_or_else(|| format!("LicenseRef-{}", idstring(name)))
    }

    /// `hasExtractedLicensingInfos`, by identifier.
    pub(super) fn extracted(&self) -> Vec<ExtractedLicense> {
        let mut v: Vec<ExtractedLicense> = self
            .ids
            .iter()
            .map(|((name, text), id)| ExtractedLicense {
                license_id: id.clone(),
                name: name.clone(),
                extracted_text: text.clone(),
            })
            .collect();
        v.sort_by(|a, b| a.license_id.cmp(&b.license_id));
        v
    }
}

/// The text of `name` in a copyright file's `texts`, or the sentence
/// that stands for it.
fn text(name: &str, texts: &BTreeMap<String, String>) -> String {
    texts
        .get(&name.to_ascii_lowercase())
        .cloned()
        .unwrap_or_else(|| {
            format!(
                "A Debian copyright file names this license \"{name}\" and \
             does not give its text.\n"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::spdx::dep5::declared;

    #[test]
    fn one_name_two_texts_two_references() {
        let a = declared(
            "Format: x\n\nFiles: *\nLicense: permissive\n Do anything.\n\n\
             Files: b\nLicense: public-domain\n",
        );
        let b = declared(
            "Format: x\n\nFiles: *\nLicense: permissive\n Do nearly \
             anything.\n\nFiles: c\nLicense: public-domain\n",
        );
        let refs = Refs::new([&a, &b]);
        let ex = refs.extracted();
        let ids: Vec<&str> = ex.iter().map(|e| e.license_id.as_str()).collect();
        assert_eq!(ids.len(), 3, "{ids:?}");
        assert_eq!(ids[2], "LicenseRef-public-domain");
        assert!(ids[0].starts_with("LicenseRef-permissive-"), "{ids:?}");
        assert_ne!(ids[0], ids[1]);
        let Declared::Licenses { texts, .. } = &a else {
            panic!()
        };
        let id = refs.id("permissive", texts);
        let e = ex.iter().find(|e| e.license_id == id).unwrap();
        assert_eq!(e.extracted_text, "Do anything.\n");
        assert!(ex[2].extracted_text.contains("\"public-domain\""));
        // The order the packages come in does not matter.
        assert_eq!(Refs::new([&b, &a]).extracted(), ex);
    }
}
