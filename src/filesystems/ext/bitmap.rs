//! Block and inode bitmaps: one block per group, bit `i` of byte `i / 8`
//! (least significant first) set when the group's `i`-th block or inode
//! is in use; the bits past the group's end are set, as mke2fs leaves
//! them and e2fsck expects ("padding at end of bitmap").
//!
//! Spec: the kernel's ext4 on-disk format documentation, "Block and
//! inode Bitmaps"
//! (<https://www.kernel.org/doc/html/latest/filesystems/ext4/bitmaps.html>,
//! `Documentation/filesystems/ext4/bitmaps.rst`).
//!
//! Written by hand because no crate makes a file system: `ext4-rs`
//! expects one made by `mkfs.ext4`, writes no journal and handles only
//! extents and 4 KiB blocks, so it cannot make ext2 or ext3.

/// A bitmap of `len` meaningful bits in one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitmap {
    bytes: Vec<u8>,
    len: usize,
}

impl Bitmap {
    /// `len` clear bits in a block of `block_size` bytes (`len` at most
    /// `8 * block_size`; the plan guarantees it).
    pub fn new(len: usize, block_size: usize) -> Bitmap {
        Bitmap {
            bytes: vec![0; block_size],
            len,
        }
    }

    /// Mark bit `i` used.
    ///
    /// # Panics
    ///
    /// If `i` is past the meaningful bits (a bug in the plan).
    pub fn set(&mut self, i: usize) {
        assert!(i < self.len, "bit {i} past a bitmap of {} bits", self.len);
        let byte = i.checked_div(8).unwrap_or(0);
        let bit = i.checked_rem(8).unwrap_or(0);
        self.bytes[byte] |= 1u8
            .checked_shl(u32::try_from(bit).unwrap_or(0))
            .unwrap_or(0);
    }

    /// Mark bits `start..end` used.
    pub fn set_range(&mut self, start: usize, end: usize) {
        for i in start..end {
            self.set(i);
        }
    }

    /// Whether bit `i` is set.
    pub fn is_set(&self, i: usize) -> bool {
        let byte = i.checked_div(8).unwrap_or(0);
        let bit = u32::try_from(i.checked_rem(8).unwrap_or(0)).unwrap_or(0);
        self.bytes.get(byte).is_some_and(|b| b >> bit & 1 == 1)
    }

    /// Number of set bits among the meaningful ones.
    pub fn count(&self) -> usize {
        let full = self.len.checked_div(8).unwrap_or(0);
        let whole: usize = self
            .bytes
            .iter()
            .take(full)
            .map(|b| usize::try_from(b.count_ones()).unwrap_or(0))
            .sum();
        let tail = (full.saturating_mul(8)..self.len)
            .filter(|&i| self.is_set(i))
            .count();
        whole.saturating_add(tail)
    }

    /// The block: the meaningful bits, then the padding set to 1.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = self.bytes.clone();
        let total = b.len().saturating_mul(8);
        for i in self.len..total {
            let byte = i.checked_div(8).unwrap_or(0);
            let bit = u32::try_from(i.checked_rem(8).unwrap_or(0)).unwrap_or(0);
            b[byte] |= 1u8.checked_shl(bit).unwrap_or(0);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_and_padding() {
        let mut m = Bitmap::new(12, 4);
        m.set(0);
        m.set_range(3, 5);
        m.set(11);
        assert_eq!(m.count(), 4);
        assert!(m.is_set(4) && !m.is_set(5));
        // 12 meaningful bits: byte 1's bits 4-7 and bytes 2-3 padded.
        assert_eq!(m.encode(), vec![0b0001_1001, 0b1111_1000, 0xff, 0xff]);
    }

    #[test]
    #[should_panic(expected = "bit 12 past a bitmap of 12 bits")]
    fn setting_padding_is_a_bug() {
        Bitmap::new(12, 4).set(12);
    }
}
