//! The `lunforge` command: parse arguments, run the library, print the
//! error chain and map it to an exit status. The only user of `anyhow`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Parser;

use lunforge::cli::{
    Cli, Command, Format, FsType, InitrdArgs, MkfsArgs, RecipeArgs,
    RecipeCommand, RecipeOnly,
};
use lunforge::filesystems::ext::ExtKind;
use lunforge::recipe::{Recipe, Source};
use lunforge::resolve::lockfile::{self, Lock};
use lunforge::sink::{FileSink, Sink};
use lunforge::{pipeline, progress, units, Context};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lunforge: error: {}", chain(&e));
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
    let quiet = cli.quiet;
    match cli.command {
        Command::Build {
            mut recipe,
            format,
            output,
            configure,
        } => {
            if let Some(c) = configure {
                recipe.recipe.set.push(format!("system.configure={c}"));
            }
            build(&recipe, format, &output, quiet)
        }
        Command::Mkfs(args) => mkfs(&args),
        Command::Initrd(args) => initrd(&args, quiet),
        Command::Write => Err(lunforge::Error::NotImplemented("write").into()),
        Command::Inspect { image } => {
            print!("{}", lunforge::inspect::inspect(&image, color())?);
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
            let (r, ctx) = setup(&recipe, quiet)?;
            let lock = package_set(&recipe, &r, &ctx)?;
            print_resolution(&lock, json);
            Ok(())
        }
        Command::Fetch(args) => {
            println!("{}", fetch(&args, quiet)?);
            Ok(())
        }
        Command::Lock { recipe, output } => {
            let (r, ctx) = setup(&recipe, quiet)?;
            let lock = pipeline::resolve(&r, &ctx)?;
            let path = output
                .or_else(|| recipe.lockfile.clone())
                .unwrap_or_else(|| lockfile::path_for(r.source.as_deref()));
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
    }
}

/// `lunforge build`: the disk image, or the root file system as a
/// tarball.
fn build(
    args: &RecipeArgs,
    format: Format,
    out: &Path,
    quiet: bool,
) -> Result<()> {
    let (r, ctx) = setup(args, quiet)?;
    if format == Format::Image {
        pipeline::check_image(&r)?;
    }
    let lock = package_set(args, &r, &ctx)?;
    let fetched = pipeline::fetch(&r, &ctx, &lock)?;
    let mut tree = pipeline::root_tree(&r, &ctx, &lock, &fetched)?;
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create {}", out.display()))?;
    if format == Format::Tar {
        let path = out.join(format!("{}.tar", r.image.name));
        pipeline::write_tar(&tree, &path, &lock)?;
        println!(
            "wrote {}: {} packages, {} paths",
            path.display(),
            lock.packages.len(),
            tree.len()
        );
        return Ok(());
    }
    let artifacts = pipeline::boot(&r, &mut tree, &lock, &fetched)?;
    let paths = tree.len();
    let path = out.join(format!("{}.img", r.image.name));
    let time = pipeline::source_date_epoch(&lock);
    pipeline::write_image(&r, tree, time, &path)?;
    println!(
        "wrote {}: {} packages, {} paths",
        path.display(),
        lock.packages.len(),
        paths
    );
    match artifacts {
        Some(a) => {
            let dir = lunforge::boot::write_out(out, &r.image.name, &a)?;
            println!(
                "wrote {}: {} boot files and SHA256SUMS",
                dir.display(),
                a.len()
            );
        }
        None => {
            // Boot files of an earlier build would not match this image.
            let stale = out.join(&r.image.name);
            if stale.is_dir() {
                std::fs::remove_dir_all(&stale).with_context(|| {
                    format!("cannot remove the stale {}", stale.display())
                })?;
            }
            eprintln!(
                "lunforge: warning: the guest has no kernel (add \
             linux-image-{} to system.include): no boot files written",
                r.system.architecture
            );
        }
    }
    Ok(())
}

/// `lunforge initrd`.
fn initrd(a: &InitrdArgs, quiet: bool) -> Result<()> {
    let (r, ctx) = setup(&a.recipe, quiet)?;
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
fn fetch(args: &RecipeArgs, quiet: bool) -> Result<String> {
    let (r, ctx) = setup(args, quiet)?;
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
fn setup(args: &RecipeArgs, quiet: bool) -> Result<(Recipe, Context)> {
    let recipe = load(&args.recipe)?;
    let mut ctx = Context::new();
    if let Some(c) = &args.cache {
        ctx.cache_dir = c.clone();
    }
    ctx.keyring = args.keyring.clone();
    ctx.insecure_unsigned = args.insecure_unsigned;
    ctx.ignore_valid_until = args.ignore_valid_until;
    ctx.jobs = args.jobs.max(1);
    ctx.progress = Box::new(progress::Terminal::new(quiet));
    Ok((recipe, ctx))
}

/// The package set: from the lockfile with `--locked`, else resolved.
fn package_set(args: &RecipeArgs, r: &Recipe, ctx: &Context) -> Result<Lock> {
    if args.locked {
        let path: PathBuf = args
            .lockfile
            .clone()
            .unwrap_or_else(|| lockfile::path_for(r.source.as_deref()));
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
