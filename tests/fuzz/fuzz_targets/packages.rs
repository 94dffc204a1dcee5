//! A `Packages` index (deb822 paragraphs of binary packages, the
//! repository format's `Packages` file) as `repo::packages` reads it
//! after the signed digest matched, and each package's relations as
//! the resolver parses them.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lunforge::repo::packages::parse_index;
use lunforge::resolve::relation;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(packages) = parse_index("main/binary-amd64/Packages", text) else {
        return;
    };
    for p in &packages {
        for field in [&p.pre_depends, &p.depends, &p.conflicts, &p.breaks] {
            let _ = relation::parse_dependencies(field, "amd64");
        }
        let _ = relation::parse_provides(&p.provides);
    }
});
