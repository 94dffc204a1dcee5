//! `RecipeFile` → [`Recipe`]: defaults, the host mirror, cross-key rules.
//!
//! Defaults (each set here and nowhere else): `architecture` = the build
//! host's Debian architecture, `table` = the architecture's
//! ([`Arch::default_table`]: `"msdos"` on amd64, `"gpt"` on arm64),
//! `variant =
//! "minbase"` (stored as its synonym `required`), `mirror = "host"`,
//! `components = ["main"]`, `configure = "auto"`, `updates` and
//! `security` found for the suite (see [`updates_source`] and
//! [`security_source`]), `timezone = "Etc/UTC"`, `locale = "C.UTF-8"`,
//! root partitions
//! formatted `ext3` (the seed's `mke2fs -j`); in `[xen]`: `memory =
//! "512MiB"`, `vcpus = 1`, `bridge = "xenbr0"`, `guest_boot_dir =
//! "/var/lib/lunforge/<name>"`, `disk_paths = "by-path"`, `on_poweroff =
//! "destroy"`, `on_reboot = "restart"`, `on_crash = "destroy"` (xl's own),
//! `dom0_memory = "1GiB"`, `xen_cmdline = ""`, `xen_path =
//! "/boot/xen.gz"`, `dom0_cmdline = ""`; in `[iscsi]`: the portal's port
//! 3260 and `backing_store = "/srv/lunforge/<name>.img"`.
//!
//! Values that end up in xl configs, GRUB scripts, udev rules and shell
//! snippets are held to plain characters here, so that those writers never
//! have to quote a quote.

use std::path::{Path, PathBuf};

use super::file::{IscsiFile, PartitionFile, RecipeFile, XenFile};
use super::{AptSource, BUILTIN_LOCALES, DEFAULT_LOCALE, DEFAULT_TIMEZONE};
use super::{
    ConfigureStrategy, DiskPaths, Error, ExtOptions, FsKind, Image, Iscsi,
    PartSize, Partition, PartitionUse, Recipe, Result, SecretSource, System,
    Variant, Xen, XenBoot, XenType, XlAction, ESP_MOUNT,
};
use crate::arch::{self, Arch};
use crate::repo::pockets::{self, HostPockets};
use crate::repo::{host_sources, transport};
use crate::resolve::relation::is_valid_name;
use crate::units::ByteSize;

/// `System::mirror_origin` of a mirror URL written in the recipe.
pub const FROM_RECIPE: &str = "recipe";

/// Fill in defaults and check the rules that span keys.
pub fn resolve(
    name: &str,
    path: Option<PathBuf>,
    file: RecipeFile,
    apt_root: &Path,
) -> Result<Recipe> {
    let invalid = |key: &str, message: String| Error::Invalid {
        file: name.into(),
        key: key.into(),
        message,
    };
    check_name(&file.image.name).map_err(|m| invalid("image.name", m))?;
    let partitions =
        partitions(&file.partitions).map_err(|(key, m)| invalid(&key, m))?;
    let sys = file.system;
    if sys.suite.trim().is_empty() {
        return Err(invalid("system.suite", "must not be empty".into()));
    }
    let from_host = sys.architecture.is_none();
    let architecture = sys.architecture.unwrap_or_else(host_architecture);
    let arch = Arch::from_debian(&architecture).ok_or_else(|| {
        invalid(
            "system.architecture",
            format!(
                "{architecture:?}{} is not an architecture lunforge builds \
                 guests for ({})",
                if from_host { " (the build host's)" } else { "" },
                Arch::known()
            ),
        )
    })?;
    if file.host.is_some() && !arch.grub_boots_xen() {
        return Err(invalid(
            "system.architecture",
            format!(
                "{arch}: a Xen host disk boots Xen with GRUB's multiboot2, \
                 which {arch} lacks: host recipes are built for amd64"
            ),
        ));
    }
    let (mirror, mirror_origin, host_pockets) = match sys.mirror.as_deref() {
        None | Some("host") => host_mirror(name, apt_root)?,
        Some(url) => {
            let mirror = transport::parse_mirror(url).map_err(|e| {
                invalid("system.mirror", format!("{e}, or \"host\""))
            })?;
            (mirror, FROM_RECIPE.to_string(), None)
        }
    };
    let (updates, updates_origin) = updates_source(
        &sys.suite,
        &mirror,
        host_pockets.as_ref(),
        &sys.updates,
    )
    .map_err(|m| invalid("system.updates", m))?;
    let (security, security_origin) = security_source(
        &sys.suite,
        &mirror,
        host_pockets.as_ref(),
        &sys.security,
    )
    .map_err(|m| invalid("system.security", m))?;
    let timezone = timezone(sys.timezone.as_deref())
        .map_err(|m| invalid("system.timezone", m))?;
    let locale = locale(sys.locale.as_deref())
        .map_err(|m| invalid("system.locale", m))?;
    let variant = match sys.variant.unwrap_or(Variant::Minbase) {
        Variant::Minbase => Variant::Required,
        v => v,
    };
    for (key, list) in [
        ("system.include", &sys.include),
        ("system.exclude", &sys.exclude),
    ] {
        if let Some(bad) = list.iter().find(|p| !is_valid_name(p)) {
            return Err(invalid(key, format!("{bad:?} is not a package name")));
        }
    }
    let (include, include_mapped) = for_arch(sys.include, arch);
    let access = file
        .access
        .map(|a| access(path.as_deref(), a))
        .transpose()
        .map_err(|(key, m)| invalid(key, m))?;
    if let Some(n) = &file.network {
        network(n).map_err(|(key, m)| invalid(&key, m))?;
    }
    let boot = boot(file.boot.unwrap_or_default(), &partitions, arch)
        .map_err(|(key, m)| invalid(&format!("boot.{key}"), m))?;
    let host = file
        .host
        .map(|h| host(path.as_deref(), h))
        .transpose()
        .map_err(|(key, m)| invalid(&format!("host.{key}"), m))?;
    let components = sys.components.unwrap_or_else(|| vec!["main".into()]);
    if components.is_empty() {
        return Err(invalid("system.components", "must not be empty".into()));
    }
    let xen = xen(&file.image.name, file.xen.unwrap_or_default(), arch)
        .map_err(|(key, m)| invalid(&format!("xen.{key}"), m))?;
    let iscsi = file
        .iscsi
        .map(|i| iscsi(&file.image.name, path.as_deref(), i))
        .transpose()
        .map_err(|(key, m)| invalid(&format!("iscsi.{key}"), m))?;
    let keyring = sys
        .keyring
        .unwrap_or_default()
        .into_iter()
        .map(|k| relative_to(path.as_deref(), &k))
        .collect();
    Ok(Recipe {
        source: path,
        image: Image {
            name: file.image.name,
            size: file.image.size,
            table: file.image.table.unwrap_or_else(|| arch.default_table()),
        },
        partitions,
        system: System {
            suite: sys.suite,
            architecture,
            variant,
            mirror,
            mirror_origin,
            components,
            include,
            include_mapped,
            exclude: sys.exclude,
            keyring,
            configure: sys.configure.unwrap_or(ConfigureStrategy::Auto),
            updates,
            updates_origin,
            security,
            security_origin,
            timezone,
            locale,
        },
        network: file.network,
        xen,
        iscsi,
        access,
        boot,
        host,
    })
}

/// The recipe's `include` for a guest of `arch`: a package named with
/// another architecture's suffix becomes the same package of `arch`
/// ([`arch::map_package`]), so that the built-in recipe's
/// `linux-image-amd64` gives an arm64 guest `linux-image-arm64`. The
/// rewrites (`FROM -> TO`) are kept for `recipe show`.
fn for_arch(include: Vec<String>, arch: Arch) -> (Vec<String>, Vec<String>) {
    let mut mapped = Vec::new();
    let include = include
        .into_iter()
        .map(|name| match arch::map_package(&name, arch) {
            Some(to) => {
                mapped.push(format!("{name} -> {to}"));
                to
            }
            None => name,
        })
        .collect();
    (include, mapped)
}

/// `[access]`, with the keys of `root_authorized_keys_file` read into
/// `root_authorized_keys` (so the resolved recipe says which keys the
/// image holds).
fn access(
    path: Option<&Path>,
    mut a: super::file::AccessFile,
) -> std::result::Result<super::file::AccessFile, (&'static str, String)> {
    check_access(&a)?;
    if let Some(f) = a.root_authorized_keys_file.take() {
        const KEY: &str = "access.root_authorized_keys_file";
        let file = relative_to(path, &f);
        let text = std::fs::read_to_string(&file).map_err(|e| {
            (
                KEY,
                format!(
                    "{}: {e} (the operator's public keys that may log in \
                     as root, one per line as in authorized_keys)",
                    file.display()
                ),
            )
        })?;
        let keys: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        if keys.is_empty() {
            return Err((KEY, format!("{} holds no key", file.display())));
        }
        if keys.iter().any(|k| k.contains("PRIVATE KEY")) {
            return Err((
                KEY,
                format!(
                    "{} holds a private key: give the public keys",
                    file.display()
                ),
            ));
        }
        a.root_authorized_keys.extend(keys);
        check_access(&a)?;
    }
    Ok(a)
}

/// `[network]` rules that need no other key.
fn network(
    n: &super::file::NetworkFile,
) -> std::result::Result<(), (String, String)> {
    let key = |k: &str| format!("network.{k}");
    host_name(&n.hostname)
        .and_then(|()| kernel_host_name(&n.hostname))
        .map_err(|m| (key("hostname"), m))?;
    if let Some(d) = &n.domain {
        host_name(d).map_err(|m| (key("domain"), m))?;
    }
    if let Some(i) = &n.interface {
        interface_name(i).map_err(|m| (key("interface"), m))?;
    }
    addressing(n).map_err(|(k, m)| (key(k), m))?;
    for (i, d) in n.dns.iter().enumerate() {
        d.parse::<std::net::IpAddr>().map_err(|_| {
            (
                key(&format!("dns[{i}]")),
                format!("{d:?} is not an IP address (e.g. 192.0.2.53)"),
            )
        })?;
    }
    if let Some(b) = &n.bridge {
        interface_name(b).map_err(|m| (key("bridge"), m))?;
        if Some(b.as_str()) == n.interface.as_deref() {
            return Err((
                key("bridge"),
                format!(
                    "{b:?} is network.interface itself: the bridge \
                         takes the interface as its port"
                ),
            ));
        }
    }
    let main = n.interface.as_deref().unwrap_or("eth0");
    let mut taken = vec![main];
    taken.extend(n.bridge.as_deref());
    for (i, x) in n.extra_interfaces.iter().enumerate() {
        let key = |k: &str| key(&format!("extra_interfaces[{i}].{k}"));
        interface_name(&x.interface).map_err(|m| (key("interface"), m))?;
        if taken.contains(&x.interface.as_str()) {
            return Err((
                key("interface"),
                format!("{:?} is configured already", x.interface),
            ));
        }
        taken.push(&x.interface);
        match (&x.address, x.dhcp.unwrap_or(false)) {
            (Some(_), true) => {
                return Err((
                    key("dhcp"),
                    "address is set too: choose one".into(),
                ))
            }
            (Some(a), false) => {
                host_address(a).map_err(|m| (key("address"), m))?;
            }
            (None, _) => {}
        }
    }
    for (name, addr) in &n.hosts {
        let key = || key(&format!("hosts.{name}"));
        host_name(name).map_err(|m| (key(), m))?;
        addr.parse::<std::net::IpAddr>()
            .map_err(|_| (key(), format!("{addr:?} is not an IP address")))?;
        // A list shared by a pool of hosts names each of them: the
        // host's own entry must be its own address.
        let own = n.address.as_deref().and_then(|a| a.split_once('/'));
        if *name == n.hostname && own.map(|(ip, _)| ip) != Some(addr) {
            return Err((
                key(),
                format!(
                    "this is network.hostname, whose address is \
                     network.address ({})",
                    n.address.as_deref().unwrap_or("not set")
                ),
            ));
        }
    }
    Ok(())
}

/// `network.address`, `network.dhcp` and `network.gateway` together:
/// a static address is one host of its network, and the gateway is
/// another host of that network.
fn addressing(
    n: &super::file::NetworkFile,
) -> std::result::Result<(), (&'static str, String)> {
    let address = match (&n.address, n.dhcp.unwrap_or(false)) {
        (Some(_), true) => {
            return Err((
                "dhcp",
                "network.address is set too: choose one".into(),
            ))
        }
        (Some(a), false) => Some(host_address(a).map_err(|m| ("address", m))?),
        (None, _) => None,
    };
    let Some(gw) = &n.gateway else {
        return Ok(());
    };
    let gateway: std::net::IpAddr = gw.parse().map_err(|_| {
        (
            "gateway",
            format!("{gw:?} is not an IP address (e.g. 192.0.2.1)"),
        )
    })?;
    let Some((ip, prefix)) = address else {
        return Err((
            "gateway",
            "a gateway goes with a static network.address (with DHCP the \
             server gives the route): set the address or remove the gateway"
                .into(),
        ));
    };
    if gateway == ip {
        return Err(("gateway", format!("{gw} is network.address itself")));
    }
    if !same_network(ip, gateway, prefix) {
        return Err((
            "gateway",
            format!(
                "{gw} is outside network.address's network {}: the gateway \
                 must be reachable on the link",
                network_of(ip, prefix)
            ),
        ));
    }
    Ok(())
}

/// A static address with its prefix that is one host of its network:
/// for IPv4 below /31, not the network's own address or its broadcast.
fn host_address(
    s: &str,
) -> std::result::Result<(std::net::IpAddr, u8), String> {
    let (ip, prefix) = cidr(s)?;
    if let std::net::IpAddr::V4(v4) = ip {
        if prefix < 31 {
            let host_bits =
                u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
            let host = u32::from(v4) & host_bits;
            if host == 0 || host == host_bits {
                let what = if host == 0 { "network" } else { "broadcast" };
                return Err(format!(
                    "{s:?} is the {what} address of {}: give one of its \
                     hosts, e.g. {}",
                    network_of(ip, prefix),
                    first_host(v4, prefix)
                ));
            }
        }
    }
    Ok((ip, prefix))
}

/// Whether `a` and `b` share their first `prefix` bits.
fn same_network(a: std::net::IpAddr, b: std::net::IpAddr, prefix: u8) -> bool {
    use std::net::IpAddr::{V4, V6};
    match (a, b) {
        (V4(a), V4(b)) => {
            let mask =
                u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (V6(a), V6(b)) => {
            let mask =
                u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// `192.0.2.0/24` for `192.0.2.50` and 24.
fn network_of(ip: std::net::IpAddr, prefix: u8) -> String {
    use std::net::IpAddr::{V4, V6};
    let base = match ip {
        V4(a) => {
            let mask =
                u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            V4((u32::from(a) & mask).into())
        }
        V6(a) => {
            let mask =
                u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            V6((u128::from(a) & mask).into())
        }
    };
    format!("{base}/{prefix}")
}

/// The first host of `ip`'s IPv4 network, with its prefix.
fn first_host(ip: std::net::Ipv4Addr, prefix: u8) -> String {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    let first = (u32::from(ip) & mask).saturating_add(1);
    format!("{}/{prefix}", std::net::Ipv4Addr::from(first))
}

/// The kernel's limit on a host name (`HOST_NAME_MAX`, 64): longer
/// names are refused by `sethostname(2)` at boot.
fn kernel_host_name(s: &str) -> std::result::Result<(), String> {
    if s.len() <= 64 {
        Ok(())
    } else {
        Err(format!(
            "{s:?} has {} characters; the kernel's host name holds at most 64",
            s.len()
        ))
    }
}

/// A network interface name as the kernel takes it.
fn interface_name(s: &str) -> std::result::Result<(), String> {
    if s.is_empty() || s.len() > 15 {
        return Err(format!("{s:?}: an interface name has 1 to 15 characters"));
    }
    word(s, "-._")
}

/// A host name as RFC 1123 has it: dot-separated labels of letters,
/// digits and inner hyphens, each 1 to 63 characters, 253 in all.
fn host_name(s: &str) -> std::result::Result<(), String> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if s.len() <= 253 && s.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a host name (labels of letters, digits and inner \
             hyphens, separated by dots)"
        ))
    }
}

/// An address with its prefix length (`192.0.2.50/24`).
pub(crate) fn cidr(
    s: &str,
) -> std::result::Result<(std::net::IpAddr, u8), String> {
    let bad = || {
        format!(
            "{s:?}: expected an address with a prefix length, e.g. \
             192.0.2.50/24"
        )
    };
    let (ip, prefix) = s.split_once('/').ok_or_else(bad)?;
    let ip: std::net::IpAddr = ip.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(bad());
    }
    Ok((ip, prefix))
}

/// `[boot]` with its defaults: a loader needs an EFI system partition,
/// and Xen needs a loader to start it.
fn boot(
    b: super::file::BootFile,
    partitions: &[Partition],
    arch: Arch,
) -> std::result::Result<super::Boot, (&'static str, String)> {
    let mut out = super::Boot::external();
    out.loader = b.loader.unwrap_or(out.loader);
    out.hypervisor = b.hypervisor.unwrap_or(out.hypervisor);
    out.timeout = b.timeout.unwrap_or(out.timeout);
    out.cmdline = b.cmdline.unwrap_or_default();
    cmdline(&out.cmdline).map_err(|m| ("cmdline", m))?;
    if out.timeout > 600 {
        return Err(("timeout", "at most 600 seconds".into()));
    }
    let has_esp = partitions.iter().any(|p| p.usage == PartitionUse::Esp);
    match (out.loader, out.hypervisor) {
        (super::Loader::GrubEfi, _) if !has_esp => Err((
            "loader",
            "\"grub-efi\" needs a partition with use = \"esp\" (the EFI \
             system partition, e.g. 64MiB)"
                .into(),
        )),
        (super::Loader::None, super::Hypervisor::Xen) => Err((
            "hypervisor",
            "\"xen\" is started by the disk's own boot loader: set \
             boot.loader = \"grub-efi\""
                .into(),
        )),
        (_, super::Hypervisor::Xen) if !arch.grub_boots_xen() => Err((
            "hypervisor",
            format!(
                "\"xen\" is booted by GRUB's multiboot2, which {arch} \
                 lacks (GRUB on Arm starts Xen with xen_hypervisor, or \
                 UEFI starts xen.efi): only an amd64 disk boots Xen"
            ),
        )),
        _ => Ok(out),
    }
}

/// `[host]`: guest recipe paths relative to this recipe, which must
/// exist; the initiator name an IQN.
fn host(
    path: Option<&Path>,
    h: super::file::HostFile,
) -> std::result::Result<super::Host, (&'static str, String)> {
    let mut guests = Vec::new();
    for g in &h.guests {
        let p = relative_to(path, g);
        if !p.is_file() {
            return Err((
                "guests",
                format!("{}: no such recipe file", p.display()),
            ));
        }
        guests.push(p);
    }
    if let Some(i) = &h.iscsi_initiator {
        check_iqn(i).map_err(|m| ("iscsi_initiator", m))?;
    }
    Ok(super::Host {
        guests,
        iscsi_initiator: h.iscsi_initiator,
    })
}

/// The guest name becomes a file name and a Xen domain name.
fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'
        })
        && !name.starts_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} must be 1-63 characters of letters, digits, '-', '_' \
             or '.', not starting with '-' or '.'"
        ))
    }
}

/// Per-partition defaults and the rules of the partition list.
fn partitions(
    list: &[PartitionFile],
) -> std::result::Result<Vec<Partition>, (String, String)> {
    let mut out = Vec::with_capacity(list.len());
    let mut rest = None;
    let mut root = None;
    let mut mounts: Vec<String> = Vec::new();
    for (i, p) in list.iter().enumerate() {
        let key = |k: &str| format!("partitions[{i}].{k}");
        if p.size == PartSize::Rest {
            if let Some(first) = rest {
                return Err((
                    key("size"),
                    format!("only one partition may be \"rest\" (partitions[{first}] is too)"),
                ));
            }
            rest = Some(i);
        }
        let fs = match (p.usage, p.fs) {
            (PartitionUse::Swap, Some(_)) => {
                return Err((
                    key("fs"),
                    "a swap partition has no file system".into(),
                ))
            }
            (PartitionUse::Swap, None) => None,
            (PartitionUse::Esp, None | Some(FsKind::Vfat)) => {
                Some(FsKind::Vfat)
            }
            (PartitionUse::Esp, Some(_)) => {
                return Err((
                    key("fs"),
                    "an EFI system partition is vfat".into(),
                ))
            }
            (PartitionUse::Root, Some(FsKind::Vfat)) => {
                return Err((
                    key("fs"),
                    "the root file system cannot be vfat".into(),
                ))
            }
            (_, Some(fs)) => Some(fs),
            (_, None) => Some(FsKind::Ext3),
        };
        if p.usage == PartitionUse::Root {
            if let Some(first) = root {
                return Err((
                    key("use"),
                    format!(
                        "only one root partition (partitions[{first}] is one)"
                    ),
                ));
            }
            root = Some(i);
        }
        if p.usage == PartitionUse::Data && p.mount.is_none() {
            return Err((
                key("mount"),
                "a data partition needs a mount point".into(),
            ));
        }
        // An EFI system partition is mounted where Debian's installer
        // and grub-efi put it, unless the recipe says otherwise.
        let mount = match (p.usage, &p.mount) {
            (PartitionUse::Esp, None) => Some(ESP_MOUNT.to_string()),
            (_, m) => m.clone(),
        };
        if let Some(m) = &mount {
            check_mount(m, &mounts).map_err(|msg| (key("mount"), msg))?;
            let parts: Vec<&str> = m
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .collect();
            mounts.push(format!("/{}", parts.join("/")));
        }
        let ext = ExtOptions {
            block_size: p.block_size,
            inode_ratio: p.inode_ratio,
            inodes: p.inodes,
            reserved_percent: p.reserved_percent,
        };
        check_ext_options(&ext, fs).map_err(|(k, m)| (key(k), m))?;
        out.push(Partition {
            usage: p.usage,
            size: p.size,
            fs,
            label: p.label.clone(),
            mount,
            ext,
        });
    }
    if !list.is_empty() && root.is_none() {
        return Err((
            "partitions".into(),
            "no partition has use = \"root\"".into(),
        ));
    }
    Ok(out)
}

/// The Debian archive entry of the host's apt sources, where it is, and
/// the host's entries for its release's update suites.
fn host_mirror(
    name: &str,
    apt_root: &Path,
) -> Result<(String, String, Option<HostPockets>)> {
    let none = |detail: String| Error::NoHostMirror {
        file: name.into(),
        detail,
    };
    let entries = host_sources::read(apt_root)
        .map_err(|e| none(format!("its apt sources cannot be read: {e}")))?;
    let (entry, uri) =
        host_sources::debian_archive(&entries).ok_or_else(|| {
            none(format!(
                "no Debian archive entry was found in {}",
                apt_root.join("etc/apt").display()
            ))
        })?;
    let where_ = format!("{}:{}", entry.file.display(), entry.line);
    // `debian_archive` only picks URIs that `parse_mirror` accepts.
    let mirror = transport::parse_mirror(uri)
        .map_err(|e| none(format!("{where_}: {e}")))?;
    let pockets = pockets::from_host(&entries, entry);
    Ok((mirror, where_, Some(pockets)))
}

/// A path in the recipe is relative to the recipe's directory.
fn relative_to(recipe: Option<&Path>, p: &str) -> PathBuf {
    let p = PathBuf::from(p);
    match recipe.and_then(Path::parent) {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p,
    }
}

/// The build host's Debian architecture name.
pub fn host_architecture() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        "arm" => "armhf",
        "powerpc64" => "ppc64el",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
    .into()
}

/// A password hash in crypt(3) form and single-line keys: a clear-text
/// password or a line break would end up in `/etc/shadow` or
/// `authorized_keys` as something else.
fn check_access(
    a: &super::file::AccessFile,
) -> std::result::Result<(), (&'static str, String)> {
    if let Some(h) = &a.root_password_hash {
        let ok = h.starts_with('$')
            && h.len() > 3
            && !h
                .bytes()
                .any(|b| b == b':' || b == b'\'' || b.is_ascii_whitespace());
        if !ok {
            return Err((
                "access.root_password_hash",
                "expected a crypt(3) hash such as the output of `mkpasswd -m \
                 yescrypt` ($y$…), not a password"
                    .into(),
            ));
        }
    }
    for k in &a.root_authorized_keys {
        if k.trim().is_empty() || k.contains('\n') || k.contains('\r') {
            return Err((
                "access.root_authorized_keys",
                format!("{k:?} is not one authorized_keys line"),
            ));
        }
    }
    Ok(())
}

/// A bad key under a section, and why.
type KeyError = (&'static str, String);

/// `[xen]` when the recipe has none: every default.
pub fn default_xen(name: &str, arch: Arch) -> Xen {
    // OK to unwrap: the defaults pass their own checks (a unit test
    // says so).
    xen(name, XenFile::default(), arch).expect("[xen] defaults are valid")
}

/// `[xen]` with its defaults. The guest type defaults to `pv` on amd64
/// (the seed's) and to `pvh` on arm64, Xen on Arm's only type, where
/// `pv` is refused rather than silently turned into `pvh` as xl does.
fn xen(
    name: &str,
    x: XenFile,
    arch: Arch,
) -> std::result::Result<Xen, KeyError> {
    let kind = match x.kind {
        None if arch.xen_has_pv() => XenType::Pv,
        None => XenType::Pvh,
        Some(k @ XenType::Pv) if !arch.xen_has_pv() => {
            return Err((
                "type",
                format!(
                    "{:?}: Xen on Arm has one guest type, \"pvh\" \
                     (xl.cfg(5))",
                    k.name()
                ),
            ));
        }
        Some(k) => k,
    };
    for h in &x.hosts {
        word(h, "-.").map_err(|m| ("hosts", m))?;
    }
    let memory = whole_mib(x.memory.unwrap_or(ByteSize(512 << 20)))
        .map_err(|m| ("memory", m))?;
    let dom0_memory = whole_mib(x.dom0_memory.unwrap_or(ByteSize(1 << 30)))
        .map_err(|m| ("dom0_memory", m))?;
    let vcpus = x.vcpus.unwrap_or(1);
    if vcpus == 0 {
        return Err(("vcpus", "must be at least 1".into()));
    }
    let bridge = x.bridge.unwrap_or_else(|| "xenbr0".into());
    if bridge.len() > 15 {
        return Err(("bridge", format!("{bridge:?} is longer than 15")));
    }
    word(&bridge, "-._").map_err(|m| ("bridge", m))?;
    let guest_boot_dir = x
        .guest_boot_dir
        .unwrap_or_else(|| format!("/var/lib/lunforge/{name}"));
    absolute(&guest_boot_dir).map_err(|m| ("guest_boot_dir", m))?;
    let xen_path = x.xen_path.unwrap_or_else(|| "/boot/xen.gz".into());
    absolute(&xen_path).map_err(|m| ("xen_path", m))?;
    let xen_cmdline = x.xen_cmdline.unwrap_or_default();
    cmdline(&xen_cmdline).map_err(|m| ("xen_cmdline", m))?;
    let dom0_cmdline = x.dom0_cmdline.unwrap_or_default();
    cmdline(&dom0_cmdline).map_err(|m| ("dom0_cmdline", m))?;
    if let Some(v) = &x.dom0_kernel_version {
        word(v, ".+_~-").map_err(|m| ("dom0_kernel_version", m))?;
    }
    if let Some(r) = &x.dom0_root {
        word(r, "/=._:-").map_err(|m| ("dom0_root", m))?;
    }
    let host_boot_partition = x
        .host_boot_partition
        .map(|p| p.parse())
        .transpose()
        .map_err(|m| ("host_boot_partition", m))?;
    Ok(Xen {
        hosts: x.hosts,
        memory,
        vcpus,
        bridge,
        guest_boot_dir,
        disk_paths: x.disk_paths.unwrap_or(DiskPaths::ByPath),
        on_poweroff: x.on_poweroff.unwrap_or(XlAction::Destroy),
        on_reboot: x.on_reboot.unwrap_or(XlAction::Restart),
        on_crash: x.on_crash.unwrap_or(XlAction::Destroy),
        dom0_memory,
        xen_cmdline,
        xen_path,
        dom0_kernel_version: x.dom0_kernel_version,
        dom0_root: x.dom0_root,
        dom0_cmdline,
        bootloader: x.bootloader.unwrap_or(XenBoot::Kernel),
        kind,
        host_boot_partition,
    })
}

/// `[iscsi]` with its defaults.
fn iscsi(
    name: &str,
    recipe: Option<&Path>,
    i: IscsiFile,
) -> std::result::Result<Iscsi, KeyError> {
    check_iqn(&i.target).map_err(|m| ("target", m))?;
    let portal = i.portal.ok_or((
        "portal",
        "the target's ADDRESS[:PORT] is needed (the initiators log in \
         there, and udev's by-path names carry it)"
            .to_string(),
    ))?;
    let portal = check_portal(&portal).map_err(|m| ("portal", m))?;
    if let Some(u) = &i.chap_user {
        word(u, "._@-").map_err(|m| ("chap_user", m))?;
    }
    let chap_secret = i
        .chap_secret
        .map(|s| secret_source(recipe, &s))
        .transpose()
        .map_err(|m| ("chap_secret", m))?;
    match (&i.chap_user, &chap_secret) {
        (Some(_), None) => {
            return Err((
                "chap_secret",
                "chap_user needs chap_secret = \"env:VAR\" or \
                 \"file:PATH\""
                    .into(),
            ))
        }
        (None, Some(_)) => {
            return Err(("chap_user", "chap_secret needs chap_user".into()))
        }
        _ => {}
    }
    let backing_store = i
        .backing_store
        .unwrap_or_else(|| format!("/srv/lunforge/{name}.img"));
    absolute(&backing_store).map_err(|m| ("backing_store", m))?;
    Ok(Iscsi {
        target: i.target,
        lun: i.lun,
        portal,
        chap_user: i.chap_user,
        chap_secret,
        backing_store,
    })
}

/// Letters, digits and `extra`; not empty.
fn word(s: &str, extra: &str) -> std::result::Result<(), String> {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
    {
        Ok(())
    } else {
        Err(format!(
            "{s:?} must be letters, digits and any of {extra:?}, not empty"
        ))
    }
}

/// An absolute path of plain characters.
fn absolute(s: &str) -> std::result::Result<(), String> {
    if !s.starts_with('/') {
        return Err(format!("{s:?} is not an absolute path"));
    }
    word(s, "/._+-")
}

/// A kernel or hypervisor command line: words of plain characters, so
/// it can stand unquoted in GRUB scripts and inside xl strings.
fn cmdline(s: &str) -> std::result::Result<(), String> {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || " ._,:=+/@%-".contains(c))
    {
        Ok(())
    } else {
        Err(format!(
            "{s:?}: only letters, digits, spaces and any of \"._,:=+/@%-\" \
             (no quotes, no GRUB or shell syntax)"
        ))
    }
}

/// A size that is a whole, nonzero number of MiB (xl and Xen count so).
fn whole_mib(b: ByteSize) -> std::result::Result<ByteSize, String> {
    if b.0 == 0 || b.0 % (1 << 20) != 0 {
        Err(format!("{b} is not a whole number of MiB"))
    } else {
        Ok(b)
    }
}

/// An iSCSI name (RFC 7143 §4.2.7.2), held to the lower-case characters
/// that udev globs and xl strings take literally.
fn check_iqn(s: &str) -> std::result::Result<(), String> {
    let typed = ["iqn.", "eui.", "naa."].iter().any(|p| s.starts_with(p));
    let plain = s.chars().all(|c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || ".:-".contains(c)
    });
    if typed && plain && s.len() <= 223 {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an iSCSI name such as \
             \"iqn.2006-05.com.example:disk1\" (lower case)"
        ))
    }
}

/// `ADDRESS[:PORT]` (IPv6 in brackets), with the port made explicit.
fn check_portal(s: &str) -> std::result::Result<String, String> {
    let bad =
        || format!("{s:?} is not ADDRESS[:PORT] such as \"192.0.2.10:3260\"");
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(bad)?;
        word(h, ":.").map_err(|_| bad())?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(bad()),
        };
        (format!("[{h}]"), port)
    } else {
        let (h, p) = match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        word(h, ".-").map_err(|_| bad())?;
        (h.to_string(), p)
    };
    let port: u16 = match port {
        Some(p) => p.parse().map_err(|_| bad())?,
        None => 3260,
    };
    if port == 0 {
        return Err(bad());
    }
    Ok(format!("{host}:{port}"))
}

/// `env:VAR` or `file:PATH`.
pub(crate) fn secret_source(
    recipe: Option<&Path>,
    s: &str,
) -> std::result::Result<SecretSource, String> {
    if let Some(var) = s.strip_prefix("env:") {
        word(var, "_")?;
        Ok(SecretSource::Env(var.into()))
    } else if let Some(p) = s.strip_prefix("file:").filter(|p| !p.is_empty()) {
        Ok(SecretSource::File(relative_to(recipe, p)))
    } else {
        Err(format!(
            "{s:?}: expected \"env:VAR\" or \"file:PATH\" naming where \
             the secret is; the secret itself never goes in the recipe"
        ))
    }
}

/// A data partition's mount point: absolute, not the root, not `/boot`
/// (the guest's GRUB files and initrd are written for a `/boot` on the
/// root file system), and not one another partition has.
fn check_mount(m: &str, taken: &[String]) -> std::result::Result<(), String> {
    if !m.starts_with('/') {
        return Err(format!("{m:?} is not an absolute path"));
    }
    let parts: Vec<&str> = m
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(format!("{m:?} has a \"..\" component"));
    }
    let norm = format!("/{}", parts.join("/"));
    if norm == "/" {
        return Err(format!(
            "{m:?} is the root, which the root partition holds"
        ));
    }
    if norm == "/boot" {
        return Err(
            "\"/boot\" stays on the root file system: the guest's GRUB \
             files and initrd are written there"
                .into(),
        );
    }
    if taken.contains(&norm) {
        return Err(format!("{norm} is the mount point of another partition"));
    }
    Ok(())
}

/// ext settings make sense only on an ext file system, within what
/// mke2fs accepts.
fn check_ext_options(
    o: &ExtOptions,
    fs: Option<FsKind>,
) -> std::result::Result<(), (&'static str, String)> {
    let is_ext = matches!(fs, Some(FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4));
    let set = [
        ("block_size", o.block_size.is_some()),
        ("inode_ratio", o.inode_ratio.is_some()),
        ("inodes", o.inodes.is_some()),
        ("reserved_percent", o.reserved_percent.is_some()),
    ];
    if let Some((k, _)) = set.iter().find(|(_, on)| *on).filter(|_| !is_ext) {
        return Err((
            k,
            "only an ext2, ext3 or ext4 partition takes it".into(),
        ));
    }
    if let Some(b) = o.block_size.filter(|b| ![1024, 2048, 4096].contains(b)) {
        return Err(("block_size", format!("{b} is not 1024, 2048 or 4096")));
    }
    if let Some(r) = o.inode_ratio.filter(|r| !(1024..=67_108_864).contains(r))
    {
        return Err((
            "inode_ratio",
            format!("{r} is outside 1024..=67108864 (mke2fs -i)"),
        ));
    }
    if let Some(m) = o.reserved_percent.filter(|m| *m > 50) {
        return Err(("reserved_percent", format!("{m} is more than 50")));
    }
    Ok(())
}

/// A resolved `system.updates` or `system.security`: the archive URL
/// (none: left out of the guest's sources) and where it came from, or
/// why there is none.
type AptPocket = (Option<String>, String);

/// `system.updates`: `true` (the default) takes the host's entry for
/// its release's `-updates` when the mirror is the host's, else the
/// suite's own mirror, which carries `-updates` as part of the archive.
fn updates_source(
    suite: &str,
    mirror: &str,
    host: Option<&HostPockets>,
    value: &Option<AptSource>,
) -> std::result::Result<AptPocket, String> {
    let Some(pocket) = pockets::updates_suite(suite) else {
        return match value {
            None | Some(AptSource::Off) => {
                Ok((None, format!("none: {suite} has no -updates suite")))
            }
            Some(_) => Err(format!(
                "{suite} has no -updates suite: leave it out or set false"
            )),
        };
    };
    match (value, host) {
        (Some(AptSource::Off), _) => Ok((None, FROM_RECIPE.into())),
        (Some(AptSource::Url(u)), _) => archive_url(u),
        (_, Some(h)) => Ok(match &h.updates {
            Some(p) => (Some(p.uri.clone()), host_origin(p)),
            None => (
                Some(mirror.into()),
                format!(
                    "system.mirror, as {} ({pocket} is on every mirror of \
                     the suite)",
                    host_lacks(h, "-updates")
                ),
            ),
        }),
        (_, None) => Ok((Some(mirror.into()), "system.mirror".into())),
    }
}

/// `system.security`: `true` (the default) takes the host's entry for
/// its release's security suite when the mirror is the host's, else the
/// security archive beside the mirror (`…/debian-security` beside
/// `…/debian`). Where neither exists, the default leaves it out and says
/// so in `security_origin`; an explicit `true` is an error.
fn security_source(
    suite: &str,
    mirror: &str,
    host: Option<&HostPockets>,
    value: &Option<AptSource>,
) -> std::result::Result<AptPocket, String> {
    if pockets::security_suite(suite).is_none() {
        return match value {
            None | Some(AptSource::Off) => {
                Ok((None, format!("none: {suite} has no security suite")))
            }
            Some(_) => Err(format!(
                "{suite} has no security suite: leave it out or set false"
            )),
        };
    }
    let found = match (value, host) {
        (Some(AptSource::Off), _) => return Ok((None, FROM_RECIPE.into())),
        (Some(AptSource::Url(u)), _) => return archive_url(u),
        (_, Some(h)) => h
            .security
            .as_ref()
            .map(|p| (Some(p.uri.clone()), host_origin(p)))
            .ok_or_else(|| host_lacks(h, "-security")),
        (_, None) => pockets::security_beside(mirror)
            .map(|url| (Some(url), "beside system.mirror".into()))
            .ok_or_else(|| {
                "the path of system.mirror does not end in /debian, so \
                 no security archive is known beside it"
                    .to_string()
            }),
    };
    match (found, value) {
        (Ok(pocket), _) => Ok(pocket),
        (Err(why), None) => {
            Ok((None, format!("none: {why}; set system.security to its URL")))
        }
        (Err(why), Some(_)) => {
            Err(format!("{why}: give the security archive's URL, or false"))
        }
    }
}

/// An archive URL of `system.updates` or `system.security`.
fn archive_url(url: &str) -> std::result::Result<AptPocket, String> {
    transport::parse_mirror(url)
        .map(|u| (Some(u), FROM_RECIPE.into()))
        .map_err(|e| format!("{e}, or true or false"))
}

/// `FILE:LINE (SUITE)` of a host entry.
fn host_origin(p: &pockets::HostPocket) -> String {
    format!("{} ({})", p.origin, p.suite)
}

/// That the host has no entry for its release's `suffix` suite.
fn host_lacks(h: &HostPockets, suffix: &str) -> String {
    if h.release.is_empty() {
        format!(
            "the host's Debian archive entry names no release to find its \
             {suffix} entry by"
        )
    } else {
        format!("the host's apt sources have no {}{suffix} entry", h.release)
    }
}

/// `system.timezone`: `AREA/LOCATION` as tzdata names its zones
/// (`Europe/London`, `America/Argentina/Cordoba`, `Etc/UTC`). A name
/// without an area (`UTC`, `GB`), or under `posix/` and `right/`, is
/// refused: tzdata's configure step would replace it with its canonical
/// name. Whether the zone exists is checked in the built tree.
fn timezone(tz: Option<&str>) -> std::result::Result<String, String> {
    let Some(tz) = tz else {
        return Ok(DEFAULT_TIMEZONE.into());
    };
    let parts: Vec<&str> = tz.split('/').collect();
    let plain = |p: &&str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+-".contains(c))
    };
    let ok = parts.len() >= 2
        && parts.iter().all(plain)
        && !["posix", "right"].contains(&parts[0]);
    if ok {
        Ok(tz.into())
    } else {
        Err(format!(
            "{tz:?} is not a time zone name: expected AREA/LOCATION as \
             under /usr/share/zoneinfo, e.g. \"Europe/London\" or \
             \"{DEFAULT_TIMEZONE}\""
        ))
    }
}

/// `system.locale`: `C.UTF-8` (the default), `C`, `POSIX`, or a locale
/// as glibc names them, `language[_TERRITORY][.charset][@modifier]`
/// (`en_GB.UTF-8`, `sr_RS@latin`). Whether the guest's locales package
/// supports it is checked in the built tree.
fn locale(l: Option<&str>) -> std::result::Result<String, String> {
    let Some(l) = l else {
        return Ok(DEFAULT_LOCALE.into());
    };
    if BUILTIN_LOCALES.contains(&l) {
        return Ok(l.into());
    }
    let (rest, modifier) = l.split_once('@').unwrap_or((l, "a"));
    let (rest, charset) = rest.split_once('.').unwrap_or((rest, "a"));
    let (language, territory) = rest.split_once('_').unwrap_or((rest, "AA"));
    let ok = (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_lowercase())
        && territory.len() == 2
        && territory.bytes().all(|b| b.is_ascii_uppercase())
        && !charset.is_empty()
        && charset
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !modifier.is_empty()
        && modifier.bytes().all(|b| b.is_ascii_lowercase());
    if ok {
        Ok(l.into())
    } else {
        Err(format!(
            "{l:?} is not a locale name: expected e.g. \"en_GB.UTF-8\" \
             (a line of /usr/share/i18n/SUPPORTED) or \"{DEFAULT_LOCALE}\""
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xen_defaults() {
        let x = default_xen("g", Arch::Amd64);
        assert_eq!(x.memory, ByteSize(512 << 20));
        assert_eq!(x.vcpus, 1);
        assert_eq!(x.guest_boot_dir, "/var/lib/lunforge/g");
        assert_eq!(x.disk_paths, DiskPaths::ByPath);
        assert_eq!(x.dom0_memory, ByteSize(1 << 30));
        assert_eq!(x.dom0_root, None);
    }

    #[test]
    fn portals_get_their_port() {
        assert_eq!(check_portal("192.0.2.1").unwrap(), "192.0.2.1:3260");
        assert_eq!(check_portal("a.example:3261").unwrap(), "a.example:3261");
        assert_eq!(
            check_portal("[2001:db8::1]").unwrap(),
            "[2001:db8::1]:3260"
        );
        for bad in ["", "x:0", "x:y", "a b", "[::1", "x:70000", "[::1]x"] {
            assert!(check_portal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_lines() {
        assert!(
            check_iqn("iqn.2006-05.com.performancemagic:penfold.disk1").is_ok()
        );
        for bad in ["iqn.2006-05.com.X:y", "disk1", "iqn.a*b", "iqn.a b"] {
            assert!(check_iqn(bad).is_err(), "{bad}");
        }
        assert!(cmdline("console=vga dom0_max_vcpus=1-4").is_ok());
        for bad in ["a'b", "a\"b", "x;y", "$x", "a\nb", "{x}"] {
            assert!(cmdline(bad).is_err(), "{bad}");
        }
        assert!(whole_mib(ByteSize(3 << 20)).is_ok());
        assert!(whole_mib(ByteSize((3 << 20) + 1)).is_err());
        assert!(whole_mib(ByteSize(0)).is_err());
        assert_eq!(
            secret_source(Some(Path::new("/r/x.toml")), "file:chap").unwrap(),
            SecretSource::File("/r/chap".into())
        );
        assert_eq!(
            secret_source(None, "env:CHAP_1").unwrap(),
            SecretSource::Env("CHAP_1".into())
        );
        assert!(secret_source(None, "hunter2hunter2").is_err());
        assert!(secret_source(None, "file:").is_err());
    }
}
