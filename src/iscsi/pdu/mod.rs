//! iSCSI PDUs (RFC 7143 §11): the 48-byte Basic Header Segment, the
//! Additional Header Segments that follow it (skipped here: none of the
//! PDUs this initiator uses needs one), the data segment padded to a
//! multiple of 4 bytes, and the optional CRC32C header and data digests
//! (§13.1, Appendix B.4).
//!
//! One file per PDU type holds its record with `encode`/`decode`, its
//! fields named after RFC 7143 and placed at the offsets of §11. The
//! reader here never trusts a length before checking it: the data
//! segment may not exceed the MaxRecvDataSegmentLength this side
//! declared (and never [`MAX_DATA_SEGMENT`]), so a hostile target cannot
//! make it allocate more than that for one PDU.

use std::io::{self, Read, Write};

pub mod async_msg;
pub mod data;
pub mod login;
pub mod logout;
pub mod nop;
pub mod r2t;
pub mod reject;
pub mod scsi_cmd;
pub mod scsi_rsp;
pub mod text;

/// Length of the Basic Header Segment.
pub const BHS_LEN: usize = 48;
/// The reserved tag value `0xffffffff` (RFC 7143 §11.2.1.8): "no task"
/// as an ITT, "no reply wanted" as a TTT.
pub const NO_TAG: u32 = 0xffff_ffff;
/// The largest data segment read whatever was declared: the 24-bit
/// DataSegmentLength allows 16 MiB; RFC 7143 §13.12 caps
/// MaxRecvDataSegmentLength at 2^24 - 1.
pub const MAX_DATA_SEGMENT: u32 = (1 << 24) - 1;

/// What went wrong reading or checking one PDU.
#[derive(Debug, thiserror::Error)]
pub enum PduError {
    /// The socket failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being read or written.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
    /// Nothing arrived within the read timeout.
    #[error(
        "no reply within the {secs}-second timeout while reading the {what}"
    )]
    Timeout {
        /// Which part of a PDU was awaited.
        what: &'static str,
        /// The timeout.
        secs: u64,
    },
    /// The connection ended in the middle of (or before) a PDU.
    #[error(
        "the target closed the connection after {got} of {want} bytes of \
         the {what}"
    )]
    Closed {
        /// Which part of the PDU.
        what: &'static str,
        /// Bytes received.
        got: usize,
        /// Bytes expected.
        want: usize,
    },
    /// DataSegmentLength exceeds what this side declared it accepts.
    #[error(
        "{opcode} PDU announces a {len}-byte data segment; at most {max} \
         bytes were declared acceptable"
    )]
    DataTooLong {
        /// The PDU's opcode.
        opcode: Opcode,
        /// DataSegmentLength.
        len: u32,
        /// The limit.
        max: u32,
    },
    /// The header digest does not match.
    #[error(
        "{opcode} PDU header digest mismatch: computed {computed:#010x}, \
         received {received:#010x}"
    )]
    HeaderDigest {
        /// The PDU's opcode (as read, possibly corrupt).
        opcode: Opcode,
        /// CRC32C of the received header.
        computed: u32,
        /// The digest on the wire.
        received: u32,
    },
    /// The data digest does not match.
    #[error(
        "{opcode} PDU data digest mismatch: computed {computed:#010x}, \
         received {received:#010x}"
    )]
    DataDigest {
        /// The PDU's opcode.
        opcode: Opcode,
        /// CRC32C of the received data and padding.
        computed: u32,
        /// The digest on the wire.
        received: u32,
    },
    /// An opcode a target may not send.
    #[error("unknown or initiator-only opcode {0:#04x} from the target")]
    UnknownOpcode(u8),
    /// Fields that contradict each other or the exchange.
    #[error("{opcode} PDU: {what}")]
    Inconsistent {
        /// The PDU's opcode.
        opcode: Opcode,
        /// What is wrong.
        what: String,
    },
}

/// PDU opcodes (RFC 7143 §11.2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// 0x00.
    NopOut,
    /// 0x01.
    ScsiCommand,
    /// 0x02.
    TaskMgmtRequest,
    /// 0x03.
    LoginRequest,
    /// 0x04.
    TextRequest,
    /// 0x05.
    DataOut,
    /// 0x06.
    LogoutRequest,
    /// 0x10.
    Snack,
    /// 0x20.
    NopIn,
    /// 0x21.
    ScsiResponse,
    /// 0x22.
    TaskMgmtResponse,
    /// 0x23.
    LoginResponse,
    /// 0x24.
    TextResponse,
    /// 0x25.
    DataIn,
    /// 0x26.
    LogoutResponse,
    /// 0x31.
    ReadyToTransfer,
    /// 0x32.
    AsyncMessage,
    /// 0x3f.
    Reject,
    /// Any other value (only ever from a corrupt header).
    Other(u8),
}

impl Opcode {
    /// The 6-bit code.
    pub fn code(self) -> u8 {
        match self {
            Opcode::NopOut => 0x00,
            Opcode::ScsiCommand => 0x01,
            Opcode::TaskMgmtRequest => 0x02,
            Opcode::LoginRequest => 0x03,
            Opcode::TextRequest => 0x04,
            Opcode::DataOut => 0x05,
            Opcode::LogoutRequest => 0x06,
            Opcode::Snack => 0x10,
            Opcode::NopIn => 0x20,
            Opcode::ScsiResponse => 0x21,
            Opcode::TaskMgmtResponse => 0x22,
            Opcode::LoginResponse => 0x23,
            Opcode::TextResponse => 0x24,
            Opcode::DataIn => 0x25,
            Opcode::LogoutResponse => 0x26,
            Opcode::ReadyToTransfer => 0x31,
            Opcode::AsyncMessage => 0x32,
            Opcode::Reject => 0x3f,
            Opcode::Other(c) => c & 0x3f,
        }
    }

    /// The opcode of a 6-bit code.
    pub fn from_code(c: u8) -> Opcode {
        match c & 0x3f {
            0x00 => Opcode::NopOut,
            0x01 => Opcode::ScsiCommand,
            0x02 => Opcode::TaskMgmtRequest,
            0x03 => Opcode::LoginRequest,
            0x04 => Opcode::TextRequest,
            0x05 => Opcode::DataOut,
            0x06 => Opcode::LogoutRequest,
            0x10 => Opcode::Snack,
            0x20 => Opcode::NopIn,
            0x21 => Opcode::ScsiResponse,
            0x22 => Opcode::TaskMgmtResponse,
            0x23 => Opcode::LoginResponse,
            0x24 => Opcode::TextResponse,
            0x25 => Opcode::DataIn,
            0x26 => Opcode::LogoutResponse,
            0x31 => Opcode::ReadyToTransfer,
            0x32 => Opcode::AsyncMessage,
            0x3f => Opcode::Reject,
            other => Opcode::Other(other),
        }
    }

    /// Whether a target sends this opcode.
    pub fn is_target(self) -> bool {
        matches!(
            self,
            Opcode::NopIn
                | Opcode::ScsiResponse
                | Opcode::TaskMgmtResponse
                | Opcode::LoginResponse
                | Opcode::TextResponse
                | Opcode::DataIn
                | Opcode::LogoutResponse
                | Opcode::ReadyToTransfer
                | Opcode::AsyncMessage
                | Opcode::Reject
        )
    }
}

impl std::fmt::Display for Opcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Opcode::NopOut => "NOP-Out",
            Opcode::ScsiCommand => "SCSI Command",
            Opcode::TaskMgmtRequest => "Task Management Request",
            Opcode::LoginRequest => "Login Request",
            Opcode::TextRequest => "Text Request",
            Opcode::DataOut => "SCSI Data-Out",
            Opcode::LogoutRequest => "Logout Request",
            Opcode::Snack => "SNACK",
            Opcode::NopIn => "NOP-In",
            Opcode::ScsiResponse => "SCSI Response",
            Opcode::TaskMgmtResponse => "Task Management Response",
            Opcode::LoginResponse => "Login Response",
            Opcode::TextResponse => "Text Response",
            Opcode::DataIn => "SCSI Data-In",
            Opcode::LogoutResponse => "Logout Response",
            Opcode::ReadyToTransfer => "R2T",
            Opcode::AsyncMessage => "Asynchronous Message",
            Opcode::Reject => "Reject",
            Opcode::Other(c) => return write!(f, "opcode {c:#04x}"),
        };
        f.write_str(name)
    }
}

/// A Basic Header Segment with typed access to the fields every PDU
/// shares (RFC 7143 §11.2.1).
#[derive(Clone, PartialEq, Eq)]
pub struct Bhs(pub [u8; BHS_LEN]);

impl std::fmt::Debug for Bhs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bhs({} {})", self.opcode(), hex::encode(self.0))
    }
}

impl Bhs {
    /// A header of zeros with `opcode` and the Immediate bit.
    pub fn new(opcode: Opcode, immediate: bool) -> Bhs {
        let mut b = [0u8; BHS_LEN];
        b[0x00] = opcode.code() | if immediate { 0x40 } else { 0 };
        Bhs(b)
    }

    /// Byte 0, bits 0-5.
    pub fn opcode(&self) -> Opcode {
        Opcode::from_code(self.0[0x00])
    }

    /// Byte 0, bit 6: the Immediate delivery bit.
    pub fn immediate(&self) -> bool {
        self.0[0x00] & 0x40 != 0
    }

    /// Byte 1: the opcode-specific flags (bit 7 is Final for most).
    pub fn flags(&self) -> u8 {
        self.0[0x01]
    }

    /// Byte 4: TotalAHSLength in 4-byte words.
    pub fn total_ahs_len(&self) -> u8 {
        self.0[0x04]
    }

    /// Bytes 5-7: DataSegmentLength.
    pub fn data_segment_len(&self) -> u32 {
        u32::from_be_bytes([0, self.0[0x05], self.0[0x06], self.0[0x07]])
    }

    /// Set DataSegmentLength (at most 2^24 - 1, else `None`).
    pub fn set_data_segment_len(&mut self, len: usize) -> Option<()> {
        let len = u32::try_from(len).ok().filter(|l| *l <= MAX_DATA_SEGMENT)?;
        let b = len.to_be_bytes();
        self.0[0x05..0x08].copy_from_slice(&b[1..4]);
        Some(())
    }

    /// Bytes 16-19: Initiator Task Tag.
    pub fn itt(&self) -> u32 {
        self.u32(0x10)
    }

    /// The big-endian 32-bit field at `off`.
    ///
    /// # Panics
    ///
    /// When `off + 4` passes the header (offsets are constants).
    #[track_caller]
    pub fn u32(&self, off: usize) -> u32 {
        let mut a = [0u8; 4];
        a.copy_from_slice(&self.0[off..][..4]);
        u32::from_be_bytes(a)
    }

    /// The big-endian 16-bit field at `off`.
    ///
    /// # Panics
    ///
    /// When `off + 2` passes the header (offsets are constants).
    #[track_caller]
    pub fn u16(&self, off: usize) -> u16 {
        u16::from_be_bytes([self.0[off], self.0[off..][1]])
    }

    /// The big-endian 64-bit field at `off`.
    ///
    /// # Panics
    ///
    /// When `off + 8` passes the header (offsets are constants).
    #[track_caller]
    pub fn u64(&self, off: usize) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&self.0[off..][..8]);
        u64::from_be_bytes(a)
    }

    /// Store a big-endian 32-bit field at `off`.
    ///
    /// # Panics
    ///
    /// When `off + 4` passes the header (offsets are constants).
    #[track_caller]
    pub fn put_u32(&mut self, off: usize, v: u32) {
        self.0[off..][..4].copy_from_slice(&v.to_be_bytes());
    }

    /// Store a big-endian 16-bit field at `off`.
    ///
    /// # Panics
    ///
    /// When `off + 2` passes the header (offsets are constants).
    #[track_caller]
    pub fn put_u16(&mut self, off: usize, v: u16) {
        self.0[off..][..2].copy_from_slice(&v.to_be_bytes());
    }

    /// Store a big-endian 64-bit field at `off`.
    ///
    /// # Panics
    ///
    /// When `off + 8` passes the header (offsets are constants).
    #[track_caller]
    pub fn put_u64(&mut self, off: usize, v: u64) {
        self.0[off..][..8].copy_from_slice(&v.to_be_bytes());
    }

    /// Fail with [`PduError::Inconsistent`] unless this header has
    /// `opcode`.
    pub fn expect(&self, opcode: Opcode) -> Result<(), PduError> {
        if self.opcode() == opcode {
            Ok(())
        } else {
            Err(PduError::Inconsistent {
                opcode: self.opcode(),
                what: format!("expected a {opcode} PDU"),
            })
        }
    }
}

/// The 8-byte LUN field (SAM-5 §4.7): peripheral device addressing for
/// LUNs below 256, flat space addressing up to 16383.
pub fn encode_lun(lun: u16) -> [u8; 8] {
    let [hi, lo] = lun.to_be_bytes();
    let mut out = [0u8; 8];
    if hi == 0 {
        out[1] = lo;
    } else {
        out[0] = 0x40 | (hi & 0x3f);
        out[1] = lo;
    }
    out
}

/// The LUN number of an 8-byte LUN field in peripheral or flat space
/// addressing; `None` for other address methods.
pub fn decode_lun(b: [u8; 8]) -> Option<u16> {
    match b[0] >> 6 {
        0b00 if b[0] == 0 => Some(u16::from(b[1])),
        0b01 => Some(u16::from_be_bytes([b[0] & 0x3f, b[1]])),
        _ => None,
    }
}

/// Which digests are in use on a connection (negotiated at login).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Digests {
    /// HeaderDigest=CRC32C.
    pub header: bool,
    /// DataDigest=CRC32C.
    pub data: bool,
}

/// CRC32C as iSCSI computes it (RFC 7143 §13.1, Appendix B.4 of
/// RFC 3720): sent as its 4 bytes least significant first.
pub fn crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// Zero bytes that pad a `len`-byte segment to a multiple of 4.
pub fn pad_len(len: usize) -> usize {
    match len % 4 {
        0 => 0,
        r => 4usize.saturating_sub(r),
    }
}

/// A received PDU: its header and its data segment without padding.
#[derive(Debug, Clone)]
pub struct Pdu {
    /// The Basic Header Segment.
    pub bhs: Bhs,
    /// The data segment.
    pub data: Vec<u8>,
}

/// Send one PDU: header, header digest, data, padding, data digest.
pub fn write_pdu(
    w: &mut impl Write,
    bhs: &Bhs,
    data: &[u8],
    digests: Digests,
) -> Result<(), PduError> {
    let mut bhs = bhs.clone();
    bhs.set_data_segment_len(data.len()).ok_or_else(|| {
        PduError::Inconsistent {
            opcode: bhs.opcode(),
            what: format!("data segment of {} bytes is too long", data.len()),
        }
    })?;
    let io = |source| PduError::Io {
        what: "sending a PDU",
        source,
    };
    let mut head = [0u8; BHS_LEN + 4];
    head[..BHS_LEN].copy_from_slice(&bhs.0);
    let head_len = if digests.header {
        head[BHS_LEN..].copy_from_slice(&crc32c(&bhs.0).to_le_bytes());
        BHS_LEN + 4
    } else {
        BHS_LEN
    };
    // Written in pieces: the connection's writer buffers them.
    w.write_all(&head[..head_len]).map_err(io)?;
    if data.is_empty() {
        return Ok(());
    }
    w.write_all(data).map_err(io)?;
    let pad = &[0u8; 3][..pad_len(data.len())];
    let mut tail = [0u8; 7];
    tail[..pad.len()].copy_from_slice(pad);
    let mut tail_len = pad.len();
    if digests.data {
        let crc = crc32c::crc32c_append(crc32c(data), pad);
        tail[tail_len..][..4].copy_from_slice(&crc.to_le_bytes());
        tail_len = tail_len.saturating_add(4);
    }
    w.write_all(&tail[..tail_len]).map_err(io)?;
    Ok(())
}

/// Read until `buf` is full; a clean end of stream is
/// [`PduError::Closed`], a timeout [`PduError::Timeout`].
fn read_full(
    r: &mut impl Read,
    buf: &mut [u8],
    what: &'static str,
    timeout_secs: u64,
) -> Result<(), PduError> {
    let mut got = 0usize;
    while got < buf.len() {
        let rest = buf.get_mut(got..).unwrap_or_default();
        match r.read(rest) {
            Ok(0) => {
                return Err(PduError::Closed {
                    what,
                    got,
                    want: buf.len(),
                })
            }
            Ok(n) => got = got.saturating_add(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(PduError::Timeout {
                    what,
                    secs: timeout_secs,
                })
            }
            Err(source) => return Err(PduError::Io { what, source }),
        }
    }
    Ok(())
}

/// Check that the Additional Header Segments fill their space exactly
/// (RFC 7143 §11.2.2: each is AHSLength (2 bytes), AHSType, one
/// specific byte, then AHSLength - 1 more bytes, padded to 4). Their
/// contents are not used: no target PDU this initiator reads needs one.
fn check_ahs(opcode: Opcode, mut ahs: &[u8]) -> Result<(), PduError> {
    while !ahs.is_empty() {
        let bad = || PduError::Inconsistent {
            opcode,
            what: "additional header segments do not fit their length".into(),
        };
        let len = ahs.get(..2).ok_or_else(bad)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        // AHSLength counts from the specific byte (offset 3) on.
        let body = len.checked_add(3).ok_or_else(bad)?;
        let padded = body.checked_add(pad_len(body)).ok_or_else(bad)?;
        ahs = ahs.get(padded..).ok_or_else(bad)?;
    }
    Ok(())
}

/// Read one PDU from a target. `max_data` is the
/// MaxRecvDataSegmentLength this side declared; `timeout_secs` only
/// names the read timeout in errors.
pub fn read_pdu(
    r: &mut impl Read,
    max_data: u32,
    digests: Digests,
    timeout_secs: u64,
) -> Result<Pdu, PduError> {
    let mut bhs = Bhs([0u8; BHS_LEN]);
    read_full(r, &mut bhs.0, "PDU header", timeout_secs)?;
    let opcode = bhs.opcode();
    let mut ahs = [0u8; 255 * 4];
    let ahs_len = usize::from(bhs.total_ahs_len()).saturating_mul(4);
    let ahs = &mut ahs[..ahs_len];
    read_full(r, ahs, "additional header segment", timeout_secs)?;
    if digests.header {
        let mut d = [0u8; 4];
        read_full(r, &mut d, "header digest", timeout_secs)?;
        let received = u32::from_le_bytes(d);
        let computed = crc32c::crc32c_append(crc32c(&bhs.0), ahs);
        if computed != received {
            return Err(PduError::HeaderDigest {
                opcode,
                computed,
                received,
            });
        }
    }
    if !opcode.is_target() {
        return Err(PduError::UnknownOpcode(opcode.code()));
    }
    check_ahs(opcode, ahs)?;
    let len = bhs.data_segment_len();
    let max = max_data.min(MAX_DATA_SEGMENT);
    if len > max {
        return Err(PduError::DataTooLong { opcode, len, max });
    }
    let len = usize::try_from(len).map_err(|_| PduError::DataTooLong {
        opcode,
        len,
        max,
    })?;
    let padded = len.saturating_add(pad_len(len));
    let mut data = vec![0u8; padded];
    read_full(r, &mut data, "data segment", timeout_secs)?;
    if digests.data && len > 0 {
        let mut d = [0u8; 4];
        read_full(r, &mut d, "data digest", timeout_secs)?;
        let received = u32::from_le_bytes(d);
        let computed = crc32c(&data);
        if computed != received {
            return Err(PduError::DataDigest {
                opcode,
                computed,
                received,
            });
        }
    }
    data.truncate(len);
    Ok(Pdu { bhs, data })
}

/// Serial number arithmetic (RFC 1982, RFC 7143 §4.2.2.1): whether
/// `a` comes before `b` in 32-bit sequence space.
pub fn sn_lt(a: u32, b: u32) -> bool {
    a != b && b.wrapping_sub(a) < (1 << 31)
}

/// `a <= b` in serial number arithmetic.
pub fn sn_le(a: u32, b: u32) -> bool {
    a == b || sn_lt(a, b)
}

#[cfg(test)]
mod tests;
