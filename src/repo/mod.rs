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
pub mod release;
pub mod transport;
pub mod version;

use std::io::Read;

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
    /// The Release text is malformed, expired, or lacks an entry.
    #[error(transparent)]
    Release(#[from] release::Error),
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
    let (text, origin) = if let Some(data) = t.get(&in_path)? {
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
        let data = t.get(&rel_path)?.ok_or_else(|| Error::NoSuite {
            suite: opts.suite.clone(),
            url: t.url(&dists),
        })?;
        let sha256 = Sha256::digest(&data).into();
        let signer = match &opts.trust {
            Trust::Keyring(k) => {
                let gpg = format!("{rel_path}.gpg");
                let sig = t.get(&gpg)?.ok_or_else(|| Error::Unsigned {
                    url: t.url(&rel_path),
                })?;
                let v = inrelease::verify_detached(&data, &sig, k)
                    .map_err(sig_err(&gpg))?;
                Some(v.signer)
            }
            Trust::InsecureUnsigned => None,
        };
        let text = String::from_utf8_lossy(&data).into_owned();
        (
            text,
            ReleaseOrigin {
                path: rel_path,
                sha256,
                signer,
            },
        )
    };
    let release = Release::parse(&text)?;
    if !opts.ignore_valid_until {
        release.check_valid_until(opts.now)?;
    }
    Ok((release, origin))
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

/// Fetch, verify and decompress one component's Packages index.
///
/// The Release also lists the uncompressed index with its own digest:
/// the decompressed text is checked against it too, and it is what the
/// cache keeps, so a later run reads the text straight from the cache
/// instead of decompressing ~50 MiB of xz again (most of a warm
/// resolve's time otherwise).
fn read_index(
    t: &dyn Transport,
    opts: &Options,
    release: &Release,
    component: &str,
    cache: Option<&Cache>,
) -> Result<String> {
    let dir = format!("{component}/binary-{}", opts.architecture);
    let dists = format!("dists/{}", opts.suite);
    let plain = release.files.get(&format!("{dir}/Packages")).copied();
    if let Some(p) = cache.zip(plain).and_then(|(c, p)| c.lookup(&p)) {
        let text = std::fs::read(&p)
            .map_err(|source| transport::Error::Io { path: p, source })?;
        let url = t.url(&format!("{dists}/{dir}/Packages"));
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
    let text = decompress(&url, &rel_path, &data)?;
    if let Some(p) = plain {
        transport::check(
            &format!("{url} (decompressed)"),
            text.as_bytes(),
            &p,
        )?;
        if let Some(c) = cache {
            c.store(&p, text.as_bytes())?;
        }
    }
    Ok(text)
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
        if let Some(data) = t.get(&by_hash)? {
            transport::check(&t.url(&by_hash), &data, want)?;
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

fn decompress(url: &str, path: &str, data: &[u8]) -> Result<String> {
    let mut bytes = Vec::with_capacity(data.len() * 6);
    let err = |source| Error::Decompress {
        url: url.into(),
        source,
    };
    if path.ends_with(".xz") {
        liblzma::read::XzDecoder::new_stream(data, xz_decoder().map_err(err)?)
            .read_to_end(&mut bytes)
            .map_err(err)?;
    } else if path.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(data)
            .read_to_end(&mut bytes)
            .map_err(err)?;
    } else {
        bytes.extend_from_slice(data);
    }
    utf8(url, bytes)
}
