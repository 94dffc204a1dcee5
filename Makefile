# lunforge: build, test (installing the test oracles when root), bench, lint.
SHELL := /bin/bash
CARGO ?= cargo

# Debian packages whose tools the tests use as oracles or fixtures makers:
#   gpg gpg-agent  test OpenPGP key and signatures of the local test
#                repository (gpg only recommends its agent, and key
#                generation and signing need it)
#   gpgv         signature verification (lunforge uses it at run time too)
#   apt-utils    apt-ftparchive: Packages/Release of the local test repository
#   dpkg-dev     dpkg-deb and dpkg-scanpackages for the test .debs
#   mmdebstrap   the reference package sets of each variant
#   xz-utils     Packages.xz of the test repository
#   debian-archive-keyring  the host's Debian archive keys
#   attr         getfattr: xattrs of extracted tarballs
#   fdisk gdisk  sfdisk and sgdisk: partition tables
#   e2fsprogs    e2fsck, debugfs, dumpe2fs: file system images
#   grub-common  grub-script-check: the GRUB 2 entries
#   udev         udevadm test: the udev rule for the LUN
#   libxen-dev   Xen's libxlutil config parser: the xl config (xl itself
#                needs a running hypervisor)
#   python3      ctypes, to call libxlutil
#   xen-utils-4.x  pygrub's parser: the guest's grub.cfg and menu.lst (the
#                name carries the Xen version: install-debs.sh looks it up
#                after its apt-get update, so empty package lists do not
#                drop it)
#   cpio kmod zstd gzip  initrd: cpio -t/-i, depmod -b, zstd -t, gzip -t
#   util-linux   blkid, swaplabel, mkswap, dmesg: swap, ext and vfat identity
#   dosfstools mtools  fsck.fat, mdir and mcopy: the FAT file systems
#   mount        losetup and mount: the kernel reads our images (as root)
#   tgt          tgtd and tgtadm: a real iSCSI target for the initiator
#   libiscsi-bin iscsi-ls and iscsi-inq: libiscsi's view of that target
#   uidmap       newuidmap and newgidmap: the unprivileged configure
#                sandbox (configure = "unshare") of the build run as a
#                test user
#   openssh-client  ssh, scp and ssh-keygen: the tests that drive a running
#                guest over SSH (tests/support/vm.rs)
#   groff-base   groff -man -ww -z: the manual pages of `make man`
#                (bash, which checks the completion script, is essential)
#   python3-jsonschema python3-license-expression  sbom.spdx.json against
#                the SPDX 2.3 JSON schema (fixtures/spdx/) and its license
#                expressions against the SPDX license list (Debian 12
#                packages no SPDX validator of its own)
# and qemu-system-x86_64, qemu-system-aarch64 (the arm64 guest on QEMU's
# virt machine) and the UEFI firmware (OVMF) for the boot tests
# (tests/support/install-qemu.sh: from backports when the host's qemu-utils
# comes from there).
TEST_DEBS := gpg gpg-agent gpgv apt-utils dpkg-dev mmdebstrap xz-utils attr fdisk gdisk e2fsprogs \
             cpio kmod zstd gzip util-linux mount dosfstools mtools \
             debian-archive-keyring ca-certificates grub-common udev libxen-dev \
             python3 tgt libiscsi-bin openssh-client uidmap xen-utils-4.x \
             groff-base python3-jsonschema python3-license-expression
# The bench adds binutils (ar: the data.tar members of the .debs, for
# the decompression floor of tests/bench/floor.sh) and debootstrap (the
# second reference pipeline of tests/bench/pipeline.sh)
BENCH_DEBS := $(TEST_DEBS) hyperfine time curl python3 binutils debootstrap

# The fuzz targets (tests/fuzz) build libFuzzer's C++ runtime.
FUZZ_DEBS := g++
## fuzz: every fuzz target for FUZZ_SECONDS each (FUZZ_TARGETS: some)
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
## fuzz-ci: every target briefly over its corpus, unoptimised (it
## builds in half the time); part of `make test`
FUZZ_CI_SECONDS ?= 10

.PHONY: all build man test test-deps bench bench-deps lint fmt clean \
        fuzz fuzz-ci fuzz-deps repro

all: build

build:
	$(CARGO) build --release

## man: the manual pages, man/lunforge.1 and one per subcommand
## (lunforge-build.1, …), from the command line's own definitions by the
## hidden `lunforge man DIR`; generated, not committed (see .gitignore).
## Read one with `man -l man/lunforge-build.1`.
man:
	$(CARGO) run --release --quiet -- man man

## test: install the oracles (as root), then every unit and integration test,
## each in a process of its own (cargo-nextest, when installed), and the
## slowest of them, so that CI's time budget stays visible
## (the fuzz targets' brief run first, its failure reported at the end)
TARGET_DIR = $(or $(CARGO_TARGET_DIR),target)
test: test-deps
	@fuzz=0; $(MAKE) --no-print-directory fuzz-ci || fuzz=$$?; \
	status=0; \
	if $(CARGO) nextest --version >/dev/null 2>&1; then \
	    $(CARGO) nextest run --release --all-targets --no-fail-fast \
	        --config-file tests/nextest.toml || status=$$?; \
	    bash tests/support/slowest.sh $(TARGET_DIR)/nextest/default/junit.xml; \
	else \
	    echo "cargo-nextest is not installed: cargo test (no test times)" >&2; \
	    $(CARGO) test --release --all-targets --no-fail-fast || status=$$?; \
	fi; \
	[ "$$fuzz" -eq 0 ] || echo "the fuzz targets failed: see above" >&2; \
	[ "$$status" -eq 0 ] && [ "$$fuzz" -eq 0 ]

test-deps:
	@bash tests/support/install-debs.sh $(TEST_DEBS)
	@bash tests/support/install-qemu.sh
	@# Loop devices (a module on Debian's kernels); as root only.
	@[ "$$(id -u)" -ne 0 ] || [ -e /dev/loop-control ] || modprobe loop || true

fuzz: fuzz-deps
	CARGO=$(CARGO) bash tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-ci: fuzz-deps
	FUZZ_PROFILE=dev CARGO=$(CARGO) bash tests/fuzz/run.sh $(FUZZ_CI_SECONDS)

fuzz-deps:
	@bash tests/support/install-debs.sh $(FUZZ_DEBS)

## bench: ratios against the reference tools, measured in one run and
## written to tests/bench/results.md
bench: bench-deps build
	bash tests/bench/run.sh

bench-deps:
	@bash tests/support/install-debs.sh $(BENCH_DEBS)
	@bash tests/support/install-qemu.sh

## repro: the built-in recipe built three times per configure strategy
## (two empty caches, one warm; other paths, TMPDIR and working
## directory): every output file the same SHA-256 (tests/repro/run.sh)
repro: build
	bash tests/repro/run.sh

## lint: the one-line local check
lint:
	$(CARGO) fmt --check && $(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

clean:
	$(CARGO) clean
