//! The command line, declared with clap; no logic lives here. Each
//! command's `--help` ends with [`examples`]; [`complete`] makes the
//! shell completion scripts and [`man`] the manual pages from these
//! definitions.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

pub mod complete;
mod examples;
pub mod man;

use self::examples::section;

/// Output formats of `lunforge build`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The partitioned disk image `OUT/<name>.img` (sparse).
    Image,
    /// The root file system as a tarball `OUT/<name>.tar`.
    Tar,
}

/// File systems `lunforge mkfs` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FsType {
    /// ext2: no journal.
    Ext2,
    /// ext3: ext2 with a journal.
    Ext3,
    /// ext4: extents, flex_bg, metadata checksums.
    Ext4,
}

/// Builds ready-to-boot Debian guest disks for Xen hosts sharing iSCSI
/// storage, from a declarative recipe, without root.
#[derive(Debug, Parser)]
#[command(name = "lunforge", version, about, long_about = None)]
#[command(after_help = section(examples::ROOT))]
pub struct Cli {
    /// Print only warnings, errors and summaries.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More detail on stderr; `-vv` even more.
    ///
    /// `-v`: each stage's end and time, the mirror and why, the verified
    /// Release, each download (fetched or found in the cache). `-vv`:
    /// also each request to the mirror, each maintainer script run at
    /// build time (and what it prints) and each boot file.
    #[arg(
        short,
        long,
        global = true,
        action = ArgAction::Count,
        conflicts_with = "quiet"
    )]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the guest's disk image (or its root file system as a
    /// tarball).
    #[command(after_help = section(examples::BUILD))]
    Build {
        /// Recipe and repository options.
        #[command(flatten)]
        recipe: RecipeArgs,
        /// What to write: `image`, the partitioned disk
        /// `OUT/<name>.img`, or `tar`, the installed root file system as
        /// a deterministic tarball `OUT/<name>.tar`.
        #[arg(long, value_enum, default_value_t = Format::Image)]
        format: Format,
        /// Output directory.
        #[arg(short, long, value_name = "OUT", default_value = "out")]
        output: PathBuf,
        /// How maintainer scripts run: `auto`, `chroot` (root, at build
        /// time, in new namespaces), `unshare` (a normal user, at build
        /// time, in a user namespace with ids from /etc/subuid) or
        /// `firstboot` (no privilege, on the guest's first boot);
        /// overrides `system.configure`.
        #[arg(long, value_name = "STRATEGY")]
        configure: Option<String>,
        /// Write the disk here instead of `OUT/<name>.img`, streamed with
        /// no image file on local disk: a file, a block device, or
        /// `iscsi://[user[%secret]@]host[:port]/IQN/LUN`.
        #[arg(long, value_name = "TARGET")]
        target: Option<String>,
        /// How a device or LUN is written.
        #[command(flatten)]
        write: WriteArgs,
        /// Print the build report as one JSON document on stdout (the
        /// summary lines go to stderr).
        #[arg(long)]
        json: bool,
    },
    /// Resolve the package set and print it.
    #[command(after_help = section(examples::RESOLVE))]
    Resolve {
        /// Recipe and repository options.
        #[command(flatten)]
        recipe: RecipeArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Download the package set into the cache.
    #[command(after_help = section(examples::FETCH))]
    Fetch(RecipeArgs),
    /// Resolve and write the lockfile `<recipe>.lock`.
    #[command(after_help = section(examples::LOCK))]
    Lock {
        /// Recipe and repository options.
        #[command(flatten)]
        recipe: RecipeArgs,
        /// Where to write the lock (default: next to the recipe).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Make an ext2/3/4 file system image from a directory, rootless
    /// and deterministic.
    #[command(after_help = section(examples::MKFS))]
    Mkfs(MkfsArgs),
    /// Make an initrd for a kernel's modules (a guest's, or a host's own
    /// `/lib/modules`), with busybox-static from the recipe's suite.
    #[command(after_help = section(examples::INITRD))]
    Initrd(InitrdArgs),
    /// Write a built image to a file, block device or iSCSI target.
    #[command(after_help = section(examples::WRITE))]
    Write {
        /// The image file.
        image: PathBuf,
        /// A file, a block device, or
        /// `iscsi://[user[%secret]@]host[:port]/IQN/LUN`.
        target: String,
        /// How a device or LUN is written.
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Show the partitions and file systems of an image, a block device
    /// or an iSCSI LUN.
    #[command(after_help = section(examples::INSPECT))]
    Inspect {
        /// An image file, a block device or an `iscsi://` URL.
        image: String,
        /// The CHAP secret of an iSCSI target: `env:VAR` or `file:PATH`.
        #[arg(long, value_name = "SOURCE")]
        chap_secret: Option<String>,
    },
    /// iSCSI targets.
    #[command(subcommand, after_help = section(examples::ISCSI))]
    Iscsi(IscsiCommand),
    /// Show or check a recipe.
    #[command(subcommand, after_help = section(examples::RECIPE))]
    Recipe(RecipeCommand),
    /// Print the completion script of a shell: bash, zsh, fish, elvish
    /// or powershell.
    #[command(after_help = section(examples::COMPLETIONS))]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages, `lunforge.1` and one per subcommand, into
    /// DIR (what `make man` runs).
    #[command(hide = true, after_help = section(examples::MAN))]
    Man {
        /// The directory (made if missing).
        dir: PathBuf,
    },
}

/// How a disk is written to a block device or an iSCSI LUN.
#[derive(Debug, Args, Clone, Default)]
pub struct WriteArgs {
    /// Write over a device that holds a partition table or a file
    /// system.
    #[arg(long)]
    pub force: bool,
    /// The device already reads zeros where the image has no data (a
    /// new thin LUN, a discarded disk): write only the data.
    #[arg(long)]
    pub assume_zeroed: bool,
    /// Do not read the written data back to compare it.
    #[arg(long)]
    pub no_verify: bool,
    /// The CHAP secret of an iSCSI target: `env:VAR` or `file:PATH`
    /// (default: the recipe's `iscsi.chap_secret`).
    #[arg(long, value_name = "SOURCE")]
    pub chap_secret: Option<String>,
}

/// `lunforge iscsi …`.
#[derive(Debug, Subcommand)]
pub enum IscsiCommand {
    /// List a portal's targets, their LUNs and sizes (SendTargets).
    #[command(after_help = section(examples::ISCSI_DISCOVER))]
    Discover {
        /// `host[:port]`, or `iscsi://[user@]host[:port]`.
        portal: String,
        /// The CHAP secret: `env:VAR` or `file:PATH`.
        #[arg(long, value_name = "SOURCE")]
        chap_secret: Option<String>,
    },
}

/// `lunforge mkfs`.
#[derive(Debug, Args)]
pub struct MkfsArgs {
    /// The file system: ext2, ext3 or ext4.
    #[arg(value_enum, value_name = "TYPE")]
    pub fs_type: FsType,
    /// The directory whose contents fill the file system.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// The image file to write (replaced atomically).
    pub output: PathBuf,
    /// Size (`512MiB`, `8GiB`); default: the smallest that holds DIR.
    #[arg(long, value_name = "SIZE")]
    pub size: Option<crate::units::ByteSize>,
    /// Volume label (at most 16 bytes).
    #[arg(short = 'L', long, default_value = "")]
    pub label: String,
    /// File system UUID; default: derived from the options and DIR.
    #[arg(short = 'U', long, value_name = "UUID")]
    pub uuid: Option<crate::ids::Uuid>,
    /// A genext2fs device table adding device nodes and setting owners
    /// and modes.
    #[arg(long, value_name = "FILE")]
    pub devices: Option<PathBuf>,
    /// Block size in bytes: 1024, 2048 or 4096 (default as mke2fs).
    #[arg(short = 'b', long, value_name = "BYTES")]
    pub block_size: Option<u32>,
    /// Bytes per inode (default as mke2fs.conf).
    #[arg(short = 'i', long, value_name = "BYTES")]
    pub inode_ratio: Option<u64>,
    /// Number of inodes (instead of the ratio).
    #[arg(short = 'N', long, value_name = "COUNT")]
    pub inodes: Option<u32>,
    /// Percent of blocks reserved for root (default 5).
    #[arg(short = 'm', long, value_name = "PERCENT")]
    pub reserved_percent: Option<u8>,
}

/// `lunforge initrd`.
#[derive(Debug, Args)]
pub struct InitrdArgs {
    /// The modules directory: `/lib/modules` (one kernel, or name it with
    /// --kernel-version) or one kernel's `/lib/modules/VERSION`.
    #[arg(long, value_name = "DIR")]
    pub kernel_modules: PathBuf,
    /// The kernel version, when DIR holds several.
    #[arg(long, value_name = "VERSION")]
    pub kernel_version: Option<String>,
    /// The initrd to write (replaced atomically).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Compress with zstd instead of gzip (the kernel needs
    /// CONFIG_RD_ZSTD).
    #[arg(long)]
    pub zstd: bool,
    /// Extra modules to load, besides those that reach a root on Xen or
    /// QEMU (repeatable).
    #[arg(long = "module", value_name = "NAME")]
    pub modules: Vec<String>,
    /// Where busybox-static comes from: the recipe's suite and mirror.
    #[command(flatten)]
    pub recipe: RecipeArgs,
}

/// `lunforge recipe …`.
#[derive(Debug, Subcommand)]
pub enum RecipeCommand {
    /// Print the recipe with every default filled in.
    #[command(after_help = section(examples::RECIPE_SHOW))]
    Show(RecipeOnly),
    /// Check a recipe and report the first error.
    #[command(after_help = section(examples::RECIPE_CHECK))]
    Check(RecipeOnly),
}

/// The recipe and its overrides.
#[derive(Debug, Args)]
pub struct RecipeOnly {
    /// Recipe file (default: the built-in virtual01 recipe).
    pub recipe: Option<PathBuf>,
    /// Override a recipe key: `--set system.suite=bookworm`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Mirror URL (overrides `system.mirror`).
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
}

/// Options of every command that reads a suite.
#[derive(Debug, Args)]
pub struct RecipeArgs {
    /// The recipe.
    #[command(flatten)]
    pub recipe: RecipeOnly,
    /// OpenPGP keyring that signs the suite (repeatable; default: the
    /// recipe's `system.keyring`, else the host's Debian archive keyring).
    #[arg(long, value_name = "FILE")]
    pub keyring: Vec<PathBuf>,
    /// Accept a suite whose Release is not signed. Dangerous.
    #[arg(long)]
    pub insecure_unsigned: bool,
    /// Accept a Release whose Valid-Until has passed.
    #[arg(long)]
    pub ignore_valid_until: bool,
    /// Download cache directory (default: $XDG_CACHE_HOME/lunforge).
    #[arg(long, value_name = "DIR", env = "LUNFORGE_CACHE")]
    pub cache: Option<PathBuf>,
    /// Parallel downloads.
    #[arg(short, long, default_value_t = crate::fetch::DEFAULT_JOBS)]
    pub jobs: usize,
    /// Use exactly the packages of the lockfile.
    #[arg(long)]
    pub locked: bool,
    /// Lockfile path (default: `<recipe>.lock`).
    #[arg(long, value_name = "FILE")]
    pub lockfile: Option<PathBuf>,
}
