//! A recipe (TOML) with `--set` overrides, parsed into the file model
//! (`recipe::parse`) and resolved (`recipe::resolve::resolve`) against
//! an empty apt configuration. The input is the recipe's text, then
//! after a NUL byte one override per line.
//!
//! The two keys that name files to read (`extends` and
//! `access.root_authorized_keys_file`) are left out: following them is
//! the feature (a recipe is the operator's own file), and a fuzzer
//! naming `/dev/zero` would only test the host.

#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lunforge::recipe;

/// An empty directory as the host's root: no apt sources.
fn apt_root() -> &'static Path {
    static ROOT: OnceLock<tempfile::TempDir> = OnceLock::new();
    ROOT.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
        .path()
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (text, sets) = input.split_once('\0').unwrap_or((input, ""));
    let overrides: Vec<String> = sets.lines().map(String::from).collect();
    let Ok(doc) = text.parse::<toml_edit::DocumentMut>() else {
        return;
    };
    if doc.contains_key("extends") {
        return;
    }
    let Ok(mut file) = recipe::parse("fuzz.toml", text, &overrides) else {
        return;
    };
    if let Some(access) = file.access.as_mut() {
        access.root_authorized_keys_file = None;
    }
    if let Ok(resolved) =
        recipe::resolve::resolve("fuzz.toml", None, file, apt_root())
    {
        let _ = resolved.to_toml();
    }
});
