//! lunforge's integration tests: one test binary (as ext4-view and
//! ripgrep do), in which every test runs the real `lunforge` binary (or
//! the library) against something lunforge did not make, and checks the
//! result with a tool nobody here wrote.
//!
//! - A local Debian repository built at test time by `dpkg-deb`,
//!   `apt-ftparchive`, `xz` and `gpg`, served on 127.0.0.1 by the test
//!   process ([`support::testrepo`], [`support::http`]):
//!   - [`repo_client`]: signatures (InRelease, Release.gpg, unsigned,
//!     unknown key, expiry) and index digests, tampered after signing;
//!   - [`resolve_local`]: the resolver's choices, checked by hand and
//!     against `apt-get --simulate install` ([`support::oracle::Apt`]);
//!   - [`lockfile`]: `lunforge lock` and `--locked` fetches;
//!   - [`fetch_cache`]: the content-addressed cache, tampered packages,
//!     concurrent processes;
//!   - [`faults`]: a mirror that resets, cuts short, corrupts or stalls
//!     its answers ([`support::faulty`]), and a full or read-only output
//!     file system and a full `TMPDIR` (tmpfs and bind mounts in private
//!     mount namespaces, as root): clear errors, nothing half-written.
//! - [`ext_features`]: the ext2/ext3/ext4 writer checked by `e2fsck`,
//!   `dumpe2fs`, `debugfs` and against what `mke2fs` makes.
//! - [`cli_recipe`]: recipe errors and overrides through the command
//!   line, and the golden `recipe show`.
//! - [`repro`]: three builds of one recipe from other caches, paths,
//!   working directories and `TMPDIR`s give the same bytes.
//! - [`recipe_props`]: random recipes through the shared check: refused
//!   at a key of the file, or planned by every later stage.
//! - [`cli_verbose`]: `-q`, `-v` and `-vv` on a build: each level adds
//!   to the one below, checked against the repository's packages, the
//!   build's summary and the server's request log.
//! - [`cli_docs`]: the completion scripts (`bash -n`, then bash
//!   completing words) and the manual pages (`groff -man -ww -z`).
//! - [`ext4_parts`]: ext4's flex_bg placement, `metadata_csum`
//!   checksums and extent trees against images `mke2fs` makes, read
//!   back with `dumpe2fs`, `debugfs` and `e2fsck`.
//! - [`host_mirror`]: the host's real Debian mirror, where the resolved
//!   package sets are compared with what `mmdebstrap` installs
//!   ([`support::oracle::mmdebstrap`]).
//! - [`qemu_smoke`]: the boot harness ([`support::qemu`]) with Debian's
//!   kernel and a busybox initrd under `qemu-system-x86_64`.
//! - [`vm_ssh`]: the harness of long-running machines ([`support::vm`])
//!   on the default guest, driven over SSH: login, `scp`, a jump host,
//!   power-off.
//!
//! - [`sandbox`]: the configure sandbox against a hostile script: no
//!   mount, network or daemon of it reaches the build host.
//!
//! - [`boot_config`]: the boot configuration artifacts, through
//!   `grub-script-check`, `sha256sum -c`, Xen's own config parser
//!   (`libxlutil`), pygrub's parser and `udevadm test`.
//!
//! - [`initrd`]: the initrd of a real Debian kernel from that mirror,
//!   read by `cpio`, `gzip`, `zstd` and busybox, its module order
//!   checked against `depmod`; [`initrd_init`]: its `/init` run as PID 1
//!   in new namespaces, mounting a loop-device root by UUID.
//!
//! - [`ext_props`], [`ext_oracle`], [`swap_oracle`], [`disk_oracle`]:
//!   the file system and disk writers, checked by e2fsprogs (`e2fsck`,
//!   `debugfs`, `dumpe2fs`), the kernel (a read-only loop mount, as
//!   root), `blkid`, `swaplabel`, `mkswap`, `sfdisk` and `sgdisk`
//!   ([`support::ext`]).
//! - [`fat_oracle`]: the FAT writer checked by `fsck.fat`, mtools and
//!   `blkid`; [`esp_image`]: a GPT image with an EFI system partition
//!   built by `lunforge build`, checked by `sfdisk`, `blkid`, mtools,
//!   `fsck.fat` and the guest's `/etc/fstab` read with `debugfs`.
//! - [`image_oracle`]: the whole partitioned image of
//!   `pipeline::write_image` (msdos and gpt, swap, ext4 root, ext3 on
//!   `/srv`) through `sfdisk`, `blkid`, `dd`, `e2fsck`, `debugfs` and
//!   `lunforge inspect`; trees that cannot be written leave no output.
//! - [`inspect_hostile`]: `lunforge inspect` on `sfdisk`'s msdos and
//!   GPT tables, truncated or edited behind valid CRCs.
//! - [`blockdev_loop`]: the block-device sink on loop devices (as
//!   root): mounted, partitioned, busy, small and non-empty devices
//!   refused, writes checked in the backing file, zeroing by its
//!   `st_blocks`.
//!
//! - [`build_record`]: what a build says of itself in `OUT/<name>/`:
//!   `manifest.json` against `sha256sum`, `dpkg-query` and the lock,
//!   `sbom.spdx.json` against the SPDX 2.3 schema and license list, two
//!   builds byte for byte, and the report of `lunforge build --json`.
//! - [`guest_state`]: a built guest's apt sources, automatic marks,
//!   time zone and locale, read by `apt-get`, `apt-mark` and `dpkg`.
//!
//! - [`signals`]: SIGINT and SIGTERM at each stage of a build: the
//!   exit status, the time to stop, and nothing left in `TMPDIR`, the
//!   cache, the output or the mount table.
//!
//! A missing tool fails the test and names its Debian package; `make
//! test` installs them all. Every test makes its own temporary
//! directories, repository and server, so tests run in parallel and in
//! any order.

#[path = "../support/mod.rs"]
mod support;

mod blockdev_loop;
mod boot;
mod boot_config;
mod build_library;
mod build_record;
mod cli_docs;
mod cli_recipe;
mod cli_verbose;
mod disk_oracle;
mod esp_image;
mod ext4_parts;
mod ext_features;
mod ext_oracle;
mod ext_props;
mod fat_oracle;
mod faults;
mod fetch_cache;
mod guest_state;
mod host_mirror;
mod hostile_debs;
mod hostile_input;
mod image_oracle;
mod initrd;
mod initrd_init;
mod inspect_hostile;
mod iscsi_hostile;
mod iscsi_tgtd;
mod iscsi_write;
mod lockfile;
mod mkfs_cli;
mod qemu_smoke;
mod recipe_props;
mod repo_client;
mod repro;
mod resolve_local;
mod rootfs;
mod sandbox;
mod signals;
mod swap_oracle;
mod vm_ssh;
mod write_cli;
mod xen_host;
