//! Test OpenPGP keys, made by `gpg` at test time (no private key is
//! committed), and signing with them.
//!
//! Two ed25519 keys are generated once per test process: the signing key
//! of the local test repositories and an unrelated key for the "signed by
//! a key not in the keyring" case. Only their exported bytes are kept;
//! each signing imports the secret key into a private, short-lived
//! `--homedir` whose `gpg-agent` is stopped when done, so no process
//! outlives the operation.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::run;

/// The two test keys.
#[derive(Debug)]
pub(crate) struct Keys {
    /// Fingerprint of the repository signing key.
    pub(crate) signing_fpr: String,
    /// Its public key, binary (what `--keyring` takes).
    pub(crate) signing_pub: Vec<u8>,
    /// The same, ASCII-armored.
    pub(crate) signing_pub_armored: Vec<u8>,
    /// Its secret key, binary, no passphrase.
    signing_sec: Vec<u8>,
    /// The unrelated public key, binary.
    pub(crate) other_pub: Vec<u8>,
}

/// A `gpg --homedir` in a temporary directory; stops its agent on drop.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        super::require("gpg", "gpg");
        super::require("gpgconf", "gpgconf");
        let dir = tempfile::Builder::new()
            .prefix("lf-gpg-")
            .tempdir()
            .expect("gpg home");
        Home { dir }
    }

    fn gpg(&self) -> Command {
        let mut c = Command::new("gpg");
        c.arg("--batch")
            .arg("--quiet")
            .arg("--homedir")
            .arg(self.dir.path())
            .args(["--pinentry-mode", "loopback", "--passphrase", ""]);
        c
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.dir.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// The test keys, generated on first use.
pub(crate) fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(generate)
}

fn generate() -> Keys {
    let home = Home::new();
    let make = |uid: &str| -> String {
        run(
            home.gpg()
                .arg("--quick-gen-key")
                .arg(uid)
                .args(["ed25519", "sign", "never"]),
            "gpg",
        );
        let out = run(
            home.gpg().args(["--with-colons", "--list-keys"]).arg(uid),
            "gpg",
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_string())
            .unwrap_or_else(|| panic!("no fingerprint for {uid}:\n{text}"))
    };
    let signing_fpr = make("lunforge test archive <archive@lunforge.invalid>");
    let other_fpr = make("lunforge unrelated key <other@lunforge.invalid>");
    let export = |what: &str, fpr: &str| {
        run(home.gpg().arg(what).arg(fpr), "gpg").stdout
    };
    let armored = run(
        home.gpg().args(["--armor", "--export"]).arg(&signing_fpr),
        "gpg",
    )
    .stdout;
    Keys {
        signing_pub: export("--export", &signing_fpr),
        signing_pub_armored: armored,
        signing_sec: export("--export-secret-keys", &signing_fpr),
        other_pub: export("--export", &other_fpr),
        signing_fpr,
    }
}

/// How to sign a Release file.
pub(crate) enum Sig {
    /// `gpg --clearsign`: InRelease.
    Clear,
    /// `gpg --detach-sign --armor`: Release.gpg.
    Detached,
}

/// Sign `input` into `output` with the test signing key.
pub(crate) fn sign(input: &Path, output: &Path, how: Sig) {
    let k = keys();
    let home = Home::new();
    let sec = home.dir.path().join("secret.gpg");
    std::fs::write(&sec, &k.signing_sec).expect("write secret key");
    run(home.gpg().arg("--import").arg(&sec), "gpg");
    let mut cmd = home.gpg();
    cmd.args(["--local-user", &k.signing_fpr, "--digest-algo", "SHA256"]);
    match how {
        Sig::Clear => cmd.arg("--clearsign"),
        Sig::Detached => cmd.args(["--detach-sign", "--armor"]),
    };
    run(cmd.arg("--output").arg(output).arg(input), "gpg");
}

/// Write the public keyring of the signing key (or of the unrelated key
/// when `other`) into `dir` and return its path.
pub(crate) fn keyring(dir: &Path, other: bool) -> PathBuf {
    let k = keys();
    let (name, data) = if other {
        ("other.gpg", &k.other_pub)
    } else {
        ("archive.gpg", &k.signing_pub)
    };
    let p = dir.join(name);
    std::fs::write(&p, data).expect("write keyring");
    p
}
