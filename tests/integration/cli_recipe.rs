//! Recipes through the command line: errors name the file, the line and
//! the key; `--set` overrides are applied and shown; `lunforge recipe
//! show` of the embedded recipe is pinned by a golden file.
//!
//! Oracles: line numbers counted in recipe texts written here, the TOML
//! parser of the `toml` crate reading `recipe show`'s output back, and
//! `golden/recipe-show.toml` (reviewed by hand; its origin is in
//! `fixtures/README.md`). Set `LUNFORGE_BLESS=1` to rewrite the golden
//! file after an intended change, then review the diff.

use std::path::{Path, PathBuf};

use crate::support::lunforge;

const MIRROR: &str = "http://mirror.invalid/debian";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn minimal(size: &str, system_extra: &str) -> String {
    format!(
        "[image]\n\
         name = \"guest1\"\n\
         size = \"{size}\"\n\
         \n\
         [system]\n\
         suite = \"trixie\"\n\
         architecture = \"amd64\"\n\
         mirror = \"{MIRROR}\"\n\
         {system_extra}"
    )
}

fn show(args: &[&str]) -> toml::Table {
    let mut all = vec!["recipe", "show"];
    all.extend(args);
    let out = lunforge(all).ok();
    toml::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!("recipe show is not TOML: {e}\n{}", out.stdout)
    })
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    // Line 9 is the misspelt key.
    let p = write(dir.path(), "typo.toml", &minimal("1GiB", "suit = \"x\"\n"));
    let err =
        lunforge(["recipe".as_ref(), "check".as_ref(), p.as_os_str()]).fails();
    assert!(
        err.starts_with(&format!(
            "lunforge: error: {}:9: system.suit: unknown field `suit`",
            p.display()
        )),
        "{err}"
    );
    // Every command that reads a recipe says the same.
    for cmd in ["show", "check"] {
        let e =
            lunforge(["recipe".as_ref(), cmd.as_ref(), p.as_os_str()]).fails();
        assert_eq!(e, err);
    }
    let e = lunforge(["resolve".as_ref(), p.as_os_str()]).fails();
    assert_eq!(e, err, "resolve reports the recipe error before anything");
}

#[test]
fn bad_size_names_image_size() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "size.toml", &minimal("8 GB s", ""));
    let err =
        lunforge(["recipe".as_ref(), "show".as_ref(), p.as_os_str()]).fails();
    assert!(
        err.starts_with(&format!(
            "lunforge: error: {}:3: image.size: ",
            p.display()
        )) && err.contains("\"8 GB s\""),
        "{err}"
    );
}

#[test]
fn syntax_error_names_file_and_line() {
    // Line 9 has a bare word where a string belongs.
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "syntax.toml",
        &minimal("1GiB", "variant = minbase\n"),
    );
    let err =
        lunforge(["recipe".as_ref(), "show".as_ref(), p.as_os_str()]).fails();
    assert!(
        err.starts_with(&format!("lunforge: error: {}:9", p.display())),
        "{err}"
    );
}

#[test]
fn set_overrides_exactly_the_keys_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "r.toml", &minimal("1GiB", ""));
    let path = p.to_string_lossy();
    let base = show(&[&path]);
    let over = show(&[
        &path,
        "--set",
        "system.suite=bookworm",
        "--set",
        "image.size=2GiB",
        "--set",
        "system.include=[\"openssh-server\", \"vim\"]",
    ]);
    let mut want = base.clone();
    want["system"]["suite"] = "bookworm".into();
    want["image"]["size"] = "2GiB".into();
    want["system"]["include"] =
        toml::Value::Array(vec!["openssh-server".into(), "vim".into()]);
    assert_eq!(over, want, "only the three keys changed");
    let check = lunforge([
        "recipe",
        "check",
        &path,
        "--set",
        "system.suite=bookworm",
        "--set",
        "system.variant=important",
    ])
    .ok();
    assert_eq!(
        check.stdout,
        format!("{path}: ok (bookworm amd64 important, 0 partitions)\n")
    );
}

#[test]
fn set_errors_name_the_override() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "r.toml", &minimal("1GiB", ""));
    let path = p.to_string_lossy();
    let err =
        lunforge(["recipe", "show", &path, "--set", "system.suit=bookworm"])
            .fails();
    assert!(
        err.starts_with(
            "lunforge: error: --set system.suit=bookworm: system.suit: \
             unknown field `suit`"
        ),
        "{err}"
    );
    let err = lunforge(["recipe", "show", &path, "--set", "image.size=8 GB s"])
        .fails();
    assert_in(&err, &["--set image.size=8 GB s", "image.size", "8 GB s"]);
}

#[track_caller]
fn assert_in(text: &str, parts: &[&str]) {
    crate::support::assert_in_order(text, parts);
}

#[test]
fn embedded_recipe_show_matches_the_golden_file() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/integration/golden/recipe-show.toml");
    let out = lunforge(["recipe", "show", "--mirror", MIRROR]).ok();
    if std::env::var_os("LUNFORGE_BLESS").is_some() {
        std::fs::write(&golden, &out.stdout).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_else(|e| {
        panic!("{}: {e} (LUNFORGE_BLESS=1 writes it)", golden.display())
    });
    assert!(
        out.stdout == want,
        "`lunforge recipe show --mirror {MIRROR}` differs from {}:\n\
         --- golden\n{want}\n--- now\n{}",
        golden.display(),
        out.stdout
    );
    // What is shown is a recipe lunforge reads back to the same result.
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "shown.toml", &strip_origin(&out.stdout));
    let again =
        lunforge(["recipe".as_ref(), "show".as_ref(), p.as_os_str()]).ok();
    assert_eq!(strip_origin(&again.stdout), strip_origin(&out.stdout));
}

/// `mirror_origin`, `updates_origin` and `security_origin` are
/// output-only fields; drop them to read the shown recipe back.
fn strip_origin(text: &str) -> String {
    text.lines()
        .filter(|l| {
            !["mirror", "updates", "security"]
                .iter()
                .any(|k| l.starts_with(&format!("{k}_origin = ")))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The field's documentation (`System::mirror_origin`: "`--mirror`, the
/// recipe, or the host's apt sources file and line") says where the
/// mirror came from; a mirror given with `--mirror` did not come from
/// the recipe.
#[test]
fn mirror_origin_names_the_mirror_option() {
    let shown = show(&["--mirror", MIRROR]);
    assert_eq!(shown["system"]["mirror"].as_str(), Some(MIRROR));
    let origin = shown["system"]["mirror_origin"].as_str().unwrap_or("");
    assert!(
        origin.contains("--mirror"),
        "mirror_origin is {origin:?} for a mirror given with --mirror"
    );
}

/// The recipe errors a new user meets first: `recipe check` and `build`
/// refuse them alike, at the key's line, saying what would be valid,
/// and `build` before any download (its mirror here refuses every
/// connection, so a download would fail with another message).
#[test]
fn check_and_build_refuse_alike_before_any_download() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}\n[[partitions]]\nuse = \"swap\"\nsize = \"512MiB\"\n\n\
         [[partitions]]\nuse = \"root\"\nsize = \"rest\"\n\n\
         [network]\nhostname = \"guest1\"\naddress = \"192.0.2.50/24\"\n\
         gateway = \"192.0.2.1\"\n",
        minimal("8GiB", "")
    )
    .replace("http://mirror.invalid/debian", "http://127.0.0.1:9/debian");
    let p = write(dir.path(), "r.toml", &text);
    let path = p.to_string_lossy().to_string();
    let out = dir.path().join("out");
    let out = out.to_string_lossy();
    // (override, the line it replaces, what the message must say)
    let cases = [
        ("network.hostname=a;rm -rf /", 19, "is not a host name (labels of letters"),
        ("network.address=300.1.1.1/24", 20, "expected an address with a prefix length, e.g."),
        ("network.gateway=10.9.9.9", 21, "10.9.9.9 is outside network.address's network 192.0.2.0/24"),
        ("image.size=1KiB", 3, "the 1KiB disk cannot hold 1MiB for the partition table + 512MiB (partitions[0], swap) + at least 1MiB (partitions[1], root, \"rest\"): image.size must be at least 514MiB"),
    ];
    for (set, line, says) in cases {
        let (key, value) = set.split_once('=').unwrap();
        // In the file: the error names the file and the line.
        let lines: Vec<String> = text
            .lines()
            .enumerate()
            .map(|(i, l)| {
                let field = key.rsplit('.').next().unwrap();
                if i + 1 == line {
                    assert!(l.starts_with(field), "line {line} is {l:?}");
                    format!("{field} = {}", toml::Value::from(value))
                } else {
                    l.to_string()
                }
            })
            .collect();
        let bad = write(dir.path(), "bad.toml", &(lines.join("\n") + "\n"));
        let bad = bad.to_string_lossy().to_string();
        for cmd in [
            vec!["recipe", "check", &bad],
            vec!["build", &bad, "-o", &out],
        ] {
            let err = lunforge(&cmd).fails();
            let want = format!("lunforge: error: {bad}:{line}: {key}: ");
            assert!(err.starts_with(&want), "{cmd:?}: {err}");
            assert!(err.contains(says), "{cmd:?}: {err}");
        }
        // With --set: the error names the override.
        for cmd in [
            vec!["recipe", "check", &path, "--set", set],
            vec!["build", &path, "-o", &out, "--set", set],
        ] {
            let err = lunforge(&cmd).fails();
            let want = format!("lunforge: error: --set {set}: {key}: ");
            assert!(err.starts_with(&want), "{cmd:?}: {err}");
            assert!(err.contains(says), "{cmd:?}: {err}");
        }
    }
    assert!(!dir.path().join("out").exists(), "nothing written");
    lunforge(["recipe", "check", &path]).ok();
}
