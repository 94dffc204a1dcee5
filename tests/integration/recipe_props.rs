//! Property test of recipe checking: random recipes (sizes around the
//! limits, partitions of every use and file system, labels, mount
//! points, host names, addresses, gateways, DNS servers, some valid,
//! some not) go through [`Recipe::load`], the one check `recipe check`
//! and `build` share. Each recipe is either refused with an error that
//! names a key at its line in the recipe file, or it has a build plan:
//! the disk layout, the GPT and every partition's file system then plan
//! without an error, so no recipe that passes the check fails a later
//! stage for a reason the recipe alone decides.
//!
//! Oracles: the planners of the later stages themselves, and the recipe
//! text written here (the line named holds the key, or the table that
//! holds it). The run's seed is printed; `LUNFORGE_PROP_SEED=S` replays
//! a run.

use std::path::Path;

use lunforge::disk::gpt::Gpt;
use lunforge::recipe::{Error, Recipe, Source, TableKind};

use crate::support::ext::{prop_seed, Rng};

/// Recipes per run.
const RECIPES: u64 = 400;

/// A string of `toml` with the value quoted.
fn quoted(v: &str) -> String {
    toml::Value::String(v.into()).to_string()
}

/// Mostly one of `good`, sometimes one of `bad`: a recipe has several
/// keys, and most recipes should get through to a plan.
fn either<'a>(rng: &mut Rng, good: &[&'a str], bad: &[&'a str]) -> &'a str {
    if rng.chance(88) {
        good[rng.below(good.len() as u64) as usize]
    } else {
        bad[rng.below(bad.len() as u64) as usize]
    }
}

fn size(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => rng
            .pick(&["1KiB", "1000", "513MiB", "514MiB", "3MiB"])
            .to_string(),
        1 => format!("{}KiB", rng.range(0, 4096)),
        2 | 3 => format!("{}MiB", rng.range(0, 1200)),
        _ => format!("{}GiB", rng.range(1, 16)),
    }
}

/// One `[[partitions]]` of `usage`.
fn partition(rng: &mut Rng, usage: &str) -> String {
    let mut out = format!("\n[[partitions]]\nuse = \"{usage}\"\n");
    let size = match rng.below(5) {
        0 => rng
            .pick(&["32KiB", "40KiB", "1MiB", "2MiB", "33MiB"])
            .to_string(),
        1 if usage == "root" => "rest".to_string(),
        _ => format!("{}MiB", rng.range(1, 700)),
    };
    out.push_str(&format!("size = {}\n", quoted(&size)));
    if rng.chance(40) && usage != "swap" {
        let fs = match usage {
            "esp" => either(rng, &["vfat"], &["ext4"]),
            _ => either(rng, &["ext2", "ext3", "ext4"], &["vfat"]),
        };
        out.push_str(&format!("fs = \"{fs}\"\n"));
    }
    let mount = match usage {
        "data" => Some(either(rng, &["/srv", "/var/lib/data"], &["srv", "/"])),
        "esp" if rng.chance(30) => Some(either(rng, &["/efi"], &["/"])),
        _ => None,
    };
    if let Some(m) = mount {
        out.push_str(&format!("mount = {}\n", quoted(m)));
    }
    if rng.chance(30) {
        let label = either(
            rng,
            &["data", "ROOT", "SWAP1"],
            &["abcdefghijklmnopq", "12345678901x"],
        );
        out.push_str(&format!("label = {}\n", quoted(label)));
    }
    if rng.chance(15) && usage != "swap" && usage != "esp" {
        let bs = either(rng, &["1024", "2048", "4096"], &["3000"]);
        out.push_str(&format!("block_size = {bs}\n"));
    }
    if rng.chance(10) && usage != "swap" && usage != "esp" {
        let ratio = either(rng, &["16384", "1024"], &["10", "134217728"]);
        out.push_str(&format!("inode_ratio = {ratio}\n"));
    }
    out
}

/// The partitions: mostly an optional ESP and swap, one root, optional
/// data; sometimes any uses in any number.
fn partitions(rng: &mut Rng) -> String {
    let uses: Vec<&str> = if rng.chance(85) {
        let mut u = Vec::new();
        if rng.chance(20) {
            u.push("esp");
        }
        if rng.chance(60) {
            u.push("swap");
        }
        u.push("root");
        if rng.chance(30) {
            u.push("data");
        }
        u
    } else {
        let all = ["swap", "root", "data", "esp"];
        (0..rng.range(0, 5)).map(|_| *rng.pick(&all)).collect()
    };
    uses.iter().map(|u| partition(rng, u)).collect()
}

fn network(rng: &mut Rng) -> String {
    let long = "y".repeat(70);
    let hostname = either(
        rng,
        &["virtual01", "web-2.example.org", "x"],
        &["a;rm -rf /", "-bad", "bad-", "under_score", &long],
    )
    .to_string();
    let mut out = format!("\n[network]\nhostname = {}\n", quoted(&hostname));
    let dhcp = rng.chance(15);
    if dhcp {
        out.push_str("dhcp = true\n");
    }
    if rng.chance(if dhcp { 10 } else { 70 }) {
        let address = either(
            rng,
            &[
                "192.0.2.50/24",
                "10.0.0.1/31",
                "2001:db8::5/64",
                "192.0.2.50/32",
            ],
            &[
                "192.0.2.0/24",
                "192.0.2.255/24",
                "300.1.1.1/24",
                "192.0.2.50",
                "192.0.2.50/33",
            ],
        );
        out.push_str(&format!("address = {}\n", quoted(address)));
        if rng.chance(60) {
            let gateway = match address {
                "10.0.0.1/31" => either(rng, &["10.0.0.0"], &["10.0.0.1"]),
                "2001:db8::5/64" => {
                    either(rng, &["2001:db8::1"], &["2001:db9::1"])
                }
                _ => either(
                    rng,
                    &["192.0.2.1"],
                    &["10.9.9.9", "192.0.2.50", "gateway"],
                ),
            };
            out.push_str(&format!("gateway = {}\n", quoted(gateway)));
        }
    }
    if rng.chance(30) {
        let dns =
            either(rng, &["192.0.2.53", "2001:db8::53"], &["1.2.3", "ns1"]);
        out.push_str(&format!("dns = [{}]\n", quoted(dns)));
    }
    if rng.chance(20) {
        let domain = either(rng, &["example.org"], &["exa mple", "-x.org"]);
        out.push_str(&format!("domain = {}\n", quoted(domain)));
    }
    out
}

/// A random recipe's text.
fn recipe(rng: &mut Rng) -> String {
    let table = rng.pick(&["msdos", "gpt"]);
    let mut out = format!(
        "[image]\nname = \"guest1\"\nsize = {}\ntable = \"{table}\"\n\n\
         [system]\nsuite = \"trixie\"\narchitecture = \"amd64\"\n\
         mirror = \"http://mirror.invalid/debian\"\n",
        quoted(&size(rng))
    );
    out.push_str(&partitions(rng));
    if rng.chance(80) {
        out.push_str(&network(rng));
    }
    out
}

/// The recipe at `path` with text `text` passed the check: every later
/// planner must accept it.
fn assert_plans(r: &Recipe, text: &str) {
    let layout = lunforge::disk::plan(r)
        .unwrap_or_else(|e| panic!("checked, but no disk plan: {e}\n{text}"));
    if r.image.table == TableKind::Gpt {
        Gpt::plan(&layout)
            .unwrap_or_else(|e| panic!("checked, but no GPT: {e}\n{text}"));
    }
    lunforge::filesystems::check(&layout).unwrap_or_else(|e| {
        panic!("checked, but its file systems fail: {e}\n{text}")
    });
}

/// The recipe was refused: the error names a key at a line of the file
/// that holds the key or its table.
fn assert_located(e: &Error, path: &Path, text: &str) {
    let Error::Key {
        location,
        key,
        message,
    } = e
    else {
        panic!("refused without a key: {e}\n{text}");
    };
    assert!(!message.is_empty(), "{e}");
    let prefix = format!("{}:", path.display());
    let line: usize = location
        .strip_prefix(&prefix)
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| {
            panic!("{location:?} is not FILE:LINE\n{e}\n{text}")
        });
    let held = text.lines().nth(line.saturating_sub(1)).unwrap_or_else(|| {
        panic!("line {line} is past the recipe's end\n{e}\n{text}")
    });
    // `partitions[1].size` → `size`, `network.dns[0]` → `dns`.
    let last = key.rsplit('.').next().unwrap_or(key);
    let last = last.split('[').next().unwrap_or(last);
    let first = key.split(['.', '[']).next().unwrap_or(key);
    assert!(
        held.trim_start().starts_with(&format!("{last} "))
            || held.contains(&format!("[{first}]")),
        "{e}: line {line} is {held:?}\n{text}"
    );
}

#[test]
fn random_recipes_are_refused_by_key_or_plan() {
    let seed = prop_seed();
    eprintln!("recipe_props: LUNFORGE_PROP_SEED={seed}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.toml");
    let (mut passed, mut refused) = (0, 0);
    let mut keys = std::collections::BTreeSet::new();
    for n in 0..RECIPES {
        let mut rng = Rng::new(seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let text = recipe(&mut rng);
        std::fs::write(&path, &text).unwrap();
        match Recipe::load(&Source::Path(path.clone()), &[], Path::new("/")) {
            Ok(r) => {
                assert_plans(&r, &text);
                passed += 1;
            }
            Err(e) => {
                assert_located(&e, &path, &text);
                if let Error::Key { key, .. } = &e {
                    keys.insert(
                        key.split('[').next().unwrap_or(key).to_string(),
                    );
                }
                refused += 1;
            }
        }
    }
    eprintln!(
        "recipe_props: {passed} planned, {refused} refused; keys: {keys:?}"
    );
    // The generator reaches both outcomes, and refusals of the disk and
    // of the network alike.
    assert!(passed >= RECIPES / 5, "{passed} of {RECIPES} planned");
    assert!(refused >= RECIPES / 4, "{refused} of {RECIPES} refused");
    for k in [
        "image.size",
        "network.hostname",
        "network.gateway",
        "partitions",
    ] {
        assert!(keys.contains(k), "no recipe was refused at {k}: {keys:?}");
    }
}
