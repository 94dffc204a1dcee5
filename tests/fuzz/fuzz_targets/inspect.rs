//! `lunforge inspect` on an image held in memory (`inspect::report`):
//! the MBR and GPT readers (UEFI 2.10 §5), then the ext superblock,
//! FAT boot sector and swap header of each partition the table places
//! inside the image.

#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use lunforge::inspect;

fuzz_target!(|data: &[u8]| {
    let len = u64::try_from(data.len()).expect("a length fits a u64");
    let mut image = Cursor::new(data);
    let _ = inspect::report(&mut image, "fuzz.img", len, None, false);
});
