//! Little-endian field writers for the ext records, so that every
//! `encode()` reads as a list of `put_*(buf, OFFSET, field)` lines in the
//! order of the kernel's ext4 on-disk format documentation
//! (<https://www.kernel.org/doc/html/latest/filesystems/ext4/>).
//!
//! Hand-written because the three helpers are smaller than any
//! dependency; they belong in a crate-wide `bytes.rs` once one exists.

/// Write `v` little-endian at `buf[off..off + 2]`.
///
/// # Panics
///
/// If the field does not lie inside `buf`: the offsets are constants of
/// a fixed-size record, so that is a bug in the encoder.
#[track_caller]
pub(crate) fn put_u16le(buf: &mut [u8], off: usize, v: u16) {
    put(buf, off, &v.to_le_bytes());
}

/// Write `v` little-endian at `buf[off..off + 4]`.
///
/// # Panics
///
/// As [`put_u16le`].
#[track_caller]
pub(crate) fn put_u32le(buf: &mut [u8], off: usize, v: u32) {
    put(buf, off, &v.to_le_bytes());
}

/// Copy `bytes` to `buf` at `off`.
///
/// # Panics
///
/// As [`put_u16le`].
#[track_caller]
pub(crate) fn put(buf: &mut [u8], off: usize, bytes: &[u8]) {
    let end = off.checked_add(bytes.len());
    match end.and_then(|end| buf.get_mut(off..end)) {
        Some(dst) => dst.copy_from_slice(bytes),
        None => panic!(
            "field at {off:#x}+{} outside a {}-byte record",
            bytes.len(),
            buf.len()
        ),
    }
}

/// Read a little-endian `u16` at `off` (tests decode what they wrote).
///
/// # Panics
///
/// As [`put_u16le`].
#[cfg(test)]
#[track_caller]
pub(crate) fn get_u16le(buf: &[u8], off: usize) -> u16 {
    let mut b = [0u8; 2];
    b.copy_from_slice(&buf[off..off.checked_add(2).expect("offset")]);
    u16::from_le_bytes(b)
}

/// Read a little-endian `u32` at `off`.
///
/// # Panics
///
/// As [`put_u16le`].
#[cfg(test)]
#[track_caller]
pub(crate) fn get_u32le(buf: &[u8], off: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[off..off.checked_add(4).expect("offset")]);
    u32::from_le_bytes(b)
}

/// Read a little-endian `u16` at `off`, or `None` if the field does not
/// lie inside `buf` (for decoders of records read back from disk).
pub(crate) fn read_u16le(buf: &[u8], off: usize) -> Option<u16> {
    let b = buf.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([
        b.first().copied()?,
        b.get(1).copied()?,
    ]))
}

/// Read a little-endian `u32` at `off`, or `None` if the field does not
/// lie inside `buf`.
pub(crate) fn read_u32le(buf: &[u8], off: usize) -> Option<u32> {
    let b = buf.get(off..off.checked_add(4)?)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    Some(u32::from_le_bytes(a))
}
