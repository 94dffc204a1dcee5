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
//! - [`discovery`]: `SendTargets=All` (§6.5 and Appendix C);
//! - [`lun`]: [`Lun`], one LUN as a [`crate::sink::Device`].
//!
//! # Why written here
//!
//! - `iscsi-client-rs` on crates.io is a pure-Rust initiator, but it is
//!   licensed AGPL-3.0-or-later (its first, yanked release was MIT),
//!   which cannot be combined into this crate's `MIT OR Apache-2.0`
//!   binary, it is at version 0.0.x, and it is built on tokio and
//!   `anyhow`.
//! - libiscsi (LGPL-2.1+) through FFI would put a C library and `unsafe`
//!   foreign calls into what is otherwise a single safe, static binary.
//!
//! The initiator needed here is small: one connection per session,
//! ErrorRecoveryLevel 0, no task management; a failure ends the
//! session with an error that says how far the writes got. Every
//! number read from the target is checked before it is used, so this
//! module tree denies unchecked arithmetic and `as` casts.

#![deny(clippy::arithmetic_side_effects, clippy::as_conversions)]

pub mod chap;
pub mod discovery;
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
