//! The `lunforge` command: parse arguments, run the library, print the
//! error chain and map it to an exit status. The only user of `anyhow`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{CommandFactory, Parser};

use lunforge::cli::{
    Cli, Command, Format, FsType, InitrdArgs, IscsiCommand, MkfsArgs,
    RecipeArgs, RecipeCommand, RecipeOnly, WriteArgs,
};
use lunforge::filesystems::ext::ExtKind;
use lunforge::pipeline::{BuildReport, Made, Request};
use lunforge::progress::Level;
use lunforge::recipe::{Recipe, Source};
use lunforge::resolve::lockfile::{self, Lock};
use lunforge::sink::target::{Target, TargetOptions};
use lunforge::sink::{FileSink, Finished, Sink};
use lunforge::{pipeline, progress, units, Context};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = lunforge::cancel::install() {
        eprintln!("lunforge: error: cannot handle SIGINT and SIGTERM: {e}");
        return ExitCode::FAILURE;
    }
    // `run` has returned, so every temporary file and directory it made
    // is removed (their destructors ran) before the exit status is set.
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failure(&e),
    }
}

/// The message and exit status of a failed run. After a signal, the
/// error is its consequence (the stage that noticed it, or a child that
/// the terminal's Ctrl-C reached first), so the run ends as a shell
/// reports a command that signal killed: 130 for SIGINT, 143 for
/// SIGTERM.
fn failure(e: &anyhow::Error) -> ExitCode {
    match lunforge::cancel::requested() {
        Some(signal) => {
            // A device or LUN written in place keeps what was written:
            // say so; anything else was removed on the way out.
            let partial = e
                .downcast_ref::<lunforge::Error>()
                .is_some_and(lunforge::Error::says_incomplete);
            if partial {
                eprintln!("lunforge: error: {}", chain(e));
            }
            eprintln!("lunforge: stopped by {signal}");
            ExitCode::from(signal.exit_code())
        }
        None => {
            eprintln!("lunforge: error: {}", chain(e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, joined by ": ", skipping a cause whose text
/// the message before it already includes (our typed errors print their
/// evidence, including the underlying I/O or HTTP error, themselves).
fn chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn run(cli: Cli) -> Result<()> {
    let level = Level::from_flags(cli.quiet, cli.verbose);
    match cli.command {
        Command::Build {
            mut recipe,
            format,
            output,
            configure,
            target,
            write,
            json,
        } => {
            if let Some(c) = configure {
                recipe.recipe.set.push(format!("system.configure={c}"));
            }
            let t = target.as_deref();
            build(&recipe, format, &output, t, &write, level, json)
        }
        Command::Mkfs(args) => mkfs(&args),
        Command::Initrd(args) => initrd(&args, level),
        Command::Write {
            image,
            target,
            write,
        } => write_image(&image, &target, &write, level),
        Command::Inspect { image, chap_secret } => {
            let secret = secret(chap_secret.as_deref())?;
            let report =
                lunforge::inspect::inspect_target(&image, secret, color())?;
            print!("{report}");
            Ok(())
        }
        Command::Iscsi(IscsiCommand::Discover {
            portal,
            chap_secret,
        }) => {
            let secret = secret(chap_secret.as_deref())?;
            let listing = lunforge::iscsi::listing::discover_listing(
                &portal,
                secret.as_ref(),
            )?;
            print!("{listing}");
            Ok(())
        }
        Command::Recipe(RecipeCommand::Show(r)) => {
            let recipe = load(&r)?;
            print!("{}", recipe.to_toml());
            Ok(())
        }
        Command::Recipe(RecipeCommand::Check(r)) => {
            let recipe = load(&r)?;
            println!(
                "{}: ok ({} {} {}, {} partitions)",
                source(&r).name(),
                recipe.system.suite,
                recipe.system.architecture,
                recipe.system.variant.name(),
                recipe.partitions.len()
            );
            Ok(())
        }
        Command::Resolve { recipe, json } => {
            let (r, ctx) = setup(&recipe, level)?;
            let lock = package_set(&recipe, &r, &ctx)?;
            print_resolution(&lock, json);
            Ok(())
        }
        Command::Fetch(args) => {
            println!("{}", fetch(&args, level)?);
            Ok(())
        }
        Command::Lock { recipe, output } => {
            let (r, ctx) = setup(&recipe, level)?;
            let lock = pipeline::resolve(&r, &ctx)?;
            let path = output.unwrap_or_else(|| lock_path(&recipe, &r));
            lock.write(&path)?;
            println!(
                "wrote {}: {} packages from {} ({})",
                path.display(),
                lock.packages.len(),
                lock.release.suite,
                lock.release.path
            );
            Ok(())
        }
        Command::Completions { shell } => completions(shell),
        Command::Man { dir } => {
            let pages = lunforge::cli::man::write_all(Cli::command(), &dir)?;
            println!("wrote {} manual pages in {}", pages.len(), dir.display());
            Ok(())
        }
    }
}

/// `lunforge completions SHELL`: the script on stdout (generated in
/// memory first, so that a closed stdout is an error, not a panic).
fn completions(shell: clap_complete::Shell) -> Result<()> {
    let script = lunforge::cli::complete::script(shell, Cli::command());
    std::io::stdout()
        .write_all(&script)
        .context("writing the completion script")
}

/// `lunforge build`: the disk image (to its target) and its boot
/// files, or the root file system as a tarball; the summary, or with
/// `json` the report on stdout and the summary on stderr.
fn build(
    args: &RecipeArgs,
    format: Format,
    out: &Path,
    target: Option<&str>,
    write: &WriteArgs,
    level: Level,
    json: bool,
) -> Result<()> {
    let (r, ctx) = setup(args, level)?;
    let mut req = Request::image(out);
    req.format = match format {
        Format::Image => pipeline::Format::Image,
        Format::Tar => pipeline::Format::Tar,
    };
    if format == Format::Tar && target.is_some() {
        anyhow::bail!(
            "--target writes a disk; --format tar makes a tarball in OUT"
        );
    }
    req.target = target.map(target_of).transpose()?;
    req.target_options = target_options(write, Some(&r))?;
    if args.locked {
        req.lockfile = Some(lock_path(args, &r));
    }
    let report = pipeline::build(&r, &ctx, &req)?;
    let summary = build_summary(&report, &r);
    if json {
        eprint!("{summary}");
        println!("{}", report.to_json());
    } else {
        print!("{summary}");
    }
    Ok(())
}

/// The summary of a build: what was written where, the files of
/// `OUT/<name>/`, the stages' times.
fn build_summary(report: &BuildReport, r: &Recipe) -> String {
    let what = format!(
        "{}, {} packages, {} paths",
        report.architecture, report.packages, report.paths
    );
    let mut out = match &report.made {
        Made::Tar(path) => format!("wrote {}: {what}\n", path.display()),
        Made::Disk(f) => {
            format!("wrote {}: {what}; {}\n", f.target, written(f))
        }
    };
    let boot = match report.boot_files {
        0 => String::new(),
        n => format!("{n} boot files, "),
    };
    out.push_str(&format!(
        "wrote {}: {boot}sbom.spdx.json, manifest.json and SHA256SUMS\n",
        report.dir.display()
    ));
    if report.boot_files == 0 && matches!(report.made, Made::Disk(_)) {
        eprintln!(
            "lunforge: warning: the guest has no kernel (add \
             linux-image-{} to system.include): no boot files written",
            r.system.architecture
        );
    }
    let times: Vec<String> = report
        .stages
        .iter()
        .map(|s| format!("{} {:.1} s", s.stage, s.time.as_secs_f64()))
        .collect();
    out.push_str(&format!("stages: {}\n", times.join(", ")));
    out
}

/// What a sink wrote, in words.
fn written(f: &Finished) -> String {
    let size = units::human(f.size);
    let Some(d) = f.device else {
        return size;
    };
    let holes = match d.zeroing {
        None => "holes skipped (--assume-zeroed)".to_string(),
        Some(how) => format!("{} of holes {how}", units::human(d.zeroed)),
    };
    let verified = match (d.verified, d.unverified) {
        (0, _) if d.data > 0 => ", not verified".to_string(),
        (v, 0) => format!(", {} verified", units::human(v)),
        (v, u) => format!(
            ", {} verified ({} overwritten before it could be)",
            units::human(v),
            units::human(u)
        ),
    };
    format!(
        "{size}: {} of data, {holes}{verified}",
        units::human(d.data)
    )
}

/// `lunforge write IMAGE TARGET`.
fn write_image(
    image: &Path,
    target: &str,
    write: &WriteArgs,
    level: Level,
) -> Result<()> {
    let target = target_of(target)?;
    let opts = target_options(write, None)?;
    let progress = progress::Terminal::new(level);
    let f =
        lunforge::sink::copy::write_image(image, &target, &opts, &progress)?;
    println!("wrote {}: {}", f.target, written(&f));
    Ok(())
}

/// A target named on the command line; warns of a secret in a URL.
fn target_of(s: &str) -> Result<Target> {
    let t = Target::parse(s)?;
    if t.has_secret_in_url() {
        eprintln!(
            "lunforge: warning: the CHAP secret in the URL shows in the \
             process list; prefer --chap-secret env:VAR or file:PATH"
        );
    }
    Ok(t)
}

fn write_options(w: &WriteArgs) -> lunforge::sink::device::Options {
    lunforge::sink::device::Options {
        assume_zeroed: w.assume_zeroed,
        verify: !w.no_verify,
    }
}

/// The target options: the CHAP secret from the command line, else the
/// recipe's (a build has one), and the recipe's CHAP user.
fn target_options(w: &WriteArgs, r: Option<&Recipe>) -> Result<TargetOptions> {
    let iscsi = r.and_then(|r| r.iscsi.as_ref());
    let recipe_secret = iscsi.and_then(|i| i.chap_secret.clone());
    Ok(TargetOptions {
        device: write_options(w),
        force: w.force,
        chap_secret: secret(w.chap_secret.as_deref())?.or(recipe_secret),
        chap_user: iscsi.and_then(|i| i.chap_user.clone()),
        ..TargetOptions::default()
    })
}

/// `--chap-secret env:VAR|file:PATH`.
fn secret(s: Option<&str>) -> Result<Option<lunforge::recipe::SecretSource>> {
    s.map(|s| {
        s.parse()
            .map_err(|e: String| anyhow::anyhow!("--chap-secret: {e}"))
    })
    .transpose()
}

/// `lunforge initrd`.
fn initrd(a: &InitrdArgs, level: Level) -> Result<()> {
    let (r, ctx) = setup(&a.recipe, level)?;
    let compression = if a.zstd {
        lunforge::boot::initrd::Compression::Zstd
    } else {
        lunforge::boot::initrd::Compression::Gzip
    };
    let lock = if a.recipe.locked {
        Some(package_set(&a.recipe, &r, &ctx)?)
    } else {
        None
    };
    let (version, image) = pipeline::host_initrd(
        &r,
        &ctx,
        lock.as_ref(),
        &a.kernel_modules,
        a.kernel_version.as_deref(),
        &a.modules,
        compression,
    )?;
    let mut sink: Box<dyn Sink> =
        Box::new(FileSink::create(&a.output, image.len() as u64)?);
    sink.write_at(0, &image)?;
    sink.finish()?;
    println!(
        "wrote {}: initrd of kernel {version}, {}",
        a.output.display(),
        units::human(image.len() as u64)
    );
    Ok(())
}

/// `lunforge mkfs`.
fn mkfs(a: &MkfsArgs) -> Result<()> {
    let kind = match a.fs_type {
        FsType::Ext2 => ExtKind::Ext2,
        FsType::Ext3 => ExtKind::Ext3,
        FsType::Ext4 => ExtKind::Ext4,
    };
    let opts = lunforge::mkfs::Options {
        kind,
        from: a.from.clone(),
        output: a.output.clone(),
        size: a.size.map(|s| s.bytes()),
        label: a.label.clone(),
        uuid: a.uuid,
        devices: a.devices.clone(),
        inode_ratio: a.inode_ratio,
        inodes: a.inodes,
        reserved_percent: a.reserved_percent,
        block_size: a.block_size,
    };
    let report = lunforge::mkfs::mkfs(&opts)?;
    let p = &report.params;
    println!(
        "wrote {}: {} of {}, {} paths, UUID {}",
        a.output.display(),
        kind,
        units::human(p.size),
        report.paths,
        lunforge::ids::Uuid(p.uuid)
    );
    Ok(())
}

/// Whether `inspect` may draw in colour: a terminal, and no `NO_COLOR`.
fn color() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Resolve (or read the lock) and download; the summary line.
fn fetch(args: &RecipeArgs, level: Level) -> Result<String> {
    let (r, ctx) = setup(args, level)?;
    let lock = package_set(args, &r, &ctx)?;
    let report = pipeline::fetch(&r, &ctx, &lock)?;
    Ok(format!(
        "{} packages in {}: {} downloaded ({}), {} already cached",
        lock.packages.len(),
        ctx.cache_dir.display(),
        report.downloaded,
        units::human(report.downloaded_bytes),
        report.cached
    ))
}

fn source(r: &RecipeOnly) -> Source {
    r.recipe.clone().map_or(Source::Embedded, Source::Path)
}

/// Load the recipe with `--set` and `--mirror` applied.
fn load(r: &RecipeOnly) -> Result<Recipe> {
    let mut sets = r.set.clone();
    if let Some(m) = &r.mirror {
        sets.push(format!("system.mirror={m}"));
    }
    let mut recipe = Recipe::load(&source(r), &sets, Path::new("/"))?;
    if r.mirror.is_some() {
        recipe.system.mirror_origin = "--mirror".into();
    }
    Ok(recipe)
}

/// The recipe and the run context from the common options.
fn setup(args: &RecipeArgs, level: Level) -> Result<(Recipe, Context)> {
    let recipe = load(&args.recipe)?;
    let mut ctx = Context::new();
    if let Some(c) = &args.cache {
        ctx.cache_dir = c.clone();
    }
    ctx.keyring = args.keyring.clone();
    ctx.insecure_unsigned = args.insecure_unsigned;
    ctx.ignore_valid_until = args.ignore_valid_until;
    ctx.jobs = args.jobs.max(1);
    ctx.progress = Box::new(progress::Terminal::new(level));
    Ok((recipe, ctx))
}

/// The package set: from the lockfile with `--locked`, else resolved.
/// `--lockfile`, else the recipe's path with `.lock`.
fn lock_path(args: &RecipeArgs, r: &Recipe) -> PathBuf {
    args.lockfile
        .clone()
        .unwrap_or_else(|| lockfile::path_for(r.source.as_deref()))
}

fn package_set(args: &RecipeArgs, r: &Recipe, ctx: &Context) -> Result<Lock> {
    if args.locked {
        let path = lock_path(args, r);
        return pipeline::locked(r, &path)
            .with_context(|| format!("--locked needs {}", path.display()));
    }
    Ok(pipeline::resolve(r, ctx)?)
}

fn print_resolution(lock: &Lock, json: bool) {
    let total: u64 = lock.packages.iter().map(|p| p.size).sum();
    if json {
        let v = serde_json::json!({
            "release": lock.release,
            "packages": lock.packages,
            "tools": lock.tools,
            "total": {
                "packages": lock.packages.len(),
                "download_size": total,
            },
        });
        println!("{v:#}");
        return;
    }
    for p in &lock.packages {
        println!("{} {} {}", p.name, p.version, p.architecture);
    }
    for p in &lock.tools {
        println!("{} {} {} (build tool)", p.name, p.version, p.architecture);
    }
    println!(
        "{} packages, {} to download ({} bytes)",
        lock.packages.len(),
        units::human(total),
        total
    );
}
