//! The guest's apt state as after debootstrap or mmdebstrap: its
//! sources, and which packages were installed automatically.
//!
//! **Sources** go to `/etc/apt/sources.list.d/debian.sources` in the
//! deb822 format of sources.list(5), as Debian 13's installer writes
//! them and `apt modernize-sources` converts the one-line format to:
//! apt has read this format since 1.1 (stretch), and it is the form
//! Debian now maintains. One paragraph per archive URL: the suite and its
//! `-updates` share one when they come from the same mirror, the
//! security suite has its own ([`crate::repo::pockets`] names them). When
//! the suite was verified with the Debian archive keyring and the guest
//! has it, each paragraph carries `Signed-By` with it, as the installer
//! writes; a suite signed by another key (a local repository) gets none,
//! so apt in the guest trusts what its `trusted.gpg.d` holds.
//!
//! **`/var/lib/apt/extended_states`** marks each automatically
//! installed package `Auto-Installed: 1`, so that `apt autoremove`
//! removes nothing on a fresh guest and, once an included package is
//! removed, the dependencies it alone needed. Which packages are
//! automatic is the resolver's ([`crate::resolve::Selected::auto`]).
//! The stanzas are apt's (`Package`, `Architecture`, `Auto-Installed`;
//! an `Architecture: all` package under the native architecture, as apt
//! records it), sorted by name, so the bytes are the same every build.

use super::etc::write_text;
use super::Result;
use crate::recipe::Recipe;
use crate::repo::pockets;
use crate::tree::{GuestPath, Tree};

/// Where the sources go.
pub const SOURCES: &str = "/etc/apt/sources.list.d/debian.sources";

/// apt's record of automatically installed packages.
pub const EXTENDED_STATES: &str = "/var/lib/apt/extended_states";

/// The Debian archive keyring as `debian-archive-keyring` installs it.
pub const DEBIAN_KEYRING: &str =
    "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Write the sources and the automatic marks. `debian_keyring`: the
/// suite was verified with the Debian archive keyring; `auto`: the
/// automatically installed packages, as `(name, architecture)`.
pub fn write(
    tree: &mut Tree,
    recipe: &Recipe,
    debian_keyring: bool,
    auto: &[(String, String)],
    sde: i64,
) -> Result<()> {
    let keyring = GuestPath::new(DEBIAN_KEYRING)?;
    let signed_by = (debian_keyring && tree.get(&keyring).is_some())
        .then_some(DEBIAN_KEYRING);
    write_text(tree, SOURCES, &sources(recipe, signed_by), sde)?;
    if !auto.is_empty() {
        let native = &recipe.system.architecture;
        write_text(tree, EXTENDED_STATES, &extended_states(auto, native), sde)?;
    }
    Ok(())
}

/// The deb822 sources of the recipe's suite, its `-updates` and its
/// security suite (those the recipe has), one paragraph per archive URL
/// in that order, each with `Signed-By: signed_by` when given.
pub fn sources(recipe: &Recipe, signed_by: Option<&str>) -> String {
    let s = &recipe.system;
    let mut archives: Vec<(&str, Vec<String>)> =
        vec![(&s.mirror, vec![s.suite.clone()])];
    let extra = [
        (&s.updates, pockets::updates_suite(&s.suite)),
        (&s.security, pockets::security_suite(&s.suite)),
    ];
    for (url, suite) in extra {
        let (Some(url), Some(suite)) = (url, suite) else {
            continue;
        };
        match archives.iter_mut().find(|(u, _)| *u == url.as_str()) {
            Some((_, suites)) => suites.push(suite),
            None => archives.push((url, vec![suite])),
        }
    }
    let mut out = String::from(
        "# written by lunforge from the recipe's system.mirror, \
         system.updates and system.security\n",
    );
    for (i, (url, suites)) in archives.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!(
            "Types: deb\nURIs: {url}\nSuites: {}\nComponents: {}\n",
            suites.join(" "),
            s.components.join(" ")
        ));
        if let Some(k) = signed_by {
            out.push_str(&format!("Signed-By: {k}\n"));
        }
    }
    out
}

/// `extended_states` for the automatically installed packages, sorted by
/// name and architecture; `Architecture: all` recorded as `native`.
pub fn extended_states(auto: &[(String, String)], native: &str) -> String {
    let mut list: Vec<(&str, &str)> = auto
        .iter()
        .map(|(name, arch)| {
            let arch = if arch == "all" { native } else { arch.as_str() };
            (name.as_str(), arch)
        })
        .collect();
    list.sort_unstable();
    list.dedup();
    list.iter()
        .map(|(name, arch)| {
            format!(
                "Package: {name}\nArchitecture: {arch}\nAuto-Installed: 1\n\n"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(updates: Option<&str>, security: Option<&str>) -> Recipe {
        let mut r = crate::boot::tests::recipe();
        r.system.mirror = "http://mirror.example/debian".into();
        r.system.components = vec!["main".into(), "contrib".into()];
        r.system.updates = updates.map(str::to_string);
        r.system.security = security.map(str::to_string);
        r
    }

    #[test]
    fn one_paragraph_per_archive() {
        let r = recipe(
            Some("http://mirror.example/debian"),
            Some("http://mirror.example/debian-security"),
        );
        let text = sources(&r, Some(DEBIAN_KEYRING));
        let body = text.split_once('\n').unwrap().1;
        assert_eq!(
            body,
            format!(
                "Types: deb\nURIs: http://mirror.example/debian\n\
                 Suites: trixie trixie-updates\nComponents: main contrib\n\
                 Signed-By: {DEBIAN_KEYRING}\n\n\
                 Types: deb\nURIs: http://mirror.example/debian-security\n\
                 Suites: trixie-security\nComponents: main contrib\n\
                 Signed-By: {DEBIAN_KEYRING}\n"
            )
        );
        let none = sources(&recipe(None, None), None);
        assert!(
            none.ends_with(
                "\nTypes: deb\nURIs: http://mirror.example/debian\n\
                 Suites: trixie\nComponents: main contrib\n"
            ),
            "{none}"
        );
        // -updates from another archive than the suite: its own
        // paragraph; the security archive may be the same as it.
        let r = recipe(Some("http://u.example/d"), Some("http://u.example/d"));
        let text = sources(&r, None);
        assert!(
            text.contains(
                "URIs: http://u.example/d\n\
                 Suites: trixie-updates trixie-security\n"
            ),
            "{text}"
        );
        let mut sid = recipe(Some("http://u.example/d"), None);
        sid.system.suite = "sid".into();
        assert!(!sources(&sid, None).contains("u.example"));
    }

    #[test]
    fn auto_marks_sorted_with_native_architecture() {
        let auto = [
            ("zlib1g".to_string(), "amd64".to_string()),
            ("debconf".to_string(), "all".to_string()),
            ("libc6".to_string(), "amd64".to_string()),
        ];
        assert_eq!(
            extended_states(&auto, "amd64"),
            "Package: debconf\nArchitecture: amd64\nAuto-Installed: 1\n\n\
             Package: libc6\nArchitecture: amd64\nAuto-Installed: 1\n\n\
             Package: zlib1g\nArchitecture: amd64\nAuto-Installed: 1\n\n"
        );
        assert_eq!(extended_states(&[], "amd64"), "");
    }
}
