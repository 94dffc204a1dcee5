//! `lunforge completions SHELL`: `clap_complete`'s script for the
//! command line users see.
//!
//! `clap_complete` offers hidden subcommands too (clap-rs/clap#1335), so
//! `lunforge <TAB>` would offer `man`, which `--help` hides. clap has no
//! way to take a subcommand out of a `Command`, so [`visible`] puts the
//! root together again from the definition's own arguments and visible
//! subcommands: nothing of the command line is restated here, so it
//! cannot drift from [`super::Cli`].

use clap::Command;
use clap_complete::Shell;

/// The completion script of `shell` for `cmd` without its hidden
/// subcommands.
pub fn script(shell: Shell, cmd: Command) -> Vec<u8> {
    let mut cmd = visible(cmd);
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "lunforge", &mut out);
    out
}

/// `cmd` (the `lunforge` command) with its arguments and visible
/// subcommands, and nothing else: the settings that only shape help
/// and usage text do not reach a completion script.
fn visible(cmd: Command) -> Command {
    Command::new("lunforge")
        .version(env!("CARGO_PKG_VERSION"))
        .args(cmd.get_arguments().cloned())
        .subcommands(
            cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned(),
        )
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::Cli;

    fn names<'a>(cmds: impl Iterator<Item = &'a Command>) -> Vec<String> {
        cmds.map(|c| c.get_name().to_string()).collect()
    }

    #[test]
    fn hidden_subcommands_are_left_out_and_nothing_else() {
        let full = Cli::command();
        assert!(full.get_subcommands().any(|s| s.get_name() == "man"));
        let seen = visible(Cli::command());
        let want = names(full.get_subcommands().filter(|s| !s.is_hide_set()));
        assert_eq!(names(seen.get_subcommands()), want);
        let ids = |c: &Command| -> Vec<String> {
            c.get_arguments().map(|a| a.get_id().to_string()).collect()
        };
        assert_eq!(ids(&seen), ids(&full));
        assert_eq!(seen.get_name(), full.get_name());
        assert_eq!(seen.get_version(), full.get_version());
    }

    #[test]
    fn the_bash_script_never_names_the_hidden_command() {
        let full = String::from_utf8(script(Shell::Bash, Cli::command()))
            .expect("UTF-8");
        assert!(full.contains("lunforge,build)"), "{full}");
        assert!(!full.contains("lunforge,man)"));
        assert!(!full.contains(" man "));
    }
}
