//! OpenPGP verification of a suite's `InRelease` (clearsigned) or of
//! `Release` + `Release.gpg` (detached signature), by the system `gpgv`.
//!
//! Specs: RFC 9580 §7 (cleartext signature framework, dash-escaping; same
//! as RFC 4880 §7) and §6.2 (ASCII armor); GnuPG `doc/DETAILS`, section
//! "Format of the --status-fd output"; apt-secure(8) for the policy.
//!
//! # Why `gpgv` and not a Rust OpenPGP crate
//!
//! Verification is delegated to `gpgv` (Debian package `gpgv`, present on
//! every Debian system because apt needs it). A pure-Rust crate such as
//! rpgp checks the mathematics of a signature but has no policy of its
//! own: SHA-1 rejection, key and subkey expiry, binding signatures and
//! revocations would all be ours to implement, which is re-implementing
//! exactly the security-critical part. `gpgv` is the verifier apt itself
//! relied on for a decade. We run it in a clean environment (empty
//! environment but `PATH` and `LC_ALL=C`, a private temporary `--homedir`,
//! so `~/.gnupg` is never read) and add our own policy on top of its
//! machine-readable `--status-fd` output.
//!
//! # Policy
//!
//! `gpgv` exits 0 for a mathematically good signature even when the key
//! that made it has expired or been revoked (it then prints `EXPKEYSIG` or
//! `REVKEYSIG` instead of `GOODSIG`, and still a `VALIDSIG`), so its exit
//! status alone is not a verdict. The status lines are grouped per
//! signature (each group starts at `NEWSIG`), and the input is accepted
//! when:
//!
//! - no group has `BADSIG` (one forged signature spoils the file, as in
//!   apt);
//! - at least one group has both `GOODSIG` and `VALIDSIG`, none of
//!   `EXPKEYSIG`, `REVKEYSIG`, `EXPSIG` or `ERRSIG`, and a `VALIDSIG` hash
//!   algorithm (8th argument) from the SHA-2/SHA-3 families; MD5 (1),
//!   SHA-1 (2) and RIPEMD-160 (3) are refused as [`Error::WeakDigest`];
//! - `gpgv` exited 0, or 2 for missing keys only (below).
//!
//! Other signatures by keys not in the keyring (`ERRSIG … 9`, `NO_PUBKEY`)
//! are tolerated next to a good one: Debian signs each `InRelease` with
//! several keys, and a keyring may hold only some of them. `gpgv` then
//! exits 2 although a signature is good, so a non-zero exit is accepted
//! only when it is exactly that: exit status 2, and every signature not
//! accepted is one whose key is missing. Any other failure (a write error
//! on `--output`, say) leaves the exit status unexplained and is refused.
//!
//! What is returned as signed text is what `gpgv --output` wrote, never a
//! re-parse of the armor. Before `gpgv` runs, the clearsigned message must
//! be a single message with nothing but blank lines around it, as apt
//! requires, so that no unsigned text can ride along with a signed part.
//! A detached signature must not carry data of its own, or a signed
//! message could stand in for `Release.gpg` and "verify" a different
//! `Release`: `Release.gpg` must be an armored `PGP SIGNATURE` or start
//! with a binary signature packet, and a `PLAINTEXT` status line (data
//! seen by `gpgv`) is refused too ([`Error::NotDetached`]).
//!
//! `gpgv` 2.2 reads only binary keyrings, so ASCII-armored key files are
//! dearmored into a private temporary directory that lives as long as the
//! [`Keyring`]. Whether a file is armored is decided by its content, not
//! by its suffix.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use base64::Engine as _;
use tempfile::TempDir;

/// Where the `debian-archive-keyring` package installs the archive keys.
const HOST_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
/// The verifier, looked up in `PATH`.
const GPGV: &str = "gpgv";

const BEGIN_MESSAGE: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const BEGIN_SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----";
const END_SIGNATURE: &str = "-----END PGP SIGNATURE-----";
const BEGIN_KEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const END_KEY: &str = "-----END PGP PUBLIC KEY BLOCK-----";

/// Errors of keyring loading and signature verification.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// [`Keyring::from_files`] was given no file.
    #[error("no key file given for the keyring")]
    EmptyKeyring,
    /// A key file could not be read.
    #[error("cannot read key file {path}: {source}")]
    ReadKey {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A key file is empty.
    #[error("key file {path} is empty")]
    EmptyKeyFile {
        /// The key file.
        path: PathBuf,
    },
    /// An ASCII-armored key file could not be decoded.
    #[error("key file {path}: bad ASCII armor: {reason}")]
    BadArmor {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The host has no Debian archive keyring.
    #[error(
        "host keyring {path} not found: install the debian-archive-keyring \
         package"
    )]
    HostKeyringMissing {
        /// The expected keyring path.
        path: PathBuf,
    },
    /// `gpgv` is not installed (not found in `PATH`).
    #[error("gpgv not found in PATH: install the gpgv package")]
    GpgvMissing,
    /// `gpgv` exists but could not be started.
    #[error("cannot run gpgv: {source}")]
    GpgvRun {
        /// The I/O error.
        source: io::Error,
    },
    /// A private temporary file or directory could not be created, written
    /// or read.
    #[error("temporary file {path}: {source}")]
    TempFile {
        /// The temporary path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The input carries no signature at all.
    #[error("not signed: no OpenPGP signature in the input")]
    Unsigned,
    /// A clearsigned message breaks the cleartext signature framework.
    #[error("clearsigned message, line {line}: {reason}")]
    Malformed {
        /// 1-based line of the input.
        line: usize,
        /// What is wrong there.
        reason: &'static str,
    },
    /// The (signed) text is not UTF-8.
    #[error("signed text is not UTF-8 (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// Signed by a key that is not in the keyring.
    #[error("signature by key {key_id}, which is not in the keyring")]
    UnknownKey {
        /// Long key id (16 hex digits) as `gpgv` reports it.
        key_id: String,
    },
    /// A signature does not match the signed data.
    #[error("bad signature by key {key_id}: the data was altered")]
    BadSignature {
        /// Long key id or fingerprint as `gpgv` reports it.
        key_id: String,
    },
    /// Signed by a key that has expired.
    #[error("signature by expired key {key_id}")]
    ExpiredKey {
        /// Long key id or fingerprint as `gpgv` reports it.
        key_id: String,
    },
    /// Signed by a key that has been revoked.
    #[error("signature by revoked key {key_id}")]
    RevokedKey {
        /// Long key id or fingerprint as `gpgv` reports it.
        key_id: String,
    },
    /// The only good signatures use a broken hash algorithm.
    #[error(
        "signature uses the weak digest {} (OpenPGP hash algorithm {algo})",
        digest_name(*algo)
    )]
    WeakDigest {
        /// OpenPGP hash algorithm id (RFC 9580 §9.5).
        algo: u8,
    },
    /// The detached signature carries signed data of its own.
    #[error(
        "the detached signature is a signed message carrying its own data"
    )]
    NotDetached,
    /// Anything else: `gpgv` did not establish a good signature.
    #[error("gpgv did not verify the signature: {status}")]
    NotVerified {
        /// `gpgv`'s status lines (without the `[GNUPG:]` prefix), then its
        /// `gpgv:` messages, then its exit status, joined by `"; "`.
        status: String,
    },
    /// A signal stopped the check ([`crate::cancel`]).
    #[error(transparent)]
    Interrupted(#[from] crate::cancel::Interrupted),
}

/// Result of verification.
pub type Result<T> = std::result::Result<T, Error>;

/// The keys a signature is checked against: one or more key files.
///
/// Cloning is cheap and shares the dearmored temporary copies, which are
/// removed when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Keyring {
    /// The key files as given, made absolute.
    paths: Vec<PathBuf>,
    /// The binary keyrings handed to `gpgv`, one per entry of `paths`.
    gpgv_paths: Vec<PathBuf>,
    /// Holds the dearmored copies alive; `None` if no file was armored.
    _dearmored: Option<Arc<TempDir>>,
}

impl Keyring {
    /// A keyring made of the given files, each a binary OpenPGP keyring
    /// (`.gpg`, as shipped in `/usr/share/keyrings`) or an ASCII-armored
    /// key file (`.asc`); the format is detected from the content.
    pub fn from_files(paths: &[PathBuf]) -> Result<Keyring> {
        if paths.is_empty() {
            return Err(Error::EmptyKeyring);
        }
        let mut abs_paths = Vec::with_capacity(paths.len());
        let mut gpgv_paths = Vec::with_capacity(paths.len());
        let mut tmp: Option<TempDir> = None;
        for (i, path) in paths.iter().enumerate() {
            let read_err = |source| Error::ReadKey {
                path: path.clone(),
                source,
            };
            // gpgv looks a keyring name without a slash up in --homedir.
            let abs = std::path::absolute(path).map_err(read_err)?;
            let bytes = fs::read(&abs).map_err(read_err)?;
            if bytes.is_empty() {
                return Err(Error::EmptyKeyFile { path: abs });
            }
            if is_armored(&bytes) {
                let binary =
                    dearmor(&bytes).map_err(|reason| Error::BadArmor {
                        path: abs.clone(),
                        reason,
                    })?;
                let dir = match tmp {
                    Some(ref dir) => dir,
                    None => tmp.insert(private_dir()?),
                };
                let file = dir.path().join(format!("key{i}.gpg"));
                fs::write(&file, binary).map_err(|source| Error::TempFile {
                    path: file.clone(),
                    source,
                })?;
                gpgv_paths.push(file);
            } else {
                gpgv_paths.push(abs.clone());
            }
            abs_paths.push(abs);
        }
        Ok(Keyring {
            paths: abs_paths,
            gpgv_paths,
            _dearmored: tmp.map(Arc::new),
        })
    }

    /// The host's Debian archive keyring,
    /// `/usr/share/keyrings/debian-archive-keyring.gpg`.
    pub fn host_default() -> Result<Keyring> {
        Self::default_at(Path::new(HOST_KEYRING))
    }

    fn default_at(path: &Path) -> Result<Keyring> {
        if !path.is_file() {
            return Err(Error::HostKeyringMissing { path: path.into() });
        }
        Self::from_files(&[path.to_path_buf()])
    }

    /// The key files as given (made absolute), in order.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }
}

/// A verified signed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Exactly the text the signature covers.
    pub text: String,
    /// Fingerprint (hex, upper case) of the primary key whose signature
    /// was accepted (the first one, if several were).
    pub signer: String,
    /// Creation time of that signature, in seconds since the epoch.
    pub created: u64,
}

/// Verifies a clearsigned `InRelease` and returns its signed text.
pub fn verify_clearsigned(
    inrelease: &[u8],
    keyring: &Keyring,
) -> Result<Verified> {
    verify_clearsigned_with(GPGV, inrelease, keyring)
}

fn verify_clearsigned_with(
    program: &str,
    inrelease: &[u8],
    keyring: &Keyring,
) -> Result<Verified> {
    if memchr::memmem::find(inrelease, BEGIN_MESSAGE.as_bytes()).is_none() {
        return Err(Error::Unsigned);
    }
    // The structure check only; the text we return comes from gpgv.
    cleartext(utf8(inrelease)?)?.ok_or(Error::Unsigned)?;
    let work = private_dir()?;
    let input = write_temp(&work, "InRelease", inrelease)?;
    let output = work.path().join("signed");
    let run = run_gpgv(
        program,
        work.path(),
        keyring,
        Some(&output),
        &[input.as_os_str()],
    )?;
    let (signer, created) = judge(&run, 1)?;
    let bytes = fs::read(&output).map_err(|source| Error::TempFile {
        path: output,
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| Error::NotUtf8 {
        offset: e.utf8_error().valid_up_to(),
    })?;
    Ok(Verified {
        text,
        signer,
        created,
    })
}

/// Verifies `Release` against its detached signature `Release.gpg`.
pub fn verify_detached(
    release: &[u8],
    signature: &[u8],
    keyring: &Keyring,
) -> Result<Verified> {
    if signature.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Unsigned);
    }
    if !is_detached_signature(signature) {
        return Err(Error::NotDetached);
    }
    let text = utf8(release)?.to_owned();
    let work = private_dir()?;
    let sig = write_temp(&work, "Release.gpg", signature)?;
    let data = write_temp(&work, "Release", release)?;
    let run = run_gpgv(
        GPGV,
        work.path(),
        keyring,
        None,
        &[sig.as_os_str(), data.as_os_str()],
    )?;
    let (signer, created) = judge(&run, 0)?;
    Ok(Verified {
        text,
        signer,
        created,
    })
}

/// The cleartext of a clearsigned message (dash-escaping undone, RFC 9580
/// §7.1), or the input itself if it is not clearsigned.
///
/// Only for `--insecure-unsigned`: nothing is verified. The framing is
/// checked as strictly as by [`verify_clearsigned`].
pub fn strip_clearsign(inrelease: &[u8]) -> Result<String> {
    let text = utf8(inrelease)?;
    Ok(cleartext(text)?.unwrap_or_else(|| text.to_owned()))
}

/// Whether `sig` looks like a detached signature: an armored
/// `PGP SIGNATURE` block, or binary data whose first packet is a signature
/// packet (tag 2, RFC 9580 §4.2 and §5.2), not a one-pass signature,
/// compressed or literal data packet.
fn is_detached_signature(sig: &[u8]) -> bool {
    let start = sig
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(sig.len());
    let sig = &sig[start..];
    if sig.starts_with(b"-----BEGIN PGP ") {
        return sig.starts_with(BEGIN_SIGNATURE.as_bytes());
    }
    let Some(&ctb) = sig.first() else {
        return false;
    };
    let tag = match ctb & 0xC0 {
        0xC0 => ctb & 0x3F,        // new format
        0x80 => (ctb >> 2) & 0x0F, // legacy format
        _ => return true,          // not binary OpenPGP: gpgv decides
    };
    tag == 2
}

fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|e| Error::NotUtf8 {
        offset: e.valid_up_to(),
    })
}

/// Where the parser of a clearsigned message is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    BeforeMessage,
    ArmorHeaders,
    Text,
    Signature,
    AfterSignature,
}

/// The unescaped cleartext of `text`, `None` if `text` has no
/// `BEGIN PGP SIGNED MESSAGE` line.
///
/// Each text line is returned with a `\n`, which is what `gpgv --output`
/// writes (the line break before the signature belongs to the framing
/// but is written out all the same).
fn cleartext(text: &str) -> Result<Option<String>> {
    if !text.lines().any(|l| l.trim_end() == BEGIN_MESSAGE) {
        return Ok(None);
    }
    let mut state = State::BeforeMessage;
    let mut out = String::with_capacity(text.len());
    let mut line_no = 0;
    for (i, line) in text.split('\n').enumerate() {
        line_no = i + 1;
        let malformed = |reason| Error::Malformed {
            line: line_no,
            reason,
        };
        let marker = line.trim_end();
        match state {
            State::BeforeMessage if marker == BEGIN_MESSAGE => {
                state = State::ArmorHeaders;
            }
            State::BeforeMessage | State::AfterSignature => {
                if !marker.is_empty() {
                    return Err(malformed(if state == State::BeforeMessage {
                        "text before the signed message"
                    } else {
                        "text after the signature"
                    }));
                }
            }
            State::ArmorHeaders if marker.is_empty() => state = State::Text,
            // gpg allows `Hash` and `NotDashEscaped`; the latter changes
            // the text's meaning and no archive uses it.
            State::ArmorHeaders => {
                if !marker.starts_with("Hash: ") {
                    return Err(malformed("armor header other than Hash"));
                }
            }
            State::Text if marker == BEGIN_SIGNATURE => {
                state = State::Signature;
            }
            State::Text => {
                let unescaped = match line.strip_prefix("- ") {
                    Some(rest) => rest,
                    None if line.starts_with('-') => {
                        return Err(malformed(
                            "line starting with '-' is not dash-escaped",
                        ));
                    }
                    None => line,
                };
                out.push_str(unescaped);
                out.push('\n');
            }
            State::Signature if marker == END_SIGNATURE => {
                state = State::AfterSignature;
            }
            State::Signature => {
                if marker.starts_with("-----") {
                    return Err(malformed("armor line inside the signature"));
                }
            }
        }
    }
    let reason = match state {
        State::AfterSignature => return Ok(Some(out)),
        State::BeforeMessage => "no signed message",
        State::ArmorHeaders => "no blank line after the armor headers",
        State::Text => "no BEGIN PGP SIGNATURE line",
        State::Signature => "no END PGP SIGNATURE line",
    };
    Err(Error::Malformed {
        line: line_no,
        reason,
    })
}

/// Whether a key file is text (to be dearmored) rather than binary.
///
/// The first byte of a binary OpenPGP keyring is a packet tag, which
/// always has bit 7 set (RFC 9580 §4.2), and a keybox (`.kbx`) starts
/// with a big-endian length whose first byte is 0; armored text starts
/// with a printable ASCII byte or a UTF-8 byte-order mark.
fn is_armored(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\xEF\xBB\xBF")
        || bytes.first().is_some_and(|&b| b != 0 && b.is_ascii())
}

/// The binary packets of every `PUBLIC KEY BLOCK` in an armored file,
/// concatenated (RFC 9580 §6.2).
///
/// The CRC-24 line is skipped without being checked: RFC 9580 §6.1 says
/// a receiver must not reject data because of it, and the packets are
/// protected by the signatures inside them anyway. Text outside the
/// blocks is ignored, as `gpg --dearmor` does.
fn dearmor(bytes: &[u8]) -> std::result::Result<Vec<u8>, &'static str> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text")?;
    let mut out = Vec::new();
    let mut blocks = 0_usize;
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line != BEGIN_KEY {
            continue;
        }
        let mut data = String::new();
        let mut in_headers = true;
        let mut ended = false;
        for line in lines.by_ref() {
            if line == END_KEY {
                ended = true;
                break;
            }
            if in_headers {
                if line.is_empty() {
                    in_headers = false;
                    continue;
                }
                if line.contains(": ") {
                    continue;
                }
                // Tolerate a missing blank line after the headers.
                in_headers = false;
            }
            if line.starts_with('=') {
                continue; // CRC-24
            }
            data.push_str(line);
        }
        if !ended {
            return Err("no END PGP PUBLIC KEY BLOCK line");
        }
        let packets = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|_| "invalid base64 data")?;
        if packets.is_empty() {
            return Err("empty key block");
        }
        out.extend_from_slice(&packets);
        blocks += 1;
    }
    if blocks == 0 {
        return Err("no BEGIN PGP PUBLIC KEY BLOCK line");
    }
    Ok(out)
}

/// A private (mode 0700) temporary directory.
fn private_dir() -> Result<TempDir> {
    tempfile::Builder::new()
        .prefix("lunforge-gpgv-")
        .tempdir()
        .map_err(|source| Error::TempFile {
            path: std::env::temp_dir(),
            source,
        })
}

fn write_temp(dir: &TempDir, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let path = dir.path().join(name);
    fs::write(&path, bytes).map_err(|source| Error::TempFile {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// What `gpgv` said: its status lines, messages and exit code.
struct Run {
    /// Status lines without the `[GNUPG:] ` prefix.
    status: Vec<String>,
    /// Its human-readable messages (stderr lines starting with `gpgv:`).
    messages: Vec<String>,
    /// Exit code, `None` if killed by a signal.
    code: Option<i32>,
}

fn run_gpgv(
    program: &str,
    home: &Path,
    keyring: &Keyring,
    output: Option<&Path>,
    files: &[&OsStr],
) -> Result<Run> {
    let mut cmd = Command::new(program);
    cmd.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.env("LC_ALL", "C")
        .arg("--homedir")
        .arg(home)
        .args(["--status-fd", "1"]);
    for ring in &keyring.gpgv_paths {
        cmd.arg("--keyring").arg(ring);
    }
    if let Some(output) = output {
        cmd.arg("--output").arg(output);
    }
    cmd.arg("--").args(files).stdin(Stdio::null());
    let out = crate::cancel::output(&mut cmd).map_err(|e| match e {
        crate::cancel::WaitError::Interrupted(i) => Error::Interrupted(i),
        crate::cancel::WaitError::Io(source)
            if source.kind() == io::ErrorKind::NotFound =>
        {
            Error::GpgvMissing
        }
        crate::cancel::WaitError::Io(source) => Error::GpgvRun { source },
    })?;
    let status = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("[GNUPG:] "))
        .map(str::to_owned)
        .collect();
    let messages = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("gpgv:"))
        .map(str::to_owned)
        .collect();
    Ok(Run {
        status,
        messages,
        code: out.status.code(),
    })
}

/// The status lines about one signature (from `NEWSIG` to the next).
#[derive(Default)]
struct SigReport<'a> {
    goodsig: Option<&'a str>,
    validsig: Option<Vec<&'a str>>,
    badsig: Option<&'a str>,
    expkeysig: Option<&'a str>,
    revkeysig: Option<&'a str>,
    expsig: Option<&'a str>,
    errsig: Option<Vec<&'a str>>,
    no_pubkey: Option<&'a str>,
    keyexpired: bool,
    keyrevoked: bool,
}

impl<'a> SigReport<'a> {
    /// Whether a verdict line (one per signature) was already seen.
    fn has_verdict(&self) -> bool {
        self.goodsig.is_some()
            || self.badsig.is_some()
            || self.expkeysig.is_some()
            || self.revkeysig.is_some()
            || self.expsig.is_some()
            || self.errsig.is_some()
    }

    /// The best key id this report names.
    fn key_id(&self) -> String {
        let errsig_id = self.errsig.as_ref().and_then(|a| a.first().copied());
        let validsig_fpr =
            self.validsig.as_ref().and_then(|a| a.first().copied());
        [
            self.badsig,
            self.revkeysig,
            self.expkeysig,
            self.expsig,
            self.goodsig,
            self.no_pubkey,
            errsig_id,
            validsig_fpr,
        ]
        .into_iter()
        .flatten()
        .next()
        .unwrap_or("unknown")
        .to_owned()
    }

    /// Whether gpgv could not check this signature for want of the key.
    fn missing_key(&self) -> bool {
        self.no_pubkey.is_some()
            || self.errsig.as_ref().and_then(|a| a.get(5)) == Some(&"9")
    }

    /// The hash algorithm of the signature, from `VALIDSIG` (8th
    /// argument) or `ERRSIG` (3rd argument).
    fn hash_algo(&self) -> Option<u8> {
        let from_valid = self.validsig.as_ref().and_then(|a| a.get(7));
        let from_err = self.errsig.as_ref().and_then(|a| a.get(2));
        from_valid.or(from_err).and_then(|s| s.parse().ok())
    }

    /// `(signer, created)` if this signature meets the policy.
    fn accepted(&self) -> Option<(String, u64)> {
        if self.goodsig.is_none()
            || self.badsig.is_some()
            || self.expkeysig.is_some()
            || self.revkeysig.is_some()
            || self.expsig.is_some()
            || self.errsig.is_some()
        {
            return None;
        }
        let v = self.validsig.as_ref()?;
        if !is_strong_digest(self.hash_algo()?) {
            return None;
        }
        // VALIDSIG: fpr date timestamp expire version reserved pk-algo
        // hash-algo class [primary-fpr]
        let signer = v.get(9).or(v.first())?;
        let created = parse_timestamp(v.get(2)?)?;
        Some(((*signer).to_owned(), created))
    }
}

/// SHA-256, SHA-384, SHA-512, SHA-224, SHA3-256, SHA3-512 (RFC 9580 §9.5).
fn is_strong_digest(algo: u8) -> bool {
    matches!(algo, 8..=12 | 14)
}

/// Name of an OpenPGP hash algorithm id (RFC 9580 §9.5).
fn digest_name(algo: u8) -> &'static str {
    match algo {
        1 => "MD5",
        2 => "SHA-1",
        3 => "RIPEMD-160",
        8 => "SHA-256",
        9 => "SHA-384",
        10 => "SHA-512",
        11 => "SHA-224",
        12 => "SHA3-256",
        14 => "SHA3-512",
        _ => "unknown",
    }
}

/// Applies the policy (see the module doc) to a `gpgv` run.
/// `plaintexts` is the number of `PLAINTEXT` lines the input must produce:
/// 1 for a clearsigned message, 0 for a detached signature.
fn judge(run: &Run, plaintexts: usize) -> Result<(String, u64)> {
    let mut reports: Vec<SigReport<'_>> = Vec::new();
    let mut seen_plaintexts = 0_usize;
    let mut nodata = false;
    for line in &run.status {
        let mut words = line.split(' ');
        let keyword = words.next().unwrap_or_default();
        let args: Vec<&str> = words.collect();
        let first = args.first().copied().unwrap_or("unknown");
        match keyword {
            "NEWSIG" => reports.push(SigReport::default()),
            "PLAINTEXT" => seen_plaintexts += 1,
            "NODATA" => nodata = true,
            "GOODSIG" | "BADSIG" | "EXPKEYSIG" | "REVKEYSIG" | "EXPSIG"
            | "ERRSIG" | "VALIDSIG" | "NO_PUBKEY" | "KEYEXPIRED"
            | "KEYREVOKED" => {
                // A second verdict without NEWSIG in between (older gpg)
                // starts a new signature.
                let verdict = !matches!(
                    keyword,
                    "VALIDSIG" | "NO_PUBKEY" | "KEYEXPIRED" | "KEYREVOKED"
                );
                let current =
                    reports.last().filter(|r| !(verdict && r.has_verdict()));
                if current.is_none() {
                    reports.push(SigReport::default());
                }
                let Some(r) = reports.last_mut() else {
                    continue;
                };
                match keyword {
                    "GOODSIG" => r.goodsig = Some(first),
                    "BADSIG" => r.badsig = Some(first),
                    "EXPKEYSIG" => r.expkeysig = Some(first),
                    "REVKEYSIG" => r.revkeysig = Some(first),
                    "EXPSIG" => r.expsig = Some(first),
                    "ERRSIG" => r.errsig = Some(args),
                    "VALIDSIG" => r.validsig = Some(args),
                    "NO_PUBKEY" => r.no_pubkey = Some(first),
                    "KEYEXPIRED" => r.keyexpired = true,
                    _ => r.keyrevoked = true,
                }
            }
            _ => {}
        }
    }
    let not_verified = || Error::NotVerified {
        status: status_summary(run),
    };
    if let Some(r) = reports.iter().find(|r| r.badsig.is_some()) {
        return Err(Error::BadSignature { key_id: r.key_id() });
    }
    if plaintexts == 0 && seen_plaintexts > 0 {
        return Err(Error::NotDetached);
    }
    if reports.is_empty() && nodata {
        return Err(Error::Unsigned);
    }
    if seen_plaintexts != plaintexts {
        return Err(not_verified());
    }
    if let Some(ok) = reports.iter().find_map(SigReport::accepted) {
        // Exit status 2 is explained when keys are missing, and only then.
        let explained = run.code == Some(2)
            && reports.iter().any(SigReport::missing_key)
            && reports
                .iter()
                .all(|r| r.accepted().is_some() || r.missing_key());
        return if run.code == Some(0) || explained {
            Ok(ok)
        } else {
            Err(not_verified())
        };
    }
    // No acceptable signature: name the most serious reason.
    if let Some(r) = reports
        .iter()
        .find(|r| r.revkeysig.is_some() || r.keyrevoked)
    {
        return Err(Error::RevokedKey { key_id: r.key_id() });
    }
    // Weak: a good signature with a weak hash, or one gpg refused
    // (ERRSIG with a return code other than 9, "no public key").
    let weak = reports.iter().find_map(|r| {
        let refused = r.errsig.as_ref().and_then(|a| a.get(5)) != Some(&"9")
            && r.errsig.is_some();
        let good = r.goodsig.is_some() && r.validsig.is_some();
        let algo = r.hash_algo().filter(|a| (1..=3).contains(a));
        algo.filter(|_| good || refused)
    });
    if let Some(algo) = weak {
        return Err(Error::WeakDigest { algo });
    }
    if let Some(r) = reports
        .iter()
        .find(|r| r.expkeysig.is_some() || r.keyexpired)
    {
        return Err(Error::ExpiredKey { key_id: r.key_id() });
    }
    if let Some(r) = reports.iter().find(|r| r.missing_key()) {
        return Err(Error::UnknownKey { key_id: r.key_id() });
    }
    Err(not_verified())
}

fn status_summary(run: &Run) -> String {
    let code = match run.code {
        Some(code) => format!("exit status {code}"),
        None => "killed by a signal".to_owned(),
    };
    let mut parts = run.status.clone();
    parts.extend(run.messages.iter().cloned());
    parts.push(code);
    parts.join("; ")
}

/// A `VALIDSIG` timestamp: seconds since the epoch, or ISO 8601 basic
/// format `YYYYMMDDThhmmss` (DETAILS allows both).
fn parse_timestamp(s: &str) -> Option<u64> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let (date, time) = s.split_once('T')?;
    if date.len() != 8 || time.len() != 6 {
        return None;
    }
    let num = |t: &str| -> Option<u64> {
        t.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let year = num(date.get(0..4)?)?;
    let month = num(date.get(4..6)?)?;
    let day = num(date.get(6..8)?)?;
    let hour = num(time.get(0..2)?)?;
    let min = num(time.get(2..4)?)?;
    let sec = num(time.get(4..6)?)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    days.checked_mul(86_400)?
        .checked_add(hour * 3600 + min * 60 + sec)
}

/// Days from 1970-01-01 to a date on or after it.
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let signed = |v: u64| i64::try_from(v).ok();
    let days = super::release::days_from_civil(
        signed(year)?,
        signed(month)?,
        signed(day)?,
    )?;
    u64::try_from(days).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::process::Output;

    const RELEASE: &str = "Origin: Test\nLabel: Test\nSuite: testing\n\
Codename: lunforge\nDate: Thu, 01 Jan 2026 00:00:00 UTC\n\
-dash-leading line\n--- another\nSHA256:\n \
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 \
main/binary-amd64/Packages\n";

    /// The real `InRelease` of a Debian suite (see fixtures/README.md).
    const REAL_INRELEASE: &[u8] =
        include_bytes!("../../fixtures/captured/bookworm-updates-InRelease");

    /// A throwaway GnuPG home with generated secret keys.
    struct TestGpg {
        home: TempDir,
        fprs: Vec<String>,
    }

    impl TestGpg {
        /// A home with one ed25519 key (`expire` as for --quick-gen-key).
        fn new(uid: &str) -> TestGpg {
            Self::new_at(uid, "never", None)
        }

        /// Like `new`, with the clock of gpg set to `faked_time`.
        fn new_at(uid: &str, expire: &str, faked_time: Option<u64>) -> Self {
            let home = tempfile::Builder::new()
                .prefix("lf-gpg-")
                .tempdir()
                .unwrap();
            let mut gpg = TestGpg {
                home,
                fprs: Vec::new(),
            };
            gpg.add_key(uid, expire, faked_time);
            gpg
        }

        fn add_key(&mut self, uid: &str, expire: &str, faked: Option<u64>) {
            let mut args = Vec::new();
            let faked = faked.map(|t| format!("{t}!"));
            if let Some(t) = &faked {
                args.extend(["--faked-system-time", t.as_str()]);
            }
            args.extend(["--quick-gen-key", uid, "ed25519", "sign", expire]);
            self.gpg(&args);
            let out = self.gpg(&["--with-colons", "--list-keys", uid]);
            let listing = String::from_utf8(out.stdout).unwrap();
            let fpr = listing
                .lines()
                .find_map(|l| l.strip_prefix("fpr:"))
                .and_then(|l| l.trim_matches(':').split(':').next())
                .unwrap();
            self.fprs.push(fpr.to_owned());
        }

        /// Runs gpg on this home; panics (with stderr) on failure.
        fn gpg(&self, args: &[&str]) -> Output {
            let out = Command::new("gpg")
                .env_remove("GNUPGHOME")
                .arg("--homedir")
                .arg(self.home.path())
                .args(["--batch", "--pinentry-mode", "loopback"])
                .args(["--passphrase", ""])
                .args(args)
                .stdin(Stdio::null())
                .output()
                .expect("gpg (package gnupg) must be installed");
            assert!(
                out.status.success(),
                "gpg {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out
        }

        fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
            let path = self.home.path().join(name);
            fs::write(&path, bytes).unwrap();
            path
        }

        /// Exports the public keys to a file (`.asc` if `armor`).
        fn export(&self, armor: bool) -> PathBuf {
            let name = if armor { "pub.asc" } else { "pub.gpg" };
            let path = self.home.path().join(name);
            let mut args = vec!["--output", path.to_str().unwrap()];
            if armor {
                args.push("--armor");
            }
            args.push("--export");
            self.gpg(&args);
            path
        }

        fn keyring(&self) -> Keyring {
            Keyring::from_files(&[self.export(false)]).unwrap()
        }

        /// Signs `text` with `mode` (`--clearsign`, `--detach-sign`, …).
        fn sign(&self, text: &[u8], mode: &str, extra: &[&str]) -> Vec<u8> {
            let input = self.file("tosign", text);
            let output = self.home.path().join("signed.out");
            let _ = fs::remove_file(&output);
            let mut args = vec!["--output", output.to_str().unwrap()];
            args.extend(extra);
            args.extend([mode, input.to_str().unwrap()]);
            self.gpg(&args);
            fs::read(&output).unwrap()
        }

        fn clearsign(&self, text: &str) -> Vec<u8> {
            self.sign(text.as_bytes(), "--clearsign", &[])
        }

        /// The long key id of key `i`, as gpgv reports it.
        fn key_id(&self, i: usize) -> String {
            self.fprs[i][24..].to_owned()
        }
    }

    impl Drop for TestGpg {
        fn drop(&mut self) {
            // gpg started an agent for this home; stop it. Best effort:
            // the agent also exits when its socket directory disappears.
            let _ = Command::new("gpgconf")
                .arg("--homedir")
                .arg(self.home.path())
                .args(["--kill", "gpg-agent"])
                .output();
        }
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn clearsigned_good() {
        let gpg = TestGpg::new("Good <good@example.invalid>");
        let before = now();
        let signed = gpg.clearsign(RELEASE);
        let v = verify_clearsigned(&signed, &gpg.keyring()).unwrap();
        assert_eq!(v.text, RELEASE);
        assert_eq!(v.signer, gpg.fprs[0]);
        assert!(v.created >= before.saturating_sub(1) && v.created <= now());
    }

    #[test]
    fn clearsigned_flipped_byte_is_bad_signature() {
        let gpg = TestGpg::new("Flip <flip@example.invalid>");
        let mut signed = gpg.clearsign(RELEASE);
        let at = memchr::memmem::find(&signed, b"Suite: testing").unwrap();
        signed[at + 7] ^= 0x01; // "testing" -> "uesting"
        let err = verify_clearsigned(&signed, &gpg.keyring()).unwrap_err();
        assert!(
            matches!(&err, Error::BadSignature { key_id }
                if *key_id == gpg.key_id(0)),
            "{err:?}"
        );
    }

    #[test]
    fn keyring_without_the_key_is_unknown_key() {
        let gpg = TestGpg::new("Signer <s@example.invalid>");
        let other = TestGpg::new("Other <o@example.invalid>");
        let signed = gpg.clearsign(RELEASE);
        let err = verify_clearsigned(&signed, &other.keyring()).unwrap_err();
        assert!(
            matches!(&err, Error::UnknownKey { key_id }
                if *key_id == gpg.key_id(0)),
            "{err:?}"
        );
    }

    #[test]
    fn one_good_signature_among_unknown_ones_is_enough() {
        let mut gpg = TestGpg::new("First <first@example.invalid>");
        gpg.add_key("Second <second@example.invalid>", "never", None);
        let signed = gpg.sign(
            RELEASE.as_bytes(),
            "--clearsign",
            &[
                "--local-user",
                gpg.fprs[0].as_str(),
                "--local-user",
                gpg.fprs[1].as_str(),
            ],
        );
        // A keyring holding only the second key.
        let ring = gpg.home.path().join("second.gpg");
        gpg.gpg(&[
            "--output",
            ring.to_str().unwrap(),
            "--export",
            &gpg.fprs[1],
        ]);
        let keyring = Keyring::from_files(&[ring]).unwrap();
        let v = verify_clearsigned(&signed, &keyring).unwrap();
        assert_eq!(v.signer, gpg.fprs[1]);
        assert_eq!(v.text, RELEASE);
    }

    #[test]
    fn detached_good_and_bad() {
        let gpg = TestGpg::new("Det <det@example.invalid>");
        let sig = gpg.sign(RELEASE.as_bytes(), "--detach-sign", &[]);
        let keyring = gpg.keyring();
        let v = verify_detached(RELEASE.as_bytes(), &sig, &keyring).unwrap();
        assert_eq!(v.text, RELEASE);
        assert_eq!(v.signer, gpg.fprs[0]);
        // Armored detached signature (Release.gpg as served) too.
        let asc = gpg.sign(RELEASE.as_bytes(), "--detach-sign", &["--armor"]);
        assert!(verify_detached(RELEASE.as_bytes(), &asc, &keyring).is_ok());
        let tampered = RELEASE.replace("testing", "unstable");
        let err =
            verify_detached(tampered.as_bytes(), &sig, &keyring).unwrap_err();
        assert!(matches!(err, Error::BadSignature { .. }), "{err:?}");
    }

    #[test]
    fn detached_signature_carrying_data_is_refused() {
        let gpg = TestGpg::new("Embed <embed@example.invalid>");
        let keyring = gpg.keyring();
        // A clearsigned other text as "Release.gpg".
        let other = gpg.clearsign("Origin: Evil\n");
        let err =
            verify_detached(RELEASE.as_bytes(), &other, &keyring).unwrap_err();
        assert!(matches!(err, Error::NotDetached), "{err:?}");
        // An inline-signed (binary) message as "Release.gpg".
        let inline = gpg.sign(b"Origin: Evil\n", "--sign", &[]);
        let err =
            verify_detached(RELEASE.as_bytes(), &inline, &keyring).unwrap_err();
        assert!(matches!(err, Error::NotDetached), "{err:?}");
    }

    #[test]
    fn sha1_signature_is_weak_digest() {
        let gpg = TestGpg::new("Sha1 <sha1@example.invalid>");
        let signed = gpg.sign(
            RELEASE.as_bytes(),
            "--clearsign",
            &["--digest-algo", "SHA1"],
        );
        let err = verify_clearsigned(&signed, &gpg.keyring()).unwrap_err();
        assert!(matches!(err, Error::WeakDigest { algo: 2 }), "{err:?}");
    }

    #[test]
    fn expired_key_is_refused() {
        // A key made ten days ago that expired a day later, and a
        // signature made while it was valid: gpgv still exits 0.
        let made = now() - 10 * 86_400;
        let gpg =
            TestGpg::new_at("Exp <exp@example.invalid>", "1d", Some(made));
        let faked = format!("{}!", made + 3600);
        let signed = gpg.sign(
            RELEASE.as_bytes(),
            "--clearsign",
            &["--faked-system-time", &faked],
        );
        let err = verify_clearsigned(&signed, &gpg.keyring()).unwrap_err();
        assert!(
            matches!(&err, Error::ExpiredKey { key_id }
                if *key_id == gpg.key_id(0)),
            "{err:?}"
        );
    }

    #[test]
    fn revoked_key_is_refused() {
        let gpg = TestGpg::new("Rev <rev@example.invalid>");
        let signed = gpg.clearsign(RELEASE);
        // Import the revocation certificate gpg made at key generation;
        // its armor is prefixed with ':' against accidental import.
        let rev = gpg
            .home
            .path()
            .join("openpgp-revocs.d")
            .join(format!("{}.rev", gpg.fprs[0]));
        let rev = fs::read_to_string(rev).unwrap().replace(":-----", "-----");
        let rev = gpg.file("rev.asc", rev.as_bytes());
        gpg.gpg(&["--import", rev.to_str().unwrap()]);
        let err = verify_clearsigned(&signed, &gpg.keyring()).unwrap_err();
        assert!(
            matches!(&err, Error::RevokedKey { key_id }
                if *key_id == gpg.key_id(0)),
            "{err:?}"
        );
    }

    #[test]
    fn armored_keyring_works() {
        let gpg = TestGpg::new("Asc <asc@example.invalid>");
        let signed = gpg.clearsign(RELEASE);
        let asc = gpg.export(true);
        // With CRLF line ends and a comment before the block.
        let text = fs::read_to_string(&asc).unwrap();
        let crlf = format!("a comment\r\n{}", text.replace('\n', "\r\n"));
        let crlf = gpg.file("crlf.asc", crlf.as_bytes());
        for file in [asc, crlf] {
            let keyring =
                Keyring::from_files(std::slice::from_ref(&file)).unwrap();
            assert_eq!(keyring.paths(), [file]);
            let v = verify_clearsigned(&signed, &keyring).unwrap();
            assert_eq!(v.signer, gpg.fprs[0]);
        }
    }

    #[test]
    fn several_key_files() {
        let a = TestGpg::new("A <a@example.invalid>");
        let b = TestGpg::new("B <b@example.invalid>");
        let keyring =
            Keyring::from_files(&[a.export(true), b.export(false)]).unwrap();
        assert_eq!(keyring.paths().len(), 2);
        let clone = keyring.clone();
        drop(keyring);
        let v = verify_clearsigned(&a.clearsign(RELEASE), &clone).unwrap();
        assert_eq!(v.signer, a.fprs[0]);
        let v = verify_clearsigned(&b.clearsign(RELEASE), &clone).unwrap();
        assert_eq!(v.signer, b.fprs[0]);
    }

    #[test]
    fn unsigned_input() {
        let gpg = TestGpg::new("U <u@example.invalid>");
        let keyring = gpg.keyring();
        let err = verify_clearsigned(RELEASE.as_bytes(), &keyring).unwrap_err();
        assert!(matches!(err, Error::Unsigned), "{err:?}");
        let err =
            verify_detached(RELEASE.as_bytes(), b" \n", &keyring).unwrap_err();
        assert!(matches!(err, Error::Unsigned), "{err:?}");
        let err =
            verify_detached(RELEASE.as_bytes(), b"junk", &keyring).unwrap_err();
        assert!(matches!(err, Error::Unsigned), "{err:?}");
    }

    #[test]
    fn framing_attacks_are_malformed() {
        let gpg = TestGpg::new("M <m@example.invalid>");
        let keyring = gpg.keyring();
        let signed = String::from_utf8(gpg.clearsign(RELEASE)).unwrap();
        let after = signed.lines().count() + 1;
        let cases = [
            (format!("Origin: Evil\n{signed}"), 1),
            (format!("{signed}Origin: Evil\n"), after),
            (format!("{signed}{signed}"), after),
            (signed.replace("\n\n", "\n"), 3),
        ];
        for (text, line) in cases {
            let err =
                verify_clearsigned(text.as_bytes(), &keyring).unwrap_err();
            assert!(
                matches!(err, Error::Malformed { line: l, .. } if l == line),
                "{err:?}"
            );
        }
        let err = verify_clearsigned(
            b"\xff-----BEGIN PGP SIGNED MESSAGE-----",
            &keyring,
        )
        .unwrap_err();
        assert!(matches!(err, Error::NotUtf8 { offset: 0 }), "{err:?}");
    }

    #[test]
    fn strip_clearsign_matches_gpgv_output() {
        let gpg = TestGpg::new("S <s@example.invalid>");
        let signed = gpg.clearsign(RELEASE);
        let text = String::from_utf8(signed.clone()).unwrap();
        assert!(text.contains("\n- -dash-leading line\n- --- another\n"));
        let stripped = strip_clearsign(&signed).unwrap();
        assert_eq!(stripped, RELEASE);
        let v = verify_clearsigned(&signed, &gpg.keyring()).unwrap();
        assert_eq!(stripped, v.text);
        // Not clearsigned: returned as is.
        assert_eq!(strip_clearsign(RELEASE.as_bytes()).unwrap(), RELEASE);
    }

    #[test]
    fn strip_clearsign_framing() {
        let msg = "\n-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n\
a\n- -b\n\n-----BEGIN PGP SIGNATURE-----\n\nAAAA\n=AAAA\n\
-----END PGP SIGNATURE-----\n\n";
        assert_eq!(strip_clearsign(msg.as_bytes()).unwrap(), "a\n-b\n\n");
        let bad = [
            (msg.replace("- -b", "-b"), 6, "not dash-escaped"),
            (
                msg.replace("Hash: SHA256", "Hash SHA256"),
                3,
                "armor header",
            ),
            (msg.replace("Hash: SHA256", "NotDashEscaped: x"), 3, "Hash"),
            (msg.replace("-----END PGP SIGNATURE-----\n", ""), 13, "END"),
            (
                msg.replace("\nAAAA", "\n-----BEGIN PGP MESSAGE-----"),
                10,
                "armor",
            ),
            (
                msg.replace("-----BEGIN PGP SIGNATURE-----", "x"),
                12,
                "dash",
            ),
            (
                msg.replace("-----BEGIN PGP SIGNATURE-----", "x")
                    .replace("-----END PGP SIGNATURE-----", "y"),
                14,
                "BEGIN",
            ),
        ];
        for (text, line, reason) in bad {
            let err = strip_clearsign(text.as_bytes()).unwrap_err();
            assert!(
                matches!(&err, Error::Malformed { line: l, reason: r }
                    if *l == line && r.contains(reason)),
                "{err:?}"
            );
        }
    }

    #[test]
    fn real_inrelease_verifies_against_host_keyring() {
        let keyring = Keyring::host_default().unwrap();
        assert_eq!(keyring.paths(), [PathBuf::from(HOST_KEYRING)]);
        let v = verify_clearsigned(REAL_INRELEASE, &keyring).unwrap();
        assert!(v.text.starts_with("Origin: Debian\n"), "{}", v.text);
        assert!(v.text.contains("\nCodename: bookworm-updates\n"));
        assert_eq!(v.signer.len(), 40);
        assert!(v.signer.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(strip_clearsign(REAL_INRELEASE).unwrap(), v.text);
        // Mutation: one flipped bit in the signed text.
        let mut bad = REAL_INRELEASE.to_vec();
        let at = memchr::memmem::find(&bad, b"Codename: ").unwrap();
        bad[at + 10] ^= 0x20;
        let err = verify_clearsigned(&bad, &keyring).unwrap_err();
        assert!(matches!(err, Error::BadSignature { .. }), "{err:?}");
    }

    #[test]
    fn keyring_errors() {
        assert!(matches!(Keyring::from_files(&[]), Err(Error::EmptyKeyring)));
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.gpg");
        assert!(matches!(
            Keyring::from_files(std::slice::from_ref(&missing)),
            Err(Error::ReadKey { path, .. }) if path == missing
        ));
        let empty = dir.path().join("empty.gpg");
        fs::write(&empty, b"").unwrap();
        assert!(matches!(
            Keyring::from_files(&[empty]),
            Err(Error::EmptyKeyFile { .. })
        ));
        let bad = dir.path().join("bad.asc");
        fs::write(&bad, format!("{BEGIN_KEY}\n\n!!!!\n{END_KEY}\n")).unwrap();
        assert!(matches!(
            Keyring::from_files(&[bad]),
            Err(Error::BadArmor {
                reason: "invalid base64 data",
                ..
            })
        ));
        let sig = dir.path().join("sig.asc");
        fs::write(&sig, format!("{BEGIN_SIGNATURE}\n\nAAAA\n")).unwrap();
        assert!(matches!(
            Keyring::from_files(&[sig]),
            Err(Error::BadArmor { .. })
        ));
        let open = dir.path().join("open.asc");
        fs::write(&open, format!("{BEGIN_KEY}\n\nAAAA\n")).unwrap();
        assert!(matches!(
            Keyring::from_files(&[open]),
            Err(Error::BadArmor { .. })
        ));
        let nowhere = dir.path().join("debian-archive-keyring.gpg");
        assert!(matches!(
            Keyring::default_at(&nowhere),
            Err(Error::HostKeyringMissing { path }) if path == nowhere
        ));
    }

    #[test]
    fn dearmor_decodes_blocks_and_skips_crc() {
        let armored = format!(
            "{BEGIN_KEY}\nComment: x\n\nAQID\nBA==\n=abcd\n{END_KEY}\n\
{BEGIN_KEY}\nBQ==\n{END_KEY}\n"
        );
        assert_eq!(dearmor(armored.as_bytes()), Ok(vec![1, 2, 3, 4, 5]));
        assert!(is_armored(b"\n  -----BEGIN PGP PUBLIC KEY BLOCK-----"));
        assert!(is_armored(b"\xEF\xBB\xBF-----BEGIN PGP PUBLIC KEY BLOCK"));
        assert!(!is_armored(&[0x99, 0x01, 0x0d]));
        assert!(!is_armored(&[0x00, 0x00, 0x00, 0x20, 0x01]));
    }

    #[test]
    fn missing_gpgv() {
        let gpg = TestGpg::new("G <g@example.invalid>");
        let signed = gpg.clearsign(RELEASE);
        let err = verify_clearsigned_with(
            "lunforge-test-no-such-gpgv",
            &signed,
            &gpg.keyring(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::GpgvMissing), "{err:?}");
    }

    fn run(lines: &[&str], code: i32) -> Run {
        Run {
            status: lines.iter().map(|l| (*l).to_owned()).collect(),
            messages: vec!["gpgv: msg".into()],
            code: Some(code),
        }
    }

    const FPR: &str = "17310DACAD552F951C4B593AB3731F2DF3766191";

    #[test]
    fn judge_policy_on_status_lines() {
        let valid = |hash: &str| {
            format!(
                "VALIDSIG {FPR} 2026-11-26 1795705887 0 4 0 22 {hash} 01 {FPR}"
            )
        };
        let v8 = valid("8");
        let good = [
            "PLAINTEXT 74 0",
            "NEWSIG",
            "GOODSIG B3731F2DF3766191 T",
            &v8,
        ];
        assert_eq!(
            judge(&run(&good, 0), 1).unwrap(),
            (FPR.to_owned(), 1_795_705_887)
        );
        // Good status but a failing exit code is not trusted.
        assert!(matches!(
            judge(&run(&good, 2), 1),
            Err(Error::NotVerified { status })
                if status.ends_with("gpgv: msg; exit status 2")
        ));
        // No NEWSIG (older gpg): still grouped by verdict.
        assert!(judge(&run(&good[2..], 0), 0).is_ok());
        // Expired key with VALIDSIG and exit 0.
        let exp = ["NEWSIG", "KEYEXPIRED 1794928293", "EXPKEYSIG AB E", &v8];
        assert!(matches!(
            judge(&run(&exp, 0), 0),
            Err(Error::ExpiredKey { key_id }) if key_id == "AB"
        ));
        // MD5 refused by gpg itself (ERRSIG with rc 4).
        let md5 = ["NEWSIG", "ERRSIG AB 22 1 01 1795705887 4 X"];
        assert!(matches!(
            judge(&run(&md5, 2), 0),
            Err(Error::WeakDigest { algo: 1 })
        ));
        // A weak good signature next to a strong one: accepted.
        let v2 = valid("2");
        let mixed =
            ["NEWSIG", "GOODSIG A T", &v2, "NEWSIG", "GOODSIG A T", &v8];
        assert!(judge(&run(&mixed, 0), 0).is_ok());
        // A bad signature spoils a good one.
        let spoiled = ["NEWSIG", "GOODSIG A T", &v8, "NEWSIG", "BADSIG CD T"];
        assert!(matches!(
            judge(&run(&spoiled, 1), 0),
            Err(Error::BadSignature { key_id }) if key_id == "CD"
        ));
        // Nothing recognisable.
        assert!(matches!(
            judge(&run(&["NEWSIG", "EXPSIG AB T"], 0), 0),
            Err(Error::NotVerified { .. })
        ));
        assert!(matches!(
            judge(&run(&["NODATA 1", "NODATA 2"], 2), 1),
            Err(Error::Unsigned)
        ));
        // A missing key explains exit status 2 next to a good signature,
        // and nothing else does.
        let missing = [
            "NEWSIG",
            "ERRSIG CD 22 8 01 1795706164 9 EF",
            "NO_PUBKEY CD",
            "NEWSIG",
            "GOODSIG A T",
            &v8,
        ];
        assert!(judge(&run(&missing, 2), 0).is_ok());
        assert!(matches!(
            judge(&run(&missing, 1), 0),
            Err(Error::NotVerified { .. })
        ));
        assert!(matches!(
            judge(&run(&missing[..3], 2), 0),
            Err(Error::UnknownKey { key_id }) if key_id == "CD"
        ));
        // Data seen in a detached signature.
        let data = ["PLAINTEXT 74 0", "NEWSIG", "GOODSIG A T", &v8];
        assert!(matches!(judge(&run(&data, 0), 0), Err(Error::NotDetached)));
        // Clearsigned input must produce exactly one plaintext.
        let two = ["PLAINTEXT 74 0", "PLAINTEXT 74 0", "NEWSIG", "GOODSIG A T"];
        assert!(matches!(
            judge(&run(&two, 0), 1),
            Err(Error::NotVerified { .. })
        ));
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1795705887"), Some(1_795_705_887));
        assert_eq!(parse_timestamp("19700101T000000"), Some(0));
        assert_eq!(parse_timestamp("20261126T151127"), Some(1_795_705_887));
        assert_eq!(parse_timestamp("20000229T235959"), Some(951_868_799));
        assert_eq!(parse_timestamp("2026-11-26"), None);
        assert_eq!(parse_timestamp("20261326T000000"), None);
    }

    #[test]
    fn error_messages() {
        let p = || PathBuf::from("/k.asc");
        let io = || io::Error::new(io::ErrorKind::NotFound, "gone");
        let cases: Vec<(Error, &str)> = vec![
            (Error::EmptyKeyring, "no key file given for the keyring"),
            (
                Error::ReadKey {
                    path: p(),
                    source: io(),
                },
                "cannot read key file /k.asc: gone",
            ),
            (
                Error::EmptyKeyFile { path: p() },
                "key file /k.asc is empty",
            ),
            (
                Error::BadArmor {
                    path: p(),
                    reason: "invalid base64 data",
                },
                "key file /k.asc: bad ASCII armor: invalid base64 data",
            ),
            (
                Error::HostKeyringMissing { path: p() },
                "host keyring /k.asc not found: install the \
                 debian-archive-keyring package",
            ),
            (
                Error::GpgvMissing,
                "gpgv not found in PATH: install the gpgv package",
            ),
            (Error::GpgvRun { source: io() }, "cannot run gpgv: gone"),
            (
                Error::TempFile {
                    path: p(),
                    source: io(),
                },
                "temporary file /k.asc: gone",
            ),
            (
                Error::Unsigned,
                "not signed: no OpenPGP signature in the input",
            ),
            (
                Error::Malformed {
                    line: 3,
                    reason: "armor header other than Hash",
                },
                "clearsigned message, line 3: armor header other than Hash",
            ),
            (
                Error::NotUtf8 { offset: 7 },
                "signed text is not UTF-8 (invalid byte at offset 7)",
            ),
            (
                Error::UnknownKey {
                    key_id: "AB".into(),
                },
                "signature by key AB, which is not in the keyring",
            ),
            (
                Error::BadSignature {
                    key_id: "AB".into(),
                },
                "bad signature by key AB: the data was altered",
            ),
            (
                Error::ExpiredKey {
                    key_id: "AB".into(),
                },
                "signature by expired key AB",
            ),
            (
                Error::RevokedKey {
                    key_id: "AB".into(),
                },
                "signature by revoked key AB",
            ),
            (
                Error::WeakDigest { algo: 2 },
                "signature uses the weak digest SHA-1 (OpenPGP hash \
                 algorithm 2)",
            ),
            (
                Error::NotDetached,
                "the detached signature is a signed message carrying its \
                 own data",
            ),
            (
                Error::NotVerified {
                    status: "NODATA 3; exit status 2".into(),
                },
                "gpgv did not verify the signature: NODATA 3; exit status 2",
            ),
        ];
        for (err, text) in cases {
            assert_eq!(err.to_string(), text);
        }
    }
}
