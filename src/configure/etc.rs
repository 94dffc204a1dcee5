//! The guest files the seed procedure wrote by hand: `/etc/fstab` by
//! UUID, `/etc/hostname`, `/etc/hosts`, `/etc/network/interfaces`,
//! `/etc/resolv.conf`, and a getty on the Xen console (the apt sources
//! are [`super::apt`]'s).
//!
//! The network interface is named `eth0` by default, as in the seed, and
//! the guest's kernel command line carries `net.ifnames=0` so that the
//! name holds on Xen (where systemd would name netfront `enX0`) and under
//! QEMU (`ens3`/`enp0s3`) alike: one `interfaces` file serves both, and a
//! migrated guest keeps its name.

use std::net::IpAddr;

use super::{Error, Result};
use crate::ids;
use crate::recipe::{FsKind, PartitionUse, Recipe, ESP_MOUNT};
use crate::tree::{GuestPath, Kind, Meta, Tree};

/// `text` at `path`, root's and mode 0644, its parents made as needed:
/// how every configuration file lunforge writes for the guest is made.
pub(super) fn write_text(
    tree: &mut Tree,
    path: &str,
    text: &str,
    sde: i64,
) -> Result<()> {
    let p = GuestPath::new(path)?;
    if let Some(parent) = p.parent() {
        tree.create_dirs(&parent, &Meta::root(0o755, sde))?;
    }
    tree.write_file(&p, Meta::root(0o644, sde), text.as_bytes())?;
    Ok(())
}

/// Write every guest file the recipe asks for.
pub fn write(tree: &mut Tree, recipe: &Recipe, sde: i64) -> Result<()> {
    let file = |tree: &mut Tree, path: &str, text: &str| {
        write_text(tree, path, text, sde)
    };
    file(tree, "/etc/fstab", &fstab(recipe))?;
    let hostname = recipe.hostname();
    file(tree, "/etc/hostname", &format!("{hostname}\n"))?;
    file(tree, "/etc/hosts", &hosts(recipe, hostname)?)?;
    file(tree, "/etc/resolv.conf", &resolv_conf(recipe)?)?;
    if let Some(text) = interfaces(recipe)? {
        file(tree, "/etc/network/interfaces", &text)?;
    }
    hvc0_getty(tree, sde)?;
    Ok(())
}

/// `/etc/fstab`: every partition by the UUID the disk stage gives it;
/// a vfat file system by its volume id (`XXXX-XXXX`, derived from that
/// UUID as the FAT writer derives it), which is what `blkid` and
/// `mount UUID=` call its UUID.
pub fn fstab(recipe: &Recipe) -> String {
    let mut out = String::from(
        "# /etc/fstab: static file system information (written by lunforge).\n\
         # <file system> <mount point> <type> <options> <dump> <pass>\n",
    );
    let mut lines: Vec<(u8, String)> = Vec::new();
    for (i, p) in recipe.partitions.iter().enumerate() {
        let uuid = ids::partition_fs_uuid(&recipe.image.name, i);
        let uuid = match p.fs {
            Some(FsKind::Vfat) => ids::VolumeId::from_fs_uuid(uuid).to_string(),
            _ => uuid.to_string(),
        };
        let fs = p.fs.map_or("swap", fs_name);
        match p.usage {
            PartitionUse::Root => lines.push((
                0,
                format!("UUID={uuid} / {fs} defaults,errors=remount-ro 0 1"),
            )),
            PartitionUse::Data | PartitionUse::Esp => {
                let mount = p.mount.as_deref().unwrap_or(ESP_MOUNT);
                let opts = if p.usage == PartitionUse::Esp {
                    "umask=0077"
                } else {
                    "defaults"
                };
                lines.push((1, format!("UUID={uuid} {mount} {fs} {opts} 0 2")));
            }
            PartitionUse::Swap => {
                lines.push((2, format!("UUID={uuid} none swap sw 0 0")))
            }
        }
    }
    lines.sort_by_key(|(rank, _)| *rank);
    for (_, l) in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

fn fs_name(fs: FsKind) -> &'static str {
    match fs {
        FsKind::Ext2 => "ext2",
        FsKind::Ext3 => "ext3",
        FsKind::Ext4 => "ext4",
        FsKind::Vfat => "vfat",
    }
}

/// The static address without its prefix, checked.
fn static_address(recipe: &Recipe) -> Result<Option<(IpAddr, u8)>> {
    let Some(addr) = recipe.network.as_ref().and_then(|n| n.address.as_deref())
    else {
        return Ok(None);
    };
    cidr("network.address", addr).map(Some)
}

/// `addr` of the recipe key `key`, as an address and prefix length.
fn cidr(key: &str, addr: &str) -> Result<(IpAddr, u8)> {
    crate::recipe::cidr(addr).map_err(|why| Error::Network {
        key: key.into(),
        value: addr.into(),
        why,
    })
}

/// `/etc/hosts` as the Debian installer writes it.
fn hosts(recipe: &Recipe, hostname: &str) -> Result<String> {
    let fqdn = match recipe.network.as_ref().and_then(|n| n.domain.as_deref()) {
        Some(d) => format!("{hostname}.{d} {hostname}"),
        None => hostname.to_string(),
    };
    let own = match static_address(recipe)? {
        Some((ip, _)) => ip.to_string(),
        None => "127.0.1.1".into(),
    };
    let mut out = format!("127.0.0.1\tlocalhost\n{own}\t{fqdn}\n");
    let others = recipe.network.as_ref().map(|n| &n.hosts);
    for (name, addr) in others.into_iter().flatten() {
        if name == hostname {
            // Its own address, on the line above (the recipe's check).
            continue;
        }
        out.push_str(&format!("{addr}\t{name}\n"));
    }
    out.push_str(
        "\n# The following lines are desirable for IPv6 capable hosts\n\
         ::1     localhost ip6-localhost ip6-loopback\n\
         ff02::1 ip6-allnodes\n\
         ff02::2 ip6-allrouters\n",
    );
    Ok(out)
}

/// `/etc/resolv.conf`: the recipe's name servers; never the build host's.
fn resolv_conf(recipe: &Recipe) -> Result<String> {
    let mut out =
        String::from("# written by lunforge from the recipe's network.dns\n");
    let dns = recipe.network.as_ref().map_or(&[][..], |n| &n.dns[..]);
    for d in dns {
        let ip: IpAddr = d.parse().map_err(|_| Error::Network {
            key: "network.dns".into(),
            value: d.clone(),
            why: "not an IP address".into(),
        })?;
        out.push_str(&format!("nameserver {ip}\n"));
    }
    if let Some(domain) =
        recipe.network.as_ref().and_then(|n| n.domain.as_deref())
    {
        out.push_str(&format!("search {domain}\n"));
    }
    Ok(out)
}

/// `/etc/network/interfaces` for ifupdown: loopback and the recipe's
/// interface, static or DHCP; `None` without a `[network]` section.
fn interfaces(recipe: &Recipe) -> Result<Option<String>> {
    let Some(net) = recipe.network.as_ref() else {
        return Ok(None);
    };
    let port = net.interface.as_deref().unwrap_or("eth0");
    let mut out = String::from(
        "# /etc/network/interfaces (written by lunforge)\n\
         auto lo\niface lo inet loopback\n\n",
    );
    // With a bridge, the interface is only its port and the bridge
    // carries the address (bridge-utils' ifupdown hook reads
    // `bridge_ports`), as Xen's network-bridge script once arranged.
    let iface = match net.bridge.as_deref() {
        Some(bridge) => {
            out.push_str(&format!(
                "# {port} is a port of {bridge}, which has the address\n\
                 iface {port} inet manual\n\n\
                 auto {bridge}\n"
            ));
            bridge
        }
        None => {
            out.push_str(&format!("auto {port}\n"));
            port
        }
    };
    let dhcp = net.dhcp.unwrap_or(false);
    match (static_address(recipe)?, dhcp) {
        (Some(_), true) => {
            return Err(Error::Network {
                key: "network.dhcp".into(),
                value: "true".into(),
                why: "network.address is set too: choose one".into(),
            })
        }
        (Some((ip, prefix)), false) => {
            let family = if ip.is_ipv4() { "inet" } else { "inet6" };
            out.push_str(&format!(
                "iface {iface} {family} static\n    address {ip}/{prefix}\n"
            ));
            if let Some(gw) = &net.gateway {
                let gw: IpAddr = gw.parse().map_err(|_| Error::Network {
                    key: "network.gateway".into(),
                    value: gw.clone(),
                    why: "not an IP address".into(),
                })?;
                out.push_str(&format!("    gateway {gw}\n"));
            }
        }
        (None, _) => out.push_str(&format!("iface {iface} inet dhcp\n")),
    }
    if net.bridge.is_some() {
        // No spanning tree and no forwarding delay: the bridge is up
        // at once, as a host's only uplink needs.
        out.push_str(&format!(
            "    bridge_ports {port}\n    bridge_stp off\n    \
             bridge_fd 0\n    bridge_waitport 0\n"
        ));
    }
    for (i, x) in net.extra_interfaces.iter().enumerate() {
        let name = &x.interface;
        out.push_str(&format!("\nauto {name}\n"));
        match &x.address {
            Some(a) => {
                let key = format!("network.extra_interfaces[{i}].address");
                let (ip, prefix) = cidr(&key, a)?;
                let family = if ip.is_ipv4() { "inet" } else { "inet6" };
                out.push_str(&format!(
                    "iface {name} {family} static\n    address {ip}/{prefix}\n"
                ));
            }
            None => out.push_str(&format!("iface {name} inet dhcp\n")),
        }
    }
    Ok(Some(out))
}

/// A getty on `hvc0`, the Xen console, when the guest has systemd (as
/// the seed's `extra` console on `xm create -c`).
fn hvc0_getty(tree: &mut Tree, sde: i64) -> Result<()> {
    let unit = GuestPath::new("/usr/lib/systemd/system/serial-getty@.service")?;
    if tree.get(&unit).is_none() {
        return Ok(());
    }
    let wants = GuestPath::new("/etc/systemd/system/getty.target.wants")?;
    tree.create_dirs(&wants, &Meta::root(0o755, sde))?;
    tree.insert(
        &wants.join("serial-getty@hvc0.service")?,
        Meta::root(0o777, sde),
        Kind::Symlink(unit.as_str().into()),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::layout::tests::recipe;
    use crate::recipe::{PartitionUse::*, TableKind};

    /// The ESP by its volume id, as blkid names a vfat file system, at
    /// /boot/efi; the rest by their full UUIDs.
    #[test]
    fn fstab_names_vfat_by_volume_id() {
        let r = recipe(
            1 << 30,
            TableKind::Gpt,
            &[(Esp, Some(64 << 20)), (Root, None)],
        );
        let text = fstab(&r);
        let esp = ids::partition_fs_uuid("virtual01", 0);
        let id = ids::VolumeId::from_fs_uuid(esp);
        let root = ids::partition_fs_uuid("virtual01", 1);
        let lines: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(
            lines,
            [
                format!("UUID={root} / ext3 defaults,errors=remount-ro 0 1"),
                format!("UUID={id} /boot/efi vfat umask=0077 0 2"),
            ]
        );
        assert_eq!(id.to_string().len(), 9);
        assert!(esp
            .to_string()
            .to_uppercase()
            .starts_with(&id.to_string()[..4]));
    }

    #[test]
    fn static_interface_or_its_bridge() {
        let mut r = crate::boot::tests::recipe();
        let plain = interfaces(&r).unwrap().unwrap();
        assert!(
            plain.contains("auto eth0\niface eth0 inet static\n"),
            "{plain}"
        );
        assert!(!plain.contains("bridge"), "{plain}");
        let net = r.network.as_mut().unwrap();
        net.bridge = Some("xenbr0".into());
        let bridged = interfaces(&r).unwrap().unwrap();
        let want = "iface eth0 inet manual\n\nauto xenbr0\n\
                    iface xenbr0 inet static\n    address 192.0.2.50/24\n";
        assert!(bridged.contains(want), "{bridged}");
        assert!(!bridged.contains("auto eth0"), "{bridged}");
        assert!(
            bridged.ends_with(
                "    bridge_ports eth0\n    bridge_stp off\n    \
                 bridge_fd 0\n    bridge_waitport 0\n"
            ),
            "{bridged}"
        );
    }

    /// A storage network beside the bridge, and the peers by name.
    #[test]
    fn extra_interfaces_and_other_hosts() {
        let mut r = crate::boot::tests::recipe();
        let net = r.network.as_mut().unwrap();
        net.bridge = Some("xenbr0".into());
        net.extra_interfaces = vec![
            crate::recipe::file::InterfaceFile {
                interface: "eth1".into(),
                address: Some("10.0.2.15/24".into()),
                dhcp: None,
            },
            crate::recipe::file::InterfaceFile {
                interface: "eth2".into(),
                address: None,
                dhcp: Some(true),
            },
        ];
        net.hosts.insert("buggles".into(), "192.0.2.12".into());
        net.hosts.insert("penfold".into(), "192.0.2.10".into());
        net.hosts.insert("virtual01".into(), "192.0.2.50".into());
        let text = interfaces(&r).unwrap().unwrap();
        assert!(
            text.ends_with(
                "    bridge_waitport 0\n\nauto eth1\n\
                 iface eth1 inet static\n    address 10.0.2.15/24\n\n\
                 auto eth2\niface eth2 inet dhcp\n"
            ),
            "{text}"
        );
        let hosts = hosts(&r, "virtual01").unwrap();
        assert!(
            hosts.starts_with(
                "127.0.0.1\tlocalhost\n192.0.2.50\tvirtual01\n\
                 192.0.2.12\tbuggles\n192.0.2.10\tpenfold\n\n"
            ),
            "{hosts}"
        );
    }
}
