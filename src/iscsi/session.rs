//! A logged-in session on one connection (RFC 7143 §3.2, §4.2): SCSI
//! commands with their Initiator Task Tags, CmdSN within the target's
//! window (`CmdSN <= MaxCmdSN`, serial arithmetic, §4.2.2.1) and
//! ExpStatSN acknowledging every status received.
//!
//! Writes are pipelined: a write is sent and not waited for, until the
//! window, [`Options::max_in_flight_commands`] or
//! [`Options::max_in_flight_bytes`] is full. Each write carries
//! immediate data (up to FirstBurstLength and the target's
//! MaxRecvDataSegmentLength, when ImmediateData=Yes), then unsolicited
//! Data-Out up to FirstBurstLength (when InitialR2T=No); the rest goes
//! in answer to R2Ts (§11.8), each Data-Out sequence within the R2T's
//! range and the target's MaxRecvDataSegmentLength, with DataSN from 0
//! (§11.7). A command whose byte range overlaps one in flight waits
//! for it, so nothing overtakes. Reads take Data-In with status in the
//! last PDU or in a SCSI Response. NOP-In pings are answered; Reject
//! and Asynchronous Messages that end the session become errors.
//!
//! Any failure ends the session (ErrorRecoveryLevel 0): the error says
//! how many bytes of writes the target had acknowledged.

use std::collections::BTreeMap;

use super::conn::Conn;
use super::login::{self, Credentials, Negotiated, Options, SessionKind};
use super::pdu::async_msg::AsyncMessage;
use super::pdu::data::{DataIn, DataOut};
use super::pdu::logout::{LogoutRequest, LogoutResponse};
use super::pdu::nop::{NopIn, NopOut};
use super::pdu::r2t::R2t;
use super::pdu::reject::{self, Reject};
use super::pdu::scsi_cmd::ScsiCommand;
use super::pdu::scsi_rsp::{sense_of, ScsiResponse};
use super::pdu::text::{TextRequest, TextResponse};
use super::pdu::{sn_le, sn_lt, Bhs, Opcode, Pdu, PduError, NO_TAG};
use super::scsi::Cdb;
use super::sense::{Sense, STATUS_CHECK_CONDITION, STATUS_GOOD};
use super::text::{TextList, MAX_TEXT};
use super::{Error, Result};

/// Data direction of a command.
#[derive(Debug)]
enum Dir {
    None,
    Write(Vec<u8>),
    Read { buf: Vec<u8>, got: usize },
}

/// How a command ended.
#[derive(Debug)]
enum Outcome {
    Good(Vec<u8>),
    Failed(Error),
}

#[derive(Debug)]
struct Task {
    cdb: Cdb,
    lun: [u8; 8],
    dir: Dir,
    /// Byte range on the LUN, for overlap checks.
    range: Option<(u64, u64)>,
    /// The waiter's ticket; `None` for a pipelined write whose failure
    /// is fatal at once and whose success is only counted.
    ticket: Option<u64>,
    retried: bool,
    /// Bytes counted in `Session::in_flight_bytes` for this task (the
    /// read buffer is handed over before the task is retired).
    charged: usize,
}

impl Task {
    fn len(&self) -> usize {
        match &self.dir {
            Dir::None => 0,
            Dir::Write(d) => d.len(),
            Dir::Read { buf, .. } => buf.len(),
        }
    }
}

/// A logged-in session.
pub struct Session {
    conn: Conn,
    neg: Negotiated,
    opts: Options,
    /// "IQN" or "IQN/LUN", for messages.
    name: String,
    next_itt: u32,
    next_ticket: u64,
    cmd_sn: u32,
    exp_stat_sn: u32,
    max_cmd_sn: u32,
    tasks: BTreeMap<u32, Task>,
    finished: BTreeMap<u64, Outcome>,
    in_flight_bytes: usize,
    acked: u64,
    broken: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Session({} at {})", self.name, self.conn.portal)
    }
}

/// A command to run and wait for.
#[derive(Debug)]
pub struct Command<'a> {
    /// The CDB.
    pub cdb: Cdb,
    /// The LUN field.
    pub lun: [u8; 8],
    /// Data to send.
    pub data_out: Option<&'a [u8]>,
    /// Bytes expected back.
    pub data_in: usize,
    /// Byte range of the LUN it touches (waits for overlapping writes).
    pub range: Option<(u64, u64)>,
}

impl Session {
    /// Connect to `host:port` and log in.
    pub fn connect(
        host: &str,
        port: u16,
        kind: SessionKind<'_>,
        isid_key: &str,
        creds: &Credentials,
        opts: &Options,
    ) -> Result<Session> {
        let mut conn =
            Conn::connect(host, port, opts.connect_timeout, opts.io_timeout)?;
        let isid = login::isid_for(&opts.initiator_name, isid_key);
        let neg = match login::login(&mut conn, kind, creds, opts, isid) {
            Ok(n) => n,
            Err(e) => {
                conn.shutdown();
                return Err(e);
            }
        };
        let name = match kind {
            SessionKind::Normal(t) => t.to_string(),
            SessionKind::Discovery => "discovery session".into(),
        };
        Ok(Session {
            conn,
            cmd_sn: neg.cmd_sn,
            exp_stat_sn: neg.exp_stat_sn,
            max_cmd_sn: neg.max_cmd_sn,
            neg,
            opts: opts.clone(),
            name,
            next_itt: 1,
            next_ticket: 0,
            tasks: BTreeMap::new(),
            finished: BTreeMap::new(),
            in_flight_bytes: 0,
            acked: 0,
            broken: None,
        })
    }

    /// The negotiated parameters.
    pub fn negotiated(&self) -> &Negotiated {
        &self.neg
    }

    /// `host:port` of the connection.
    pub fn portal(&self) -> &str {
        &self.conn.portal
    }

    /// The name used in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Set the name used in messages (e.g. `IQN LUN n`).
    pub fn set_name(&mut self, name: String) {
        self.name = name;
    }

    /// Bytes of writes the target has acknowledged.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Commands in flight.
    pub fn in_flight(&self) -> usize {
        self.tasks.len()
    }

    /// Bytes of the commands in flight.
    pub fn in_flight_bytes(&self) -> usize {
        self.in_flight_bytes
    }

    fn lost(&self, source: PduError) -> Error {
        Error::Lost {
            portal: self.conn.portal.clone(),
            target: self.name.clone(),
            acked: self.acked,
            in_flight: self.tasks.len(),
            source,
        }
    }

    fn protocol(&self, what: String) -> Error {
        Error::Protocol {
            portal: self.conn.portal.clone(),
            target: self.name.clone(),
            what,
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        if self.broken.is_none() {
            self.broken = Some(e.to_string());
            self.conn.shutdown();
        }
        e
    }

    fn check_usable(&self) -> Result<()> {
        match &self.broken {
            Some(b) => Err(self.protocol(format!(
                "use of a session that already failed ({b})"
            ))),
            None => Ok(()),
        }
    }

    /// Answer a NOP-In that asks for it (a target's ping carries a
    /// target transfer tag) with a NOP-Out echoing the tag; queued.
    fn answer_nop(&mut self, n: &NopIn) -> Result<()> {
        if n.ttt == NO_TAG {
            return Ok(());
        }
        let out = NopOut {
            lun: n.lun,
            itt: NO_TAG,
            ttt: n.ttt,
            cmd_sn: self.cmd_sn,
            exp_stat_sn: self.exp_stat_sn,
        };
        self.send(&out.encode(), &[])
    }

    fn send(&mut self, bhs: &Bhs, data: &[u8]) -> Result<()> {
        self.conn.send(bhs, data).map_err(|e| self.lost(e))
    }

    fn alloc_itt(&mut self) -> u32 {
        loop {
            let itt = self.next_itt;
            self.next_itt = self.next_itt.wrapping_add(1);
            if itt != NO_TAG && !self.tasks.contains_key(&itt) {
                return itt;
            }
        }
    }

    /// Take the window and sequence numbers of a target PDU.
    fn window(&mut self, exp_cmd_sn: u32, max_cmd_sn: u32) {
        // §4.2.2.1: ignore a MaxCmdSN below ExpCmdSN - 1.
        if sn_le(exp_cmd_sn.wrapping_sub(1), max_cmd_sn)
            && sn_lt(self.max_cmd_sn, max_cmd_sn)
        {
            self.max_cmd_sn = max_cmd_sn;
        }
    }

    fn status_sn(&mut self, stat_sn: u32) {
        let next = stat_sn.wrapping_add(1);
        if sn_lt(self.exp_stat_sn, next) {
            self.exp_stat_sn = next;
        }
    }

    fn window_open(&self) -> bool {
        sn_le(self.cmd_sn, self.max_cmd_sn)
    }

    fn overlaps(&self, r: (u64, u64)) -> bool {
        self.tasks
            .values()
            .any(|t| t.range.is_some_and(|(s, e)| s < r.1 && r.0 < e))
    }

    /// Wait until a command of `len` bytes over `range` may be sent.
    fn wait_to_issue(
        &mut self,
        len: usize,
        range: Option<(u64, u64)>,
    ) -> Result<()> {
        loop {
            let busy = !self.window_open()
                || self.tasks.len() >= self.opts.max_in_flight_commands.max(1)
                || (!self.tasks.is_empty()
                    && self.in_flight_bytes.saturating_add(len)
                        > self.opts.max_in_flight_bytes)
                || range.is_some_and(|r| self.overlaps(r));
            if !busy {
                return Ok(());
            }
            // With nothing in flight only the target can open a closed
            // window (by a NOP-In); the read timeout bounds the wait.
            self.pump()?;
        }
    }

    /// Wait for room, then send a command.
    fn issue(&mut self, task: Task) -> Result<()> {
        self.check_usable()?;
        self.wait_to_issue(task.len(), task.range)?;
        self.send_command(task).map_err(|e| self.fail(e))
    }

    /// Send a command now, with its immediate and unsolicited data.
    fn send_command(&mut self, mut task: Task) -> Result<()> {
        let len = task.len();
        let itt = self.alloc_itt();
        let expected_len = u32::try_from(len)
            .map_err(|_| self.protocol(format!("a {len}-byte transfer")))?;
        let mrdsl = usize::try_from(self.neg.target_max_recv).unwrap_or(8192);
        let first = usize::try_from(self.neg.first_burst).unwrap_or(65536);
        let (read, write, immediate, unsolicited) = match &task.dir {
            Dir::None => (false, false, 0, 0),
            Dir::Read { .. } => (true, false, 0, 0),
            Dir::Write(d) => {
                let imm = if self.neg.immediate_data {
                    d.len().min(first).min(mrdsl)
                } else {
                    0
                };
                let unsol = if self.neg.initial_r2t {
                    imm
                } else {
                    d.len().min(first)
                };
                (false, true, imm, unsol)
            }
        };
        let cmd = ScsiCommand {
            immediate: false,
            fin: unsolicited == immediate,
            read,
            write,
            lun: task.lun,
            itt,
            expected_len,
            cmd_sn: self.cmd_sn,
            exp_stat_sn: self.exp_stat_sn,
            cdb: task.cdb.bytes,
        };
        self.cmd_sn = self.cmd_sn.wrapping_add(1);
        let data: &[u8] = match &task.dir {
            Dir::Write(d) => d,
            _ => &[],
        };
        let imm = data.get(..immediate).unwrap_or_default();
        self.conn
            .send(&cmd.encode(), imm)
            .map_err(|e| self.lost(e))?;
        if unsolicited > immediate {
            let unsol = data.get(..unsolicited).unwrap_or_default();
            self.send_data_out(itt, task.lun, NO_TAG, unsol, immediate)?;
        }
        self.in_flight_bytes = self.in_flight_bytes.saturating_add(len);
        task.charged = len;
        self.tasks.insert(itt, task);
        Ok(())
    }

    /// Send `data[from..]` as one Data-Out sequence (buffer offsets
    /// from `from`), in PDUs within the target's receive limit.
    fn send_data_out(
        &mut self,
        itt: u32,
        lun: [u8; 8],
        ttt: u32,
        data: &[u8],
        from: usize,
    ) -> Result<()> {
        let mrdsl = usize::try_from(self.neg.target_max_recv)
            .unwrap_or(8192)
            .max(512);
        let mut at = from;
        let mut data_sn = 0u32;
        while at < data.len() {
            let end = at.saturating_add(mrdsl).min(data.len());
            let offset = u32::try_from(at)
                .map_err(|_| self.protocol(format!("buffer offset {at}")))?;
            let out = DataOut {
                fin: end == data.len(),
                lun,
                itt,
                ttt,
                exp_stat_sn: self.exp_stat_sn,
                data_sn,
                offset,
            };
            let chunk = data.get(at..end).unwrap_or_default();
            self.conn
                .send(&out.encode(), chunk)
                .map_err(|e| self.lost(e))?;
            data_sn = data_sn.wrapping_add(1);
            at = end;
        }
        Ok(())
    }

    /// Read and handle one PDU from the target.
    fn pump(&mut self) -> Result<()> {
        self.check_usable()?;
        let r = self.pump_inner();
        r.map_err(|e| self.fail(e))
    }

    fn pump_inner(&mut self) -> Result<()> {
        let pdu = self.conn.recv().map_err(|e| self.lost(e))?;
        match pdu.bhs.opcode() {
            Opcode::ScsiResponse => {
                let r =
                    ScsiResponse::decode(&pdu.bhs).map_err(|e| self.lost(e))?;
                self.status_sn(r.stat_sn);
                self.window(r.exp_cmd_sn, r.max_cmd_sn);
                self.on_response(r, &pdu)
            }
            Opcode::DataIn => {
                let d = DataIn::decode(&pdu.bhs).map_err(|e| self.lost(e))?;
                self.window(d.exp_cmd_sn, d.max_cmd_sn);
                if d.has_status {
                    self.status_sn(d.stat_sn);
                }
                self.on_data_in(d, pdu.data)
            }
            Opcode::ReadyToTransfer => {
                let r = R2t::decode(&pdu.bhs).map_err(|e| self.lost(e))?;
                self.window(r.exp_cmd_sn, r.max_cmd_sn);
                self.on_r2t(r)
            }
            Opcode::NopIn => {
                let n = NopIn::decode(&pdu.bhs).map_err(|e| self.lost(e))?;
                self.window(n.exp_cmd_sn, n.max_cmd_sn);
                if n.itt != NO_TAG {
                    self.status_sn(n.stat_sn);
                }
                self.answer_nop(&n)?;
                self.conn.flush().map_err(|e| self.lost(e))
            }
            Opcode::Reject => {
                let r = Reject::decode(&pdu.bhs).map_err(|e| self.lost(e))?;
                self.status_sn(r.stat_sn);
                let opcode = pdu
                    .data
                    .first()
                    .map_or(Opcode::Other(0x3f), |b| Opcode::from_code(*b));
                Err(Error::Rejected {
                    portal: self.conn.portal.clone(),
                    target: self.name.clone(),
                    opcode,
                    reason: reject::reason_text(r.reason),
                })
            }
            Opcode::AsyncMessage => {
                let a =
                    AsyncMessage::decode(&pdu.bhs).map_err(|e| self.lost(e))?;
                self.status_sn(a.stat_sn);
                self.window(a.exp_cmd_sn, a.max_cmd_sn);
                let what = match a.event {
                    1 => "requests a logout",
                    2 => "will drop this connection",
                    3 => "will drop all connections of the session",
                    4 => "requests parameter renegotiation",
                    _ => return Ok(()),
                };
                Err(Error::TargetEvent {
                    portal: self.conn.portal.clone(),
                    target: self.name.clone(),
                    event: a.event,
                    what,
                })
            }
            other => {
                Err(self.protocol(format!("{other} PDU in full feature phase")))
            }
        }
    }

    fn task_mut(&mut self, itt: u32, what: Opcode) -> Result<&mut Task> {
        let (portal, target) = (&self.conn.portal, &self.name);
        self.tasks.get_mut(&itt).ok_or_else(|| Error::Protocol {
            portal: portal.clone(),
            target: target.clone(),
            what: format!("{what} PDU for unknown task tag {itt:#x}"),
        })
    }

    fn on_response(&mut self, r: ScsiResponse, pdu: &Pdu) -> Result<()> {
        let name = self.name.clone();
        let task = self.task_mut(r.itt, Opcode::ScsiResponse)?;
        let op = task.cdb.name;
        let outcome = if r.response != 0 {
            Outcome::Failed(Error::TargetFailure {
                target: name,
                op,
                response: r.response,
            })
        } else if r.status == STATUS_GOOD {
            match &mut task.dir {
                Dir::Read { buf, got } => {
                    let mut data = std::mem::take(buf);
                    data.truncate(*got);
                    Outcome::Good(data)
                }
                _ => Outcome::Good(Vec::new()),
            }
        } else if r.status == STATUS_CHECK_CONDITION {
            match sense_of(&pdu.data).and_then(Sense::decode) {
                Some(sense) => Outcome::Failed(Error::Scsi {
                    target: name,
                    op,
                    lba: task.cdb.lba,
                    sense,
                }),
                None => Outcome::Failed(Error::ScsiStatus {
                    target: name,
                    op,
                    status: r.status,
                }),
            }
        } else {
            Outcome::Failed(Error::ScsiStatus {
                target: name,
                op,
                status: r.status,
            })
        };
        self.complete(r.itt, outcome)
    }

    fn complete(&mut self, itt: u32, outcome: Outcome) -> Result<()> {
        let Some(mut task) = self.tasks.remove(&itt) else {
            return Ok(());
        };
        self.in_flight_bytes =
            self.in_flight_bytes.saturating_sub(task.charged);
        // UNIT ATTENTION: the command was not executed; send it once
        // more when the window allows (SAM-5 §5.14).
        if let Outcome::Failed(Error::Scsi { sense, .. }) = &outcome {
            if sense.is_unit_attention() && !task.retried && self.window_open()
            {
                task.retried = true;
                if let Dir::Read { got, .. } = &mut task.dir {
                    *got = 0;
                }
                return self.send_command(task);
            }
        }
        if let (Dir::Write(d), Outcome::Good(_)) = (&task.dir, &outcome) {
            let n = u64::try_from(d.len()).unwrap_or(u64::MAX);
            self.acked = self.acked.saturating_add(n);
        }
        match (task.ticket, outcome) {
            (Some(t), o) => {
                self.finished.insert(t, o);
                Ok(())
            }
            (None, Outcome::Good(_)) => Ok(()),
            (None, Outcome::Failed(e)) => Err(e),
        }
    }

    fn on_data_in(&mut self, d: DataIn, data: Vec<u8>) -> Result<()> {
        let name = self.name.clone();
        let task = self.task_mut(d.itt, Opcode::DataIn)?;
        let Dir::Read { buf, got } = &mut task.dir else {
            let op = task.cdb.name;
            return Err(Error::BadReply {
                target: name,
                op,
                what: "Data-In for a command that reads nothing".into(),
            });
        };
        let off = usize::try_from(d.offset).unwrap_or(usize::MAX);
        let end = off.checked_add(data.len());
        let dest = end.and_then(|e| buf.get_mut(off..e));
        match dest {
            Some(dst) if off == *got => {
                dst.copy_from_slice(&data);
                *got = end.unwrap_or(*got);
            }
            _ => {
                let what = format!(
                    "Data-In of {} bytes at offset {} (expected offset {} of \
                     a {}-byte transfer)",
                    data.len(),
                    d.offset,
                    got,
                    buf.len()
                );
                let op = task.cdb.name;
                return Err(Error::BadReply {
                    target: name,
                    op,
                    what,
                });
            }
        }
        if d.has_status {
            let rsp = ScsiResponse {
                bidi_overflow: false,
                bidi_underflow: false,
                overflow: d.overflow,
                underflow: d.underflow,
                response: 0,
                status: d.status,
                itt: d.itt,
                stat_sn: d.stat_sn,
                exp_cmd_sn: d.exp_cmd_sn,
                max_cmd_sn: d.max_cmd_sn,
                exp_data_sn: 0,
                residual: d.residual,
            };
            let pdu = Pdu {
                bhs: rsp.encode(),
                data: Vec::new(),
            };
            return self.on_response(rsp, &pdu);
        }
        Ok(())
    }

    fn on_r2t(&mut self, r: R2t) -> Result<()> {
        let name = self.name.clone();
        let max_burst = usize::try_from(self.neg.max_burst).unwrap_or(0);
        let task = self.task_mut(r.itt, Opcode::ReadyToTransfer)?;
        let op = task.cdb.name;
        let lun = task.lun;
        let Dir::Write(data) = &task.dir else {
            return Err(Error::BadReply {
                target: name,
                op,
                what: "R2T for a command that writes nothing".into(),
            });
        };
        let off = usize::try_from(r.offset).unwrap_or(usize::MAX);
        let end = usize::try_from(r.len)
            .ok()
            .and_then(|l| off.checked_add(l))
            .filter(|e| *e <= data.len());
        let Some(end) = end
            .filter(|_| usize::try_from(r.len).is_ok_and(|l| l <= max_burst))
        else {
            return Err(Error::BadReply {
                target: name,
                op,
                what: format!(
                    "R2T for {} bytes at offset {} of a {}-byte write \
                     (MaxBurstLength {})",
                    r.len,
                    r.offset,
                    data.len(),
                    max_burst
                ),
            });
        };
        // Lend the data out of the task while it is sent (no copy).
        let data = match &mut task.dir {
            Dir::Write(d) => std::mem::take(d),
            _ => Vec::new(),
        };
        let sent = self.send_data_out(
            r.itt,
            lun,
            r.ttt,
            data.get(..end).unwrap_or_default(),
            off,
        );
        if let Some(t) = self.tasks.get_mut(&r.itt) {
            t.dir = Dir::Write(data);
        }
        sent?;
        self.conn.flush().map_err(|e| self.lost(e))
    }
}

impl Session {
    /// Run a command and wait for its data and status.
    pub fn run(&mut self, cmd: Command<'_>) -> Result<Vec<u8>> {
        let ticket = self.next_ticket;
        self.next_ticket = self.next_ticket.wrapping_add(1);
        let dir = match (cmd.data_out, cmd.data_in) {
            (Some(d), _) => Dir::Write(d.to_vec()),
            (None, 0) => Dir::None,
            (None, n) => Dir::Read {
                buf: vec![0u8; n],
                got: 0,
            },
        };
        self.issue(Task {
            cdb: cmd.cdb,
            lun: cmd.lun,
            dir,
            range: cmd.range,
            ticket: Some(ticket),
            retried: false,
            charged: 0,
        })?;
        loop {
            if let Some(o) = self.finished.remove(&ticket) {
                return match o {
                    Outcome::Good(d) => Ok(d),
                    Outcome::Failed(e) => Err(e),
                };
            }
            self.pump()?;
        }
    }

    /// Send a write and return without waiting for its status (a later
    /// call reports its failure).
    pub fn write_pipelined(
        &mut self,
        cdb: Cdb,
        lun: [u8; 8],
        data: Vec<u8>,
        range: (u64, u64),
    ) -> Result<()> {
        self.issue(Task {
            cdb,
            lun,
            dir: Dir::Write(data),
            range: Some(range),
            ticket: None,
            retried: false,
            charged: 0,
        })
    }

    /// Wait until no command is in flight.
    pub fn drain(&mut self) -> Result<()> {
        self.check_usable()?;
        while !self.tasks.is_empty() {
            self.pump()?;
        }
        Ok(())
    }

    /// A Text Request/Response exchange (e.g. `SendTargets=All`),
    /// following Continue bits and long replies.
    pub fn text(&mut self, keys: &TextList) -> Result<TextList> {
        self.check_usable()?;
        let itt = self.alloc_itt();
        let mut data = keys.encode();
        let mut ttt = NO_TAG;
        let mut text = Vec::new();
        loop {
            let req = TextRequest {
                fin: true,
                itt,
                ttt,
                cmd_sn: self.cmd_sn,
                exp_stat_sn: self.exp_stat_sn,
            };
            self.send(&req.encode(), &data)?;
            data.clear();
            let rsp = loop {
                let pdu = self.conn.recv().map_err(|e| self.lost(e))?;
                if pdu.bhs.opcode() == Opcode::TextResponse {
                    break pdu;
                }
                if pdu.bhs.opcode() == Opcode::NopIn {
                    let n =
                        NopIn::decode(&pdu.bhs).map_err(|e| self.lost(e))?;
                    self.answer_nop(&n)?;
                    continue;
                }
                return Err(self.protocol(format!(
                    "{} PDU while waiting for a Text Response",
                    pdu.bhs.opcode()
                )));
            };
            let r = TextResponse::decode(&rsp.bhs).map_err(|e| self.lost(e))?;
            if r.itt != itt {
                return Err(self.protocol(format!(
                    "Text Response for task tag {:#x}, expected {itt:#x}",
                    r.itt
                )));
            }
            self.status_sn(r.stat_sn);
            self.window(r.exp_cmd_sn, r.max_cmd_sn);
            if text.len().saturating_add(rsp.data.len()) > MAX_TEXT {
                return Err(self.protocol("Text Response too long".into()));
            }
            text.extend_from_slice(&rsp.data);
            if r.fin {
                break;
            }
            ttt = r.ttt;
        }
        TextList::decode(&text).map_err(|source| Error::Text {
            portal: self.conn.portal.clone(),
            source,
        })
    }

    /// Wait for every command, then log out and close the connection.
    pub fn logout(mut self) -> Result<()> {
        self.drain()?;
        let itt = self.alloc_itt();
        let req = LogoutRequest {
            itt,
            cmd_sn: self.cmd_sn,
            exp_stat_sn: self.exp_stat_sn,
        };
        self.send(&req.encode(), &[])?;
        let mut skipped = 0u32;
        let r = loop {
            let pdu = self.conn.recv().map_err(|e| self.lost(e))?;
            if pdu.bhs.opcode() == Opcode::LogoutResponse {
                break LogoutResponse::decode(&pdu.bhs)
                    .map_err(|e| self.lost(e))?;
            }
            skipped = skipped.saturating_add(1);
            if skipped > 16 {
                return Err(self.protocol(format!(
                    "{} PDU instead of a Logout Response",
                    pdu.bhs.opcode()
                )));
            }
        };
        self.conn.shutdown();
        if r.response != 0 {
            return Err(Error::Logout {
                portal: self.conn.portal.clone(),
                target: self.name.clone(),
                response: r.response,
            });
        }
        Ok(())
    }
}
