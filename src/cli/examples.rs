//! The examples that end each command's `--help` (and its manual page's
//! EXAMPLES section): realistic invocations, each under a `#` line that
//! says what it does. Addresses are the documentation ranges (RFC 5737),
//! names are the seed's (`penfold`, `virtual01`) or made up, and no real
//! mirror is named.
//!
//! The unit test walks the whole command tree: a command without
//! examples, or an example the command line would refuse, fails it.

use clap::builder::StyledStr;

/// `lunforge` itself.
pub(crate) const ROOT: &[&str] = &[
    "# The built-in virtual01 guest: out/virtual01.img and its boot files",
    "lunforge build",
    "# Pin a guest's packages, then build exactly them, every step shown",
    "lunforge lock guests/web01.toml",
    "lunforge -v build guests/web01.toml --locked -o out",
];

/// `lunforge build`.
pub(crate) const BUILD: &[&str] = &[
    "# The built-in guest with another address, into out/",
    "lunforge build --set network.address=192.0.2.60/24 -o out",
    "# Straight onto the guest's LUN, no image file on local disk",
    "lunforge build guests/web01.toml --target \
     iscsi://penfold/iqn.2006-05.com.performancemagic:penfold.disk1/1 \
     --chap-secret env:CHAP_SECRET",
    "# The installed root file system as out/web01.tar, nothing run as root",
    "lunforge build guests/web01.toml --format tar --configure firstboot",
    "# The built-in guest for arm64, configured on its first boot",
    "lunforge build --set system.architecture=arm64 -o out-arm64",
];

/// `lunforge resolve`.
pub(crate) const RESOLVE: &[&str] = &[
    "# The package set of the built-in recipe",
    "lunforge resolve",
    "# Of a recipe on another suite, as JSON",
    "lunforge resolve guests/web01.toml --set system.suite=bookworm --json",
];

/// `lunforge fetch`.
pub(crate) const FETCH: &[&str] = &[
    "# Fill a shared cache before going offline, eight downloads at once",
    "lunforge fetch guests/web01.toml --cache /srv/lunforge/cache -j 8",
];

/// `lunforge lock`.
pub(crate) const LOCK: &[&str] = &[
    "# guests/web01.lock, next to the recipe",
    "lunforge lock guests/web01.toml",
    "# The built-in recipe's, from another mirror",
    "lunforge lock --mirror http://192.0.2.20/debian -o virtual01.lock",
];

/// `lunforge mkfs`.
pub(crate) const MKFS: &[&str] = &[
    "# An ext4 image of a directory, just big enough, labelled",
    "lunforge mkfs ext4 --from rootfs/ -L data out/data.img",
    "# 512 MiB of ext3 with device nodes and owners from a device table",
    "lunforge mkfs ext3 --from rootfs/ --size 512MiB --devices devices.txt \
     out/root.img",
];

/// `lunforge initrd`.
pub(crate) const INITRD: &[&str] = &[
    "# An initrd for a Xen host's own kernel",
    "lunforge initrd --kernel-modules /lib/modules/6.12.48+deb13-amd64 \
     -o out/initrd.img-6.12.48+deb13-amd64",
    "# zstd-compressed, with one more module",
    "lunforge initrd --kernel-modules /lib/modules --kernel-version \
     6.12.48+deb13-amd64 --module e1000 --zstd -o out/initrd.img",
];

/// `lunforge write`.
pub(crate) const WRITE: &[&str] = &[
    "# A built image onto the guest's LUN",
    "lunforge write out/virtual01.img \
     iscsi://penfold/iqn.2006-05.com.performancemagic:penfold.disk1/0",
    "# A new thin LUN reads zeros: write only the data, as user lunforge",
    "lunforge write out/virtual01.img \
     iscsi://lunforge@192.0.2.10/iqn.2006-05.com.performancemagic:penfold.disk1/0 \
     --assume-zeroed --chap-secret file:/etc/lunforge/chap-secret",
    "# An attached disk that held another system",
    "lunforge write out/virtual01.img /dev/sdb --force",
];

/// `lunforge inspect`.
pub(crate) const INSPECT: &[&str] = &[
    "# The partitions and file systems of a built image",
    "lunforge inspect out/virtual01.img",
    "# Of the guest's LUN, read over the network",
    "lunforge inspect \
     iscsi://192.0.2.10/iqn.2006-05.com.performancemagic:penfold.disk1/0",
];

/// `lunforge iscsi`.
pub(crate) const ISCSI: &[&str] = &[
    "# The targets and LUNs of the portal penfold",
    "lunforge iscsi discover penfold",
];

/// `lunforge iscsi discover`.
pub(crate) const ISCSI_DISCOVER: &[&str] = &[
    "# A portal's targets, their LUNs and sizes",
    "lunforge iscsi discover 192.0.2.10:3260",
    "# With CHAP",
    "lunforge iscsi discover iscsi://lunforge@penfold \
     --chap-secret env:CHAP_SECRET",
];

/// `lunforge recipe`.
pub(crate) const RECIPE: &[&str] = &[
    "# Check a recipe, then see it with every default filled in",
    "lunforge recipe check guests/web01.toml",
    "lunforge recipe show guests/web01.toml",
];

/// `lunforge recipe show`.
pub(crate) const RECIPE_SHOW: &[&str] = &[
    "# The built-in recipe, and where its mirror comes from",
    "lunforge recipe show",
    "# What overrides make of a recipe",
    "lunforge recipe show guests/web01.toml --set xen.memory=1GiB \
     --mirror http://192.0.2.20/debian",
];

/// `lunforge recipe check`.
pub(crate) const RECIPE_CHECK: &[&str] = &[
    "# Report a recipe's first error, naming its line and key",
    "lunforge recipe check guests/web01.toml",
    "# Whether an override is valid",
    "lunforge recipe check --set partitions.1.size=6GiB",
];

/// `lunforge completions`.
pub(crate) const COMPLETIONS: &[&str] = &[
    "# bash, for the current user",
    "lunforge completions bash > ~/.local/share/bash-completion/completions/lunforge",
    "# zsh: a directory in $fpath",
    "lunforge completions zsh > ~/.zfunc/_lunforge",
    "lunforge completions fish > ~/.config/fish/completions/lunforge.fish",
];

/// `lunforge man` (hidden: `make man` runs it).
pub(crate) const MAN: &[&str] = &[
    "# lunforge.1 and a page per subcommand, for man -M",
    "lunforge man /usr/local/share/man/man1",
];

/// The heading of the section, as clap writes its own.
pub(crate) const HEADING: &str = "Examples:";

/// `lines` as a help section: the heading styled as clap styles its own
/// (bold and underlined, plain without colour), each line indented.
pub(crate) fn section(lines: &[&str]) -> StyledStr {
    use std::fmt::Write as _;
    let header = clap::builder::Styles::default().get_header().to_owned();
    let mut s = StyledStr::new();
    // OK to discard: writing to a StyledStr cannot fail.
    let _ = write!(s, "{header}{HEADING}{header:#}");
    for line in lines {
        let _ = write!(s, "\n  {line}");
    }
    s
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::Cli;

    /// Every command and its path (`["lunforge", "recipe", "show"]`),
    /// hidden ones included; clap's generated `help` is not one of ours.
    fn commands() -> Vec<(Vec<String>, clap::Command)> {
        fn walk(
            path: Vec<String>,
            cmd: &clap::Command,
            out: &mut Vec<(Vec<String>, clap::Command)>,
        ) {
            for sub in cmd.get_subcommands() {
                let mut p = path.clone();
                p.push(sub.get_name().to_string());
                walk(p, sub, out);
            }
            out.push((path, cmd.clone()));
        }
        let root = Cli::command();
        let mut out = Vec::new();
        walk(vec![root.get_name().to_string()], &root, &mut out);
        out
    }

    /// The subcommand path an argument list reaches.
    fn reached(matches: &clap::ArgMatches) -> Vec<String> {
        let mut path = vec!["lunforge".to_string()];
        let mut m = matches;
        while let Some((name, sub)) = m.subcommand() {
            path.push(name.to_string());
            m = sub;
        }
        path
    }

    /// The command lines of an examples section: each from `lunforge` to
    /// the first shell operator (a redirection, a pipe).
    fn invocations(text: &str) -> Vec<Vec<String>> {
        text.lines()
            .map(str::trim)
            .filter(|l| l.starts_with("lunforge "))
            .map(|l| {
                let words = shlex::split(l)
                    .unwrap_or_else(|| panic!("not shell words: {l}"));
                words
                    .into_iter()
                    .take_while(|w| !matches!(w.as_str(), ">" | "|" | ";"))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_command_ends_its_help_with_examples() {
        let all = commands();
        assert!(all.len() > 10, "the walk found {} commands", all.len());
        for (path, cmd) in &all {
            let name = path.join(" ");
            let after = cmd
                .get_after_help()
                .unwrap_or_else(|| panic!("{name}: no examples in --help"))
                .to_string();
            assert!(after.starts_with(HEADING), "{name}: {after}");
            let lines = invocations(&after);
            assert!(!lines.is_empty(), "{name}: no `lunforge …` line");
            for args in lines {
                let m = Cli::command()
                    .try_get_matches_from(&args)
                    .unwrap_or_else(|e| panic!("{name}: {args:?}: {e}"));
                let got = reached(&m);
                assert!(
                    got.starts_with(path),
                    "{name}: the example {args:?} runs {}",
                    got.join(" ")
                );
            }
            let mut cmd = cmd.clone();
            let help = cmd.render_long_help().to_string();
            assert!(
                help.trim_end().ends_with(&after),
                "{name}: --help does not end with its examples:\n{help}"
            );
        }
    }

    /// Each example is a comment line, then one or more invocations.
    #[test]
    fn examples_say_what_they_do() {
        for (path, cmd) in commands() {
            let after = cmd.get_after_help().map(|a| a.to_string());
            let body: Vec<String> = after
                .unwrap_or_default()
                .lines()
                .skip(1)
                .map(|l| l.trim().to_string())
                .collect();
            assert!(
                body.first().is_some_and(|l| l.starts_with("# ")),
                "{}: {body:?}",
                path.join(" ")
            );
            assert!(body
                .iter()
                .all(|l| l.starts_with("# ") || l.starts_with("lunforge ")));
        }
    }

    #[test]
    fn the_heading_is_plain_without_colour() {
        let s = section(&["# x", "lunforge build"]).to_string();
        assert_eq!(s, "Examples:\n  # x\n  lunforge build");
        assert!(section(&[]).ansi().to_string().contains('\x1b'));
    }
}
