//! The Debian repository client: from a mirror and a suite to the verified
//! list of binary packages, the way apt and debootstrap read an archive.
//!
//! `dists/SUITE/InRelease` is fetched and its OpenPGP signature verified
//! ([`inrelease`]); without InRelease, `Release` and `Release.gpg` are
//! used. The signed [`release::Release`] gives the SHA-256 of every
//! index; each `Packages` index is fetched (by hash when the archive
//! offers it, so that a mirror update between two requests cannot mix
//! generations), checked against that digest, decompressed and parsed
//! ([`packages`]). Nothing unverified is parsed, except with the explicit
//! `--insecure-unsigned`.

pub mod deb822;
pub mod host_sources;
pub mod inrelease;
pub mod packages;
pub mod pockets;
pub mod release;
pub mod transport;
pub mod version;

use std::io::{Read, Write};

use sha2::{Digest, Sha256};

use crate::fetch::Cache;
use crate::progress::Progress;
use inrelease::Keyring;
use packages::BinaryPackage;
use release::Release;
use transport::{Expected, Transport};

/// Errors of reading a suite; each names the suite and the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A transfer failed or a digest did not match.
    #[error(transparent)]
    Transport(#[from] transport::Error),
    /// The signature does not verify.
    #[error("{url}: {source}")]
    Signature {
        /// The signed file.
        url: String,
        /// The verification failure.
        source: inrelease::Error,
    },
    /// The Release text is malformed or expired.
    #[error("{url}: {source}")]
    Release {
        /// The `InRelease` or `Release` URL.
        url: String,
        /// What is wrong with it.
        source: release::Error,
    },
    /// A Packages index is malformed.
    #[error(transparent)]
    Packages(#[from] packages::Error),
    /// Neither InRelease nor Release exists.
    #[error(
        "suite {suite} not found: the mirror has neither {url}/InRelease \
         nor {url}/Release"
    )]
    NoSuite {
        /// The suite.
        suite: String,
        /// The `dists/SUITE` URL.
        url: String,
    },
    /// Release without Release.gpg and without `--insecure-unsigned`.
    #[error(
        "{url}: the suite is not signed (no InRelease, no Release.gpg); \
         --insecure-unsigned accepts it unverified"
    )]
    Unsigned {
        /// The Release URL.
        url: String,
    },
    /// The signed Release names neither the requested suite as its
    /// `Suite` nor as its `Codename` (apt's "Conflicting distribution"):
    /// a mirror may be serving another suite's validly signed Release,
    /// an old one for instance, under the requested name.
    #[error(
        "{url}: conflicting distribution: {requested} was requested, but \
         the Release is for Suite {suite}, Codename {codename}"
    )]
    WrongSuite {
        /// The (In)Release URL.
        url: String,
        /// The suite as requested.
        requested: String,
        /// The Release's `Suite` (`(none)` when absent).
        suite: String,
        /// The Release's `Codename` (`(none)` when absent).
        codename: String,
    },
    /// The suite does not carry the architecture.
    #[error("suite {suite} has no architecture {arch} (it has: {available})")]
    NoArchitecture {
        /// The suite.
        suite: String,
        /// The wanted architecture.
        arch: String,
        /// What the Release lists.
        available: String,
    },
    /// The suite does not carry the component.
    #[error(
        "suite {suite} has no component {component} (it has: {available})"
    )]
    NoComponent {
        /// The suite.
        suite: String,
        /// The wanted component.
        component: String,
        /// What the Release lists.
        available: String,
    },
    /// No Packages index for component and architecture.
    #[error(
        "suite {suite} lists no Packages index for {component}/binary-{arch}"
    )]
    NoIndex {
        /// The suite.
        suite: String,
        /// The component.
        component: String,
        /// The architecture.
        arch: String,
    },
    /// A compressed index does not decompress.
    #[error("{url}: cannot decompress: {source}")]
    Decompress {
        /// The index URL.
        url: String,
        /// The decoder's error.
        source: std::io::Error,
    },
    /// A compressed index decompresses to more than it may: the plain
    /// `Packages` size the Release lists, else [`MAX_INDEX_SIZE`].
    #[error("{url}: decompresses to more than {limit} bytes")]
    IndexTooLarge {
        /// The index URL.
        url: String,
        /// The most it may decompress to.
        limit: u64,
    },
    /// The download cache failed.
    #[error(transparent)]
    Cache(#[from] crate::fetch::cache::Error),
}

/// Result of repository operations.
pub type Result<T> = std::result::Result<T, Error>;

/// How the Release signature is checked.
#[derive(Debug)]
pub enum Trust {
    /// Verify against this keyring.
    Keyring(Keyring),
    /// Accept the suite unsigned (`--insecure-unsigned`).
    InsecureUnsigned,
}

/// What to read.
#[derive(Debug)]
pub struct Options {
    /// Suite or codename.
    pub suite: String,
    /// Debian architecture.
    pub architecture: String,
    /// Components to read.
    pub components: Vec<String>,
    /// Signature policy.
    pub trust: Trust,
    /// Accept an expired `Valid-Until`.
    pub ignore_valid_until: bool,
    /// The time `Valid-Until` is checked against (seconds since epoch).
    pub now: i64,
}

/// Where the signed Release came from: recorded in the lockfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseOrigin {
    /// `dists/SUITE/InRelease` or `dists/SUITE/Release`.
    pub path: String,
    /// SHA-256 of that file as fetched.
    pub sha256: [u8; 32],
    /// Fingerprint of the signing key, unless unsigned.
    pub signer: Option<String>,
}

/// A verified suite: its Release and all its packages.
#[derive(Debug, Clone)]
pub struct Suite {
    /// The signed Release.
    pub release: Release,
    /// Where it came from.
    pub origin: ReleaseOrigin,
    /// Packages of every requested component, in index order.
    pub packages: Vec<BinaryPackage>,
}

/// Read and verify the Release of a suite.
pub fn open_release(
    t: &dyn Transport,
    opts: &Options,
) -> Result<(Release, ReleaseOrigin)> {
    let dists = format!("dists/{}", opts.suite);
    let in_path = format!("{dists}/InRelease");
    let sig_err = |path: &str| {
        let url = t.url(path);
        move |source| Error::Signature { url, source }
    };
    let (text, origin) = if let Some(data) =
        t.get(&in_path, transport::MAX_RELEASE_SIZE)?
    {
        let sha256 = Sha256::digest(&data).into();
        let (text, signer) = match &opts.trust {
            Trust::Keyring(k) => {
                let v = inrelease::verify_clearsigned(&data, k)
                    .map_err(sig_err(&in_path))?;
                (v.text, Some(v.signer))
            }
            Trust::InsecureUnsigned => (
                inrelease::strip_clearsign(&data).map_err(sig_err(&in_path))?,
                None,
            ),
        };
        (
            text,
            ReleaseOrigin {
                path: in_path,
                sha256,
                signer,
            },
        )
    } else {
        let rel_path = format!("{dists}/Release");
        let data = t.get(&rel_path, transport::MAX_RELEASE_SIZE)?.ok_or_else(
            || Error::NoSuite {
                suite: opts.suite.clone(),
                url: t.url(&dists),
            },
        )?;
        let sha256 = Sha256::digest(&data).into();
        let (text, signer) = match &opts.trust {
            Trust::Keyring(k) => {
                let gpg = format!("{rel_path}.gpg");
                let sig = t
                    .get(&gpg, transport::MAX_RELEASE_SIZE)?
                    .ok_or_else(|| Error::Unsigned {
                        url: t.url(&rel_path),
                    })?;
                // The text gpgv verified, as `verify_detached` decoded it.
                let v = inrelease::verify_detached(&data, &sig, k)
                    .map_err(sig_err(&gpg))?;
                (v.text, Some(v.signer))
            }
            Trust::InsecureUnsigned => {
                (String::from_utf8_lossy(&data).into_owned(), None)
            }
        };
        (
            text,
            ReleaseOrigin {
                path: rel_path,
                sha256,
                signer,
            },
        )
    };
    let release_err = |source| Error::Release {
        url: t.url(&origin.path),
        source,
    };
    let release = Release::parse(&text).map_err(release_err)?;
    check_suite(&release, &opts.suite, || t.url(&origin.path))?;
    if !opts.ignore_valid_until {
        release.check_valid_until(opts.now).map_err(release_err)?;
    }
    Ok((release, origin))
}

/// Refuse a Release whose `Suite` and `Codename` both differ from the
/// requested suite, as apt does (`debReleaseIndex::CheckDist`).
fn check_suite(
    release: &Release,
    requested: &str,
    url: impl FnOnce() -> String,
) -> Result<()> {
    let names = [&release.suite, &release.codename];
    if names.iter().any(|n| n.as_deref() == Some(requested)) {
        return Ok(());
    }
    let shown = |n: &Option<String>| n.as_deref().unwrap_or("(none)").into();
    Err(Error::WrongSuite {
        url: url(),
        requested: requested.into(),
        suite: shown(&release.suite),
        codename: shown(&release.codename),
    })
}

/// Read a whole suite: Release, then every component's Packages index.
pub fn open(
    t: &dyn Transport,
    opts: &Options,
    cache: Option<&Cache>,
    progress: &dyn Progress,
) -> Result<Suite> {
    let (release, origin) = open_release(t, opts)?;
    let arch = &opts.architecture;
    if !release.architectures.is_empty()
        && !release.architectures.iter().any(|a| a == arch)
    {
        return Err(Error::NoArchitecture {
            suite: release.name().into(),
            arch: arch.clone(),
            available: release.architectures.join(" "),
        });
    }
    let mut packages = Vec::new();
    for component in &opts.components {
        if !release.components.is_empty()
            && !release.components.iter().any(|c| {
                c == component || c.ends_with(&format!("/{component}"))
            })
        {
            return Err(Error::NoComponent {
                suite: release.name().into(),
                component: component.clone(),
                available: release.components.join(" "),
            });
        }
        let started = std::time::Instant::now();
        let text = read_index(t, opts, &release, component, cache)?;
        let read = started.elapsed();
        let name = format!("{component}/binary-{arch}/Packages");
        let before = packages.len();
        packages.extend(packages::parse_index(&name, &text)?);
        progress.note(&format!(
            "{}: {name}: {} packages ({} MiB; read and decompressed in \
             {:.3} s, parsed in {:.3} s)",
            release.name(),
            packages.len() - before,
            text.len() >> 20,
            read.as_secs_f64(),
            (started.elapsed() - read).as_secs_f64()
        ));
    }
    Ok(Suite {
        release,
        origin,
        packages,
    })
}

/// Compressions of an index, preferred first.
const INDEX_SUFFIXES: [&str; 3] = [".xz", ".gz", ""];

/// The most a compressed `Packages` index may decompress to when the
/// Release does not list the plain index's size: 2 GiB, some 30 times
/// trixie's main (64 MiB), so that a small hostile file cannot expand
/// without end (xz and gzip reach ratios of 1000 and more).
pub const MAX_INDEX_SIZE: u64 = 2 << 30;

/// Fetch, verify and decompress one component's Packages index.
///
/// The Release also lists the uncompressed index with its own digest:
/// the decompressed text is checked against it too, and it is what the
/// cache keeps, so a later run reads the text straight from the cache
/// instead of decompressing ~50 MiB of xz again (most of a warm
/// resolve's time otherwise). Each byte is hashed once: the compressed
/// file as it arrives, the text as it is decompressed.
fn read_index(
    t: &dyn Transport,
    opts: &Options,
    release: &Release,
    component: &str,
    cache: Option<&Cache>,
) -> Result<String> {
    let dir = format!("{component}/binary-{}", opts.architecture);
    let dists = format!("dists/{}", opts.suite);
    let plain_path = format!("{dir}/Packages");
    let plain = release.files.get(&plain_path).copied();
    if let Some(p) = cache.zip(plain).and_then(|(c, p)| c.lookup(&p)) {
        let text = std::fs::read(&p)
            .map_err(|source| transport::Error::Io { path: p, source })?;
        let url = t.url(&format!("{dists}/{plain_path}"));
        return utf8(&url, text);
    }
    let (rel_path, want) = INDEX_SUFFIXES
        .iter()
        .find_map(|s| {
            let p = format!("{dir}/Packages{s}");
            release.files.get(&p).map(|e| (p, *e))
        })
        .ok_or_else(|| Error::NoIndex {
            suite: release.name().into(),
            component: component.into(),
            arch: opts.architecture.clone(),
        })?;
    let url = t.url(&format!("{dists}/{rel_path}"));
    let data = fetch_index(t, &dists, &dir, &rel_path, release, &want)?;
    let text = if rel_path == plain_path {
        // Already checked against the plain entry by `fetch_index`.
        data
    } else {
        decompress(&url, &rel_path, &data, plain.as_ref())?
    };
    if let (Some(c), Some(p)) = (cache, plain) {
        c.store_verified(&p, &text)?;
    }
    utf8(&url, text)
}

/// By hash when offered (falling back to the plain name), always checked.
fn fetch_index(
    t: &dyn Transport,
    dists: &str,
    dir: &str,
    rel_path: &str,
    release: &Release,
    want: &Expected,
) -> Result<Vec<u8>> {
    if release.acquire_by_hash {
        let by_hash = format!(
            "{dists}/{dir}/by-hash/SHA256/{}",
            hex::encode(want.sha256)
        );
        if let Some(data) = transport::find_verified(t, &by_hash, want)? {
            return Ok(data);
        }
    }
    Ok(transport::get_verified(
        t,
        &format!("{dists}/{rel_path}"),
        want,
    )?)
}

/// A multi-threaded xz decoder. The archive's `Packages.xz` is written
/// in several independent blocks (three for trixie's main), which
/// liblzma decodes in parallel: 0.21 s instead of 0.36 s for trixie's
/// 54 MiB on two cores. Memory stays bounded: 1 GiB before liblzma falls
/// back to one thread, 4 GiB before it refuses the input outright.
fn xz_decoder() -> std::io::Result<liblzma::stream::Stream> {
    let threads =
        std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    liblzma::stream::MtStreamBuilder::new()
        .threads(u32::try_from(threads).unwrap_or(1))
        .memlimit_threading(1 << 30)
        .memlimit_stop(4 << 30)
        .decoder()
        .map_err(std::io::Error::from)
}

/// Index text must be UTF-8 (Policy §5.1).
fn utf8(url: &str, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| Error::Decompress {
        url: url.into(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

/// Decompress an `.xz` or `.gz` index, at most `plain.size` bytes (else
/// [`MAX_INDEX_SIZE`]), and check the text against `plain` when the
/// Release lists it.
fn decompress(
    url: &str,
    path: &str,
    data: &[u8],
    plain: Option<&Expected>,
) -> Result<Vec<u8>> {
    let err = |source| Error::Decompress {
        url: url.into(),
        source,
    };
    let mut decoder: Box<dyn Read + '_> = if path.ends_with(".xz") {
        Box::new(liblzma::read::XzDecoder::new_stream(
            data,
            xz_decoder().map_err(err)?,
        ))
    } else {
        Box::new(flate2::read::MultiGzDecoder::new(data))
    };
    let limit = plain.map_or(MAX_INDEX_SIZE, |p| p.size);
    let guess = u64::try_from(data.len())
        .map_or(limit, |n| n.saturating_mul(6).min(limit));
    let capacity = usize::try_from(guess.min(1 << 30)).unwrap_or(0);
    let mut out = transport::Checked::new(Vec::with_capacity(capacity), limit);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        crate::cancel::check().map_err(transport::Error::from)?;
        let n = match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(err(e)),
        };
        if out.write_all(buf.get(..n).unwrap_or(&buf)).is_err() {
            // Writing to a Vec fails only past the limit.
            return Err(Error::IndexTooLarge {
                url: url.into(),
                limit,
            });
        }
    }
    // OK: flushing a Vec cannot fail.
    let (text, sha256, len) = out.finish().map_err(err)?;
    if let Some(p) = plain {
        let what = format!("{url} (decompressed)");
        transport::check_digest(&what, p, &sha256, len)?;
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `file://` mirror holding `files` (path, content).
    fn mirror(
        files: &[(&str, &[u8])],
    ) -> (tempfile::TempDir, Box<dyn Transport>) {
        let dir = tempfile::tempdir().unwrap();
        for (path, data) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        }
        let t =
            transport::for_mirror(&format!("file://{}", dir.path().display()))
                .unwrap();
        (dir, t)
    }

    fn opts(suite: &str) -> Options {
        Options {
            suite: suite.into(),
            architecture: "amd64".into(),
            components: vec!["main".into()],
            trust: Trust::InsecureUnsigned,
            ignore_valid_until: false,
            now: 0,
        }
    }

    const RELEASE: &[u8] = b"Suite: stable\nCodename: trixie\n\
        Architectures: amd64\nComponents: main\n";

    #[test]
    fn release_must_name_the_requested_suite() {
        // The same Release served as its codename, its suite, and a name
        // that is neither (a mirror serving one suite's Release as
        // another's).
        let (dir, t) = mirror(&[
            ("dists/trixie/Release", RELEASE),
            ("dists/stable/Release", RELEASE),
            ("dists/oldstable/Release", RELEASE),
        ]);
        for ok in ["trixie", "stable"] {
            let (r, origin) = open_release(&*t, &opts(ok)).unwrap();
            assert_eq!(r.name(), "trixie");
            assert_eq!(origin.path, format!("dists/{ok}/Release"));
        }
        let e = open_release(&*t, &opts("oldstable")).unwrap_err();
        assert!(matches!(e, Error::WrongSuite { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "file://{}/dists/oldstable/Release: conflicting \
                 distribution: oldstable was requested, but the Release is \
                 for Suite stable, Codename trixie",
                dir.path().display()
            )
        );
        let (_dir, t) = mirror(&[("dists/x/Release", b"Origin: y\n")]);
        let e = open_release(&*t, &opts("x")).unwrap_err();
        assert!(
            e.to_string().ends_with("Suite (none), Codename (none)"),
            "{e}"
        );
    }

    #[test]
    fn release_errors_name_the_url() {
        let (dir, t) = mirror(&[(
            "dists/trixie/Release",
            b"Codename: trixie\nSHA256:\n zz 1 a\n",
        )]);
        let e = open_release(&*t, &opts("trixie")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "file://{}/dists/trixie/Release: Release: bad SHA256 entry \
                 \"zz 1 a\"",
                dir.path().display()
            )
        );
        let expired = b"Codename: trixie\n\
            Valid-Until: Thu, 01 Jan 1970 00:00:00 UTC\n";
        let (_dir, t) = mirror(&[("dists/trixie/Release", expired)]);
        let mut o = opts("trixie");
        o.now = 1;
        let e = open_release(&*t, &o).unwrap_err();
        assert!(
            e.to_string().contains(
                "/dists/trixie/Release: Release of trixie expired at Thu, 01 \
                 Jan 1970 00:00:00 UTC (Valid-Until)"
            ),
            "{e}"
        );
        o.ignore_valid_until = true;
        assert!(open_release(&*t, &o).is_ok());
    }

    #[test]
    fn error_messages() {
        let io = || std::io::Error::other("truncated");
        let cases: Vec<(Error, &str)> = vec![
            (
                Error::Release {
                    url: "http://m/dists/s/InRelease".into(),
                    source: release::Error::Empty,
                },
                "http://m/dists/s/InRelease: Release is empty",
            ),
            (
                Error::Signature {
                    url: "http://m/dists/s/InRelease".into(),
                    source: inrelease::Error::Unsigned,
                },
                "http://m/dists/s/InRelease: ",
            ),
            (
                Error::NoSuite {
                    suite: "s".into(),
                    url: "http://m/dists/s".into(),
                },
                "suite s not found: the mirror has neither \
                 http://m/dists/s/InRelease nor http://m/dists/s/Release",
            ),
            (
                Error::Unsigned {
                    url: "http://m/dists/s/Release".into(),
                },
                "http://m/dists/s/Release: the suite is not signed (no \
                 InRelease, no Release.gpg); --insecure-unsigned accepts it \
                 unverified",
            ),
            (
                Error::NoArchitecture {
                    suite: "s".into(),
                    arch: "riscv64".into(),
                    available: "amd64 arm64".into(),
                },
                "suite s has no architecture riscv64 (it has: amd64 arm64)",
            ),
            (
                Error::NoComponent {
                    suite: "s".into(),
                    component: "contrib".into(),
                    available: "main".into(),
                },
                "suite s has no component contrib (it has: main)",
            ),
            (
                Error::NoIndex {
                    suite: "s".into(),
                    component: "main".into(),
                    arch: "amd64".into(),
                },
                "suite s lists no Packages index for main/binary-amd64",
            ),
            (
                Error::Decompress {
                    url: "u/Packages.xz".into(),
                    source: io(),
                },
                "u/Packages.xz: cannot decompress: truncated",
            ),
            (
                Error::IndexTooLarge {
                    url: "u/Packages.xz".into(),
                    limit: 1000,
                },
                "u/Packages.xz: decompresses to more than 1000 bytes",
            ),
            (
                Error::from(transport::Error::NotFound { url: "u".into() }),
                "u: not found on the mirror",
            ),
        ];
        for (e, want) in cases {
            let shown = e.to_string();
            if want.ends_with(": ") {
                assert!(shown.starts_with(want), "{shown}");
            } else {
                assert_eq!(shown, want);
            }
        }
    }

    #[test]
    fn oversized_release_is_refused_unread() {
        let (dir, t) = mirror(&[]);
        let d = dir.path().join("dists/trixie");
        std::fs::create_dir_all(&d).unwrap();
        let f = std::fs::File::create(d.join("InRelease")).unwrap();
        f.set_len(transport::MAX_RELEASE_SIZE + 1).unwrap();
        let e = open_release(&*t, &opts("trixie")).unwrap_err();
        assert!(
            matches!(
                &e,
                Error::Transport(transport::Error::TooLarge {
                    limit: transport::MAX_RELEASE_SIZE,
                    url,
                }) if url.ends_with("dists/trixie/InRelease")
            ),
            "{e}"
        );
    }

    fn sha256(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    /// A suite whose `Packages.gz` holds `text`; the Release lists the
    /// plain index as `plain_size` bytes with `text`'s digest, or not at
    /// all.
    fn gz_suite(text: &[u8], plain_size: Option<usize>) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        );
        gz.write_all(text).unwrap();
        let gz = gz.finish().unwrap();
        let mut release = String::from_utf8(RELEASE.to_vec()).unwrap();
        release.push_str("SHA256:\n");
        release.push_str(&format!(
            " {} {} main/binary-amd64/Packages.gz\n",
            sha256(&gz),
            gz.len()
        ));
        if let Some(n) = plain_size {
            release.push_str(&format!(
                " {} {n} main/binary-amd64/Packages\n",
                sha256(text)
            ));
        }
        let mut files = release.into_bytes();
        files.push(0);
        files.extend_from_slice(&gz);
        files
    }

    fn open_gz(text: &[u8], plain_size: Option<usize>) -> Result<Suite> {
        let both = gz_suite(text, plain_size);
        let at = both.iter().position(|b| *b == 0).unwrap();
        let (_dir, t) = mirror(&[
            ("dists/trixie/Release", &both[..at]),
            (
                "dists/trixie/main/binary-amd64/Packages.gz",
                &both[at + 1..],
            ),
        ]);
        open(&*t, &opts("trixie"), None, &crate::progress::Silent)
    }

    #[test]
    fn decompression_stops_at_the_plain_size() {
        let text = b"Package: a\nVersion: 1\nArchitecture: amd64\n\
            Filename: pool/a.deb\nSize: 1\nSHA256: \
            0000000000000000000000000000000000000000000000000000000000000000\
            \n";
        let s = open_gz(text, Some(text.len())).unwrap();
        assert_eq!(s.packages.len(), 1);
        let s = open_gz(text, None).unwrap();
        assert_eq!(s.packages.len(), 1);
        // 1 MiB of text where the Release promises 1000 bytes.
        let bomb = vec![b'\n'; 1 << 20];
        let e = open_gz(&bomb, Some(1000)).unwrap_err();
        assert!(
            matches!(&e, Error::IndexTooLarge { limit: 1000, url }
                if url.ends_with("main/binary-amd64/Packages.gz")),
            "{e}"
        );
        // Shorter than promised: the decompressed size check.
        let e = open_gz(text, Some(text.len() + 1)).unwrap_err();
        assert!(
            matches!(
                &e,
                Error::Transport(transport::Error::SizeMismatch { url, .. })
                    if url.ends_with("Packages.gz (decompressed)")
            ),
            "{e}"
        );
    }
}
