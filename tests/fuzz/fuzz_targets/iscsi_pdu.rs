//! PDUs from an iSCSI target (RFC 7143 §11) as the initiator reads
//! them off the socket (`iscsi::pdu::read_pdu`, digests on or off,
//! AHS, data segment bounded by MaxRecvDataSegmentLength), one after
//! the other, each decoded by its opcode's record; and the data
//! segments decoded as what they carry: login and text key=value lists
//! (§6), SendTargets replies, sense data (SPC-4 §4.4) and the SCSI
//! replies the initiator reads (INQUIRY, READ CAPACITY(16), REPORT
//! LUNS, VPD pages).

#![no_main]

use libfuzzer_sys::fuzz_target;
use lunforge::iscsi::discovery::{parse_send_targets, TargetPortal};
use lunforge::iscsi::pdu::{
    self, async_msg::AsyncMessage, data::DataIn, login::LoginResponse,
    logout::LogoutResponse, nop::NopIn, r2t::R2t, reject::Reject,
    scsi_rsp::ScsiResponse, text::TextResponse, Digests, Opcode,
};
use lunforge::iscsi::scsi::{
    self, BlockLimits, Capacity, Inquiry, Provisioning,
};
use lunforge::iscsi::sense::Sense;
use lunforge::iscsi::text::TextList;

/// The data segment as each reply the initiator decodes.
fn payloads(data: &[u8]) {
    if let Ok(list) = TextList::decode(data) {
        let portal = TargetPortal {
            host: "127.0.0.1".into(),
            port: 3260,
            tpgt: None,
        };
        let _ = parse_send_targets(&list, &portal);
    }
    let _ = Sense::decode(data).map(|s| s.to_string());
    // A SCSI Response carries SenseLength (2 bytes) before the sense.
    let _ = data.get(2..).and_then(Sense::decode).map(|s| s.to_string());
    let _ = Inquiry::decode(data);
    let _ = scsi::supported_pages(data);
    let _ = BlockLimits::decode(data);
    let _ = Provisioning::decode(data);
    if let Some(c) = Capacity::decode(data) {
        let _ = c.bytes();
    }
    let _ = scsi::decode_report_luns(data);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut stream)) = data.split_first() else {
        return;
    };
    let digests = Digests {
        header: mode & 1 != 0,
        data: mode & 2 != 0,
    };
    // MaxRecvDataSegmentLength: 8 KiB (the default) or the largest.
    let max_data = if mode & 4 != 0 {
        pdu::MAX_DATA_SEGMENT
    } else {
        8192
    };
    while let Ok(p) = pdu::read_pdu(&mut stream, max_data, digests, 5) {
        assert!(
            p.data.len() <= data.len(),
            "a data segment beyond the input"
        );
        let b = &p.bhs;
        let _ = match b.opcode() {
            Opcode::NopIn => NopIn::decode(b).map(drop),
            Opcode::ScsiResponse => ScsiResponse::decode(b).map(drop),
            Opcode::LoginResponse => LoginResponse::decode(b).map(drop),
            Opcode::TextResponse => TextResponse::decode(b).map(drop),
            Opcode::DataIn => DataIn::decode(b).map(drop),
            Opcode::LogoutResponse => LogoutResponse::decode(b).map(drop),
            Opcode::ReadyToTransfer => R2t::decode(b).map(drop),
            Opcode::AsyncMessage => AsyncMessage::decode(b).map(drop),
            Opcode::Reject => Reject::decode(b).map(drop),
            _ => Ok(()),
        };
        let _ = pdu::decode_lun(b.0[8..16].try_into().expect("8 bytes"));
        payloads(&p.data);
    }
});
