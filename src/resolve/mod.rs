//! The dependency resolver: from a variant, `include` and `exclude` to the
//! exact set of binary packages to install.
//!
//! It reproduces what mmdebstrap asks apt for, so that the same suite
//! gives the same package set:
//!
//! 1. **Essential stage.** Every `Essential: yes` package and the closure
//!    of its `Pre-Depends` and `Depends` (mmdebstrap installs
//!    `?essential` first; the `apt` variant adds apt here, as libapt treats
//!    apt as essential for `dist-upgrade`).
//! 2. **Install stage.** With the essential set already installed, the
//!    variant's priority seeds (`required`; `required` + `important`;
//!    … + `standard`) and `include`, again closed under dependencies.
//!    `Recommends` are not installed (mmdebstrap sets
//!    `Apt::Install-Recommends false`).
//!
//! Within a stage, dependencies with no choice are followed first, and
//! an alternative (`a | b`, or a virtual package with several providers)
//! is decided only once nothing else can satisfy it. An undecided
//! alternative takes the first real package whose candidate (its highest
//! version) satisfies the constraint and conflicts with nothing selected;
//! for a virtual package, the provider of highest priority (then
//! `Essential`, then name).
//!
//! This differs from apt on purpose. apt decides an alternative the
//! moment its depth-first walk reaches it, in the order of its command
//! line, which for mmdebstrap's `?priority(...)` patterns is the order of
//! apt's package hash table: with `a Depends: x | y` and `b Depends: y`,
//! apt installs x and y when it meets a first, y alone when it meets b
//! first. Deciding alternatives last never installs an alternative that
//! another dependency makes redundant, and does not depend on any order,
//! so the same recipe always gives the same set. On the real archives the
//! two agree: for trixie and bookworm, `minbase` and `important`, and the
//! built-in recipe, the set is exactly mmdebstrap's (the integration tests
//! check this against mmdebstrap itself), except for the next point.
//!
//! The other deliberate difference: `usrmerge | usr-is-merged`
//! resolves to `usr-is-merged`, as debootstrap does. lunforge lays out
//! merged /usr itself, so `usrmerge`'s conversion script (and the perl it
//! pulls in) has nothing to do.
//!
//! `Conflicts` and `Breaks` are respected when choosing (a candidate that
//! conflicts with the selection is skipped) and any left in the final set
//! are reported as an error.

pub mod lockfile;
pub mod relation;

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::rc::Rc;

use crate::recipe::Variant;
use crate::repo::packages::{BinaryPackage, Priority};
use crate::repo::version::Version;
use relation::{Dependency, Relation, RelationError};

/// Errors of resolution; each names the packages and the chain of
/// dependencies that led there.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A requested package does not exist in the suite, for the
    /// guest's architecture.
    #[error("{origin}: no package {name} for {arch} in the suite{hint}")]
    UnknownPackage {
        /// `system.include` or `system.exclude`.
        origin: String,
        /// The name.
        name: String,
        /// The architecture resolved for.
        arch: String,
        /// Extra explanation (providers of a virtual package).
        hint: String,
    },
    /// A dependency that nothing in the suite satisfies.
    #[error("cannot satisfy {relation}: {why}\n{chain}")]
    Unsatisfiable {
        /// The dependency as written.
        relation: String,
        /// What was tried.
        why: String,
        /// `needed by` lines down to the request.
        chain: Chain,
    },
    /// A relationship field does not parse.
    #[error("package {package} {version}: {field}: {source}")]
    Relation {
        /// The package.
        package: String,
        /// Its version.
        version: String,
        /// `Depends`, `Provides`, …
        field: &'static str,
        /// The parse error.
        source: Box<RelationError>,
    },
    /// Two selected packages conflict.
    #[error(
        "{package} {field} {relation}, but {other} is selected too\n{chain}"
    )]
    Conflict {
        /// The package declaring the conflict.
        package: String,
        /// `Conflicts` or `Breaks`.
        field: &'static str,
        /// The relation as written.
        relation: String,
        /// The package it hits.
        other: String,
        /// Why `other` is there.
        chain: Chain,
    },
    /// A signal stopped the stage ([`crate::cancel`]).
    #[error(transparent)]
    Interrupted(#[from] crate::cancel::Interrupted),
}

/// Result of resolution.
pub type Result<T> = std::result::Result<T, Error>;

/// Why a package is in the selection: one line per step back to the
/// request (`mid 1 Depends: low (>= 2)`, …, `top 1 is requested by
/// system.include`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chain(pub Vec<String>);

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  {step}")?;
        }
        Ok(())
    }
}

/// What to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Variant (`Minbase` is treated as `Required`).
    pub variant: Variant,
    /// Extra packages.
    pub include: Vec<String>,
    /// Packages other recipe keys ask for, each with that key
    /// (`locales` for `system.locale`), requested like `include`.
    pub implied: Vec<(String, String)>,
    /// Packages never to select.
    pub exclude: Vec<String>,
    /// Native architecture.
    pub architecture: String,
}

/// The resolved set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection<'a> {
    /// Selected packages, sorted by name.
    pub packages: Vec<Selected<'a>>,
}

/// One selected package, and why it is in the set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected<'a> {
    /// The package.
    pub package: &'a BinaryPackage,
    /// What put it there: the request (`Essential: yes`, `Priority:
    /// required`, `variant apt`, `system.include`, `system.locale`, …)
    /// or the dependency that pulled it in (`apt Depends: libc6 (>=
    /// 2.34)`).
    pub why: String,
    /// Installed automatically, as apt's `Auto-Installed: 1` records
    /// it: a dependency pulled in by the install stage. What mmdebstrap
    /// installs with dpkg (the essential stage) and what apt is asked
    /// for by name or pattern (the variant's priorities, `include`) is
    /// manual, as apt leaves it after mmdebstrap.
    pub auto: bool,
}

impl Selection<'_> {
    /// Total size of the `.deb` files.
    pub fn download_size(&self) -> u64 {
        self.packages.iter().map(|p| p.package.file.size).sum()
    }
}

/// The build's tools: packages fetched with the guest's, from the same
/// suite and lock, but never installed in it (busybox-static, whose
/// binary goes into the initrd). Each is the newest version of that
/// name for `architecture`; its dependencies are not followed (the
/// tools are static).
pub fn tools<'a>(
    packages: &'a [BinaryPackage],
    names: &[String],
    architecture: &str,
) -> Result<Vec<&'a BinaryPackage>> {
    names
        .iter()
        .map(|name| {
            packages
                .iter()
                .filter(|p| *p.name == **name)
                .filter(|p| {
                    *p.architecture == *architecture
                        || &*p.architecture == "all"
                })
                .max_by(|a, b| a.version.cmp(&b.version))
                .ok_or_else(|| Error::UnknownPackage {
                    origin: "build tools".into(),
                    name: name.clone(),
                    arch: architecture.into(),
                    hint: String::new(),
                })
        })
        .collect()
}

/// Resolve `req` against the packages of a suite.
pub fn resolve<'a>(
    packages: &'a [BinaryPackage],
    req: &Request,
) -> Result<Selection<'a>> {
    let universe = Universe::new(packages, &req.architecture)?;
    let mut r = Resolver::new(&universe, req)?;
    let essential: Vec<usize> = universe
        .candidates()
        .filter(|&i| packages[i].essential)
        .collect();
    let mut stage1: Vec<(usize, String)> = essential
        .iter()
        .map(|&i| (i, "Essential: yes".to_string()))
        .collect();
    if req.variant == Variant::Apt {
        stage1.push((r.named("apt", "variant apt")?, "variant apt".into()));
    }
    r.stage(stage1, false)?;
    let mut stage2 = Vec::new();
    if let Some(max) = priority_seed(req.variant) {
        for i in universe.candidates() {
            let p = &packages[i];
            if !p.essential && p.priority <= max {
                let why = format!("Priority: {}", p.priority.as_str());
                stage2.push((i, why));
            }
        }
    }
    for name in &req.include {
        stage2
            .push((r.named(name, "system.include")?, "system.include".into()));
    }
    for (name, key) in &req.implied {
        stage2.push((r.named(name, key)?, key.clone()));
    }
    r.stage(stage2, true)?;
    r.check_conflicts()?;
    let mut out: Vec<Selected<'_>> = r
        .order
        .iter()
        .map(|&i| Selected {
            package: &packages[i],
            why: r.why(i),
            auto: r.auto.contains(&i),
        })
        .collect();
    out.sort_by(|a, b| a.package.name.cmp(&b.package.name));
    Ok(Selection { packages: out })
}

/// The lowest priority a variant seeds with, if it seeds by priority.
fn priority_seed(v: Variant) -> Option<Priority> {
    match v {
        Variant::Essential | Variant::Apt => None,
        Variant::Required | Variant::Minbase => Some(Priority::Required),
        Variant::Important => Some(Priority::Important),
        Variant::Standard => Some(Priority::Standard),
    }
}

/// The suite indexed for resolution.
struct Universe<'a> {
    pkgs: &'a [BinaryPackage],
    /// Name → index of its candidate (highest version).
    candidate: HashMap<&'a str, usize>,
    /// The candidates' indices, sorted by name.
    sorted: Vec<usize>,
    /// Virtual name → (provider index, provided version).
    providers: HashMap<Box<str>, Vec<(usize, Option<Version>)>>,
    arch: &'a str,
}

impl<'a> Universe<'a> {
    fn new(pkgs: &'a [BinaryPackage], arch: &'a str) -> Result<Self> {
        let mut candidate: HashMap<&str, usize> = HashMap::new();
        for (i, p) in pkgs.iter().enumerate() {
            if &*p.architecture != arch && &*p.architecture != "all" {
                continue;
            }
            candidate
                .entry(&p.name)
                .and_modify(|c| {
                    if p.version > pkgs[*c].version {
                        *c = i;
                    }
                })
                .or_insert(i);
        }
        let mut providers: HashMap<Box<str>, Vec<_>> = HashMap::new();
        for &i in candidate.values() {
            let p = &pkgs[i];
            if p.provides.is_empty() {
                continue;
            }
            let list = relation::parse_provides(&p.provides)
                .map_err(|source| relation_error(p, "Provides", source))?;
            for pr in list {
                providers.entry(pr.name).or_default().push((i, pr.version));
            }
        }
        for list in providers.values_mut() {
            list.sort_by(|a, b| pkgs[a.0].name.cmp(&pkgs[b.0].name));
        }
        let mut sorted: Vec<usize> = candidate.values().copied().collect();
        sorted.sort_by(|&a, &b| pkgs[a].name.cmp(&pkgs[b].name));
        Ok(Universe {
            pkgs,
            candidate,
            sorted,
            providers,
            arch,
        })
    }

    /// Candidate indices in name order (deterministic seeding).
    fn candidates(&self) -> impl Iterator<Item = usize> + '_ {
        self.sorted.iter().copied()
    }

    /// The packages that could satisfy `r`, best first: the real package
    /// (if its candidate matches), then providers.
    fn satisfiers(&self, r: &Relation) -> Vec<usize> {
        let mut out = Vec::new();
        if !self.arch_ok(r) {
            return out;
        }
        if let Some(&i) = self.candidate.get(&*r.name) {
            if r.satisfied_by_version(&self.pkgs[i].version) {
                out.push(i);
            }
        }
        if let Some(list) = self.providers.get(&*r.name) {
            let mut provs: Vec<usize> = list
                .iter()
                .filter(|(_, v)| match (&r.constraint, v) {
                    (None, _) => true,
                    (Some((op, want)), Some(have)) => op.matches(have, want),
                    (Some(_), None) => false,
                })
                .map(|(i, _)| *i)
                .filter(|i| !out.contains(i))
                .collect();
            provs.sort_by(|&a, &b| {
                let (pa, pb) = (&self.pkgs[a], &self.pkgs[b]);
                pa.priority
                    .cmp(&pb.priority)
                    .then(pb.essential.cmp(&pa.essential))
                    .then(pa.name.cmp(&pb.name))
            });
            out.extend(provs);
        }
        out
    }

    /// `name:any`, `name:native` and `name:ARCH` (ours) are all the same
    /// package in a single-architecture system.
    fn arch_ok(&self, r: &Relation) -> bool {
        match r.arch.as_deref() {
            None | Some("any" | "native") => true,
            Some(a) => a == self.arch,
        }
    }
}

fn relation_error(
    p: &BinaryPackage,
    field: &'static str,
    source: RelationError,
) -> Error {
    Error::Relation {
        package: p.name.to_string(),
        version: p.version.to_string(),
        field,
        source: Box::new(source),
    }
}

/// State of one resolution.
struct Resolver<'u, 'a> {
    u: &'u Universe<'a>,
    selected: HashSet<usize>,
    /// Selection order (for deterministic processing).
    order: Vec<usize>,
    /// Why each package is selected: (parent, relation) or a request.
    reason: HashMap<usize, Reason>,
    /// Packages a dependency pulled in during the install stage.
    auto: HashSet<usize>,
    excluded: HashSet<usize>,
    deps: HashMap<usize, Rc<Vec<(&'static str, Dependency)>>>,
    /// Parsed `Conflicts` and `Breaks`, per package, as parsed once.
    negatives: HashMap<usize, Rc<Vec<(&'static str, Relation)>>>,
}

#[derive(Debug, Clone)]
enum Reason {
    Request(String),
    Dep {
        parent: usize,
        field: &'static str,
        relation: String,
    },
}

impl<'u, 'a> Resolver<'u, 'a> {
    fn new(u: &'u Universe<'a>, req: &Request) -> Result<Self> {
        let mut excluded = HashSet::new();
        for name in &req.exclude {
            match u.candidate.get(name.as_str()) {
                Some(&i) => {
                    excluded.insert(i);
                }
                None => {
                    return Err(Error::UnknownPackage {
                        origin: "system.exclude".into(),
                        name: name.clone(),
                        arch: u.arch.into(),
                        hint: String::new(),
                    })
                }
            }
        }
        Ok(Resolver {
            u,
            selected: HashSet::new(),
            order: Vec::new(),
            reason: HashMap::new(),
            auto: HashSet::new(),
            excluded,
            deps: HashMap::new(),
            negatives: HashMap::new(),
        })
    }

    /// The package a request names: a real package, or the only provider
    /// of a virtual one (as `apt-get install` accepts it).
    fn named(&self, name: &str, origin: &str) -> Result<usize> {
        if let Some(&i) = self.u.candidate.get(name) {
            return Ok(i);
        }
        let provs = self.u.providers.get(name).map_or(&[][..], |v| &v[..]);
        match provs {
            [(i, _)] => Ok(*i),
            [] => Err(Error::UnknownPackage {
                origin: origin.into(),
                name: name.into(),
                arch: self.u.arch.into(),
                hint: String::new(),
            }),
            many => Err(Error::UnknownPackage {
                origin: origin.into(),
                name: name.into(),
                arch: self.u.arch.into(),
                hint: format!(
                    " (it is virtual, provided by {}: name one of them)",
                    many.iter()
                        .map(|(i, _)| &*self.u.pkgs[*i].name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }

    fn add(&mut self, i: usize, why: Reason, queue: &mut VecDeque<usize>) {
        if self.selected.insert(i) {
            self.order.push(i);
            self.reason.insert(i, why);
            queue.push_back(i);
        }
    }

    /// Take one stage's seeds and close the selection over dependencies;
    /// with `marks_auto`, what the closure adds is installed
    /// automatically.
    fn stage(
        &mut self,
        seeds: Vec<(usize, String)>,
        marks_auto: bool,
    ) -> Result<()> {
        let before = self.order.len();
        let mut queue = VecDeque::new();
        let mut deferred: VecDeque<(usize, &'static str, Dependency)> =
            VecDeque::new();
        for (i, origin) in seeds {
            if self.excluded.contains(&i) {
                continue;
            }
            self.add(i, Reason::Request(origin), &mut queue);
        }
        loop {
            while let Some(p) = queue.pop_front() {
                crate::cancel::check()?;
                for (field, dep) in self.deps_of(p)?.iter() {
                    if self.satisfied(dep) {
                        continue;
                    }
                    match self.forced(dep) {
                        Some(i) => self.add(
                            i,
                            Reason::Dep {
                                parent: p,
                                field,
                                relation: dep.to_string(),
                            },
                            &mut queue,
                        ),
                        None => deferred.push_back((p, field, dep.clone())),
                    }
                }
            }
            let Some((p, field, dep)) = deferred.pop_front() else {
                if marks_auto {
                    let added = &self.order[before..];
                    let reason = &self.reason;
                    self.auto.extend(added.iter().filter(|i| {
                        matches!(reason.get(i), Some(Reason::Dep { .. }))
                    }));
                }
                return Ok(());
            };
            if self.satisfied(&dep) {
                continue;
            }
            let i = self.choose(p, field, &dep)?;
            let why = Reason::Dep {
                parent: p,
                field,
                relation: dep.to_string(),
            };
            self.add(i, why, &mut queue);
        }
    }

    /// Parsed `Pre-Depends` then `Depends` of package `p`.
    fn deps_of(
        &mut self,
        p: usize,
    ) -> Result<Rc<Vec<(&'static str, Dependency)>>> {
        if let Some(d) = self.deps.get(&p) {
            return Ok(d.clone());
        }
        let pkg = &self.u.pkgs[p];
        let mut out = Vec::new();
        for (field, text) in
            [("Pre-Depends", &pkg.pre_depends), ("Depends", &pkg.depends)]
        {
            for dep in relation::parse_dependencies(text, self.u.arch)
                .map_err(|e| relation_error(pkg, field, e))?
            {
                out.push((field, dep));
            }
        }
        let rc = Rc::new(out);
        self.deps.insert(p, rc.clone());
        Ok(rc)
    }

    fn satisfied(&self, dep: &Dependency) -> bool {
        dep.alternatives.iter().any(|r| {
            self.u
                .satisfiers(r)
                .iter()
                .any(|i| self.selected.contains(i))
        })
    }

    /// The one package that can satisfy `dep`, if there is no choice.
    fn forced(&self, dep: &Dependency) -> Option<usize> {
        let [r] = &dep.alternatives[..] else {
            return None;
        };
        match &self.u.satisfiers(r)[..] {
            [only] if !self.excluded.contains(only) => Some(*only),
            _ => None,
        }
    }

    /// Decide an alternative: the first usable satisfier in order.
    fn choose(
        &mut self,
        parent: usize,
        field: &str,
        dep: &Dependency,
    ) -> Result<usize> {
        if let Some(i) = self.preferred(dep) {
            return Ok(i);
        }
        let mut tried = Vec::new();
        for r in &dep.alternatives {
            let sats = self.u.satisfiers(r);
            if sats.is_empty() {
                tried.push(self.why_not(r));
            }
            for i in sats {
                if self.excluded.contains(&i) {
                    tried.push(format!("{} is excluded", self.u.pkgs[i].name));
                } else if let Some(c) = self.conflict_with_selection(i)? {
                    tried.push(c);
                } else {
                    return Ok(i);
                }
            }
        }
        let p = &self.u.pkgs[parent];
        let mut chain =
            vec![format!("{} {} {field}: {dep}", p.name, p.version)];
        chain.extend(self.chain(parent).0);
        Err(Error::Unsatisfiable {
            relation: dep.to_string(),
            why: tried.join("; "),
            chain: Chain(chain),
        })
    }

    /// The documented exception: `usrmerge | usr-is-merged`.
    fn preferred(&self, dep: &Dependency) -> Option<usize> {
        let names: Vec<&str> =
            dep.alternatives.iter().map(|r| &*r.name).collect();
        if names.contains(&"usrmerge") && names.contains(&"usr-is-merged") {
            let r = dep
                .alternatives
                .iter()
                .find(|r| &*r.name == "usr-is-merged")?;
            let i = *self.u.satisfiers(r).first()?;
            return (!self.excluded.contains(&i)).then_some(i);
        }
        None
    }

    /// Why nothing satisfies `r`.
    fn why_not(&self, r: &Relation) -> String {
        match self.u.candidate.get(&*r.name) {
            Some(&i) => format!(
                "{} has version {} only",
                r.name, self.u.pkgs[i].version
            ),
            None if self.u.providers.contains_key(&*r.name) => {
                format!("no provider of {} matches", r.name)
            }
            None => format!("no package {} in the suite", r.name),
        }
    }

    /// Parsed `Conflicts` and `Breaks` of package `p`, parsed on first
    /// use: every choice checks them for the whole selection.
    fn negative(
        &mut self,
        p: usize,
    ) -> Result<Rc<Vec<(&'static str, Relation)>>> {
        if let Some(n) = self.negatives.get(&p) {
            return Ok(n.clone());
        }
        let pkg = &self.u.pkgs[p];
        let mut out = Vec::new();
        for (field, text) in
            [("Conflicts", &pkg.conflicts), ("Breaks", &pkg.breaks)]
        {
            for d in relation::parse_dependencies(text, self.u.arch)
                .map_err(|e| relation_error(pkg, field, e))?
            {
                out.extend(d.alternatives.into_iter().map(|r| (field, r)));
            }
        }
        let rc = Rc::new(out);
        self.negatives.insert(p, rc.clone());
        Ok(rc)
    }

    /// A conflict, either way, between candidate `i` and the selection.
    fn conflict_with_selection(&mut self, i: usize) -> Result<Option<String>> {
        let u = self.u;
        let name = |j: usize| &u.pkgs[j].name;
        for (field, r) in self.negative(i)?.iter() {
            for j in u.satisfiers(r) {
                if j != i && self.selected.contains(&j) {
                    return Ok(Some(format!(
                        "{} {field} {r} ({} is selected)",
                        name(i),
                        name(j)
                    )));
                }
            }
        }
        for k in 0..self.order.len() {
            let j = self.order[k];
            for (field, r) in self.negative(j)?.iter() {
                if j != i && u.satisfiers(r).contains(&i) {
                    return Ok(Some(format!(
                        "selected {} {field} {r}",
                        name(j)
                    )));
                }
            }
        }
        Ok(None)
    }

    /// Report any `Conflicts`/`Breaks` inside the final selection.
    fn check_conflicts(&mut self) -> Result<()> {
        for k in 0..self.order.len() {
            let i = self.order[k];
            for (field, r) in self.negative(i)?.iter() {
                // A package may conflict with what it provides itself
                // (the usual "Provides: x, Conflicts: x" idiom).
                let hit = self
                    .u
                    .satisfiers(r)
                    .into_iter()
                    .find(|&j| j != i && self.selected.contains(&j));
                if let Some(j) = hit {
                    let p = &self.u.pkgs[i];
                    return Err(Error::Conflict {
                        package: format!("{} {}", p.name, p.version),
                        field,
                        relation: r.to_string(),
                        other: self.u.pkgs[j].name.to_string(),
                        chain: self.chain(j),
                    });
                }
            }
        }
        Ok(())
    }

    /// The one step that put `p` in the selection.
    fn why(&self, p: usize) -> String {
        match self.reason.get(&p) {
            Some(Reason::Request(origin)) => origin.clone(),
            Some(Reason::Dep {
                parent,
                field,
                relation,
            }) => {
                format!("{} {field}: {relation}", self.u.pkgs[*parent].name)
            }
            None => String::new(),
        }
    }

    /// Why package `p` is selected, step by step back to the request.
    fn chain(&self, mut p: usize) -> Chain {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        while seen.insert(p) {
            let pkg = &self.u.pkgs[p];
            match self.reason.get(&p) {
                Some(Reason::Dep {
                    parent,
                    field,
                    relation,
                }) => {
                    let par = &self.u.pkgs[*parent];
                    out.push(format!(
                        "{} {} {field}: {relation}",
                        par.name, par.version
                    ));
                    p = *parent;
                }
                Some(Reason::Request(origin)) => {
                    out.push(format!(
                        "{} {} is requested by {origin}",
                        pkg.name, pkg.version
                    ));
                    break;
                }
                None => break,
            }
        }
        Chain(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::packages::parse_index;

    /// A Packages index from `(name, version, extra fields)`.
    fn index(pkgs: &[(&str, &str, &str)]) -> Vec<BinaryPackage> {
        let mut text = String::new();
        for (name, version, extra) in pkgs {
            text.push_str(&format!(
                "Package: {name}\nVersion: {version}\nArchitecture: amd64\n\
                 {extra}Filename: pool/{name}.deb\nSize: 10\nSHA256: {}\n\n",
                "00".repeat(32)
            ));
        }
        parse_index("test", &text).unwrap()
    }

    fn names(pkgs: &[BinaryPackage], req: &Request) -> Result<Vec<String>> {
        Ok(resolve(pkgs, req)?
            .packages
            .iter()
            .map(|p| p.package.name.to_string())
            .collect())
    }

    fn req(include: &[&str]) -> Request {
        Request {
            variant: Variant::Essential,
            include: include.iter().map(|s| s.to_string()).collect(),
            implied: vec![],
            exclude: vec![],
            architecture: "amd64".into(),
        }
    }

    #[test]
    fn forced_dependencies_settle_alternatives_first() {
        // a needs (x | y) and b; b needs y: apt ends with y alone.
        let pkgs = index(&[
            ("a", "1", "Depends: x | y, b\n"),
            ("b", "1", "Depends: y\n"),
            ("x", "1", ""),
            ("y", "1", ""),
        ]);
        assert_eq!(names(&pkgs, &req(&["a"])).unwrap(), ["a", "b", "y"]);
    }

    #[test]
    fn first_usable_alternative_and_providers() {
        let pkgs = index(&[
            ("a", "1", "Depends: gone | v, w (>= 2)\n"),
            ("p1", "1", "Priority: optional\nProvides: v\n"),
            ("p2", "1", "Priority: important\nProvides: v\n"),
            ("w1", "1", "Provides: w (= 1)\n"),
            ("w2", "1", "Provides: w (= 2)\n"),
        ]);
        assert_eq!(names(&pkgs, &req(&["a"])).unwrap(), ["a", "p2", "w2"]);
    }

    #[test]
    fn essential_seeds_and_priorities() {
        let pkgs = index(&[
            (
                "e",
                "1",
                "Essential: yes\nPriority: required\nPre-Depends: l\n",
            ),
            ("l", "1", "Priority: optional\n"),
            ("r", "1", "Priority: required\n"),
            ("i", "1", "Priority: important\n"),
            ("o", "1", "Priority: optional\n"),
        ]);
        let mut r = req(&[]);
        assert_eq!(names(&pkgs, &r).unwrap(), ["e", "l"]);
        r.variant = Variant::Minbase;
        assert_eq!(names(&pkgs, &r).unwrap(), ["e", "l", "r"]);
        r.variant = Variant::Important;
        assert_eq!(names(&pkgs, &r).unwrap(), ["e", "i", "l", "r"]);
    }

    /// mmdebstrap installs the essential stage with dpkg and asks apt
    /// for the rest by name or pattern: only what apt pulls in as a
    /// dependency is automatic.
    #[test]
    fn why_and_automatic_marks() {
        let pkgs = index(&[
            ("e", "1", "Essential: yes\nDepends: edep\n"),
            ("edep", "1", ""),
            ("r", "1", "Priority: required\nDepends: rdep, shared\n"),
            ("rdep", "1", ""),
            ("shared", "1", "Priority: required\n"),
            ("inc", "1", "Depends: idep | other, edep\n"),
            ("idep", "1", ""),
            ("other", "1", ""),
            ("locales", "1", ""),
        ]);
        let mut r = req(&["inc"]);
        r.variant = Variant::Required;
        r.implied = vec![("locales".into(), "system.locale".into())];
        let sel = resolve(&pkgs, &r).unwrap();
        let got: Vec<(&str, &str, bool)> = sel
            .packages
            .iter()
            .map(|s| (&*s.package.name, s.why.as_str(), s.auto))
            .collect();
        assert_eq!(
            got,
            [
                ("e", "Essential: yes", false),
                ("edep", "e Depends: edep", false),
                ("idep", "inc Depends: idep | other", true),
                ("inc", "system.include", false),
                ("locales", "system.locale", false),
                ("r", "Priority: required", false),
                ("rdep", "r Depends: rdep", true),
                ("shared", "Priority: required", false),
            ]
        );
        r.implied = vec![("nolocales".into(), "system.locale".into())];
        assert_eq!(
            resolve(&pkgs, &r).unwrap_err().to_string(),
            "system.locale: no package nolocales for amd64 in the suite"
        );
    }

    #[test]
    fn priority_seeds_are_named_as_debian_writes_them() {
        let pkgs = index(&[("r", "1", "Priority: required\nDepends: gone\n")]);
        let mut r = req(&[]);
        r.variant = Variant::Required;
        let e = names(&pkgs, &r).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("r 1 is requested by Priority: required"),
            "{e}"
        );
    }

    #[test]
    fn usr_is_merged_over_usrmerge() {
        let pkgs = index(&[
            ("ish", "1", "Depends: usrmerge | usr-is-merged\n"),
            ("usrmerge", "1", "Depends: perl\n"),
            ("usr-is-merged", "1", ""),
            ("perl", "1", ""),
        ]);
        assert_eq!(
            names(&pkgs, &req(&["ish"])).unwrap(),
            ["ish", "usr-is-merged"]
        );
    }

    #[test]
    fn unsatisfiable_shows_the_chain() {
        let pkgs = index(&[
            ("top", "1", "Depends: mid\n"),
            ("mid", "1", "Depends: low (>= 2)\n"),
            ("low", "1.5", ""),
        ]);
        let e = names(&pkgs, &req(&["top"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot satisfy low (>= 2): low has version 1.5 only\n  \
             mid 1 Depends: low (>= 2)\n  \
             top 1 Depends: mid\n  \
             top 1 is requested by system.include"
        );
    }

    #[test]
    fn conflicts_and_excludes() {
        let pkgs = index(&[
            ("a", "1", "Conflicts: b\n"),
            ("b", "1", ""),
            ("c", "1", "Depends: b | d\n"),
            ("d", "1", ""),
        ]);
        let e = names(&pkgs, &req(&["a", "b"])).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("a 1 Conflicts b, but b is selected too"),
            "{e}"
        );
        // A choice avoids the conflicting alternative.
        assert_eq!(names(&pkgs, &req(&["a", "c"])).unwrap(), ["a", "c", "d"]);
        let mut r = req(&["c"]);
        r.exclude = vec!["b".into()];
        assert_eq!(names(&pkgs, &r).unwrap(), ["c", "d"]);
        r.exclude = vec!["nope".into()];
        assert!(matches!(
            names(&pkgs, &r),
            Err(Error::UnknownPackage { .. })
        ));
    }

    #[test]
    fn unknown_and_virtual_includes() {
        let pkgs = index(&[
            ("p1", "1", "Provides: v, only\n"),
            ("p2", "1", "Provides: v\n"),
        ]);
        assert_eq!(names(&pkgs, &req(&["only"])).unwrap(), ["p1"]);
        let e = names(&pkgs, &req(&["v"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "system.include: no package v for amd64 in the suite (it is virtual, \
             provided by p1, p2: name one of them)"
        );
        let e = names(&pkgs, &req(&["zz"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "system.include: no package zz for amd64 in the suite"
        );
    }
}
