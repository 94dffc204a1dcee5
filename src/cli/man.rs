//! The manual pages, made from the clap definitions by `clap_mangen`:
//! `lunforge.1` and one page per subcommand (`lunforge-build.1`,
//! `lunforge-recipe-show.1`, …), as git and cargo ship theirs.
//!
//! `clap_mangen` writes the title, NAME, SYNOPSIS, DESCRIPTION, OPTIONS
//! and SUBCOMMANDS sections. Its own rendering of the text after the
//! options (an EXTRA section of filled lines) would run the examples
//! together, so the EXAMPLES section is rendered here from the same
//! text `--help` ends with ([`super::examples`]): each `# ` line a
//! paragraph, the command lines below it unfilled and indented, escaped
//! by the `roff` crate `clap_mangen` itself uses. A subcommand's page
//! ends with SEE ALSO naming its parent's. Pages carry no date, so they
//! are the same bytes every time.
//!
//! The pages are generated (`make man`, by the hidden `lunforge man DIR`),
//! not committed: they would go stale with each help text. The test
//! `cli_docs` checks them with `groff -man -ww -z`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap_mangen::roff::{roman, Roff};
use clap_mangen::Man;

use super::examples::HEADING;

/// A page that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory could not be made, or a page not written into it.
    #[error("manual page {path}: {source}")]
    Write {
        /// The page, or the directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

/// Result of writing the pages.
pub type Result<T> = std::result::Result<T, Error>;

/// Write the page of `cmd` and of each of its visible subcommands, at
/// any depth, into `dir` (made if missing), each replaced atomically;
/// their paths, the command's own first.
pub fn write_all(cmd: clap::Command, dir: &Path) -> Result<Vec<PathBuf>> {
    let write = |path: &Path, source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| write(dir, e))?;
    let mut written = Vec::new();
    for (name, text) in pages(cmd).map_err(|e| write(dir, e))? {
        let path = dir.join(name);
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .map_err(|e| write(&path, e))?;
        tmp.write_all(&text).map_err(|e| write(&path, e))?;
        tmp.persist(&path).map_err(|e| write(&path, e.error))?;
        written.push(path);
    }
    Ok(written)
}

/// Every page: its file name and its text, the command's first and
/// then its subcommands' in the order they are declared.
pub fn pages(cmd: clap::Command) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    // As `clap_mangen::generate_to`: `lunforge help` has no page, and a
    // built command gives subcommands their `lunforge-…` names.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    // Every page's footer names the program and its version, as the
    // top page's does (a subcommand has no version of its own).
    let source = format!(
        "{} {}",
        cmd.get_name(),
        cmd.get_version().unwrap_or_default()
    );
    let mut out = Vec::new();
    collect(&cmd, None, &source, &mut out)?;
    Ok(out)
}

fn collect(
    cmd: &clap::Command,
    parent: Option<&str>,
    source: &str,
    out: &mut Vec<(String, Vec<u8>)>,
) -> std::io::Result<()> {
    let man = Man::new(cmd.clone()).source(source);
    let mut text = Vec::new();
    render(&man, cmd, parent, &mut text)?;
    out.push((man.get_filename(), text));
    let name = display_name(cmd);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub, Some(name), source, out)?;
    }
    Ok(())
}

/// `lunforge-recipe-show` for `recipe show`.
fn display_name(cmd: &clap::Command) -> &str {
    cmd.get_display_name().unwrap_or_else(|| cmd.get_name())
}

/// One page: clap_mangen's sections, then EXAMPLES, then SEE ALSO (a
/// subcommand's parent) or the version (the top page).
fn render(
    man: &Man,
    cmd: &clap::Command,
    parent: Option<&str>,
    w: &mut dyn Write,
) -> std::io::Result<()> {
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(w)?;
    }
    let mut roff = Roff::new();
    if let Some(after) = cmd.get_after_help() {
        examples(&mut roff, &after.to_string());
    }
    match parent {
        Some(parent) => {
            roff.control("SH", ["SEE ALSO"]);
            roff.text([roman(format!("{parent}(1)"))]);
        }
        None => {
            roff.control("SH", ["VERSION"]);
            let version = cmd.get_version().unwrap_or_default();
            roff.text([roman(format!("v{version}"))]);
        }
    }
    w.write_all(roff.to_roff().as_bytes())
}

/// The EXAMPLES section of the text `--help` ends with: each `# ` line
/// a paragraph, the commands under it unfilled and indented.
fn examples(roff: &mut Roff, text: &str) {
    let mut lines = text.lines().map(str::trim);
    if lines.next() != Some(HEADING) {
        return;
    }
    roff.control("SH", ["EXAMPLES"]);
    let mut in_commands = false;
    for line in lines {
        match line.strip_prefix("# ") {
            Some(comment) => {
                if in_commands {
                    end_commands(roff);
                    in_commands = false;
                }
                roff.control("PP", []);
                roff.text([roman(comment)]);
            }
            None => {
                if !in_commands {
                    roff.control("RS", ["4"]);
                    roff.control("nf", []);
                    in_commands = true;
                }
                roff.text([roman(line)]);
            }
        }
    }
    if in_commands {
        end_commands(roff);
    }
}

fn end_commands(roff: &mut Roff) {
    roff.control("fi", []);
    roff.control("RE", []);
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::Cli;

    fn all() -> Vec<(String, String)> {
        pages(Cli::command())
            .expect("render")
            .into_iter()
            .map(|(n, t)| (n, String::from_utf8(t).expect("utf-8")))
            .collect()
    }

    /// One page per visible command, at any depth, named after its
    /// path; the hidden `man` and clap's `help` have none.
    #[test]
    fn a_page_per_visible_command() {
        fn names(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
            out.push(format!("{prefix}.1"));
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                names(sub, &format!("{prefix}-{}", sub.get_name()), out);
            }
        }
        let mut want = Vec::new();
        names(&Cli::command(), "lunforge", &mut want);
        let got: Vec<String> = all().into_iter().map(|(n, _)| n).collect();
        assert_eq!(got, want);
        for name in ["lunforge-build.1", "lunforge-recipe-show.1"] {
            assert!(got.iter().any(|n| n == name), "{name}: {got:?}");
        }
        assert!(!got.iter().any(|n| n.contains("-man") || n.contains("help")));
    }

    #[test]
    fn every_page_has_its_examples() {
        for (name, text) in all() {
            let at = text
                .find("\n.SH EXAMPLES\n")
                .unwrap_or_else(|| panic!("{name}: no EXAMPLES:\n{text}"));
            let examples = &text[at..];
            assert!(examples.contains("\n.nf\nlunforge "), "{name}");
            assert!(!examples.contains("\n# "), "{name}: {examples}");
            assert!(!text.contains("EXTRA"), "{name}");
        }
    }

    /// A command line keeps its dashes as `\-` (copied from the page,
    /// it runs) and its lines unfilled.
    #[test]
    fn examples_are_escaped_and_unfilled() {
        let mut roff = Roff::new();
        examples(
            &mut roff,
            "Examples:\n  # Build\n  lunforge build -o out\n  lunforge x\n  \
             # Again\n  lunforge y",
        );
        assert_eq!(
            roff.to_roff(),
            ".SH EXAMPLES\n.PP\nBuild\n.RS 4\n.nf\n\
             lunforge build \\-o out\nlunforge x\n.fi\n.RE\n\
             .PP\nAgain\n.RS 4\n.nf\nlunforge y\n.fi\n.RE\n"
        );
    }

    #[test]
    fn subcommand_pages_name_their_parent() {
        let all = all();
        let page = |n: &str| {
            all.iter().find(|(name, _)| name == n).expect(n).1.clone()
        };
        assert!(page("lunforge-recipe-show.1")
            .ends_with(".SH \"SEE ALSO\"\nlunforge\\-recipe(1)\n"));
        assert!(page("lunforge.1").contains("\n.SH VERSION\n"));
        let version = env!("CARGO_PKG_VERSION");
        let footer = format!(" 1  \"lunforge {version}\"");
        for (name, text) in &all {
            let title = text.lines().find(|l| l.starts_with(".TH "));
            assert!(
                title.is_some_and(|t| t.trim_end().ends_with(&footer)),
                "{name}: {title:?}"
            );
        }
    }

    #[test]
    fn pages_are_the_same_bytes_every_time() {
        assert_eq!(all(), all());
    }

    #[test]
    fn write_all_replaces_pages_in_a_new_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("man");
        let paths = write_all(Cli::command(), &out).expect("write");
        let again = write_all(Cli::command(), &out).expect("write again");
        assert_eq!(paths, again);
        let mut files: Vec<_> = std::fs::read_dir(&out)
            .expect("read_dir")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        let mut want = paths.clone();
        want.sort();
        assert_eq!(files, want, "only the pages, no temporary file");
    }

    #[test]
    fn error_messages() {
        let e = Error::Write {
            path: "man/lunforge.1".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert_eq!(
            e.to_string(),
            "manual page man/lunforge.1: permission denied"
        );
    }
}
