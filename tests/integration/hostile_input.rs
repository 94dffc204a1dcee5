//! The parsers of untrusted input, attacked: each is fed thousands of
//! mutated and truncated copies of realistic input (bytes flipped,
//! inserted, deleted, lines cut short, fields duplicated) and must answer
//! with `Ok` or a typed error, never a panic or a hang. The mutations come
//! from a fixed-seed generator, so a failure reproduces exactly.

use lunforge::repo::{deb822, inrelease, packages, release, version};
use lunforge::resolve::{lockfile, relation};

/// A small, fixed-seed generator (splitmix64), so runs are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to the parsers, to insert more often than noise.
const SPICE: &[u8] = b":\n \t|,()<>=~-+.[]!#\r0123456789";

/// One random mutation of `input`.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.insert(at, SPICE[rng.below(SPICE.len())]),
            2 if at < v.len() => {
                let end = (at + rng.below(16)).min(v.len());
                v.drain(at..end);
            }
            3 => v.truncate(at),
            4 => {
                let end = (at + rng.below(64)).min(v.len());
                let chunk = v[at..end].to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, chunk);
            }
            _ => v.insert(at, rng.next() as u8),
        }
    }
    v
}

/// Run `parse` on `rounds` mutations of `seed` (lossily as text).
fn attack(seed: &str, rounds: usize, parse: impl Fn(&str)) {
    let mut rng = Rng(0x6c75_6e66_6f72_6765);
    parse(seed);
    for _ in 0..rounds {
        let bytes = mutate(&mut rng, seed.as_bytes());
        parse(&String::from_utf8_lossy(&bytes));
    }
}

const PACKAGES: &str = "Package: dash\nVersion: 0.5.12-12\n\
Architecture: amd64\nEssential: yes\nMulti-Arch: foreign\n\
Pre-Depends: libc6 (>= 2.34),\n debianutils (>= 5.6-0.1)\n\
Provides: sh (= 1.0)\nConflicts: bash (<< 2:1) [amd64]\n\
Priority: required\n\
Filename: pool/main/d/dash/dash_0.5.12-12_amd64.deb\nSize: 97012\n\
SHA256: 6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d\n\
\nPackage: libc6\nVersion: 2.41-12\nArchitecture: amd64\n\
Filename: pool/main/g/glibc/libc6_2.41-12_amd64.deb\nSize: 1\n\
SHA256: 0000000000000000000000000000000000000000000000000000000000000000\n";

const RELEASE: &str = "Origin: Debian\nSuite: stable\nCodename: trixie\n\
Date: Sat, 21 Nov 2026 09:15:44 UTC\n\
Valid-Until: Sat, 28 Nov 2026 09:15:44 UTC\nAcquire-By-Hash: yes\n\
Architectures: all amd64\nComponents: main\nSHA256:\n \
6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d 1 \
main/binary-amd64/Packages.xz\n";

#[test]
fn deb822_and_packages_survive_mutation() {
    attack(PACKAGES, 3000, |t| {
        for p in deb822::Paragraphs::new(t) {
            let _ = p.map(|p| p.fields().len());
        }
        let _ = packages::parse_index("mutated", t);
    });
}

#[test]
fn release_survives_mutation() {
    attack(RELEASE, 3000, |t| {
        if let Ok(r) = release::Release::parse(t) {
            let _ = r.check_valid_until(0);
        }
        let _ = release::parse_date(t);
    });
}

#[test]
fn relations_and_versions_survive_mutation() {
    let field = "libc6 (>= 2.36), libselinux1 (>= 3.1~) | x [!i386], \
                 perl:any, debconf (>= 0.5) | debconf-2.0 <!nocheck>, \
                 e (<< 1:2.0~rc1-3+b1)";
    attack(field, 5000, |t| {
        let _ = relation::parse_dependencies(t, "amd64");
        let _ = relation::parse_provides(t);
        let _ = version::Version::parse(t);
    });
}

#[test]
fn clearsigned_framing_survives_mutation() {
    let signed = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n\
Origin: Debian\n- -dash escaped\nSHA256:\n x 1 y\n\
-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCAAdFiEE\n=abcd\n\
-----END PGP SIGNATURE-----\n";
    attack(signed, 3000, |t| {
        let _ = inrelease::strip_clearsign(t.as_bytes());
    });
}

#[test]
fn lockfile_survives_mutation() {
    let lock = "format = 2\n\n[release]\nsuite = \"trixie\"\n\
path = \"dists/trixie/InRelease\"\n\
sha256 = \"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d\"\n\
\n[inputs]\n\
suite = \"trixie\"\narchitecture = \"amd64\"\nvariant = \"required\"\n\
components = [\"main\"]\ninclude = []\nexclude = []\n\n[[package]]\n\
name = \"a\"\n\
version = \"1\"\narchitecture = \"amd64\"\npath = \"pool/a.deb\"\n\
size = 1\nsha256 = \"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d\"\n\
why = \"system.include\"\nauto = true\n";
    assert!(lockfile::Lock::parse("x.lock".as_ref(), lock).is_ok());
    attack(lock, 2000, |t| {
        let _ = lockfile::Lock::parse("x.lock".as_ref(), t);
    });
}

#[test]
fn recipe_survives_mutation() {
    let recipe = lunforge::recipe::EMBEDDED;
    attack(recipe, 1500, |t| {
        let _ = lunforge::recipe::parse("mutated.toml", t, &[]);
    });
}
