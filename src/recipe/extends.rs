//! `extends = "FILE"`: a recipe written on top of another.
//!
//! Two Xen hosts share almost everything (the suite, the packages, the
//! disk layout, the boot entry, the guests they run) and differ in a
//! name, an address and an initiator name. TOML has no include, so a
//! recipe may name a base recipe in a top-level `extends` key, relative
//! to its own directory. The base is read first (and its own base before
//! it), then the recipe's tables are laid over it key by key: a table
//! merges with the base's table, any other value (a string, a list, an
//! array of tables such as `[[partitions]]`) replaces the base's value
//! whole. A list is never appended to, so what a recipe says is what it
//! gets, whatever the base held.
//!
//! Errors keep their real location: a key's file and line are looked up
//! in the layer that last set it ([`Layers::locate`]).

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, ImDocument, Item, Table};

use super::{first_line, line_of, Error, Result};

/// How deep `extends` may nest; deeper is surely a cycle.
const MAX_DEPTH: usize = 8;

/// The files a recipe was made of, the recipe itself first.
#[derive(Debug, Default)]
pub struct Layers(Vec<Layer>);

/// One file of a recipe.
#[derive(Debug)]
struct Layer {
    /// Its name in messages.
    name: String,
    /// Its text.
    text: String,
}

impl Layers {
    /// `FILE:LINE` of the layer that sets `key` (a dotted path as serde
    /// names it, `partitions[1].size`), or of the nearest table that
    /// holds it; the recipe's own file when no layer has it.
    pub fn locate(&self, key: &str) -> Option<String> {
        let path = key_path(key);
        for layer in &self.0 {
            let Ok(doc) = ImDocument::parse(layer.text.as_str()) else {
                continue;
            };
            if let Some(offset) = find(doc.as_table(), &path) {
                let line = line_of(&layer.text, Some(offset));
                return Some(format!("{}:{line}", layer.name));
            }
        }
        None
    }

    /// Whether the recipe has a base.
    pub fn extended(&self) -> bool {
        self.0.len() > 1
    }
}

/// Parse `text` (the recipe `name`, at `path` when it is a file) with
/// every base it extends merged below it. The `extends` key is removed.
pub fn load(
    name: &str,
    path: Option<&Path>,
    text: &str,
) -> Result<(DocumentMut, Layers)> {
    let mut layers = Layers::default();
    let doc = layer(name, path, text, &mut layers, 0)?;
    Ok((doc, layers))
}

fn layer(
    name: &str,
    path: Option<&Path>,
    text: &str,
    layers: &mut Layers,
    depth: usize,
) -> Result<DocumentMut> {
    let mut doc: DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| Error::Syntax {
                file: name.into(),
                line: line_of(text, e.span().map(|s| s.start)),
                message: first_line(e.message()),
            })?;
    layers.0.push(Layer {
        name: name.into(),
        text: text.into(),
    });
    let Some(item) = doc.remove("extends") else {
        return Ok(doc);
    };
    let key_error = |message: String| Error::Key {
        location: format!("{name}:{}", line_of(text, text.find("extends"))),
        key: "extends".into(),
        message,
    };
    let Some(base) = item.as_str() else {
        return Err(key_error("expected the path of a recipe file".into()));
    };
    if depth >= MAX_DEPTH {
        return Err(key_error(format!(
            "more than {MAX_DEPTH} recipes extend one another: a cycle?"
        )));
    }
    let base_path = match path.and_then(Path::parent) {
        Some(dir) => dir.join(base),
        None => PathBuf::from(base),
    };
    let base_text = std::fs::read_to_string(&base_path).map_err(|e| {
        key_error(format!("cannot read {}: {e}", base_path.display()))
    })?;
    let base_name = base_path.display().to_string();
    let mut merged =
        layer(&base_name, Some(&base_path), &base_text, layers, depth + 1)?;
    overlay(merged.as_table_mut(), doc.as_table());
    Ok(merged)
}

/// Lay `top` over `base`: tables merge, everything else replaces.
fn overlay(base: &mut Table, top: &Table) {
    for (key, item) in top.iter() {
        match (base.get_mut(key), item) {
            (Some(Item::Table(b)), Item::Table(t)) => overlay(b, t),
            _ => {
                base.insert(key, item.clone());
            }
        }
    }
}

/// One step of a key path.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// `partitions[1].size` → `partitions`, 1, `size`.
fn key_path(key: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            out.push(Step::Key(rest[..i].to_string()));
            rest = &rest[i..];
            while let Some(end) = rest.find(']') {
                if let Ok(n) = rest[1..end].parse() {
                    out.push(Step::Index(n));
                }
                rest = &rest[end + 1..];
            }
        } else if !rest.is_empty() {
            out.push(Step::Key(rest.to_string()));
        }
    }
    out
}

/// The source offset of the deepest key along `path` in `table`, if
/// the first step is there at all.
fn find(table: &Table, path: &[Step]) -> Option<usize> {
    /// Where the walk is: an item, or one table of an array of tables
    /// (which is not an `Item` of its own).
    #[derive(Clone, Copy)]
    enum At<'a> {
        Item(&'a Item),
        Table(&'a Table),
    }
    let Some(Step::Key(first)) = path.first() else {
        return None;
    };
    let (key, item) = table.get_key_value(first)?;
    let mut offset = key.span().map(|s| s.start);
    let mut at = At::Item(item);
    for step in &path[1..] {
        let next = match (step, at) {
            (Step::Key(k), At::Table(t))
            | (Step::Key(k), At::Item(Item::Table(t))) => {
                t.get_key_value(k).map(|(k, i)| (k.span(), At::Item(i)))
            }
            (Step::Index(n), At::Item(Item::ArrayOfTables(a))) => {
                a.get(*n).map(|t| (t.span(), At::Table(t)))
            }
            _ => None,
        };
        match next {
            Some((span, next)) => {
                offset = span.map(|s| s.start).or(offset);
                at = next;
            }
            None => break,
        }
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(base: &str, top: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("base.toml"), base).unwrap();
        let top_path = dir.path().join("top.toml");
        std::fs::write(&top_path, top).unwrap();
        (dir, top_path)
    }

    #[test]
    fn tables_merge_and_values_replace() {
        let (_d, top) = files(
            "[image]\nsize = \"8GiB\"\ntable = \"gpt\"\n\n\
             [system]\nsuite = \"trixie\"\ninclude = [\"a\", \"b\"]\n\n\
             [[partitions]]\nuse = \"root\"\nsize = \"rest\"\n",
            "extends = \"base.toml\"\n\n[image]\nname = \"h1\"\n\n\
             [system]\ninclude = [\"c\"]\n",
        );
        let text = std::fs::read_to_string(&top).unwrap();
        let (doc, layers) = load("top.toml", Some(&top), &text).unwrap();
        let v: toml::Value = toml::from_str(&doc.to_string()).unwrap();
        assert_eq!(v["image"]["name"].as_str(), Some("h1"));
        assert_eq!(v["image"]["size"].as_str(), Some("8GiB"));
        assert_eq!(v["system"]["suite"].as_str(), Some("trixie"));
        let inc = v["system"]["include"].as_array().unwrap();
        assert_eq!(inc.len(), 1, "lists replace, never append: {inc:?}");
        assert_eq!(v["partitions"][0]["use"].as_str(), Some("root"));
        assert!(v.get("extends").is_none());
        assert!(layers.extended());
    }

    #[test]
    fn keys_are_located_in_the_layer_that_sets_them() {
        let (_d, top) = files(
            "[system]\nsuite = \"trixie\"\n\n[image]\nsize = \"8GiB\"\n",
            "extends = \"base.toml\"\n\n[image]\nname = \"h1\"\n",
        );
        let text = std::fs::read_to_string(&top).unwrap();
        let (_, layers) = load("top.toml", Some(&top), &text).unwrap();
        assert_eq!(layers.locate("image.name").as_deref(), Some("top.toml:4"));
        let base = layers.locate("system.suite").unwrap();
        assert!(base.ends_with("base.toml:2"), "{base}");
    }

    #[test]
    fn a_missing_base_or_a_cycle_is_an_error_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.toml");
        std::fs::write(&a, "extends = \"a.toml\"\n").unwrap();
        let e = load("a.toml", Some(&a), "extends = \"a.toml\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.toml:1: extends: more than 8"), "{e}");
        let e = load("b.toml", Some(&a), "extends = \"none.toml\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("extends: cannot read"), "{e}");
        assert!(e.contains("none.toml"), "{e}");
        let e = load("b.toml", Some(&a), "extends = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected the path of a recipe file"), "{e}");
    }

    #[test]
    fn key_paths_split_indices() {
        assert_eq!(
            key_path("partitions[1].size"),
            vec![
                Step::Key("partitions".into()),
                Step::Index(1),
                Step::Key("size".into())
            ]
        );
    }
}
