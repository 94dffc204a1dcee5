//! `--set key.path=value`: overrides applied to the TOML document before it
//! is typed, so an override is checked exactly like a key in the file.
//!
//! Paths are dotted keys; a number selects an element of an array of
//! tables (`partitions.1.size=2GiB`, counting from 0), also written as
//! the messages name it (`partitions[1].size=2GiB`). The value is read
//! as a TOML value when it parses as one (`true`, `3`, `["a", "b"]`) and
//! as a plain string otherwise (`bookworm`, `8GiB`).

use toml_edit::{DocumentMut, Item, Table, TableLike, Value};

/// A `--set` argument that cannot be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--set {arg}: {reason}")]
pub struct Error {
    /// The argument as given.
    pub arg: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Apply one `key.path=value` override to `doc`.
pub fn apply(doc: &mut DocumentMut, arg: &str) -> Result<(), Error> {
    let fail = |reason: String| Error {
        arg: arg.into(),
        reason,
    };
    let (path, raw) = arg
        .split_once('=')
        .ok_or_else(|| fail("expected key.path=value".into()))?;
    let path = path.trim().replace('[', ".").replace(']', "");
    let keys: Vec<&str> = path.split('.').collect();
    if keys.iter().any(|k| k.is_empty()) {
        return Err(fail("empty key in path".into()));
    }
    let mut table: &mut dyn TableLike = doc.as_table_mut();
    let mut i = 0;
    while i + 1 < keys.len() {
        let key = keys[i];
        match keys[i + 1].parse::<usize>() {
            Ok(index) => {
                table = nth_table(table, key, index).map_err(fail)?;
                i += 2;
            }
            Err(_) => {
                table = subtable(table, key).map_err(fail)?;
                i += 1;
            }
        }
    }
    let last = keys[keys.len() - 1];
    if i == keys.len() {
        return Err(fail(format!("path ends in an index: {path}")));
    }
    table.insert(last, Item::Value(parse_value(raw.trim())));
    Ok(())
}

/// The table under `key`, created when missing.
fn subtable<'a>(
    table: &'a mut dyn TableLike,
    key: &str,
) -> Result<&'a mut dyn TableLike, String> {
    if table.get(key).is_none() {
        table.insert(key, Item::Table(Table::new()));
    }
    table
        .get_mut(key)
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| format!("{key} is not a table"))
}

/// Element `index` of the array of tables under `key`.
fn nth_table<'a>(
    table: &'a mut dyn TableLike,
    key: &str,
    index: usize,
) -> Result<&'a mut dyn TableLike, String> {
    let array = table
        .get_mut(key)
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(|| format!("{key} is not an array of tables"))?;
    let len = array.len();
    array
        .get_mut(index)
        .map(|t| t as &mut dyn TableLike)
        .ok_or_else(|| {
            format!("{key} has {len} entries, no index {index} (from 0)")
        })
}

/// A TOML value if `raw` parses as one, else the string itself.
fn parse_value(raw: &str) -> Value {
    raw.parse::<Value>().unwrap_or_else(|_| Value::from(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str =
        "[image]\nname = \"a\"\n\n[[partitions]]\nsize = \"1G\"\n\n\
[[partitions]]\nsize = \"rest\"\n";

    fn applied(args: &[&str]) -> Result<String, Error> {
        let mut doc: DocumentMut = DOC.parse().unwrap();
        for a in args {
            apply(&mut doc, a)?;
        }
        Ok(doc.to_string())
    }

    #[test]
    fn sets_values_of_each_kind() {
        let out = applied(&[
            "image.name=web2",
            "partitions.1.size=2GiB",
            "partitions[0].label=swap",
            "system.include=[\"vim\", \"less\"]",
            "network.dhcp=true",
        ])
        .unwrap();
        let v: toml::Value = toml::from_str(&out).unwrap();
        assert_eq!(v["image"]["name"].as_str(), Some("web2"));
        assert_eq!(v["partitions"][1]["size"].as_str(), Some("2GiB"));
        assert_eq!(v["partitions"][0]["size"].as_str(), Some("1G"));
        assert_eq!(v["partitions"][0]["label"].as_str(), Some("swap"));
        assert_eq!(v["system"]["include"][1].as_str(), Some("less"));
        assert_eq!(v["network"]["dhcp"].as_bool(), Some(true));
    }

    #[test]
    fn rejects_bad_paths() {
        let e = applied(&["partitions.5.size=1G"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--set partitions.5.size=1G: partitions has 2 entries, no index \
             5 (from 0)"
        );
        assert!(applied(&["image.name"]).is_err());
        assert!(applied(&["image..name=x"]).is_err());
        assert!(applied(&["image.name.x=1"]).is_err());
        assert!(applied(&["partitions.0=1"]).is_err());
    }
}
