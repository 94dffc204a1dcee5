//! The guest's time zone and locale, written as Debian's installer and
//! packages leave them, and checked against what the guest has.
//!
//! **Time zone** (`system.timezone`): `/etc/localtime` is a symlink to
//! `/usr/share/zoneinfo/ZONE` and `/etc/timezone` names the zone, as
//! tzdata's `postinst` writes them. They are written before the
//! packages are configured, so that tzdata's own configure step (at
//! build time, or on the first boot) reads the zone from the symlink
//! and keeps it instead of asking. The zone must be a file of the
//! guest's tzdata. Without tzdata (the `essential` and `apt` variants)
//! the default `Etc/UTC` is what the C library assumes anyway, and
//! nothing is written; any other zone brings tzdata into the set
//! ([`crate::recipe::System::implied_packages`]).
//!
//! **Locale** (`system.locale`): `/etc/default/locale` sets `LANG`, the
//! file pam_env and the locales package read (Debian 13's locales moves
//! it to `/etc/locale.conf` and leaves a symlink). `C.UTF-8`, the
//! default, is built into the C library. Any other locale brings the
//! `locales` package, must be a line of its `/usr/share/i18n/SUPPORTED`,
//! and is enabled in `/etc/locale.gen`, so that the package's configure
//! step (`locale-gen`) generates it.

use super::etc::write_text as file;
use super::{Error, Result};
use crate::recipe::{Recipe, BUILTIN_LOCALES, DEFAULT_TIMEZONE};
use crate::tree::{GuestPath, Kind, Meta, Tree};

/// Where tzdata keeps the zones.
const ZONEINFO: &str = "/usr/share/zoneinfo";

/// The locales the locales package can generate.
const SUPPORTED: &str = "/usr/share/i18n/SUPPORTED";

/// Write the time zone and locale files of `recipe`.
pub fn write(tree: &mut Tree, recipe: &Recipe, sde: i64) -> Result<()> {
    timezone(tree, &recipe.system.timezone, sde)?;
    locale(tree, &recipe.system.locale, sde)
}

fn timezone(tree: &mut Tree, zone: &str, sde: i64) -> Result<()> {
    let target = format!("{ZONEINFO}/{zone}");
    let path = GuestPath::new(&target)?;
    let is_zone = tree
        .resolve(&path, true)
        .ok()
        .and_then(|p| tree.get(&p))
        .is_some_and(|n| matches!(n.kind, Kind::File(_)));
    if !is_zone {
        if zone == DEFAULT_TIMEZONE && !has_tzdata(tree)? {
            return Ok(());
        }
        return Err(Error::System {
            key: "system.timezone",
            value: zone.into(),
            why: zone_help(tree, zone)?,
        });
    }
    file(tree, "/etc/timezone", &format!("{zone}\n"), sde)?;
    let localtime = GuestPath::new("/etc/localtime")?;
    if tree.get(&localtime).is_some() {
        tree.remove(&localtime)?;
    }
    tree.insert(&localtime, Meta::root(0o777, sde), Kind::Symlink(target))?;
    Ok(())
}

fn has_tzdata(tree: &Tree) -> Result<bool> {
    Ok(tree.get(&GuestPath::new(ZONEINFO)?).is_some())
}

/// Why `zone` is not a zone of the guest, and what would be.
fn zone_help(tree: &Tree, zone: &str) -> Result<String> {
    if !has_tzdata(tree)? {
        return Ok(format!(
            "the guest has no {ZONEINFO} (tzdata is not installed: is it \
             in system.exclude?)"
        ));
    }
    let area = zone.split_once('/').map_or(zone, |(a, _)| a);
    let dir = GuestPath::new(&format!("{ZONEINFO}/{area}"))?;
    let (what, names) = match tree.get(&dir).map(|n| &n.kind) {
        Some(Kind::Dir) => (format!("{area}/ has"), children(tree, &dir)),
        _ => {
            let areas = children(tree, &GuestPath::new(ZONEINFO)?)
                .into_iter()
                .filter(|a| a.starts_with(|c: char| c.is_ascii_uppercase()))
                .filter(|a| {
                    GuestPath::new(&format!("{ZONEINFO}/{a}"))
                        .ok()
                        .and_then(|p| tree.get(&p))
                        .is_some_and(|n| matches!(n.kind, Kind::Dir))
                })
                .collect();
            ("the areas are".to_string(), areas)
        }
    };
    Ok(format!(
        "no zone {ZONEINFO}/{zone} in the guest's tzdata; {what} {}",
        names.join(", ")
    ))
}

/// The names directly below `dir`, sorted.
fn children(tree: &Tree, dir: &GuestPath) -> Vec<String> {
    tree.iter()
        .filter(|(p, _, _)| p.parent().as_ref() == Some(dir))
        .filter_map(|(p, _, _)| p.components().last().map(str::to_string))
        .collect()
}

fn locale(tree: &mut Tree, name: &str, sde: i64) -> Result<()> {
    let default = format!(
        "# written by lunforge from the recipe's system.locale\nLANG={name}\n"
    );
    if BUILTIN_LOCALES.contains(&name) {
        return file(tree, "/etc/default/locale", &default, sde);
    }
    let bad = |why: String| Error::System {
        key: "system.locale",
        value: name.into(),
        why,
    };
    let supported = GuestPath::new(SUPPORTED)?;
    let text = match tree.get(&supported).map(|n| &n.kind) {
        Some(Kind::File(c)) => {
            tree.spool().read(c).map_err(crate::tree::Error::from)?
        }
        _ => {
            return Err(bad(format!(
                "the guest has no {SUPPORTED} (the locales package is not \
                 installed: is it in system.exclude?)"
            )))
        }
    };
    let text = String::from_utf8_lossy(&text);
    let Some(line) = supported_line(&text, name) else {
        return Err(bad(format!(
            "not in the guest's {SUPPORTED}; {}",
            similar(&text, name)
        )));
    };
    file(tree, "/etc/default/locale", &default, sde)?;
    file(
        tree,
        "/etc/locale.gen",
        &format!(
            "# This file lists locales that you wish to have built. You can \
             find a list\n# of valid supported locales at {SUPPORTED}.\n\
             # Written by lunforge from the recipe's system.locale.\n\n\
             {line}\n"
        ),
        sde,
    )
}

/// The line of SUPPORTED (`en_GB.UTF-8 UTF-8`) whose locale is `name`.
fn supported_line<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .map(str::trim)
        .find(|l| l.split_whitespace().next() == Some(name))
}

/// What SUPPORTED has for the language of `name` (`en_GB.UTF-8` →
/// every `en_…`), or a hint where it has none.
fn similar(text: &str, name: &str) -> String {
    let lang = name.split(['_', '.', '@']).next().unwrap_or(name);
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.split(['_', '.', '@']).next() == Some(lang))
        .collect();
    if names.is_empty() {
        format!("it has no locale of the language {lang:?}")
    } else {
        format!("for {lang:?} it has {}", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> Tree {
        let mut t = Tree::new(0).unwrap();
        for (path, text) in files {
            let p = GuestPath::new(path).unwrap();
            t.create_dirs(&p.parent().unwrap(), &Meta::root(0o755, 0))
                .unwrap();
            t.write_file(&p, Meta::root(0o644, 0), text.as_bytes())
                .unwrap();
        }
        t
    }

    fn text(t: &Tree, path: &str) -> String {
        match &t.get(&GuestPath::new(path).unwrap()).unwrap().kind {
            Kind::File(c) => {
                String::from_utf8(t.spool().read(c).unwrap()).unwrap()
            }
            other => panic!("{path}: {other:?}"),
        }
    }

    const ZONES: &[(&str, &str)] = &[
        ("/usr/share/zoneinfo/Etc/UTC", "TZif"),
        ("/usr/share/zoneinfo/Europe/London", "TZif"),
        ("/usr/share/zoneinfo/Europe/Berlin", "TZif"),
        ("/usr/share/zoneinfo/America/New_York", "TZif"),
    ];

    #[test]
    fn zone_symlink_and_name() {
        let mut t = tree(ZONES);
        timezone(&mut t, "Europe/London", 0).unwrap();
        let link = t.get(&GuestPath::new("/etc/localtime").unwrap()).unwrap();
        assert_eq!(
            link.kind,
            Kind::Symlink("/usr/share/zoneinfo/Europe/London".into())
        );
        assert_eq!(text(&t, "/etc/timezone"), "Europe/London\n");
        // Without tzdata, the default needs nothing.
        let mut bare = tree(&[]);
        timezone(&mut bare, DEFAULT_TIMEZONE, 0).unwrap();
        assert!(bare
            .get(&GuestPath::new("/etc/timezone").unwrap())
            .is_none());
    }

    #[test]
    fn unknown_zones_say_what_exists() {
        let mut t = tree(ZONES);
        let e = timezone(&mut t, "Europe/Londn", 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "system.timezone = \"Europe/Londn\": no zone \
             /usr/share/zoneinfo/Europe/Londn in the guest's tzdata; \
             Europe/ has Berlin, London"
        );
        let e = timezone(&mut t, "Mars/Olympus", 0).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("the areas are America, Etc, Europe"),
            "{e}"
        );
        let e = timezone(&mut tree(&[]), "Europe/London", 0).unwrap_err();
        assert!(e.to_string().contains("tzdata is not installed"), "{e}");
        // A directory is not a zone.
        assert!(timezone(&mut t, "Europe", 0).is_err());
    }

    const SUPPORTED_TEXT: &str = "C.UTF-8 UTF-8\nen_GB ISO-8859-1\n\
        en_GB.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\nsr_RS@latin UTF-8\n";

    #[test]
    fn locale_files() {
        let mut t = tree(&[(SUPPORTED, SUPPORTED_TEXT)]);
        locale(&mut t, "en_GB.UTF-8", 0).unwrap();
        assert!(
            text(&t, "/etc/default/locale").ends_with("\nLANG=en_GB.UTF-8\n")
        );
        let gen = text(&t, "/etc/locale.gen");
        let enabled: Vec<&str> = gen
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        assert_eq!(enabled, ["en_GB.UTF-8 UTF-8"]);
        // The built-in locale needs no locales package.
        let mut bare = tree(&[]);
        locale(&mut bare, "C.UTF-8", 0).unwrap();
        assert!(
            text(&bare, "/etc/default/locale").ends_with("\nLANG=C.UTF-8\n")
        );
        assert!(bare
            .get(&GuestPath::new("/etc/locale.gen").unwrap())
            .is_none());
    }

    #[test]
    fn unsupported_locales_say_what_is() {
        let mut t = tree(&[(SUPPORTED, SUPPORTED_TEXT)]);
        let e = locale(&mut t, "en_UK.UTF-8", 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "system.locale = \"en_UK.UTF-8\": not in the guest's \
             /usr/share/i18n/SUPPORTED; for \"en\" it has en_GB, \
             en_GB.UTF-8, en_US.UTF-8"
        );
        let e = locale(&mut t, "xx_XX.UTF-8", 0).unwrap_err();
        assert!(e.to_string().ends_with("no locale of the language \"xx\""));
        let e = locale(&mut tree(&[]), "en_GB.UTF-8", 0).unwrap_err();
        assert!(e.to_string().contains("locales package is not"), "{e}");
        assert!(t.get(&GuestPath::new("/etc/locale.gen").unwrap()).is_none());
    }
}
