//! Identifiers derived from the recipe: the same recipe always gives the
//! same UUIDs (and, later, MAC addresses), so that `/etc/fstab`, the
//! file systems and the Xen config agree without being told, and two
//! builds give the same bytes.
//!
//! A UUID is the first 16 bytes of SHA-256 over a domain-separated
//! string, with the version (4, "random") and variant (RFC 9562) bits
//! set: indistinguishable in form from a random UUID, reproducible.

use sha2::{Digest, Sha256};

/// A UUID in its 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The UUID derived from `parts`.
    pub fn derive(parts: &[&str]) -> Uuid {
        let mut h = Sha256::new();
        h.update(b"lunforge-uuid");
        for p in parts {
            h.update([0u8]);
            h.update(p.as_bytes());
        }
        let d = h.finalize();
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

/// The UUID of the file system (or swap area) of partition `index`
/// (counting from 0) of the guest named `image`.
pub fn partition_fs_uuid(image: &str, index: usize) -> Uuid {
    Uuid::derive(&[image, "partition", &index.to_string(), "filesystem"])
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
