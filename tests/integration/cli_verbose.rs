//! `-q`, the default, `-v` and `-vv` on a real `lunforge build` against
//! the local test repository: each level shows what the one below it
//! does and more, `-q` only warnings.
//!
//! Oracles: the repository's own package list (every package has its
//! download line at `-v`, fetched, then found in the cache), the build's
//! own summary on stdout (every stage it names has its end line at
//! `-v`), and the HTTP server's request log (at `-vv` the `GET` lines
//! are exactly the requests the server answered).

use std::collections::BTreeSet;

use crate::support::testrepo::TestRepo;
use crate::support::{lunforge, Run, Site};

fn site() -> Site {
    Site::new(TestRepo::new("verbosity").essentials(3, 16 * 1024).build())
}

/// `lunforge FLAG build RECIPE -o OUT --configure firstboot`, with a
/// cache of its own (`cache` names it) so that every level downloads;
/// `OUT` reads as such in its output.
fn build(site: &Site, flag: Option<&str>, cache: &str) -> Run {
    let recipe = site.recipe().write(site.work.path());
    let out = site.work.path().join(format!("out-{cache}"));
    let extra = [
        "-o",
        out.to_str().expect("UTF-8"),
        "--configure",
        "firstboot",
    ];
    let mut args =
        site.args("build", &recipe, &site.work.path().join(cache), &extra);
    if let Some(f) = flag {
        args.insert(0, f.into());
    }
    let mut run = lunforge(args).ok();
    let out = out.display().to_string();
    run.stdout = run.stdout.replace(&out, "OUT");
    run.stderr = run.stderr.replace(&out, "OUT");
    run
}

/// The lines of `text`, each number in them masked as `#` (times and
/// rates differ from run to run).
fn shapes(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(|l| {
            let mut shape = String::new();
            for c in l.chars() {
                let digit = c.is_ascii_digit() || c == '.';
                if !digit {
                    shape.push(c);
                } else if !shape.ends_with('#') {
                    shape.push('#');
                }
            }
            shape
        })
        .collect()
}

/// The stages the build's summary line names (`stages: resolve 0.1 s,
/// fetch 0.2 s, …`; a name may hold a comma).
fn stages(stdout: &str) -> Vec<String> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("stages: "))
        .unwrap_or_else(|| panic!("no stages line:\n{stdout}"));
    let names: Vec<String> = line
        .trim_end_matches(" s")
        .split(" s, ")
        .map(|s| s.rsplit_once(' ').expect("NAME SECONDS").0.to_string())
        .collect();
    assert!(names.len() >= 4, "{names:?}");
    names
}

#[test]
fn each_level_adds_detail() {
    let site = site();
    let quiet = build(&site, Some("-q"), "cache-q");
    let normal = build(&site, None, "cache-n");
    let verbose = build(&site, Some("-v"), "cache-v");
    site.server.clear_log();
    let trace = build(&site, Some("-vv"), "cache-vv");
    let requests = site.server.requests();

    // -q: only warnings (this guest has no kernel); the summary stays.
    assert!(
        quiet
            .stderr
            .lines()
            .all(|l| l.starts_with("lunforge: warning: ")),
        "{}",
        quiet.stderr
    );
    for run in [&quiet, &normal, &verbose, &trace] {
        assert_eq!(shapes(&run.stdout), shapes(&quiet.stdout), "{run:?}");
    }
    // Each level shows all the one below it does, and more.
    for (less, more) in
        [(&quiet, &normal), (&normal, &verbose), (&verbose, &trace)]
    {
        let (less, more) = (shapes(&less.stderr), shapes(&more.stderr));
        let missing: Vec<_> = less.difference(&more).collect();
        assert!(missing.is_empty(), "lost {missing:?}");
        assert!(more.len() > less.len(), "{more:?} adds nothing to {less:?}");
    }

    // -v: where the packages come from, each download, each stage's end.
    let v = &verbose.stderr;
    let mirror = site.server.url();
    assert!(
        v.contains(&format!(
            "mirror {mirror} (from the recipe's system.mirror)\n"
        )),
        "{v}"
    );
    let release =
        format!("dists/{}/InRelease verified (signed by ", site.repo.suite);
    assert!(v.contains(&release), "{v}");
    for deb in &site.repo.debs {
        let line = format!("fetch: {} {}: ", deb.name, deb.version);
        let found: Vec<&str> =
            v.lines().filter(|l| l.starts_with(&line)).collect();
        assert_eq!(found.len(), 1, "{line}: {v}");
        assert!(found[0].ends_with(", downloaded"), "{}", found[0]);
    }
    for stage in stages(&verbose.stdout) {
        assert!(v.contains(&format!("\n{stage}: done in ")), "{stage}: {v}");
    }
    for level in [&quiet.stderr, &normal.stderr] {
        assert!(!level.contains(" done in "), "{level}");
        assert!(!level.contains("fetch: pkg-0 1.0: "), "{level}");
    }

    // -vv: every request to the mirror, and no other.
    let mut got: Vec<String> = trace
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("GET "))
        .map(|l| {
            let url = l.split(": ").next().expect("GET URL: …");
            url.strip_prefix(&format!("{mirror}/"))
                .unwrap_or_else(|| panic!("{url} is not on {mirror}"))
                .to_string()
        })
        .collect();
    // Reported as each ends, logged as each starts: the same multiset.
    got.sort();
    let mut requests = requests;
    requests.sort();
    assert_eq!(got, requests, "{}", trace.stderr);
    assert!(!verbose.stderr.contains("GET "), "{}", verbose.stderr);

    // A second -v run finds every package in the cache.
    let again = build(&site, Some("-v"), "cache-v");
    for deb in &site.repo.debs {
        let line = format!("fetch: {} {}: ", deb.name, deb.version);
        assert!(
            again
                .stderr
                .lines()
                .any(|l| l.starts_with(&line) && l.ends_with(", in the cache")),
            "{line}: {}",
            again.stderr
        );
    }
}

/// `-q` and `-v` contradict each other: a usage error, nothing run.
#[test]
fn quiet_and_verbose_conflict() {
    let run = lunforge(["-q", "-v", "recipe", "check"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("'--quiet' cannot be used with '--verbose"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    // Either flag alone is fine, before or after the command.
    lunforge(["recipe", "check", "-vv"]).ok();
    lunforge(["-q", "recipe", "check"]).ok();
}
