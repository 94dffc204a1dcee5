//! Identifiers derived from the recipe: the same recipe always gives the
//! same UUIDs and MAC addresses, so that `/etc/fstab`, the
//! file systems and the Xen config agree without being told, and two
//! builds give the same bytes.
//!
//! A UUID is the first 16 bytes of SHA-256 over a domain-separated
//! string, with the version (4, "random") and variant (RFC 9562) bits
//! set: indistinguishable in form from a random UUID, reproducible.

use sha2::{Digest, Sha256};

/// SHA-256 over `domain`, then each part after a NUL byte: the parts
/// cannot run into each other, and no two kinds of identifier share a
/// hash.
fn digest(domain: &[u8], parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(domain);
    for p in parts {
        h.update([0u8]);
        h.update(p.as_bytes());
    }
    h.finalize().into()
}

/// A UUID in its 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The UUID derived from `parts`.
    pub fn derive(parts: &[&str]) -> Uuid {
        let d = digest(b"lunforge-uuid", parts);
        let mut b = [0u8; 16];
        b.copy_from_slice(&d[..16]);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        Uuid(b)
    }
}

impl std::fmt::Display for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let h = hex::encode(self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

impl std::str::FromStr for Uuid {
    type Err = String;

    /// The 8-4-4-4-12 hexadecimal form (either case).
    fn from_str(s: &str) -> Result<Uuid, String> {
        let bad = || format!("{s:?} is not a UUID (8-4-4-4-12 hex digits)");
        let groups: Vec<&str> = s.split('-').collect();
        let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        if lens != [8, 4, 4, 4, 12] {
            return Err(bad());
        }
        let mut b = [0u8; 16];
        hex::decode_to_slice(groups.concat(), &mut b).map_err(|_| bad())?;
        Ok(Uuid(b))
    }
}

/// The UUID of the file system (or swap area) of partition `index`
/// (counting from 0) of the guest named `image`.
pub fn partition_fs_uuid(image: &str, index: usize) -> Uuid {
    Uuid::derive(&[image, "partition", &index.to_string(), "filesystem"])
}

/// The volume serial number of a FAT file system (`BS_VolID`): what
/// `blkid` and `/dev/disk/by-uuid` call a vfat file system's UUID, and
/// so what the guest's `/etc/fstab` names it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VolumeId(pub u32);

impl VolumeId {
    /// The volume id of the FAT file system whose planned UUID is
    /// `uuid` (the partition's [`partition_fs_uuid`]): its first four
    /// bytes, so that `XXXX-XXXX` is the UUID's first eight hex digits.
    /// The FAT writer and `/etc/fstab` both take it from here.
    pub fn from_fs_uuid(uuid: Uuid) -> VolumeId {
        let [a, b, c, d, ..] = uuid.0;
        VolumeId(u32::from_be_bytes([a, b, c, d]))
    }
}

impl std::fmt::Display for VolumeId {
    /// `XXXX-XXXX`, upper-case hex, high half first: as `blkid` prints
    /// the little-endian field, and as `mount UUID=` matches it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.0;
        write!(f, "{:04X}-{:04X}", v >> 16, v & 0xffff)
    }
}

/// A MAC address in its 6 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// The OUI assigned to Xen, which xl itself draws random guest MACs
/// from.
pub const XEN_OUI: [u8; 3] = [0x00, 0x16, 0x3e];

/// The MAC of the guest's vif number `index`: Xen's OUI followed by the
/// first three bytes of SHA-256 over `"lunforge-mac" 0 image 0 "vif" 0
/// index`. Unicast and, under Xen's OUI, unique among lunforge's guests
/// up to the odds of a 24-bit hash (about one in 4000 for 100 guests on
/// one bridge); a recipe that collides can rename the guest.
pub fn vif_mac(image: &str, index: usize) -> Mac {
    let d = digest(b"lunforge-mac", &[image, "vif", &index.to_string()]);
    let [a, b, c] = XEN_OUI;
    Mac([a, b, c, d[0], d[1], d[2]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_its_own_form() {
        let a = partition_fs_uuid("virtual01", 1);
        assert_eq!(a.to_string().parse::<Uuid>(), Ok(a));
        assert_eq!(a.to_string().to_uppercase().parse::<Uuid>(), Ok(a));
        for bad in ["", "0123", "01234567-89ab-cdef-0123-456789abcdeg"] {
            assert!(bad.parse::<Uuid>().unwrap_err().contains("not a UUID"));
        }
    }

    #[test]
    fn stable_and_well_formed() {
        let a = partition_fs_uuid("virtual01", 1);
        assert_eq!(a, partition_fs_uuid("virtual01", 1));
        assert_ne!(a, partition_fs_uuid("virtual01", 0));
        assert_ne!(a, partition_fs_uuid("virtual02", 1));
        let s = a.to_string();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert!("89ab".contains(&s[19..20]));
    }

    #[test]
    fn fat_volume_id_is_the_uuids_first_eight_digits() {
        let u: Uuid = "1a2b3c4d-0000-4000-8000-000000000000".parse().unwrap();
        let v = VolumeId::from_fs_uuid(u);
        assert_eq!(v, VolumeId(0x1a2b_3c4d));
        assert_eq!(v.to_string(), "1A2B-3C4D");
        assert_eq!(VolumeId(0xbeef).to_string(), "0000-BEEF");
        let a = partition_fs_uuid("virtual01", 0);
        assert_eq!(
            VolumeId::from_fs_uuid(a).to_string().replace('-', ""),
            a.to_string()[..8].to_uppercase()
        );
    }

    #[test]
    fn macs_are_xen_and_stable() {
        let m = vif_mac("virtual01", 0);
        assert_eq!(m, vif_mac("virtual01", 0));
        assert_ne!(m, vif_mac("virtual02", 0));
        assert_ne!(m, vif_mac("virtual01", 1));
        let s = m.to_string();
        assert!(s.starts_with("00:16:3e:"), "{s}");
        assert_eq!(s.len(), 17);
        // The hash is SHA-256, as `sha256sum` computes it.
        let d = Sha256::digest(b"lunforge-mac\0virtual01\0vif\x000");
        assert_eq!(&m.0[3..], &d[..3]);
    }
}
