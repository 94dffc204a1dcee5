//! The command line's own documentation: the shell completion scripts of
//! `lunforge completions` and the manual pages of `lunforge man` (what
//! `make man` runs).
//!
//! Oracles: bash itself (`bash -n`, then the script sourced and its
//! completion function called as readline calls it, with `COMP_WORDS`),
//! and `groff -man -ww -z` (every warning on, no output), which must
//! have nothing to say about any page. The expected commands come from
//! `lunforge --help`, not from a list kept here.

use std::path::Path;
use std::process::Command;

use crate::support::{lunforge, require, run};

/// The visible subcommands, from `lunforge --help`'s Commands section.
fn subcommands() -> Vec<String> {
    let help = lunforge(["--help"]).ok().stdout;
    let section = help
        .split("Commands:\n")
        .nth(1)
        .and_then(|s| s.split("\n\n").next())
        .unwrap_or_else(|| panic!("no Commands section:\n{help}"));
    let names: Vec<String> = section
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(str::to_string)
        .collect();
    assert!(names.len() > 5, "{names:?}");
    names
}

/// What bash's completion offers for the words `words` (the last one
/// being completed), with `lunforge completions bash` sourced.
fn bash_completes(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let line = words.join(" ");
    let program = format!(
        "source '{}'\n\
         spec=$(complete -p lunforge) || exit 3\n\
         fn=${{spec##*-F }}; fn=${{fn%% *}}\n\
         COMP_WORDS=({words})\n\
         COMP_CWORD={cword}\n\
         COMP_LINE='{line}'\n\
         COMP_POINT=${{#COMP_LINE}}\n\
         \"$fn\" lunforge '{cur}' '{prev}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        words = quoted.join(" "),
        cword = words.len() - 1,
        cur = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    let out = run(Command::new("bash").args(["-c", &program]), "bash");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completion_is_valid_and_completes_commands_and_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("lunforge.bash");
    std::fs::write(&script, lunforge(["completions", "bash"]).ok().stdout)
        .expect("write the script");
    run(Command::new("bash").arg("-n").arg(&script), "bash");

    let offered = bash_completes(&script, &["lunforge", "bu"]);
    assert_eq!(offered, ["build"], "lunforge bu<TAB>");
    let offered = bash_completes(&script, &["lunforge", ""]);
    for name in subcommands() {
        assert!(offered.contains(&name), "{name} not in {offered:?}");
    }
    assert!(!offered.contains(&"man".to_string()), "hidden: {offered:?}");
    let offered = bash_completes(&script, &["lunforge", "recipe", "s"]);
    assert_eq!(offered, ["show"], "lunforge recipe s<TAB>");
    let offered = bash_completes(&script, &["lunforge", "build", "--form"]);
    assert_eq!(offered, ["--format"], "lunforge build --form<TAB>");
    let offered =
        bash_completes(&script, &["lunforge", "build", "--format", ""]);
    assert_eq!(offered, ["image", "tar"], "--format <TAB>");
}

/// Every shell clap_complete knows gets a script naming every command;
/// an unknown shell is refused.
#[test]
fn every_shell_gets_a_script() {
    let names = subcommands();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = lunforge(["completions", shell]).ok().stdout;
        for name in &names {
            assert!(script.contains(name.as_str()), "{shell}: no {name}");
        }
    }
    let err = lunforge(["completions", "tcsh"]);
    assert_eq!(err.code, 2, "{err:?}");
    assert!(err.stderr.contains("possible values"), "{}", err.stderr);
}

#[test]
fn man_pages_pass_groff_without_a_warning() {
    require("groff", "groff-base");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("man");
    let said = lunforge(["man".as_ref(), out.as_os_str()]).ok().stdout;
    let mut pages: Vec<String> = std::fs::read_dir(&out)
        .expect("the man directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into())
        .collect();
    pages.sort();
    assert!(
        said.starts_with(&format!("wrote {} manual pages in ", pages.len())),
        "{said}"
    );
    assert!(pages.contains(&"lunforge.1".to_string()), "{pages:?}");
    for name in subcommands() {
        let page = format!("lunforge-{name}.1");
        assert!(pages.contains(&page), "no {page} in {pages:?}");
    }
    for page in ["lunforge-recipe-show.1", "lunforge-iscsi-discover.1"] {
        assert!(pages.contains(&page.to_string()), "no {page}: {pages:?}");
    }
    for page in &pages {
        let path = out.join(page);
        let checked = run(
            Command::new("groff").args(["-man", "-ww", "-z"]).arg(&path),
            "groff-base",
        );
        assert!(
            checked.stderr.is_empty(),
            "groff warns about {page}:\n{}",
            String::from_utf8_lossy(&checked.stderr)
        );
        // What a reader sees: the examples, dashes intact.
        let text = run(
            Command::new("groff")
                .args(["-man", "-Tutf8", "-P", "-cbou"])
                .arg(&path),
            "groff-base",
        );
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("EXAMPLES"), "{page}:\n{text}");
        assert!(text.contains("\n           lunforge "), "{page}:\n{text}");
    }
    let build = run(
        Command::new("groff")
            .args(["-man", "-Tutf8", "-P", "-cbou"])
            .arg(out.join("lunforge-build.1")),
        "groff-base",
    );
    let build = String::from_utf8_lossy(&build.stdout);
    assert!(
        build.contains("lunforge build --set network.address=192.0.2.60/24"),
        "{build}"
    );
}
