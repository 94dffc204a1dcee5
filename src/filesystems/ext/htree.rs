//! Hashed (htree) directories: the half-MD4 name hash, the `dx_root`
//! block (block 0, behind fake `.` and `..` entries) and `dx_node`
//! blocks (behind one empty entry covering the block), each an array of
//! `(hash, block)` pairs over the leaves, which are ordinary linear
//! blocks holding the entries in hash order.
//!
//! Spec: the kernel's ext4 on-disk format documentation, "Hash Tree
//! Directories"
//! (<https://www.kernel.org/doc/html/latest/filesystems/ext4/directory.html>,
//! `Documentation/filesystems/ext4/directory.rst`). With `metadata_csum`
//! an index block ends its array `limit` entries after the count and
//! limit with an 8-byte `dx_tail` (reserved word, checksum), and
//! `limit` leaves room for it.
//!
//! Why: with `dir_index` set, `e2fsck -fy` re-indexes ("Pass 3A:
//! Optimizing directories") every unindexed directory of three blocks
//! or more but `lost+found`, and the kernel indexes a directory as soon
//! as it grows past one block; so the plan indexes every directory of
//! more than one block, as the kernel would have.

use super::bytes::{put, put_u16le, put_u32le};
use super::dir::DirEntry;

/// `dx_root_info.hash_version` and `s_def_hash_version`: half MD4.
pub const DX_HASH_HALF_MD4: u8 = 1;
/// `i_flags`: the directory is hashed (`EXT2_INDEX_FL`).
pub const EXT2_INDEX_FL: u32 = 0x0000_1000;
/// Bytes of a `dx_tail` (with `metadata_csum`).
pub const DX_TAIL: usize = 8;
/// Where a root's count and limit lie: after `.` (12 bytes), `..`
/// (12 bytes before its `rec_len` covers the block) and the 8-byte
/// `dx_root_info`.
pub const ROOT_COUNT_OFFSET: usize = 0x20;
/// Where a node's count and limit lie: after its empty 8-byte entry.
pub const NODE_COUNT_OFFSET: usize = 0x08;

/// The half-MD4 starting state when `s_hash_seed` is all zeros.
const DEFAULT_SEED: [u32; 4] =
    [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// The seed words of `s_hash_seed` (four little-endian words; all
/// zeros means the default).
pub fn seed_words(hash_seed: &[u8; 16]) -> [u32; 4] {
    let mut w = [0u32; 4];
    for (i, c) in hash_seed.chunks_exact(4).enumerate() {
        if let (Some(slot), Ok(b)) = (w.get_mut(i), <[u8; 4]>::try_from(c)) {
            *slot = u32::from_le_bytes(b);
        }
    }
    if w == [0; 4] {
        DEFAULT_SEED
    } else {
        w
    }
}

/// The name packed into `N` words as the hash wants it: each byte
/// (sign-extended unless `unsigned`) shifted in four to a word, the
/// rest padded with the length repeated in each byte.
fn str2hashbuf<const N: usize>(msg: &[u8], unsigned: bool) -> [u32; N] {
    // The length counts the whole remaining name; only its low byte
    // lands in the padding.
    let len = u32::try_from(msg.len()).unwrap_or(u32::MAX);
    let mut pad = len | (len << 8);
    pad |= pad << 16;
    let mut out = [pad; N];
    let mut val = pad;
    let mut w = 0usize;
    let take = msg.len().min(N.saturating_mul(4));
    for (i, &byte) in msg.iter().take(take).enumerate() {
        let c = if unsigned {
            u32::from(byte)
        } else {
            // Sign extension of a C `signed char`.
            u32::from_ne_bytes(
                i32::from(i8::from_ne_bytes([byte])).to_ne_bytes(),
            )
        };
        val = c.wrapping_add(val << 8);
        if i % 4 == 3 {
            if let Some(slot) = out.get_mut(w) {
                *slot = val;
            }
            w = w.saturating_add(1);
            val = pad;
        }
    }
    if let Some(slot) = out.get_mut(w) {
        *slot = val;
    }
    out
}

fn half_md4_transform(buf: &mut [u32; 4], i: &[u32; 8]) {
    const K2: u32 = 0o13240474631;
    const K3: u32 = 0o15666365641;
    let f = |x: u32, y: u32, z: u32| z ^ (x & (y ^ z));
    let g = |x: u32, y: u32, z: u32| (x & y).wrapping_add((x ^ y) & z);
    let h = |x: u32, y: u32, z: u32| x ^ y ^ z;
    let [mut a, mut b, mut c, mut d] = *buf;
    let r = |v: u32, k: u32, s: u32| v.wrapping_add(k).rotate_left(s);
    // Round 1.
    a = r(a, f(b, c, d).wrapping_add(i[0]), 3);
    d = r(d, f(a, b, c).wrapping_add(i[1]), 7);
    c = r(c, f(d, a, b).wrapping_add(i[2]), 11);
    b = r(b, f(c, d, a).wrapping_add(i[3]), 19);
    a = r(a, f(b, c, d).wrapping_add(i[4]), 3);
    d = r(d, f(a, b, c).wrapping_add(i[5]), 7);
    c = r(c, f(d, a, b).wrapping_add(i[6]), 11);
    b = r(b, f(c, d, a).wrapping_add(i[7]), 19);
    // Round 2.
    a = r(a, g(b, c, d).wrapping_add(i[1]).wrapping_add(K2), 3);
    d = r(d, g(a, b, c).wrapping_add(i[3]).wrapping_add(K2), 5);
    c = r(c, g(d, a, b).wrapping_add(i[5]).wrapping_add(K2), 9);
    b = r(b, g(c, d, a).wrapping_add(i[7]).wrapping_add(K2), 13);
    a = r(a, g(b, c, d).wrapping_add(i[0]).wrapping_add(K2), 3);
    d = r(d, g(a, b, c).wrapping_add(i[2]).wrapping_add(K2), 5);
    c = r(c, g(d, a, b).wrapping_add(i[4]).wrapping_add(K2), 9);
    b = r(b, g(c, d, a).wrapping_add(i[6]).wrapping_add(K2), 13);
    // Round 3.
    a = r(a, h(b, c, d).wrapping_add(i[3]).wrapping_add(K3), 3);
    d = r(d, h(a, b, c).wrapping_add(i[7]).wrapping_add(K3), 9);
    c = r(c, h(d, a, b).wrapping_add(i[2]).wrapping_add(K3), 11);
    b = r(b, h(c, d, a).wrapping_add(i[6]).wrapping_add(K3), 15);
    a = r(a, h(b, c, d).wrapping_add(i[1]).wrapping_add(K3), 3);
    d = r(d, h(a, b, c).wrapping_add(i[5]).wrapping_add(K3), 9);
    c = r(c, h(d, a, b).wrapping_add(i[0]).wrapping_add(K3), 11);
    b = r(b, h(c, d, a).wrapping_add(i[4]).wrapping_add(K3), 15);
    buf[0] = buf[0].wrapping_add(a);
    buf[1] = buf[1].wrapping_add(b);
    buf[2] = buf[2].wrapping_add(c);
    buf[3] = buf[3].wrapping_add(d);
}

/// A name's half-MD4 `(hash, minor_hash)` with `seed` ([`seed_words`]),
/// the hash's low bit cleared as stored; `unsigned` when `s_flags` says
/// so (this writer sets the signed flag).
pub fn half_md4(name: &[u8], seed: [u32; 4], unsigned: bool) -> (u32, u32) {
    let mut buf = seed;
    let mut rest = name;
    while !rest.is_empty() {
        let words: [u32; 8] = str2hashbuf(rest, unsigned);
        half_md4_transform(&mut buf, &words);
        rest = rest.get(32..).unwrap_or(&[]);
    }
    (buf[1] & !1, buf[2])
}

/// The hash that places a name in the index: [`half_md4`], but for
/// the one value the kernel reserves as its end-of-directory marker
/// (`0xfffffffe`), which it looks up as `0xfffffffc` (e2fsck accepts
/// either in the last leaf).
fn placement_hash(name: &[u8], seed: [u32; 4]) -> (u32, u32) {
    match half_md4(name, seed, false) {
        (0xFFFF_FFFE, minor) => (0xFFFF_FFFC, minor),
        h => h,
    }
}

/// How many `(hash, block)` entries an index block holds: the block
/// after the count and limit at `count_offset`, less the tail.
pub fn limit(block_size: usize, count_offset: usize, tail: bool) -> usize {
    let tail = if tail { DX_TAIL } else { 0 };
    block_size.saturating_sub(count_offset).saturating_sub(tail) / 8
}

/// One index block: the root (with the directory's `.` and `..`) or
/// an interior node. `entries[0]`'s hash is not stored (its slot holds
/// the limit and count): it covers every hash below `entries[1]`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DxBlock {
    /// For the root: `.`'s and `..`'s inodes and `indirect_levels`;
    /// `None` for a node.
    pub root: Option<DxRootInfo>,
    /// `(hash, logical block)` in hash order.
    pub entries: Vec<(u32, u32)>,
}

/// What a root block holds besides its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DxRootInfo {
    /// The directory's inode (`.`).
    pub ino: u32,
    /// Its parent's (`..`).
    pub parent: u32,
    /// `indirect_levels`: 0 when the root points at leaves, 1 through
    /// nodes.
    pub indirect_levels: u8,
}

impl DxBlock {
    /// The block's bytes, with room for the `dx_tail` (zeros, filled by
    /// the checksum) when `tail`.
    ///
    /// # Panics
    ///
    /// If the entries exceed [`limit`] (the plan never gives more).
    pub fn encode(&self, block_size: usize, tail: bool) -> Vec<u8> {
        let mut b = vec![0u8; block_size];
        let at = match self.root {
            Some(r) => {
                put_u32le(&mut b, 0x00, r.ino); // "." inode
                put_u16le(&mut b, 0x04, 12); // rec_len
                b[0x06] = 1; // name_len
                b[0x07] = 2; // file_type: directory
                b[0x08] = b'.';
                put_u32le(&mut b, 0x0C, r.parent); // ".." inode
                let dd = u16::try_from(block_size.saturating_sub(12))
                    .expect("block size <= 4096");
                put_u16le(&mut b, 0x10, dd); // rec_len: the rest
                b[0x12] = 2; // name_len
                b[0x13] = 2; // file_type: directory
                put(&mut b, 0x14, b"..");
                // dx_root_info: reserved_zero (0x18), hash_version,
                // info_length, indirect_levels, unused_flags.
                b[0x1C] = DX_HASH_HALF_MD4;
                b[0x1D] = 8;
                b[0x1E] = r.indirect_levels;
                ROOT_COUNT_OFFSET
            }
            None => {
                // An empty entry over the whole block.
                let rl = u16::try_from(block_size).expect("block size <= 4096");
                put_u16le(&mut b, 0x04, rl); // rec_len
                NODE_COUNT_OFFSET
            }
        };
        let lim = limit(block_size, at, tail);
        assert!(self.entries.len() <= lim, "index entries fit the block");
        let lim16 = u16::try_from(lim).expect("limit < block size");
        let count = u16::try_from(self.entries.len()).expect("count <= limit");
        put_u16le(&mut b, at, lim16); // limit
        put_u16le(&mut b, at.saturating_add(2), count); // count
        for (k, &(hash, block)) in self.entries.iter().enumerate() {
            let off = at.saturating_add(k.saturating_mul(8));
            if k > 0 {
                put_u32le(&mut b, off, hash); // hash
            }
            put_u32le(&mut b, off.saturating_add(4), block); // block
        }
        b
    }
}

/// Split `entries` (no `.` or `..`) into leaves for blocks of `room`
/// bytes, in hash order, never parting names of one hash unless they
/// fill more than a block. Returns each leaf's index hash (its first
/// name's, with the collision bit when it continues the previous
/// leaf's hash) and its entries.
pub fn leaves(
    entries: Vec<DirEntry>,
    room: usize,
    seed: [u32; 4],
) -> Vec<(u32, Vec<DirEntry>)> {
    let mut hashed: Vec<((u32, u32), DirEntry)> = entries
        .into_iter()
        .map(|e| (placement_hash(&e.name, seed), e))
        .collect();
    hashed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
    let mut out: Vec<(u32, Vec<DirEntry>)> = Vec::new();
    let mut used = 0usize;
    let mut i = 0usize;
    while let Some(((hash, _), _)) = hashed.get(i) {
        let hash = *hash;
        // The run of names of this hash goes whole into one leaf.
        let run_end = hashed
            .iter()
            .skip(i)
            .position(|((h, _), _)| *h != hash)
            .map_or(hashed.len(), |n| n.saturating_add(i));
        let need = hashed
            .get(i..run_end)
            .unwrap_or(&[])
            .iter()
            .fold(0usize, |n, (_, e)| n.saturating_add(e.min_rec_len()));
        if out.is_empty() || used.saturating_add(need) > room {
            out.push((hash, Vec::new()));
            used = 0;
        }
        for (_, e) in hashed.get(i..run_end).unwrap_or(&[]) {
            // A run too long for one block (names of one hash filling
            // it) goes on in the next leaf, whose index entry then has
            // the collision bit set, as the kernel splits one.
            let len = e.min_rec_len();
            if used.saturating_add(len) > room {
                out.push((hash | 1, Vec::new()));
                used = 0;
            }
            used = used.saturating_add(len);
            if let Some((_, leaf)) = out.last_mut() {
                leaf.push(e.clone());
            }
        }
        i = run_end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::bytes::{get_u16le, get_u32le};
    use super::*;

    #[test]
    fn default_seed_when_all_zero() {
        assert_eq!(seed_words(&[0; 16]), DEFAULT_SEED);
        let mut s = [0u8; 16];
        s[0] = 1;
        assert_eq!(seed_words(&s), [1, 0, 0, 0]);
    }

    #[test]
    fn hash_clears_the_low_bit_and_depends_on_sign() {
        let seed = DEFAULT_SEED;
        for name in [&b"a"[..], b"lost+found", &[0xC3, 0xA9][..]] {
            assert_eq!(half_md4(name, seed, false).0 & 1, 0);
        }
        // Bytes over 0x7F hash differently signed and unsigned.
        assert_ne!(
            half_md4(&[0xC3, 0xA9], seed, false),
            half_md4(&[0xC3, 0xA9], seed, true)
        );
        assert_eq!(half_md4(b"abc", seed, false), half_md4(b"abc", seed, true));
    }

    #[test]
    fn leaves_keep_a_hash_together_unless_it_overflows() {
        use super::super::dir::FileType;
        let e = |name: &str| DirEntry {
            inode: 12,
            name: name.as_bytes().to_vec(),
            file_type: FileType::Regular,
        };
        let seed = DEFAULT_SEED;
        // Three names of one hash (the same name) in 24-byte leaves:
        // the run is split and the continuation flagged.
        let ls = leaves(vec![e("x"), e("x"), e("x")], 24, seed);
        let h = half_md4(b"x", seed, false).0;
        let firsts: Vec<u32> = ls.iter().map(|(h, _)| *h).collect();
        assert_eq!(firsts, vec![h, h | 1]);
        assert_eq!(ls[0].1.len(), 2);
        // Distinct names: every leaf starts at its first name's hash.
        let names: Vec<DirEntry> =
            (0..50).map(|i| e(&format!("name{i}"))).collect();
        let ls = leaves(names, 64, seed);
        assert!(ls.iter().all(|(h, es)| {
            *h == half_md4(&es[0].name, seed, false).0
                && es.iter().map(|e| e.min_rec_len()).sum::<usize>() <= 64
        }));
        assert_eq!(ls.iter().map(|(_, es)| es.len()).sum::<usize>(), 50);
    }

    #[test]
    fn root_and_node_layout() {
        let root = DxBlock {
            root: Some(DxRootInfo {
                ino: 12,
                parent: 2,
                indirect_levels: 0,
            }),
            entries: vec![(0, 1), (0x100, 2)],
        }
        .encode(4096, true);
        assert_eq!(get_u32le(&root, 0), 12);
        assert_eq!(get_u16le(&root, 0x10), 4096 - 12);
        assert_eq!(root[0x1D], 8);
        assert_eq!(get_u16le(&root, 0x20), (4096 - 0x20 - 8) / 8);
        assert_eq!(get_u16le(&root, 0x22), 2);
        assert_eq!(get_u32le(&root, 0x24), 1);
        assert_eq!(get_u32le(&root, 0x28), 0x100);
        assert_eq!(get_u32le(&root, 0x2C), 2);
        let node = DxBlock {
            root: None,
            entries: vec![(0, 3)],
        }
        .encode(1024, false);
        assert_eq!(get_u16le(&node, 4), 1024);
        assert_eq!(get_u16le(&node, 8), (1024 - 8) / 8);
    }
}
