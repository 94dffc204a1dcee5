//! Extended attributes stored in the inode: the space after the
//! large-inode fields (`i_extra_isize`) holds a 4-byte header and a list
//! of `ext4_xattr_entry` records, with the values packed at the end of
//! the inode.
//!
//! Spec: the kernel's ext4 on-disk format documentation, "Extended
//! Attributes"
//! (<https://www.kernel.org/doc/html/latest/filesystems/ext4/attributes.html>,
//! `Documentation/filesystems/ext4/attributes.rst`): the header magic,
//! the entry layout, the name prefixes and the entry hash.
//!
//! A set that fits the inode's 96 spare bytes (a `security.capability`
//! does) goes there; a larger one goes whole into an attribute block of
//! its own ("Extended Attribute Blocks": a 32-byte header, entries
//! sorted by index and name, values at the end, `h_refcount` 1). A set
//! larger than a block is refused with the path. POSIX ACLs
//! (`system.posix_acl_access`/`_default`) are converted from the format
//! `getfattr` shows to ext2's own ([`acl_to_ext`]) and stored under
//! their name indexes with an empty name, as the kernel stores them.
//!
//! Written by hand because no crate makes a file system: `ext4-rs`
//! expects one made by `mkfs.ext4`, writes no journal and handles only
//! extents and 4 KiB blocks, so it cannot make ext2 or ext3.

use super::bytes::{put, put_u16le, put_u32le};

/// `h_magic` of the in-inode header and of attribute blocks.
pub const EXT4_XATTR_MAGIC: u32 = 0xEA02_0000;

/// Why a set of attributes cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The name has no prefix ext2 knows, or is too long.
    Name(String),
    /// A POSIX ACL, which needs conversion to ext2's format.
    Acl(String),
    /// The set needs this many bytes, more than the inode has.
    TooLarge(usize),
}

/// `e_name_index` and the rest of the name after the prefix.
fn split_name(name: &str) -> Option<(u8, &str)> {
    const PREFIXES: [(&str, u8); 4] = [
        ("user.", 1),
        ("trusted.", 4),
        ("security.", 6),
        ("system.", 7),
    ];
    PREFIXES
        .iter()
        .find_map(|(p, i)| name.strip_prefix(p).map(|rest| (*i, rest)))
        .filter(|(_, rest)| !rest.is_empty() && rest.len() <= 255)
}

/// `e_name_index` of a POSIX ACL, stored with an empty name:
/// `EXT4_XATTR_INDEX_POSIX_ACL_ACCESS` (2) and `…_DEFAULT` (3).
fn acl_index(name: &str) -> Option<u8> {
    match name {
        "system.posix_acl_access" => Some(2),
        "system.posix_acl_default" => Some(3),
        _ => None,
    }
}

/// `POSIX_ACL_XATTR_VERSION`, the version of the ACL format `getfattr`
/// shows (`struct posix_acl_xattr_header`).
const ACL_XATTR_VERSION: u32 = 2;
/// `EXT4_ACL_VERSION`, the version of ext2/3/4's on-disk ACL format.
const EXT4_ACL_VERSION: u32 = 1;
/// `ACL_USER` and `ACL_GROUP`: the tags whose entries carry an id.
const ACL_USER: u16 = 0x02;
const ACL_GROUP: u16 = 0x08;
/// The other valid tags: `ACL_USER_OBJ`, `ACL_GROUP_OBJ`, `ACL_MASK`,
/// `ACL_OTHER`, stored without an id.
const ACL_SHORT_TAGS: [u16; 4] = [0x01, 0x04, 0x10, 0x20];

/// An ACL in the xattr format (a 4-byte version 2, then 8-byte entries
/// `e_tag`, `e_perm`, `e_id`) in ext4's format (version 1, then 8-byte
/// entries for `ACL_USER`/`ACL_GROUP` and 4-byte ones, without the id,
/// for the rest), as the kernel's `ext4_acl_to_disk` writes it; `None`
/// when the value is not a well-formed ACL.
///
/// Spec: the kernel's `fs/ext4/acl.h` and
/// `include/uapi/linux/posix_acl_xattr.h`.
pub fn acl_to_ext(value: &[u8]) -> Option<Vec<u8>> {
    let (head, body) = value.split_first_chunk::<4>()?;
    if u32::from_le_bytes(*head) != ACL_XATTR_VERSION
        || body.len().checked_rem(8) != Some(0)
    {
        return None;
    }
    let mut out = EXT4_ACL_VERSION.to_le_bytes().to_vec();
    for e in body.chunks_exact(8) {
        let tag = u16::from_le_bytes([*e.first()?, *e.get(1)?]);
        let perm = e.get(2..4)?;
        let id = e.get(4..8)?;
        if perm.get(1) != Some(&0) || perm.first().is_some_and(|p| *p > 7) {
            return None;
        }
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(perm);
        if tag == ACL_USER || tag == ACL_GROUP {
            out.extend_from_slice(id);
        } else if !ACL_SHORT_TAGS.contains(&tag) {
            return None;
        }
    }
    Some(out)
}

/// An entry to store: `e_name_index`, the name after its prefix, the
/// value (converted, for ACLs).
type Entry<'a> = (u8, &'a [u8], std::borrow::Cow<'a, [u8]>);

/// `x` rounded up to 4.
fn round4(x: usize) -> usize {
    x.saturating_add(3) & !3
}

/// The entry hash (`ext4_xattr_hash_entry`): name bytes shifted in by
/// 5, then the value's little-endian words by 16.
pub fn entry_hash(name: &[u8], value: &[u8]) -> u32 {
    let mut hash: u32 = 0;
    for &c in name {
        // e2fsprogs reads the name as `char`, signed on x86; it also
        // accepts the unsigned hash the kernel computes, used here.
        hash = hash.rotate_left(5) ^ u32::from(c);
    }
    let mut padded = value.to_vec();
    padded.resize(round4(value.len()), 0);
    for w in padded.chunks_exact(4) {
        let word = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        hash = hash.rotate_left(16) ^ word;
    }
    hash
}

/// Where a set of attributes is stored: the layouts differ in their
/// header and in what value offsets count from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// After the large-inode fields: a 4-byte header; offsets count
    /// from the first entry.
    Inode,
    /// An attribute block: a 32-byte header; offsets count from the
    /// block's start; entries sorted as the kernel looks them up.
    Block,
}

/// The in-inode attribute area (`area` bytes, starting with the
/// header) for `attrs`, or why it cannot be made.
pub fn encode_in_inode(
    attrs: &[(&str, &[u8])],
    area: usize,
) -> Result<Vec<u8>, Refusal> {
    encode(attrs, area, Place::Inode)
}

/// An attribute block of `block_size` bytes for `attrs` (`h_refcount`
/// 1: blocks are not shared), or why it cannot be made.
pub fn encode_block(
    attrs: &[(&str, &[u8])],
    block_size: usize,
) -> Result<Vec<u8>, Refusal> {
    encode(attrs, block_size, Place::Block)
}

fn encode(
    attrs: &[(&str, &[u8])],
    area: usize,
    place: Place,
) -> Result<Vec<u8>, Refusal> {
    let mut b = vec![0u8; area];
    if attrs.is_empty() {
        return Ok(b);
    }
    let mut entries: Vec<Entry<'_>> = Vec::new();
    for (name, value) in attrs {
        if let Some(index) = acl_index(name) {
            let v = acl_to_ext(value)
                .ok_or_else(|| Refusal::Acl((*name).to_string()))?;
            entries.push((index, &[], v.into()));
            continue;
        }
        let (index, rest) =
            split_name(name).ok_or_else(|| Refusal::Name((*name).into()))?;
        entries.push((index, rest.as_bytes(), (*value).into()));
    }
    if place == Place::Block {
        // ext4_xattr_find_entry stops at the first entry past the name
        // in a block: order by index, name length, name.
        entries
            .sort_by(|x, y| (x.0, x.1.len(), x.1).cmp(&(y.0, y.1.len(), y.1)));
    }
    let (header, base) = match place {
        Place::Inode => (4usize, 4usize),
        Place::Block => (32, 0),
    };
    // Header, entries (16 bytes + name, rounded), the 4-byte end
    // marker, then the values, each rounded to 4.
    let names: usize = entries
        .iter()
        .map(|(_, n, _)| round4(n.len().saturating_add(16)))
        .fold(0, usize::saturating_add);
    let values: usize = entries
        .iter()
        .map(|(_, _, v)| round4(v.len()))
        .fold(0, usize::saturating_add);
    let need = header
        .saturating_add(names)
        .saturating_add(4)
        .saturating_add(values);
    if need > area {
        return Err(Refusal::TooLarge(need));
    }
    put_u32le(&mut b, 0x0, EXT4_XATTR_MAGIC); // h_magic
    if place == Place::Block {
        put_u32le(&mut b, 0x4, 1); // h_refcount
        put_u32le(&mut b, 0x8, 1); // h_blocks
    }

    // Values fill the area from its end downwards, as the kernel
    // places them.
    let mut entry_at = header;
    let mut value_end = area;
    let mut block_hash: u32 = 0;
    for (index, name, value) in entries {
        let size = round4(value.len());
        value_end = value_end.saturating_sub(size);
        let offs = value_end.saturating_sub(base);
        let name_len = u8::try_from(name.len()).map_err(|_| {
            Refusal::Name(String::from_utf8_lossy(name).into_owned())
        })?;
        let value_size =
            u32::try_from(value.len()).map_err(|_| Refusal::TooLarge(need))?;
        let value_offs =
            u16::try_from(offs).map_err(|_| Refusal::TooLarge(need))?;
        let value = &value[..];
        let hash = entry_hash(name, value);
        let e = &mut b[entry_at..];
        e[0x0] = name_len; // e_name_len
        e[0x1] = index; // e_name_index
        put_u16le(e, 0x2, value_offs); // e_value_offs
        put_u32le(e, 0x4, 0); // e_value_inum
        put_u32le(e, 0x8, value_size); // e_value_size
        put_u32le(e, 0xC, hash); // e_hash
        put(e, 0x10, name); // e_name
        put(&mut b, value_end, value);
        entry_at =
            entry_at.saturating_add(round4(name.len().saturating_add(16)));
        // ext4_xattr_rehash: the entry hashes shifted in by 16.
        block_hash = block_hash.rotate_left(16) ^ hash;
    }
    // The 4 zero bytes after the last entry end the list.
    if place == Place::Block {
        put_u32le(&mut b, 0xC, block_hash); // h_hash
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::super::bytes::{get_u16le, get_u32le};
    use super::*;

    #[test]
    fn one_capability() {
        let cap = [
            1u8, 0, 0, 2, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let b = encode_in_inode(&[("security.capability", &cap)], 96).unwrap();
        assert_eq!(get_u32le(&b, 0), EXT4_XATTR_MAGIC);
        assert_eq!(b[4], 10); // "capability"
        assert_eq!(b[5], 6); // security.
        assert_eq!(get_u16le(&b, 6), 96 - 20 - 4);
        assert_eq!(get_u32le(&b, 12), 20);
        assert_eq!(&b[20..30], b"capability");
        assert_eq!(get_u32le(&b, 32), 0); // end of the list
        assert_eq!(&b[76..], &cap);
    }

    #[test]
    fn refusals() {
        assert_eq!(
            encode_in_inode(&[("user.big", &[0u8; 80])], 96),
            Err(Refusal::TooLarge(108))
        );
        assert_eq!(
            encode_in_inode(&[("system.posix_acl_access", b"x")], 96),
            Err(Refusal::Acl("system.posix_acl_access".into()))
        );
        assert_eq!(
            encode_in_inode(
                &[("system.posix_acl_default", &[2, 0, 0, 0, 1])],
                96
            ),
            Err(Refusal::Acl("system.posix_acl_default".into()))
        );
        assert_eq!(
            encode_in_inode(&[("other.x", b"x")], 96),
            Err(Refusal::Name("other.x".into()))
        );
    }

    /// The ACL systemd-tmpfiles puts on /var/log/journal
    /// (`group:adm:r-x`), in both formats.
    #[test]
    fn posix_acl_in_ext_format() {
        let entry = |tag: u16, perm: u16, id: u32| {
            let mut v = tag.to_le_bytes().to_vec();
            v.extend_from_slice(&perm.to_le_bytes());
            v.extend_from_slice(&id.to_le_bytes());
            v
        };
        let mut xattr = 2u32.to_le_bytes().to_vec();
        for e in [
            entry(0x01, 7, u32::MAX),
            entry(0x04, 5, u32::MAX),
            entry(0x08, 5, 4),
            entry(0x10, 5, u32::MAX),
            entry(0x20, 5, u32::MAX),
        ] {
            xattr.extend(e);
        }
        let ext = acl_to_ext(&xattr).unwrap();
        let want: Vec<u8> = [
            &[1u8, 0, 0, 0][..],
            &[0x01, 0, 7, 0],
            &[0x04, 0, 5, 0],
            &[0x08, 0, 5, 0, 4, 0, 0, 0],
            &[0x10, 0, 5, 0],
            &[0x20, 0, 5, 0],
        ]
        .concat();
        assert_eq!(ext, want);
        let b = encode_in_inode(&[("system.posix_acl_access", &xattr)], 96)
            .unwrap();
        assert_eq!((b[4], b[5]), (0, 2)); // empty name, index 2
        assert_eq!(get_u32le(&b, 12), 28);
        let mut bad = xattr.clone();
        bad[12] = 0x40; // no such tag
        assert_eq!(acl_to_ext(&bad), None);
        assert_eq!(acl_to_ext(&xattr[..7]), None);
    }

    #[test]
    fn block_layout() {
        let b = encode_block(&[("user.zz", b"1"), ("user.a", b"22")], 1024)
            .unwrap();
        assert_eq!(get_u32le(&b, 0x0), EXT4_XATTR_MAGIC);
        assert_eq!(get_u32le(&b, 0x4), 1);
        assert_eq!(get_u32le(&b, 0x8), 1);
        // Sorted: "a" (shorter) first; its value at the block's end.
        assert_eq!(b[0x20], 1);
        assert_eq!(b[0x30], b'a');
        assert_eq!(get_u16le(&b, 0x22), 1020);
        assert_eq!(&b[1020..1022], b"22");
        assert_eq!(b[0x34], 2);
        let h1 = get_u32le(&b, 0x2C);
        let h2 = get_u32le(&b, 0x34 + 0xC);
        assert_eq!(get_u32le(&b, 0xC), h1.rotate_left(16) ^ h2);
    }

    #[test]
    fn hash_matches_e2fsprogs() {
        // ext2fs_ext_attr_hash_entry over name "a" and value "b\0\0\0":
        // (0 << 5 ^ 0 ^ 0x61) = 0x61; then (0x61 << 16) ^ (0x61 >> 16)
        // ^ 0x62 = 0x610062.
        assert_eq!(entry_hash(b"a", b"b"), 0x0061_0062);
    }
}
