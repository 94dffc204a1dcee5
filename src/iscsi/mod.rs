//! An iSCSI initiator (RFC 7143) over TCP: discovery, login with CHAP
//! (RFC 1994, RFC 7143 §12.1.3), and the SCSI block commands (SBC-3,
//! SPC-4) that write, read, zero and flush one LUN.
//!
//! # Layout
//!
//! - [`url`]: `iscsi://[user[%secret]@]host[:port]/IQN/LUN`, the form
//!   libiscsi and QEMU write;
//! - [`pdu`]: the Basic Header Segment (RFC 7143 §11.2) and one record
//!   type per opcode, the digests (§13.1) and a bounded PDU reader;
//! - [`text`]: `key=value` lists of Login and Text PDUs (§6);
//! - [`chap`]: CHAP with MD5, one-way and mutual;
//! - [`login`]: the login phases (§6.3) and the negotiated operational
//!   parameters (§13);
//! - [`scsi`] and [`sense`]: command descriptor blocks, their replies
//!   and sense data;
//! - [`session`]: a logged-in connection that pipelines commands within
//!   the target's command window (§4.2.2.1), answers R2T and NOP-In;
//! - [`discovery`]: `SendTargets=All` (§6.5 and Appendix C), and
//!   [`listing`], what `lunforge iscsi discover` prints of it;
//! - [`lun`]: [`Lun`], one LUN as a [`crate::sink::Device`].
//!
//! # Why written here
//!
//! - `iscsi-client-rs` on crates.io (0.0.9 at the time of writing) is
//!   a pure-Rust initiator, but it is licensed AGPL-3.0-or-later (its
//!   first, yanked release was MIT), which cannot go into this crate's
//!   `MIT OR Apache-2.0` binary; it is also pre-0.1 and built on tokio
//!   and `anyhow`.
//! - libiscsi through FFI would put a C library (LGPL-2.1-or-later,
//!   with relinking obligations once linked statically; distributions
//!   build it against libgcrypt) and `unsafe` foreign calls into what
//!   is otherwise a single safe, static binary. Its tools (`iscsi-ls`, `iscsi-inq`,
//!   `iscsi-readcapacity16`) serve instead as test oracles.
//!
//! The initiator needed here is small: one connection per session,
//! ErrorRecoveryLevel 0, no task management; a failure ends the
//! session with an error that says how far the writes got. Every
//! number read from the target is checked before it is used, so this
//! module tree denies unchecked arithmetic and `as` casts.

//!
//! # Use
//!
//! ```no_run
//! use lunforge::iscsi::{self, Credentials, IscsiUrl, Lun, Options, Secret};
//! use lunforge::sink::Device;
//!
//! // Discovery: every target of a portal, then the LUNs of one.
//! let portal = IscsiUrl::parse_partial("iscsi://192.0.2.10")?;
//! let opts = Options::default();
//! for t in iscsi::discover(&portal, &Credentials::default(), &opts)? {
//!     println!("{} at {:?}", t.name, t.portals);
//! }
//! let url = IscsiUrl::parse("iscsi://jim@192.0.2.10/iqn.2024-01.example:d/1")?;
//! // The secret comes from elsewhere (env:, file:), not from the URL.
//! let creds = Credentials::from_url(&url, Some(Secret::from("s3cret")), None);
//! for info in iscsi::list_luns(&url, &creds, &opts)? {
//!     println!("{info}");
//! }
//! let mut lun = Lun::open(&url, &creds, &opts)?;
//! lun.write(0, &[0u8; 4096])?;
//! lun.sync()?;
//! Box::new(lun).close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(clippy::arithmetic_side_effects, clippy::as_conversions)]

pub mod chap;
pub mod discovery;
pub mod listing;
pub mod login;
pub mod lun;
pub mod pdu;
pub mod scsi;
pub mod sense;
pub mod session;
pub mod text;
pub mod url;

mod conn;
mod error;

pub use discovery::{discover, DiscoveredTarget, TargetPortal};
pub use error::{Error, Result};
pub use login::{Credentials, DigestChoice, Options, Secret};
pub use lun::{list_luns, Lun, LunInfo};
pub use url::IscsiUrl;
