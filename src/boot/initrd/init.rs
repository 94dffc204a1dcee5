//! The initrd's `/init`: a busybox `sh` script, kept here as a template
//! with three blanks (`@KERNEL_VERSION@`, `@MODULES@`, `@ROOT_TIMEOUT@`).
//!
//! What it does, in order (the kernel runs it as PID 1, with the console
//! from the archive's `/dev/console`):
//!
//! 1. mounts `/proc`, `/sys` and a devtmpfs on `/dev`;
//! 2. reads `root=` (`UUID=…`, `LABEL=…` or `/dev/…`), `rootfstype=`,
//!    `rootflags=`, `rootdelay=`, `rootwait`, `ro`/`rw`, `init=` and
//!    `quiet` from `/proc/cmdline`, as the kernel reads them when it
//!    mounts the root itself;
//! 3. loads the module closure with `insmod`, dependencies first (a
//!    module whose hardware is absent, such as xen-blkfront under QEMU,
//!    fails to load and is only reported);
//! 4. waits for the root device: up to `rootdelay=` seconds, else the
//!    built-in timeout, or without end under `rootwait` (the kernel's
//!    meaning); on failure it says what it waited for, shows
//!    `/proc/partitions`, and opens a rescue shell, after which it tries
//!    again;
//! 5. mounts the root on `/root`, read-only unless `rw`;
//! 6. when the root still owes its first boot (the marker
//!    `/var/lib/lunforge/firstboot-pending`, written by the configure
//!    stage's firstboot strategy), remounts it read-write, binds
//!    `/proc`, `/sys` and `/dev` into it, mounts a tmpfs on its `/run`
//!    (so that no postinst believes systemd is running), runs
//!    `/usr/lib/lunforge/firstboot` in a chroot with a clean
//!    environment, and puts the root back as asked. The script removes
//!    the marker when it succeeds, and the guest's
//!    `lunforge-firstboot.service` only runs while the marker exists, so
//!    the step runs once: here, or (when it failed here, or the guest
//!    boots without this initrd) from systemd;
//! 7. moves `/proc`, `/sys` and `/dev` into the root and
//!    `exec switch_root /root INIT`, passing on the arguments the kernel
//!    gave to init.
//!
//! Every command is a busybox applet ([`APPLETS`]) or a shell builtin;
//! the initrd holds nothing else.

/// The busybox applets `/init` and the rescue shell use; each gets a
/// `/bin` symlink to busybox.
pub const APPLETS: &[&str] = &[
    "cat",
    "chroot",
    "dmesg",
    "env",
    "findfs",
    "insmod",
    "ls",
    "lsmod",
    "mkdir",
    "mount",
    "sh",
    "sleep",
    "switch_root",
    "sync",
    "umount",
];

/// The template; see the module documentation.
pub const TEMPLATE: &str = r#"#!/bin/sh
# /init of a lunforge initrd for Linux @KERNEL_VERSION@: load the modules
# that reach the root file system, mount it, run the first-boot step if
# the image still owes it, and switch to the real init.
export PATH=/bin

mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev

root=
rootfstype=
rootflags=
rootdelay=
rootwait=
mode=ro
init=/sbin/init
quiet=
set -f
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	root=*) root=${arg#root=} ;;
	rootfstype=*) rootfstype=${arg#rootfstype=} ;;
	rootflags=*) rootflags=${arg#rootflags=} ;;
	rootdelay=*) rootdelay=${arg#rootdelay=} ;;
	rootwait) rootwait=1 ;;
	ro) mode=ro ;;
	rw) mode=rw ;;
	init=*) init=${arg#init=} ;;
	quiet) quiet=1 ;;
	esac
done
set +f

say() {
	[ -n "$quiet" ] || echo "initrd: $*"
}

rescue() {
	echo "initrd: $*"
	echo "initrd: block devices the kernel knows (/proc/partitions):"
	cat /proc/partitions
	echo "initrd: starting a rescue shell; leave it to try again"
	sh </dev/console >/dev/console 2>&1
}

modules="
@MODULES@
"
for m in $modules; do
	insmod "/lib/modules/@KERNEL_VERSION@/$m" 2>/dev/null ||
		say "module $m did not load (no such hardware, or built in)"
done

# The root device's node, once it exists.
find_root() {
	case "$root" in
	UUID=* | LABEL=*) findfs "$root" 2>/dev/null ;;
	/dev/*) [ -b "$root" ] && echo "$root" ;;
	*) return 1 ;;
	esac
}

timeout=@ROOT_TIMEOUT@
case "$rootdelay" in
'' | *[!0-9]*) ;;
*) timeout=$rootdelay ;;
esac

while :; do
	case "$root" in
	UUID=* | LABEL=* | /dev/*) ;;
	*)
		rescue "root=$root is not supported: use root=UUID=..., root=LABEL=... or root=/dev/..."
		continue
		;;
	esac
	waited=0
	while ! dev=$(find_root); do
		if [ -z "$rootwait" ] && [ "$waited" -ge "$timeout" ]; then
			break
		fi
		[ "$waited" = 0 ] && say "waiting for the root device $root"
		sleep 1
		waited=$((waited + 1))
	done
	if [ -z "$dev" ]; then
		rescue "the root device $root did not appear within $timeout seconds"
		continue
	fi
	opts=$mode
	[ -n "$rootflags" ] && opts="$opts,$rootflags"
	if [ -n "$rootfstype" ]; then
		mount -t "$rootfstype" -o "$opts" "$dev" /root && break
	else
		mount -o "$opts" "$dev" /root && break
	fi
	rescue "cannot mount the root device $dev ($root) on /root"
done
say "mounted $dev ($root) on /root, $mode"

if [ -e /root/var/lib/lunforge/firstboot-pending ]; then
	say "first boot: configuring the installed packages"
	mount -o remount,rw /root
	mount --bind /proc /root/proc
	mount --bind /sys /root/sys
	mount --bind /dev /root/dev
	mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /root/run
	env -i HOME=/root TERM=linux /bin/chroot /root /usr/lib/lunforge/firstboot
	status=$?
	for m in /root/run /root/dev /root/sys /root/proc; do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	sync
	if [ "$status" != 0 ]; then
		echo "initrd: the first-boot step failed (exit $status); its marker stays, so the guest's lunforge-firstboot.service tries again"
	fi
	[ "$mode" = ro ] && mount -o remount,ro /root
fi

for m in /dev /proc /sys; do
	if [ -d "/root$m" ]; then
		mount --move "$m" "/root$m"
	else
		umount -l "$m"
	fi
done

if [ ! -e "/root$init" ] && [ ! -L "/root$init" ]; then
	echo "initrd: init=$init does not exist on the root file system"
fi
exec switch_root /root "$init" "$@"
"#;

/// A word that cannot be put into the script as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsafeWord(pub String);

/// Characters a module path or kernel version may hold to be written
/// into the script without quoting.
fn is_plain_word(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'.' | b'_' | b'-' | b'+' | b'/')
        })
}

/// The `/init` for `kernel_version`, loading `modules` (paths relative
/// to `/lib/modules/VERSION`, in load order) and waiting `root_timeout`
/// seconds for the root by default.
pub fn render(
    kernel_version: &str,
    modules: &[String],
    root_timeout: u32,
) -> Result<String, UnsafeWord> {
    for w in std::iter::once(kernel_version)
        .chain(modules.iter().map(String::as_str))
    {
        if !is_plain_word(w) {
            return Err(UnsafeWord(w.to_string()));
        }
    }
    Ok(TEMPLATE
        .replace("@KERNEL_VERSION@", kernel_version)
        .replace("@MODULES@", &modules.join("\n"))
        .replace("@ROOT_TIMEOUT@", &root_timeout.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_are_filled() {
        let s = render(
            "6.12.1-amd64",
            &["kernel/a.ko".into(), "kernel/b-c.ko".into()],
            30,
        )
        .unwrap();
        for blank in ["@KERNEL_VERSION@", "@MODULES@", "@ROOT_TIMEOUT@"] {
            assert!(!s.contains(blank), "{blank} is left:\n{s}");
        }
        assert!(s.contains("modules=\"\nkernel/a.ko\nkernel/b-c.ko\n\""));
        assert!(s.contains("insmod \"/lib/modules/6.12.1-amd64/$m\""));
        assert!(s.contains("timeout=30\n"));
    }

    #[test]
    fn unsafe_words_are_refused() {
        for bad in ["a b.ko", "x;reboot", "$(x).ko", ""] {
            assert_eq!(
                render("6.1", &[bad.into()], 30),
                Err(UnsafeWord(bad.into()))
            );
        }
        assert!(render("6.1\n", &[], 30).is_err());
    }

    #[test]
    fn the_marker_and_script_are_the_configure_stage_s() {
        use crate::configure::maintscripts::{
            FIRSTBOOT_MARKER, FIRSTBOOT_SCRIPT,
        };
        assert!(TEMPLATE.contains(&format!("[ -e /root{FIRSTBOOT_MARKER} ]")));
        assert!(
            TEMPLATE.contains(&format!("chroot /root {FIRSTBOOT_SCRIPT}\n"))
        );
    }

    #[test]
    fn every_command_is_an_applet_or_builtin() {
        // The first word of each simple command line of the template.
        let builtins = [
            "#!/bin/sh",
            "export",
            "root=",
            "rootfstype=",
            "rootflags=",
            "rootdelay=",
            "rootwait=",
            "mode=ro",
            "init=/sbin/init",
            "quiet=",
            "set",
            "for",
            "case",
            "esac",
            "done",
            "say()",
            "rescue()",
            "find_root()",
            "say",
            "rescue",
            "find_root",
            "[",
            "echo",
            "}",
            "modules=\"",
            "\"",
            "if",
            "fi",
            "else",
            "while",
            "break",
            "continue",
            "timeout=@ROOT_TIMEOUT@",
            "waited=0",
            "waited=$((waited",
            "opts=$mode",
            "status=$?",
            "exec",
            "return",
            "''",
            "*)",
            ";;",
            "#",
            "@MODULES@",
        ];
        for line in TEMPLATE.lines() {
            let Some(first) = line.split_whitespace().next() else {
                continue;
            };
            if first.starts_with('#')
                || first.ends_with(')')
                || first.contains('=') && !first.contains("()")
                || builtins.contains(&first)
            {
                continue;
            }
            assert!(
                APPLETS.contains(&first),
                "{first} is not an applet: {line}"
            );
        }
    }
}
