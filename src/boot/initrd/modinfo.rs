//! The `.modinfo` section of a kernel module (an ELF64 relocatable
//! object): `key=value` strings, NUL-separated, among them `name=` and
//! `depends=` (the modules whose symbols this one uses, as `modpost`
//! computed them when the kernel was built).
//!
//! Spec: the ELF-64 object file format (section header table at
//! `e_shoff`, `e_shnum` entries of `e_shentsize` bytes, names in section
//! `e_shstrndx`), and the kernel's `include/linux/moduleparam.h`
//! (`MODULE_INFO`). Read only when a kernel package ships no
//! `modules.dep` (Debian's postinst makes it with `depmod`, so a tree
//! that is configured on first boot has none at build time): the
//! `depends=` lists give the same graph depmod derives from the symbol
//! tables. Hand-written because it needs four header fields and one
//! section, less than an ELF crate's setup.

#![deny(clippy::arithmetic_side_effects, clippy::as_conversions)]

/// Why a module's `.modinfo` cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Not a little-endian ELF64 file.
    #[error("not a little-endian 64-bit ELF object")]
    NotElf64,
    /// A header or section lies outside the file.
    #[error("ELF {what} lies outside the file")]
    OutOfBounds {
        /// Which structure.
        what: &'static str,
    },
    /// No `.modinfo` section.
    #[error("no .modinfo section")]
    NoModinfo,
}

/// `e_ident[EI_CLASS]` of a 64-bit object.
const ELFCLASS64: u8 = 2;
/// `e_ident[EI_DATA]` of a little-endian object.
const ELFDATA2LSB: u8 = 1;

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

fn usize_of(v: u64) -> Option<usize> {
    usize::try_from(v).ok()
}

/// The `key=value` pairs of the module's `.modinfo` section, in order.
pub fn read(elf: &[u8]) -> Result<Vec<(String, String)>, Error> {
    if elf.get(0x00..0x04) != Some(b"\x7fELF")
        || elf.get(0x04) != Some(&ELFCLASS64)
        || elf.get(0x05) != Some(&ELFDATA2LSB)
    {
        return Err(Error::NotElf64);
    }
    let oob = |what| Error::OutOfBounds { what };
    let e_shoff = u64_at(elf, 0x28).and_then(usize_of);
    let e_shentsize = u16_at(elf, 0x3A).map(usize::from);
    let e_shnum = u16_at(elf, 0x3C).map(usize::from);
    let e_shstrndx = u16_at(elf, 0x3E).map(usize::from);
    let (Some(shoff), Some(entsize), Some(shnum), Some(strndx)) =
        (e_shoff, e_shentsize, e_shnum, e_shstrndx)
    else {
        return Err(oob("file header"));
    };
    // Section header: sh_name at 0x00, sh_offset at 0x18, sh_size at
    // 0x20.
    let section = |i: usize| -> Result<(u32, &[u8]), Error> {
        let at = i
            .checked_mul(entsize)
            .and_then(|o| o.checked_add(shoff))
            .ok_or(oob("section header"))?;
        let name = u32_at(elf, at).ok_or(oob("section header"))?;
        let off = at
            .checked_add(0x18)
            .and_then(|o| u64_at(elf, o))
            .and_then(usize_of);
        let size = at
            .checked_add(0x20)
            .and_then(|o| u64_at(elf, o))
            .and_then(usize_of);
        let data = off
            .zip(size)
            .and_then(|(o, s)| elf.get(o..o.checked_add(s)?))
            .ok_or(oob("section"))?;
        Ok((name, data))
    };
    let (_, names) = section(strndx)?;
    for i in 0..shnum {
        let (name_off, data) = section(i)?;
        let name = usize::try_from(name_off)
            .ok()
            .and_then(|o| names.get(o..))
            .and_then(|s| s.split(|b| *b == 0).next())
            .ok_or(oob("section name"))?;
        if name == b".modinfo" {
            return Ok(pairs(data));
        }
    }
    Err(Error::NoModinfo)
}

fn pairs(data: &[u8]) -> Vec<(String, String)> {
    data.split(|b| *b == 0)
        .filter_map(|s| {
            let s = std::str::from_utf8(s).ok()?;
            let (k, v) = s.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// The module names of the `depends=` entry (empty when there is none).
pub fn depends(info: &[(String, String)]) -> Vec<String> {
    info.iter()
        .filter(|(k, _)| k == "depends")
        .flat_map(|(_, v)| v.split(','))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ELF64 object with a `.modinfo` section holding `info`:
    /// the file header, then the section contents, then three section
    /// headers (null, `.shstrtab`, `.modinfo`).
    pub(crate) fn elf_with_modinfo(info: &[u8]) -> Vec<u8> {
        let shstrtab = b"\0.shstrtab\0.modinfo\0";
        let mut f = vec![0u8; 0x40];
        f[0..4].copy_from_slice(b"\x7fELF");
        f[4] = ELFCLASS64;
        f[5] = ELFDATA2LSB;
        let strtab_off = f.len();
        f.extend_from_slice(shstrtab);
        let info_off = f.len();
        f.extend_from_slice(info);
        while f.len() % 8 != 0 {
            f.push(0);
        }
        let shoff = f.len();
        let sh = |name: u32, off: usize, size: usize| {
            let mut h = vec![0u8; 0x40];
            h[0..4].copy_from_slice(&name.to_le_bytes());
            h[0x18..0x20]
                .copy_from_slice(&u64::try_from(off).unwrap().to_le_bytes());
            h[0x20..0x28]
                .copy_from_slice(&u64::try_from(size).unwrap().to_le_bytes());
            h
        };
        f.extend(sh(0, 0, 0));
        f.extend(sh(1, strtab_off, shstrtab.len()));
        f.extend(sh(11, info_off, info.len()));
        f[0x28..0x30]
            .copy_from_slice(&u64::try_from(shoff).unwrap().to_le_bytes());
        f[0x3A..0x3C].copy_from_slice(&0x40u16.to_le_bytes());
        f[0x3C..0x3E].copy_from_slice(&3u16.to_le_bytes());
        f[0x3E..0x40].copy_from_slice(&1u16.to_le_bytes());
        f
    }

    #[test]
    fn reads_name_and_depends() {
        let elf = elf_with_modinfo(
            b"license=GPL\0depends=jbd2,mbcache,crc16\0name=ext4\0",
        );
        let info = read(&elf).unwrap();
        assert!(info.contains(&("name".into(), "ext4".into())));
        assert_eq!(depends(&info), ["jbd2", "mbcache", "crc16"]);
        let none = read(&elf_with_modinfo(b"depends=\0name=crc16\0")).unwrap();
        assert!(depends(&none).is_empty());
    }

    #[test]
    fn damaged_objects_are_errors() {
        let elf = elf_with_modinfo(b"name=x\0");
        assert_eq!(
            read(&elf[..0x20]),
            Err(Error::OutOfBounds {
                what: "file header"
            })
        );
        assert_eq!(read(&elf[..3]), Err(Error::NotElf64));
        let mut m = elf.clone();
        m[4] = 1;
        assert_eq!(read(&m), Err(Error::NotElf64));
        assert!(matches!(
            read(&elf[..elf.len() - 0x30]),
            Err(Error::OutOfBounds { .. })
        ));
        let mut m = elf.clone();
        m[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(read(&m), Err(Error::OutOfBounds { .. })));
        // Rename the section: no .modinfo left.
        let mut m = elf;
        let at = m.windows(8).position(|w| w == b".modinfo").unwrap();
        m[at + 1] = b'X';
        assert_eq!(read(&m), Err(Error::NoModinfo));
    }

    #[test]
    fn random_mutations_never_panic() {
        let elf = elf_with_modinfo(b"depends=jbd2,crc16\0name=ext4\0");
        for m in crate::boot::initrd::cpio::tests::mutations(&elf, 5000) {
            let _ = read(&m);
        }
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            Error::OutOfBounds { what: "section" }.to_string(),
            "ELF section lies outside the file"
        );
        assert_eq!(Error::NoModinfo.to_string(), "no .modinfo section");
    }
}
