//! The newc cpio reader (`boot::initrd::cpio::decode`, the "new ASCII"
//! format of cpio(5) and the kernel's initramfs buffer format): every
//! entry up to the trailer. lunforge writes initrds and reads them back
//! only to check them, but the reader takes any bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lunforge::boot::initrd::cpio;

fuzz_target!(|data: &[u8]| {
    let Ok(entries) = cpio::decode(data) else {
        return;
    };
    let total: usize = entries.iter().map(|e| e.data.len()).sum();
    assert!(total <= data.len(), "entries hold more than the archive");
});
