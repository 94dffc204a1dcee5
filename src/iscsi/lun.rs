//! One LUN of a target as a [`Device`]: log in, check that the LUN is
//! there (REPORT LUNS) and is a disk (INQUIRY), learn its limits and
//! provisioning (VPD pages 0xB0 and 0xB2, READ CAPACITY(16)), then
//! write through the pipelined [`Session`].
//!
//! Zeroing: when READ CAPACITY(16) reports LBPME and LBPRZ (unmapped
//! blocks read as zeros) and the LBP page offers UNMAP (LBPU) or WRITE
//! SAME(16) with UNMAP (LBPWS), [`Device::zero`] deallocates the range;
//! otherwise the zeros must be written.

use super::login::{Credentials, Negotiated, Options, SessionKind};
use super::pdu::encode_lun;
use super::scsi::{self, BlockLimits, Capacity, Cdb, Inquiry, Provisioning};
use super::session::{Command, Session};
use super::url::IscsiUrl;
use super::{Error, Result};
use crate::sink::{self, Device, Zeroing};

/// What a LUN reports about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LunInfo {
    /// The LUN number.
    pub lun: u16,
    /// Standard INQUIRY data.
    pub inquiry: Inquiry,
    /// Logical block size in bytes.
    pub block_size: u32,
    /// Number of logical blocks.
    pub blocks: u64,
    /// Capacity in bytes.
    pub capacity: u64,
    /// LBPME: thin provisioning management is enabled.
    pub lbpme: bool,
    /// LBPRZ: unmapped blocks read as zeros.
    pub lbprz: bool,
    /// The Logical Block Provisioning page, when offered.
    pub provisioning: Option<Provisioning>,
    /// The Block Limits page (zeros when not offered).
    pub limits: BlockLimits,
}

impl LunInfo {
    /// Whether the LUN can deallocate ranges that then read as zeros.
    pub fn can_unmap(&self) -> bool {
        self.lbpme && self.lbprz && (self.has_unmap() || self.has_write_same())
    }

    /// UNMAP is offered: LBPU, and unless the Block Limits page is
    /// missing, a non-zero MAXIMUM UNMAP LBA COUNT and descriptor count
    /// (SBC-3 §6.6.4: zero means UNMAP is not implemented).
    pub fn has_unmap(&self) -> bool {
        let p = self.provisioning.unwrap_or_default();
        let l = &self.limits;
        p.lbpu
            && (*l == BlockLimits::default()
                || (l.max_unmap_lbas != 0 && l.max_unmap_descriptors != 0))
    }

    /// WRITE SAME(16) with UNMAP is offered (LBPWS).
    pub fn has_write_same(&self) -> bool {
        self.provisioning.is_some_and(|p| p.lbpws)
    }
}

impl std::fmt::Display for LunInfo {
    /// `LUN 1: IET VIRTUAL-DISK 0001, 64.0 MiB (131072 blocks of 512
    /// bytes), thin (UNMAP)`: one line for `iscsi discover`/`inspect`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = &self.inquiry;
        write!(
            f,
            "LUN {}: {} {} {}, {} ({} blocks of {} bytes)",
            self.lun,
            i.vendor,
            i.product,
            i.revision,
            crate::units::human(self.capacity),
            self.blocks,
            self.block_size
        )?;
        if self.can_unmap() {
            let how = if self.has_unmap() {
                "UNMAP"
            } else {
                "WRITE SAME(16) UNMAP"
            };
            write!(f, ", thin ({how})")?;
        } else if self.lbpme {
            f.write_str(", thin (unmapped blocks not zeroed)")?;
        }
        if i.protect {
            f.write_str(", protection information")?;
        }
        Ok(())
    }
}

/// Read what `lun` reports.
fn probe(s: &mut Session, lun: u16) -> Result<LunInfo> {
    let field = encode_lun(lun);
    let cmd = |cdb: Cdb, n: usize| Command {
        cdb,
        lun: field,
        data_out: None,
        data_in: n,
        range: None,
    };
    // A first command may meet a UNIT ATTENTION (power on, reset);
    // `run` retries it once.
    s.run(cmd(scsi::test_unit_ready(), 0))?;
    let raw = s.run(cmd(scsi::inquiry(None, 96), 96))?;
    let name = s.name().to_string();
    let bad = |op: &'static str, what: &str| Error::BadReply {
        target: name.clone(),
        op,
        what: what.to_string(),
    };
    let inquiry =
        Inquiry::decode(&raw).ok_or_else(|| bad("INQUIRY", "short data"))?;
    if inquiry.device_type != 0 {
        return Err(Error::NotDisk {
            target: name.clone(),
            device_type: inquiry.device_type,
        });
    }
    let pages = s.run(cmd(scsi::inquiry(Some(0x00), 255), 255))?;
    let pages = scsi::supported_pages(&pages);
    let limits = if pages.contains(&0xb0) {
        BlockLimits::decode(&s.run(cmd(scsi::inquiry(Some(0xb0), 64), 64))?)
    } else {
        BlockLimits::default()
    };
    let provisioning = if pages.contains(&0xb2) {
        Provisioning::decode(&s.run(cmd(scsi::inquiry(Some(0xb2), 64), 64))?)
    } else {
        None
    };
    let raw = s.run(cmd(scsi::read_capacity16(), 32))?;
    let cap = Capacity::decode(&raw)
        .ok_or_else(|| bad("READ CAPACITY(16)", "short data"))?;
    if cap.block_size < 512 || !cap.block_size.is_power_of_two() {
        return Err(bad(
            "READ CAPACITY(16)",
            &format!(
                "block size {} is not a power of two >= 512",
                cap.block_size
            ),
        ));
    }
    let (blocks, capacity) = cap
        .blocks()
        .zip(cap.bytes())
        .ok_or_else(|| bad("READ CAPACITY(16)", "capacity overflows"))?;
    Ok(LunInfo {
        lun,
        inquiry,
        block_size: cap.block_size,
        blocks,
        capacity,
        lbpme: cap.lbpme,
        lbprz: cap.lbprz,
        provisioning,
        limits,
    })
}

/// The LUNs REPORT LUNS lists.
fn report_luns(s: &mut Session) -> Result<Vec<u16>> {
    let alloc = 8 + 8 * 256;
    let raw = s.run(Command {
        cdb: scsi::report_luns(alloc),
        lun: encode_lun(0),
        data_out: None,
        data_in: 8 + 8 * 256,
        range: None,
    })?;
    let (mut luns, _) = scsi::decode_report_luns(&raw);
    luns.sort_unstable();
    luns.dedup();
    Ok(luns)
}

fn require_target(url: &IscsiUrl) -> Result<&str> {
    url.target.as_deref().ok_or_else(|| Error::Incomplete {
        url: url.to_string(),
        what: "no target IQN",
    })
}

/// Log in to the target of `url` and describe each of its LUNs.
pub fn list_luns(
    url: &IscsiUrl,
    creds: &Credentials,
    opts: &Options,
) -> Result<Vec<LunInfo>> {
    let target = require_target(url)?;
    let mut s = Session::connect(
        &url.host,
        url.port,
        SessionKind::Normal(target),
        &format!("{target}/list"),
        creds,
        opts,
    )?;
    let mut out = Vec::new();
    for lun in report_luns(&mut s)? {
        s.set_name(format!("{target} LUN {lun}"));
        match probe(&mut s, lun) {
            Ok(info) => out.push(info),
            // A non-disk LUN (tgt's controller at LUN 0) is not listed.
            Err(Error::NotDisk { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    s.logout()?;
    Ok(out)
}

/// A logged-in session to one LUN.
#[derive(Debug)]
pub struct Lun {
    session: Session,
    name: String,
    lun: [u8; 8],
    info: LunInfo,
}

impl Lun {
    /// Log in to the target of `url` and open its LUN.
    pub fn open(
        url: &IscsiUrl,
        creds: &Credentials,
        opts: &Options,
    ) -> Result<Lun> {
        Self::open_as(url, creds, opts, "")
    }

    /// [`Lun::open`] for reading only (`inspect`): a session of its own
    /// (another ISID), so that it never takes over, by session
    /// reinstatement, the session of a write to the same LUN.
    pub fn open_for_reading(
        url: &IscsiUrl,
        creds: &Credentials,
        opts: &Options,
    ) -> Result<Lun> {
        Self::open_as(url, creds, opts, "/read")
    }

    fn open_as(
        url: &IscsiUrl,
        creds: &Credentials,
        opts: &Options,
        role: &str,
    ) -> Result<Lun> {
        let target = require_target(url)?;
        let lun = url.lun.ok_or_else(|| Error::Incomplete {
            url: url.to_string(),
            what: "no LUN",
        })?;
        let mut session = Session::connect(
            &url.host,
            url.port,
            SessionKind::Normal(target),
            &format!("{target}/{lun}{role}"),
            creds,
            opts,
        )?;
        session.set_name(format!("{target} LUN {lun}"));
        let luns = report_luns(&mut session)?;
        if !luns.contains(&lun) {
            let _ = session.logout();
            return Err(Error::NoLun {
                target: target.to_string(),
                lun,
                available: luns,
            });
        }
        let info = match probe(&mut session, lun) {
            Ok(i) => i,
            Err(e @ Error::NotDisk { .. }) => {
                let _ = session.logout();
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        Ok(Lun {
            session,
            name: url.to_string(),
            lun: encode_lun(lun),
            info,
        })
    }

    /// What the LUN reported.
    pub fn info(&self) -> &LunInfo {
        &self.info
    }

    /// The negotiated session parameters.
    pub fn negotiated(&self) -> &Negotiated {
        self.session.negotiated()
    }

    /// Bytes of writes the target acknowledged so far.
    pub fn acked(&self) -> u64 {
        self.session.acked()
    }

    /// Commands sent and not yet answered (pipelined writes).
    pub fn in_flight(&self) -> usize {
        self.session.in_flight()
    }

    /// Wait for writes in flight, then log out.
    pub fn logout(self) -> Result<()> {
        self.session.logout()
    }

    fn check(&self, offset: u64, len: u64) -> Result<(u64, u64)> {
        let bs = u64::from(self.info.block_size);
        let end = offset.checked_add(len);
        let ok = offset.checked_rem(bs) == Some(0)
            && len.checked_rem(bs) == Some(0)
            && end.is_some_and(|e| e <= self.info.capacity);
        match (ok, end, offset.checked_div(bs)) {
            (true, Some(end), Some(lba)) => Ok((lba, end)),
            _ => Err(Error::Range {
                target: self.name.clone(),
                offset,
                len,
                block_size: self.info.block_size,
                capacity: self.info.capacity,
            }),
        }
    }

    fn blocks(&self, len: usize) -> u32 {
        let bs = usize::try_from(self.info.block_size).unwrap_or(512);
        u32::try_from(len.checked_div(bs).unwrap_or(0)).unwrap_or(u32::MAX)
    }

    /// Largest transfer per command in bytes.
    fn max_transfer(&self) -> usize {
        let bs = usize::try_from(self.info.block_size).unwrap_or(512);
        let lim = usize::try_from(self.info.limits.max_transfer)
            .unwrap_or(0)
            .saturating_mul(bs);
        let cap = 4 << 20;
        if lim == 0 {
            cap
        } else {
            lim.min(cap)
        }
    }

    fn zero_unmap(&mut self, mut lba: u64, mut blocks: u64) -> Result<()> {
        let l = &self.info.limits;
        let per_desc = u64::from(if l.max_unmap_lbas == 0 {
            0x0010_0000
        } else {
            l.max_unmap_lbas
        });
        let descs =
            usize::try_from(l.max_unmap_descriptors.clamp(1, 64)).unwrap_or(1);
        let bs = u64::from(self.info.block_size);
        while blocks > 0 {
            let mut ranges = Vec::new();
            let first = lba;
            while blocks > 0 && ranges.len() < descs {
                let n = blocks.min(per_desc).min(u64::from(u32::MAX));
                ranges.push((lba, u32::try_from(n).unwrap_or(u32::MAX)));
                lba = lba.saturating_add(n);
                blocks = blocks.saturating_sub(n);
            }
            let params = scsi::unmap_params(&ranges);
            let plen = u16::try_from(params.len()).unwrap_or(u16::MAX);
            self.session.run(Command {
                cdb: scsi::unmap(plen, first),
                lun: self.lun,
                data_out: Some(&params),
                data_in: 0,
                range: Some((first.saturating_mul(bs), lba.saturating_mul(bs))),
            })?;
        }
        Ok(())
    }

    fn zero_write_same(&mut self, mut lba: u64, mut blocks: u64) -> Result<()> {
        let l = &self.info.limits;
        let chunk = if l.max_write_same == 0 {
            0x0001_0000
        } else {
            l.max_write_same
        }
        .min(u64::from(u32::MAX));
        let bs = u64::from(self.info.block_size);
        let zeros =
            vec![0u8; usize::try_from(self.info.block_size).unwrap_or(512)];
        while blocks > 0 {
            let n = blocks.min(chunk);
            self.session.run(Command {
                cdb: scsi::write_same16_unmap(
                    lba,
                    u32::try_from(n).unwrap_or(u32::MAX),
                ),
                lun: self.lun,
                data_out: Some(&zeros),
                data_in: 0,
                range: Some((
                    lba.saturating_mul(bs),
                    lba.saturating_add(n).saturating_mul(bs),
                )),
            })?;
            lba = lba.saturating_add(n);
            blocks = blocks.saturating_sub(n);
        }
        Ok(())
    }
}

impl Device for Lun {
    fn name(&self) -> &str {
        &self.name
    }

    fn capacity(&self) -> u64 {
        self.info.capacity
    }

    fn block_size(&self) -> u32 {
        self.info.block_size
    }

    fn max_write(&self) -> usize {
        self.max_transfer()
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> sink::Result<()> {
        let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        self.check(offset, len)?;
        let max = self.max_transfer();
        let mut at = offset;
        for chunk in data.chunks(max) {
            let n = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
            let (lba, end) = self.check(at, n)?;
            let cdb = scsi::write16(lba, self.blocks(chunk.len()));
            self.session.write_pipelined(
                cdb,
                self.lun,
                chunk.to_vec(),
                (at, end),
            )?;
            at = end;
        }
        Ok(())
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> sink::Result<()> {
        let len = u64::try_from(buf.len()).unwrap_or(u64::MAX);
        self.check(offset, len)?;
        let max = self.max_transfer();
        let mut at = offset;
        for chunk in buf.chunks_mut(max) {
            let n = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
            let (lba, end) = self.check(at, n)?;
            let data = self.session.run(Command {
                cdb: scsi::read16(lba, self.blocks(chunk.len())),
                lun: self.lun,
                data_out: None,
                data_in: chunk.len(),
                range: Some((at, end)),
            })?;
            if data.len() != chunk.len() {
                return Err(Error::BadReply {
                    target: self.name.clone(),
                    op: "READ(16)",
                    what: format!(
                        "{} bytes returned of {} at LBA {lba}",
                        data.len(),
                        chunk.len()
                    ),
                }
                .into());
            }
            chunk.copy_from_slice(&data);
            at = end;
        }
        Ok(())
    }

    fn zeroing(&self) -> Zeroing {
        if self.info.can_unmap() {
            Zeroing::Unmap
        } else {
            Zeroing::Write
        }
    }

    fn zero(&mut self, offset: u64, len: u64) -> sink::Result<()> {
        let (lba, _) = self.check(offset, len)?;
        let blocks = len
            .checked_div(u64::from(self.info.block_size))
            .unwrap_or(0);
        if blocks == 0 {
            return Ok(());
        }
        if self.info.has_unmap() && self.info.can_unmap() {
            self.zero_unmap(lba, blocks)?;
        } else if self.info.has_write_same() && self.info.can_unmap() {
            self.zero_write_same(lba, blocks)?;
        } else {
            let max = self.max_transfer();
            let zeros = vec![0u8; max];
            let mut at = offset;
            let end = offset.saturating_add(len);
            while at < end {
                let n = usize::try_from(end.saturating_sub(at))
                    .unwrap_or(max)
                    .min(max);
                self.write(at, zeros.get(..n).unwrap_or_default())?;
                at = at.saturating_add(u64::try_from(n).unwrap_or(0));
            }
        }
        Ok(())
    }

    fn sync(&mut self) -> sink::Result<()> {
        self.session.drain()?;
        self.session.run(Command {
            cdb: scsi::synchronize_cache10(),
            lun: self.lun,
            data_out: None,
            data_in: 0,
            range: None,
        })?;
        Ok(())
    }

    fn close(self: Box<Self>) -> sink::Result<Vec<String>> {
        self.session.logout()?;
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_line() {
        let mut info = LunInfo {
            lun: 1,
            inquiry: Inquiry {
                vendor: "IET".into(),
                product: "VIRTUAL-DISK".into(),
                revision: "0001".into(),
                ..Inquiry::default()
            },
            block_size: 512,
            blocks: 131_072,
            capacity: 64 << 20,
            lbpme: true,
            lbprz: true,
            provisioning: Some(Provisioning {
                lbpu: true,
                lbpws: true,
                lbprz: true,
                provisioning_type: 2,
            }),
            limits: BlockLimits::default(),
        };
        assert!(info.can_unmap());
        assert_eq!(
            info.to_string(),
            "LUN 1: IET VIRTUAL-DISK 0001, 64.0 MiB (131072 blocks of 512 \
             bytes), thin (UNMAP)"
        );
        // A Block Limits page that says UNMAP is not implemented leaves
        // WRITE SAME(16) UNMAP.
        info.limits.max_transfer = 8;
        assert!(!info.has_unmap() && info.can_unmap());
        assert!(info.to_string().ends_with("thin (WRITE SAME(16) UNMAP)"));
        info.lbprz = false;
        assert!(!info.can_unmap());
        assert!(info
            .to_string()
            .ends_with("thin (unmapped blocks not zeroed)"));
    }
}
