#![allow(clippy::arithmetic_side_effects, clippy::as_conversions)]

use std::io::Cursor;

use super::data::{DataIn, DataOut};
use super::login::{LoginRequest, LoginResponse, Stage};
use super::r2t::R2t;
use super::scsi_rsp::{sense_of, ScsiResponse};
use super::*;

/// RFC 3720 Appendix B.4: CRC32C examples, as the bytes on the wire.
#[test]
fn crc32c_vectors() {
    let le = |v: u32| v.to_le_bytes();
    assert_eq!(le(crc32c(&[0u8; 32])), [0xaa, 0x36, 0x91, 0x8a]);
    assert_eq!(le(crc32c(&[0xffu8; 32])), [0x43, 0xab, 0xa8, 0x62]);
    let inc: Vec<u8> = (0u8..32).collect();
    assert_eq!(le(crc32c(&inc)), [0x4e, 0x79, 0xdd, 0x46]);
    let dec: Vec<u8> = (0u8..32).rev().collect();
    assert_eq!(le(crc32c(&dec)), [0x5c, 0xdb, 0x3f, 0x11]);
    // The 48-byte iSCSI Read command of Appendix B.4.
    let mut cmd = [0u8; 48];
    cmd[..4].copy_from_slice(&[0x01, 0xc0, 0, 0]);
    cmd[16..20].copy_from_slice(&[0x14, 0, 0, 0]);
    cmd[20..24].copy_from_slice(&[0, 0, 0x04, 0]);
    cmd[24..28].copy_from_slice(&[0, 0, 0, 0x14]);
    cmd[28..32].copy_from_slice(&[0, 0, 0, 0x18]);
    cmd[32..36].copy_from_slice(&[0x28, 0, 0, 0]);
    cmd[40..44].copy_from_slice(&[0x02, 0, 0, 0]);
    assert_eq!(le(crc32c(&cmd)), [0x56, 0x3a, 0x96, 0xd9]);
}

fn login_rsp() -> LoginResponse {
    LoginResponse {
        transit: true,
        cont: false,
        csg: Stage::Operational,
        nsg: Some(Stage::FullFeature),
        version_active: 0,
        isid: [0x80, 1, 2, 3, 4, 5],
        tsih: 7,
        itt: 0x1234,
        stat_sn: 9,
        exp_cmd_sn: 10,
        max_cmd_sn: 41,
        status_class: 0,
        status_detail: 0,
    }
}

#[test]
fn round_trips() {
    let r = login_rsp();
    assert_eq!(LoginResponse::decode(&r.encode()).unwrap(), r);
    let req = LoginRequest {
        transit: true,
        cont: false,
        csg: Stage::Security,
        nsg: Stage::Operational,
        isid: [0x80, 1, 2, 3, 4, 5],
        tsih: 0,
        itt: 1,
        cid: 0,
        cmd_sn: 1,
        exp_stat_sn: 0,
    };
    let b = req.encode();
    assert_eq!(b.0[0], 0x43);
    assert_eq!(b.0[1], 0x81);
    let d = DataIn {
        fin: true,
        ack: false,
        overflow: false,
        underflow: true,
        has_status: true,
        status: 0,
        itt: 3,
        ttt: NO_TAG,
        stat_sn: 4,
        exp_cmd_sn: 5,
        max_cmd_sn: 6,
        data_sn: 7,
        offset: 8192,
        residual: 512,
    };
    assert_eq!(DataIn::decode(&d.encode()).unwrap(), d);
    let r2t = R2t {
        itt: 1,
        ttt: 2,
        stat_sn: 3,
        exp_cmd_sn: 4,
        max_cmd_sn: 5,
        r2t_sn: 0,
        offset: 65536,
        len: 262144,
    };
    assert_eq!(R2t::decode(&r2t.encode()).unwrap(), r2t);
    let s = ScsiResponse {
        bidi_overflow: false,
        bidi_underflow: false,
        overflow: false,
        underflow: false,
        response: 0,
        status: 2,
        itt: 9,
        stat_sn: 1,
        exp_cmd_sn: 2,
        max_cmd_sn: 3,
        exp_data_sn: 0,
        residual: 0,
    };
    assert_eq!(ScsiResponse::decode(&s.encode()).unwrap(), s);
    let o = DataOut {
        fin: true,
        lun: encode_lun(1),
        itt: 5,
        ttt: 6,
        exp_stat_sn: 7,
        data_sn: 8,
        offset: 9,
    }
    .encode();
    assert_eq!(o.opcode(), Opcode::DataOut);
    assert_eq!((o.u32(0x24), o.u32(0x28)), (8, 9));
}

#[test]
fn lun_encoding() {
    assert_eq!(encode_lun(1), [0, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(encode_lun(300), [0x41, 0x2c, 0, 0, 0, 0, 0, 0]);
    for l in [0u16, 1, 255, 256, 16383] {
        assert_eq!(decode_lun(encode_lun(l)), Some(l));
    }
    assert_eq!(decode_lun([0x80, 0, 0, 0, 0, 0, 0, 0]), None);
}

#[test]
fn sense_segment() {
    assert_eq!(sense_of(&[0, 2, 0x70, 0, 9]), Some(&[0x70, 0][..]));
    assert_eq!(sense_of(&[0, 9, 0x70]), None);
    assert_eq!(sense_of(&[0]), None);
    assert_eq!(sense_of(&[0, 0]), None);
}

fn wire(bhs: &Bhs, data: &[u8], d: Digests) -> Vec<u8> {
    let mut out = Vec::new();
    write_pdu(&mut out, bhs, data, d).unwrap();
    out
}

#[test]
fn write_then_read_with_digests() {
    let all = Digests {
        header: true,
        data: true,
    };
    for d in [Digests::default(), all] {
        for len in [0usize, 1, 3, 4, 5, 8191, 8192, 8193, 70000] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let bhs = login_rsp().encode();
            let w = wire(&bhs, &data, d);
            assert_eq!(w.len() % 4, 0);
            let p = read_pdu(&mut Cursor::new(&w), 1 << 20, d, 1).unwrap();
            assert_eq!(p.data, data);
            assert_eq!(p.bhs.opcode(), Opcode::LoginResponse);
        }
    }
}

#[test]
fn hostile_pdus() {
    let all = Digests {
        header: true,
        data: true,
    };
    let bhs = login_rsp().encode();
    let w = wire(&bhs, b"TargetAlias=x", all);
    // Truncated everywhere.
    for cut in 0..w.len() {
        let e = read_pdu(&mut Cursor::new(&w[..cut]), 8192, all, 1);
        assert!(matches!(e, Err(PduError::Closed { .. })), "{cut}: {e:?}");
    }
    // A flipped bit anywhere is caught by a digest.
    for i in 0..w.len() {
        let mut m = w.clone();
        m[i] ^= 0x10;
        let e = read_pdu(&mut Cursor::new(&m), 8192, all, 1).unwrap_err();
        assert!(
            matches!(
                e,
                PduError::HeaderDigest { .. }
                    | PduError::DataDigest { .. }
                    | PduError::Closed { .. }
            ),
            "byte {i}: {e:?}"
        );
    }
    // Oversized: refused before any allocation.
    let mut big = bhs.clone();
    big.0[5..8].copy_from_slice(&[0xff, 0xff, 0xff]);
    let e = read_pdu(&mut Cursor::new(&big.0), 8192, Digests::default(), 1)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Login Response PDU announces a 16777215-byte data segment; at \
         most 8192 bytes were declared acceptable"
    );
    // An initiator opcode from the target.
    let nop_out = Bhs::new(Opcode::NopOut, false);
    let e = read_pdu(&mut Cursor::new(&nop_out.0), 8192, Digests::default(), 1)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown or initiator-only opcode 0x00 from the target"
    );
}

/// A deterministic xorshift generator for the mutation loop.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn mutated_pdus_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let seeds: Vec<Vec<u8>> = vec![
        wire(&login_rsp().encode(), b"a=b\0c=d\0", Digests::default()),
        wire(
            &R2t {
                itt: 1,
                ttt: 2,
                stat_sn: 3,
                exp_cmd_sn: 4,
                max_cmd_sn: 5,
                r2t_sn: 0,
                offset: 0,
                len: 4096,
            }
            .encode(),
            &[],
            Digests::default(),
        ),
    ];
    for i in 0..5000 {
        let mut m = seeds[i % seeds.len()].clone();
        for _ in 0..(rng.next() % 6) {
            let at = (rng.next() as usize) % m.len();
            m[at] = rng.next() as u8;
        }
        if rng.next() % 4 == 0 {
            let keep = (rng.next() as usize) % m.len();
            m.truncate(keep);
        }
        if let Ok(p) =
            read_pdu(&mut Cursor::new(&m), 4096, Digests::default(), 1)
        {
            assert!(p.data.len() <= 4096);
            let _ = LoginResponse::decode(&p.bhs);
            let _ = R2t::decode(&p.bhs);
            let _ = DataIn::decode(&p.bhs);
            let _ = ScsiResponse::decode(&p.bhs);
            let _ = sense_of(&p.data);
        }
    }
}

#[test]
fn serial_numbers() {
    assert!(sn_lt(1, 2));
    assert!(sn_lt(0xffff_fff0, 5));
    assert!(!sn_lt(5, 0xffff_fff0));
    assert!(sn_le(7, 7));
}

/// Random bytes through every decoder of target data: no panic, and
/// nothing sized by the input beyond the input itself.
#[test]
fn reply_decoders_never_panic() {
    use crate::iscsi::{chap, scsi, sense::Sense, text::TextList};
    let mut rng = Rng(0x0dd_ba11_cafe_f00d);
    for _ in 0..4000 {
        let len = (rng.next() % 80) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if let Some(first) = b.first_mut() {
            *first =
                [0x70, 0x71, 0x72, 0x73, 0x00, 0x7f][(rng.next() % 6) as usize];
        }
        let _ = Sense::decode(&b);
        let _ = scsi::Inquiry::decode(&b);
        let _ = scsi::Capacity::decode(&b).map(|c| c.bytes());
        let _ = scsi::BlockLimits::decode(&b);
        let _ = scsi::Provisioning::decode(&b);
        let _ = scsi::supported_pages(&b);
        let (luns, _) = scsi::decode_report_luns(&b);
        assert!(luns.len() <= b.len() / 8);
        let _ = sense_of(&b);
        let _ = TextList::decode(&b);
        if let Ok(s) = std::str::from_utf8(&b) {
            let _ = chap::decode_binary(s, "CHAP_C");
        }
    }
}

fn check_ahs_for_tests(ahs: &[u8]) -> Result<(), PduError> {
    check_ahs(Opcode::ScsiResponse, ahs)
}

#[test]
fn additional_header_segments() {
    // One AHS of AHSLength 5: 3 + 5 = 8 bytes.
    assert!(check_ahs_for_tests(&[0, 5, 1, 0, 1, 2, 3, 4]).is_ok());
    // AHSLength 1: 4 bytes, then another of length 1.
    assert!(check_ahs_for_tests(&[0, 1, 2, 0, 0, 1, 2, 0]).is_ok());
    assert!(check_ahs_for_tests(&[0, 9, 1, 0, 1, 2, 3, 4]).is_err());
    assert!(check_ahs_for_tests(&[0xff, 0xff, 1, 0]).is_err());
    // Through the reader: an AHS that overflows its space.
    let mut b = Bhs::new(Opcode::ScsiResponse, false);
    b.0[1] = 0x80;
    b.0[4] = 1;
    let mut w = b.0.to_vec();
    w.extend_from_slice(&[0, 7, 1, 0]);
    let e = read_pdu(&mut Cursor::new(&w), 8192, Digests::default(), 1)
        .unwrap_err();
    assert!(e.to_string().contains("additional header segments"), "{e}");
    let mut w = b.0.to_vec();
    w.extend_from_slice(&[0, 1, 1, 0]);
    assert!(read_pdu(&mut Cursor::new(&w), 8192, Digests::default(), 1).is_ok());
}
