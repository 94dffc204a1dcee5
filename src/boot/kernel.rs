//! The guest kernel as the hosts start it. Xen's domain builder and
//! QEMU's `-kernel` load it directly, without firmware or a boot loader
//! in the guest, so the file lunforge hands out must be one both read.
//!
//! - amd64: Debian's `vmlinuz` is a bzImage, which both read; it is
//!   handed out as it is.
//! - arm64: both read the arm64 `Image` (magic `ARM\x64` at offset 56)
//!   and a gzip-compressed one. Debian's arm64 `vmlinuz` is an
//!   uncompressed Image that is also a PE file for UEFI (the "EFI
//!   stub"), handed out as it is; a gzip-compressed one is decompressed
//!   here, so that each host holds the `Image` xl.cfg(5) asks for. An EFI
//!   "zboot" kernel (`CONFIG_EFI_ZBOOT`: a PE file whose payload is
//!   compressed, `zimg` at offset 4) is refused with the reason: libxl's
//!   Arm loader rejects it, and QEMU reads it only from 8.0 on.

use std::io::Read;

use crate::arch::Arch;

/// The arm64 Image header's magic number, at [`ARM64_MAGIC_AT`].
const ARM64_MAGIC: &[u8; 4] = b"ARM\x64";
/// Where the magic number is.
const ARM64_MAGIC_AT: usize = 56;
/// The largest decompressed arm64 Image accepted (Debian's is 38 MB).
const MAX_IMAGE: u64 = 256 << 20;

/// `image`, the guest's `/boot/vmlinuz-*`, as Xen and QEMU start it on
/// `arch`; or why it cannot be.
pub fn for_direct_boot(arch: Arch, image: Vec<u8>) -> Result<Vec<u8>, String> {
    match arch {
        Arch::Amd64 => Ok(image),
        Arch::Arm64 => arm64_image(image),
    }
}

/// An arm64 `Image`: as it is, or decompressed from gzip.
fn arm64_image(image: Vec<u8>) -> Result<Vec<u8>, String> {
    if is_arm64_image(&image) {
        return Ok(image);
    }
    if image.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&image[..])
            .take(MAX_IMAGE + 1)
            .read_to_end(&mut out)
            .map_err(|e| {
                format!(
                    "a gzip-compressed kernel that does not decompress: {e}"
                )
            })?;
        if out.len() as u64 > MAX_IMAGE {
            return Err(format!(
                "a gzip-compressed kernel larger than {} decompressed",
                crate::units::human(MAX_IMAGE)
            ));
        }
        return if is_arm64_image(&out) {
            Ok(out)
        } else {
            Err("a gzip-compressed file that is not an arm64 Image".into())
        };
    }
    if image.get(4..8) == Some(b"zimg") {
        return Err(
            "an EFI zboot kernel (CONFIG_EFI_ZBOOT): Xen's Arm loader and \
             QEMU before 8.0 start only an arm64 Image, plain or gzip"
                .into(),
        );
    }
    Err("not an arm64 kernel Image (no \"ARM\\x64\" at offset 56)".into())
}

/// Whether `b` starts with an arm64 Image header.
fn is_arm64_image(b: &[u8]) -> bool {
    b.get(ARM64_MAGIC_AT..ARM64_MAGIC_AT + 4) == Some(&ARM64_MAGIC[..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// An arm64 Image header with an EFI stub, as Debian's (`MZ`, a
    /// branch, the magic at 56, the PE header offset at 60).
    fn image() -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        b[..2].copy_from_slice(b"MZ");
        b[56..60].copy_from_slice(ARM64_MAGIC);
        b[60..64].copy_from_slice(&0x40u32.to_le_bytes());
        b[4096 - 1] = 7;
        b
    }

    #[test]
    fn a_plain_image_is_handed_out_as_it_is() {
        assert_eq!(for_direct_boot(Arch::Arm64, image()).unwrap(), image());
        // amd64's bzImage is not looked into.
        assert_eq!(for_direct_boot(Arch::Amd64, vec![1, 2]).unwrap(), [1, 2]);
    }

    #[test]
    fn a_gzip_image_is_decompressed() {
        let mut z =
            flate2::write::GzEncoder::new(Vec::new(), Default::default());
        z.write_all(&image()).unwrap();
        let gz = z.finish().unwrap();
        assert_eq!(for_direct_boot(Arch::Arm64, gz).unwrap(), image());
        let mut z =
            flate2::write::GzEncoder::new(Vec::new(), Default::default());
        z.write_all(b"not a kernel").unwrap();
        let err =
            for_direct_boot(Arch::Arm64, z.finish().unwrap()).unwrap_err();
        assert!(err.contains("not an arm64 Image"), "{err}");
    }

    #[test]
    fn zboot_and_other_files_are_refused() {
        let mut zboot = vec![0u8; 128];
        zboot[..2].copy_from_slice(b"MZ");
        zboot[4..8].copy_from_slice(b"zimg");
        let err = for_direct_boot(Arch::Arm64, zboot).unwrap_err();
        assert!(err.contains("EFI zboot"), "{err}");
        let err = for_direct_boot(Arch::Arm64, vec![0; 16]).unwrap_err();
        assert!(err.contains("not an arm64 kernel Image"), "{err}");
    }
}
