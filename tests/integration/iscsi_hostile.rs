//! The initiator against a hostile target: a fake target on 127.0.0.1
//! (a thread with a `TcpListener`) that logs the initiator in and then
//! answers its first command with truncated, oversized, corrupt or
//! inconsistent PDUs, or not at all. Every case must end in a typed
//! error (never a panic, a hang or an allocation sized by the target),
//! within the short I/O timeout set here.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lunforge::iscsi::login::{Credentials, DigestChoice, Options, SessionKind};
use lunforge::iscsi::pdu::data::DataIn;
use lunforge::iscsi::pdu::login::{LoginResponse, Stage};
use lunforge::iscsi::pdu::nop::NopIn;
use lunforge::iscsi::pdu::r2t::R2t;
use lunforge::iscsi::pdu::scsi_rsp::ScsiResponse;
use lunforge::iscsi::pdu::{
    crc32c, pad_len, write_pdu, Bhs, Digests, Opcode, BHS_LEN, NO_TAG,
};
use lunforge::iscsi::scsi;
use lunforge::iscsi::session::{Command, Session};
use lunforge::iscsi::Error;

const IQN: &str = "iqn.2024-01.org.lunforge.test:fake";

/// Read one initiator PDU.
fn read_req(s: &mut TcpStream, d: Digests) -> Option<(Bhs, Vec<u8>)> {
    let mut b = [0u8; BHS_LEN];
    s.read_exact(&mut b).ok()?;
    let bhs = Bhs(b);
    if d.header {
        let mut h = [0u8; 4];
        s.read_exact(&mut h).ok()?;
        assert_eq!(
            u32::from_le_bytes(h),
            crc32c(&b),
            "initiator header digest"
        );
    }
    let len = bhs.data_segment_len() as usize;
    let mut data = vec![0u8; len + pad_len(len)];
    s.read_exact(&mut data).ok()?;
    if d.data && len > 0 {
        let mut h = [0u8; 4];
        s.read_exact(&mut h).ok()?;
        assert_eq!(
            u32::from_le_bytes(h),
            crc32c(&data),
            "initiator data digest"
        );
    }
    data.truncate(len);
    Some((bhs, data))
}

fn rsp(csg: Stage, nsg: Stage, stat_sn: u32) -> LoginResponse {
    LoginResponse {
        transit: true,
        cont: false,
        csg,
        nsg: Some(nsg),
        version_active: 0,
        isid: [0; 6],
        tsih: 1,
        itt: 0,
        stat_sn,
        exp_cmd_sn: 1,
        max_cmd_sn: 64,
        status_class: 0,
        status_detail: 0,
    }
}

/// Answer the login: security (AuthMethod=None), then operational with
/// `keys`. Returns the digests agreed.
fn fake_login(s: &mut TcpStream, keys: &str) -> Digests {
    let (b, _) = read_req(s, Digests::default()).unwrap();
    let mut r = rsp(Stage::Security, Stage::Operational, 0);
    r.isid.copy_from_slice(&b.0[8..14]);
    let none = Digests::default();
    write_pdu(s, &r.encode(), b"AuthMethod=None\0", none).unwrap();
    let (b, _) = read_req(s, none).unwrap();
    let mut r = rsp(Stage::Operational, Stage::FullFeature, 1);
    r.isid.copy_from_slice(&b.0[8..14]);
    write_pdu(s, &r.encode(), keys.as_bytes(), none).unwrap();
    Digests {
        header: keys.contains("HeaderDigest=CRC32C"),
        data: keys.contains("DataDigest=CRC32C"),
    }
}

/// A fake target that logs in with `keys`, then hands the first command
/// to `misbehave`.
fn fake<F>(keys: &'static str, misbehave: F) -> (u16, JoinHandle<()>)
where
    F: FnOnce(&mut TcpStream, Digests, Bhs, Vec<u8>) + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let d = fake_login(&mut s, keys);
        if let Some((b, data)) = read_req(&mut s, d) {
            misbehave(&mut s, d, b, data);
        }
        // Hold the connection until the initiator gives up.
        let mut sink = [0u8; 4096];
        while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
    });
    (port, h)
}

fn opts() -> Options {
    Options {
        initiator_name: "iqn.2024-01.org.lunforge.test:hostile".into(),
        header_digest: DigestChoice::Prefer,
        data_digest: DigestChoice::Prefer,
        connect_timeout: Duration::from_secs(2),
        io_timeout: Duration::from_millis(700),
        max_recv_data_segment_length: 8192,
        ..Options::default()
    }
}

fn session(port: u16) -> Session {
    Session::connect(
        "127.0.0.1",
        port,
        SessionKind::Normal(IQN),
        "hostile",
        &Credentials::default(),
        &opts(),
    )
    .unwrap()
}

/// Run READ(16) of `len` bytes against a fake target.
fn read_against<F>(keys: &'static str, len: usize, f: F) -> Error
where
    F: FnOnce(&mut TcpStream, Digests, Bhs, Vec<u8>) + Send + 'static,
{
    let (port, h) = fake(keys, f);
    let mut s = session(port);
    let e = s
        .run(Command {
            cdb: scsi::read16(0, (len / 512) as u32),
            lun: [0, 1, 0, 0, 0, 0, 0, 0],
            data_out: None,
            data_in: len,
            range: Some((0, len as u64)),
        })
        .unwrap_err();
    drop(s);
    h.join().unwrap();
    e
}

fn send(s: &mut TcpStream, d: Digests, bhs: &Bhs, data: &[u8]) {
    let _ = write_pdu(s, bhs, data, d);
}

fn good(itt: u32, status: u8) -> ScsiResponse {
    ScsiResponse {
        bidi_overflow: false,
        bidi_underflow: false,
        overflow: false,
        underflow: false,
        response: 0,
        status,
        itt,
        stat_sn: 2,
        exp_cmd_sn: 2,
        max_cmd_sn: 65,
        exp_data_sn: 0,
        residual: 0,
    }
}

fn data_in(itt: u32, offset: u32, status: bool) -> DataIn {
    DataIn {
        fin: status,
        ack: false,
        overflow: false,
        underflow: false,
        has_status: status,
        status: 0,
        itt,
        ttt: NO_TAG,
        stat_sn: 2,
        exp_cmd_sn: 2,
        max_cmd_sn: 65,
        data_sn: 0,
        offset,
        residual: 0,
    }
}

#[test]
fn iscsi_hostile_huge_data_segment() {
    let start = Instant::now();
    let e = read_against("", 4096, |s, d, b, _| {
        let mut r = good(b.itt(), 0).encode();
        r.0[5..8].copy_from_slice(&[0xff, 0xff, 0xff]);
        let _ = s.write_all(&r.0);
        let _ = d;
    });
    assert!(e.to_string().contains("16777215-byte data segment"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn iscsi_hostile_bad_digests() {
    let keys = "HeaderDigest=CRC32C\0DataDigest=CRC32C\0";
    let e = read_against(keys, 4096, |s, d, b, _| {
        let mut w = Vec::new();
        write_pdu(&mut w, &data_in(b.itt(), 0, true).encode(), &[7; 4096], d)
            .unwrap();
        w[20] ^= 1; // inside the header
        let _ = s.write_all(&w);
    });
    assert!(e.to_string().contains("header digest mismatch"), "{e}");
    let e = read_against(keys, 4096, |s, d, b, _| {
        let mut w = Vec::new();
        write_pdu(&mut w, &data_in(b.itt(), 0, true).encode(), &[7; 4096], d)
            .unwrap();
        w[100] ^= 1; // inside the data
        let _ = s.write_all(&w);
    });
    assert!(e.to_string().contains("data digest mismatch"), "{e}");
}

#[test]
fn iscsi_hostile_wrong_opcode_and_itt() {
    let e = read_against("", 4096, |s, d, _, _| {
        send(
            s,
            d,
            &rsp(Stage::Operational, Stage::FullFeature, 2).encode(),
            &[],
        );
    });
    assert!(
        e.to_string()
            .contains("unexpected Login Response PDU in full feature"),
        "{e}"
    );
    let e = read_against("", 4096, |s, d, _, _| {
        send(s, d, &good(0xdead, 0).encode(), &[]);
    });
    assert!(e.to_string().contains("unknown task tag 0xdead"), "{e}");
    let e = read_against("", 4096, |s, d, _, _| {
        let mut b = Bhs::new(Opcode::NopOut, false);
        b.0[1] = 0x80;
        send(s, d, &b, &[]);
    });
    assert!(e.to_string().contains("initiator-only opcode"), "{e}");
}

#[test]
fn iscsi_hostile_data_beyond_transfer() {
    let e = read_against("", 4096, |s, d, b, _| {
        send(s, d, &data_in(b.itt(), 2048, true).encode(), &[1; 4096]);
    });
    assert!(
        e.to_string()
            .contains("Data-In of 4096 bytes at offset 2048"),
        "{e}"
    );
    // More bytes on the wire than DataSegmentLength declares: the rest
    // is read as the next header.
    let e = read_against("", 4096, |s, d, b, _| {
        let mut w = Vec::new();
        write_pdu(&mut w, &data_in(b.itt(), 0, false).encode(), &[1; 512], d)
            .unwrap();
        w.extend_from_slice(&[1; 512]);
        let _ = s.write_all(&w);
    });
    assert!(e.to_string().contains("initiator-only opcode 0x01"), "{e}");
    // Data-In for a write.
    let (port, h) = fake("", |s, d, b, _| {
        send(s, d, &data_in(b.itt(), 0, true).encode(), &[1; 512]);
    });
    let mut sess = session(port);
    let e = sess
        .run(Command {
            cdb: scsi::write16(0, 1),
            lun: [0; 8],
            data_out: Some(&[0; 512]),
            data_in: 0,
            range: None,
        })
        .unwrap_err();
    drop(sess);
    h.join().unwrap();
    assert!(e.to_string().contains("reads nothing"), "{e}");
}

#[test]
fn iscsi_hostile_r2t_outside_the_write() {
    let (port, h) = fake("", |s, d, b, _| {
        let r = R2t {
            itt: b.itt(),
            ttt: 5,
            stat_sn: 2,
            exp_cmd_sn: 2,
            max_cmd_sn: 65,
            r2t_sn: 0,
            offset: 60000,
            len: 100000,
        };
        send(s, d, &r.encode(), &[]);
    });
    let mut sess = session(port);
    let data = vec![3u8; 128 * 1024];
    sess.write_pipelined(scsi::write16(0, 256), [0; 8], data, (0, 131072))
        .unwrap();
    let e = sess.drain().unwrap_err();
    drop(sess);
    h.join().unwrap();
    assert!(
        e.to_string()
            .contains("R2T for 100000 bytes at offset 60000"),
        "{e}"
    );
}

#[test]
fn iscsi_hostile_short_write_then_close() {
    let (port, h) = fake("", |s, _, b, _| {
        let r = good(b.itt(), 0).encode();
        let _ = s.write_all(&r.0[..20]);
        let _ = s.shutdown(std::net::Shutdown::Both);
    });
    let mut sess = session(port);
    sess.write_pipelined(scsi::write16(0, 8), [0; 8], vec![1; 4096], (0, 4096))
        .unwrap();
    let e = sess.drain().unwrap_err();
    drop(sess);
    h.join().unwrap();
    let msg = e.to_string();
    assert!(
        msg.contains("closed the connection after 20 of 48 bytes"),
        "{msg}"
    );
    assert!(msg.contains("1 command(s) in flight"), "{msg}");
    assert!(msg.contains("0 bytes of writes acknowledged"), "{msg}");
}

#[test]
fn iscsi_hostile_never_answers() {
    let start = Instant::now();
    let e = read_against("", 4096, |_, _, _, _| {
        std::thread::sleep(Duration::from_millis(1500));
    });
    assert!(e.to_string().contains("no reply within"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(4));
}

#[test]
fn iscsi_hostile_reject_async_and_sense() {
    let e = read_against("", 4096, |s, d, b, _| {
        let mut r = Bhs::new(Opcode::Reject, false);
        r.0[1] = 0x80;
        r.0[2] = 0x09;
        r.put_u32(0x10, NO_TAG);
        send(s, d, &r, &b.0);
    });
    assert!(
        e.to_string()
            .contains("rejected a SCSI Command PDU: invalid PDU field"),
        "{e}"
    );
    let e = read_against("", 4096, |s, d, _, _| {
        let mut a = Bhs::new(Opcode::AsyncMessage, false);
        a.0[1] = 0x80;
        a.put_u32(0x10, NO_TAG);
        a.0[0x24] = 1;
        send(s, d, &a, &[]);
    });
    assert!(e.to_string().contains("requests a logout"), "{e}");
    let e = read_against("", 4096, |s, d, b, _| {
        let mut sense = vec![0u8, 18, 0x70, 0, 0x07, 0, 0, 0, 0, 10];
        sense.extend_from_slice(&[0, 0, 0, 0, 0x27, 0, 0, 0, 0, 0]);
        send(s, d, &good(b.itt(), 2).encode(), &sense);
    });
    assert!(e.to_string().contains("LUN is write-protected"), "{e}");
}

#[test]
fn iscsi_hostile_nop_in_is_answered() {
    let (port, h) = fake("", |s, d, b, _| {
        let n = NopIn {
            lun: [0; 8],
            itt: NO_TAG,
            ttt: 0x77,
            stat_sn: 2,
            exp_cmd_sn: 2,
            max_cmd_sn: 65,
        };
        send(s, d, &n.encode(), &[]);
        let (out, _) = read_req(s, d).unwrap();
        assert_eq!(out.opcode(), Opcode::NopOut);
        assert_eq!((out.itt(), out.u32(0x14)), (NO_TAG, 0x77));
        send(s, d, &data_in(b.itt(), 0, true).encode(), &[9; 512]);
    });
    let mut sess = session(port);
    let got = sess
        .run(Command {
            cdb: scsi::read16(0, 1),
            lun: [0; 8],
            data_out: None,
            data_in: 512,
            range: None,
        })
        .unwrap();
    assert_eq!(got, vec![9; 512]);
    assert_eq!((sess.in_flight(), sess.in_flight_bytes()), (0, 0));
    drop(sess);
    h.join().unwrap();
}

/// Random bytes after login: always an error, never a panic or hang.
#[test]
fn iscsi_hostile_random_streams() {
    let mut seed = 0x1234_5678_9abc_def1u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..150 {
        let len = (next() % 300) as usize;
        let mut junk: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Often keep a plausible opcode so that decoding goes deeper.
        if let Some(b) = junk.first_mut() {
            *b = [0x21, 0x25, 0x31, 0x20, 0x3f, 0x32][(next() % 6) as usize];
            if let Some(l) = junk.get_mut(5) {
                *l = 0;
            }
        }
        let (port, h) = fake("", move |s, _, _, _| {
            let _ = s.write_all(&junk);
            let _ = s.shutdown(std::net::Shutdown::Write);
        });
        let mut sess = session(port);
        let r = sess.run(Command {
            cdb: scsi::read16(0, 8),
            lun: [0; 8],
            data_out: None,
            data_in: 4096,
            range: None,
        });
        assert!(r.is_err());
        drop(sess);
        h.join().unwrap();
    }
}

/// A UNIT ATTENTION is retried once; a second one is reported.
#[test]
fn iscsi_hostile_unit_attention_retried_once() {
    fn ua() -> Vec<u8> {
        let mut sense = vec![0u8, 18, 0x70, 0, 0x06, 0, 0, 0, 0, 10];
        sense.extend_from_slice(&[0, 0, 0, 0, 0x29, 0, 0, 0, 0, 0]);
        sense
    }
    let (port, h) = fake("", |s, d, b, _| {
        send(s, d, &good(b.itt(), 2).encode(), &ua());
        let (again, _) = read_req(s, d).unwrap();
        assert_ne!(again.itt(), b.itt(), "a retry takes a new task tag");
        assert_eq!(again.0[32..48], b.0[32..48], "the same CDB");
        send(s, d, &good(again.itt(), 0).encode(), &[]);
        let (third, _) = read_req(s, d).unwrap();
        send(s, d, &good(third.itt(), 2).encode(), &ua());
        let (fourth, _) = read_req(s, d).unwrap();
        send(s, d, &good(fourth.itt(), 2).encode(), &ua());
    });
    let mut sess = session(port);
    let tur = || Command {
        cdb: scsi::test_unit_ready(),
        lun: [0; 8],
        data_out: None,
        data_in: 0,
        range: None,
    };
    sess.run(tur()).unwrap();
    let e = sess.run(tur()).unwrap_err();
    assert!(e.to_string().contains("UNIT ATTENTION"), "{e}");
    assert!(e.to_string().contains("power on, reset"), "{e}");
    drop(sess);
    h.join().unwrap();
}

/// A fake target whose whole conversation is `f`; the error of a login.
fn login_against<F>(f: F) -> Error
where
    F: FnOnce(&mut TcpStream) + Send + 'static,
{
    login_with(&Credentials::default(), f)
}

/// [`login_against`] with `creds`.
fn login_with<F>(creds: &Credentials, f: F) -> Error
where
    F: FnOnce(&mut TcpStream) + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        f(&mut s);
        let mut sink = [0u8; 4096];
        while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
    });
    let e = Session::connect(
        "127.0.0.1",
        port,
        SessionKind::Normal(IQN),
        "hostile",
        creds,
        &opts(),
    )
    .unwrap_err();
    h.join().unwrap();
    e
}

/// Mutual CHAP asked: a target that skips authentication (AuthMethod
/// None, straight on to the operational stage) is not let through, and
/// neither is one secret for both directions.
#[test]
fn iscsi_hostile_target_skips_mutual_chap() {
    let none = Digests::default();
    let creds = Credentials {
        user: Some("dangermouse".into()),
        secret: Some("initiator-secret".into()),
        target_user: Some("penfold".into()),
        target_secret: Some("target-secret-1".into()),
    };
    let e = login_with(&creds, move |s| {
        let (b, _) = read_req(s, none).unwrap();
        let mut r = rsp(Stage::Security, Stage::Operational, 0);
        r.isid.copy_from_slice(&b.0[8..14]);
        let _ = write_pdu(s, &r.encode(), b"AuthMethod=None\0", none);
    });
    assert!(e.to_string().contains("did not authenticate itself"), "{e}");
    let same = Credentials {
        target_secret: creds.secret.clone(),
        ..creds
    };
    let e = login_with(&same, |_| {});
    assert!(
        e.to_string().contains("equals the initiator's secret"),
        "{e}"
    );
}

#[test]
fn iscsi_hostile_logins() {
    let none = Digests::default();
    // Refused: target not found, named.
    let e = login_against(move |s| {
        let (b, _) = read_req(s, none).unwrap();
        let mut r = rsp(Stage::Security, Stage::Operational, 0);
        r.transit = false;
        r.isid.copy_from_slice(&b.0[8..14]);
        r.status_class = 2;
        r.status_detail = 3;
        let _ = write_pdu(s, &r.encode(), &[], none);
    });
    assert!(
        e.to_string().contains(&format!("no target named {IQN}")),
        "{e}"
    );
    // Redirected.
    let e = login_against(move |s| {
        let (b, _) = read_req(s, none).unwrap();
        let mut r = rsp(Stage::Security, Stage::Operational, 0);
        r.transit = false;
        r.isid.copy_from_slice(&b.0[8..14]);
        r.status_class = 1;
        r.status_detail = 1;
        let _ = write_pdu(
            s,
            &r.encode(),
            b"TargetAddress=192.0.2.7:3260,1\0",
            none,
        );
    });
    assert!(
        e.to_string()
            .contains("target moved temporarily to 192.0.2.7:3260,1"),
        "{e}"
    );
    // Malformed text.
    let e = login_against(move |s| {
        let (b, _) = read_req(s, none).unwrap();
        let mut r = rsp(Stage::Security, Stage::Operational, 0);
        r.isid.copy_from_slice(&b.0[8..14]);
        let _ = write_pdu(s, &r.encode(), b"AuthMethod\0", none);
    });
    assert!(e.to_string().contains("has no '='"), "{e}");
    // An unasked-for authentication method.
    let e = login_against(move |s| {
        let (b, _) = read_req(s, none).unwrap();
        let mut r = rsp(Stage::Security, Stage::Operational, 0);
        r.transit = false;
        r.isid.copy_from_slice(&b.0[8..14]);
        let _ = write_pdu(s, &r.encode(), b"AuthMethod=SRP\0", none);
    });
    assert!(e.to_string().contains("AuthMethod=SRP"), "{e}");
    // A reply that continues for ever.
    let e = login_against(move |s| {
        while let Some((b, _)) = read_req(s, none) {
            let mut r = rsp(Stage::Security, Stage::Operational, 0);
            r.transit = false;
            r.cont = true;
            r.isid.copy_from_slice(&b.0[8..14]);
            let text = vec![b'a'; 8000];
            if write_pdu(s, &r.encode(), &text, none).is_err() {
                break;
            }
        }
    });
    assert!(
        e.to_string().contains("too long")
            || e.to_string().contains("never ends"),
        "{e}"
    );
    // Another login's ISID.
    let e = login_against(move |s| {
        let _ = read_req(s, none).unwrap();
        let r = rsp(Stage::Security, Stage::Operational, 0);
        let _ = write_pdu(s, &r.encode(), b"AuthMethod=None\0", none);
    });
    assert!(e.to_string().contains("another login"), "{e}");
    // CHAP demanded, no credentials given.
    let e = login_against(move |s| {
        let (b, _) = read_req(s, none).unwrap();
        let mut r = rsp(Stage::Security, Stage::Operational, 0);
        r.transit = false;
        r.isid.copy_from_slice(&b.0[8..14]);
        let _ = write_pdu(s, &r.encode(), b"AuthMethod=CHAP\0", none);
    });
    assert!(e.to_string().contains("requires CHAP"), "{e}");
}

/// A well-behaved fake LUN 1 of 1024 blocks whose Block Limits allow 8
/// blocks and 2 descriptors per UNMAP and 16 blocks per WRITE SAME, and
/// whose LBP page has `lbp_flags` (byte 5). It records every CDB with
/// its data and returns them when the initiator logs out.
/// The CDBs a fake LUN received, each with its data.
type Seen = Vec<(Vec<u8>, Vec<u8>)>;

fn fake_lun(lbp_flags: u8) -> (u16, JoinHandle<Seen>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let d = fake_login(&mut s, "");
        let mut seen = Vec::new();
        let mut stat_sn = 2u32;
        while let Some((b, data)) = read_req(&mut s, d) {
            if b.opcode() == Opcode::LogoutRequest {
                let mut r = Bhs::new(Opcode::LogoutResponse, false);
                r.0[1] = 0x80;
                r.put_u32(0x10, b.itt());
                send(&mut s, d, &r, &[]);
                break;
            }
            assert_eq!(b.opcode(), Opcode::ScsiCommand);
            let cdb = b.0[32..48].to_vec();
            let reply: Vec<u8> = match (cdb[0], cdb[1] & 1, cdb[2]) {
                (0xa0, _, _) => {
                    let mut r = vec![0, 0, 0, 16, 0, 0, 0, 0];
                    r.extend_from_slice(&[0; 8]);
                    r.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
                    r
                }
                (0x12, 0, _) => {
                    let mut r = vec![0u8; 36];
                    r[8..16].copy_from_slice(b"FAKE    ");
                    r[16..32].copy_from_slice(b"LUN             ");
                    r
                }
                (0x12, 1, 0x00) => vec![0, 0, 0, 3, 0x00, 0xb0, 0xb2],
                (0x12, 1, 0xb0) => {
                    let mut r = vec![0u8; 64];
                    r[1] = 0xb0;
                    r[3] = 0x3c;
                    r[0x14..0x18].copy_from_slice(&8u32.to_be_bytes());
                    r[0x18..0x1c].copy_from_slice(&2u32.to_be_bytes());
                    r[0x24..0x2c].copy_from_slice(&16u64.to_be_bytes());
                    r
                }
                (0x12, 1, 0xb2) => vec![0, 0xb2, 0, 4, 0, lbp_flags, 2, 0],
                (0x9e, _, _) => {
                    let mut r = vec![0u8; 32];
                    r[..8].copy_from_slice(&1023u64.to_be_bytes());
                    r[8..12].copy_from_slice(&512u32.to_be_bytes());
                    r[14] = 0xc0;
                    r
                }
                _ => Vec::new(),
            };
            seen.push((cdb, data));
            let want = b.u32(0x14) as usize;
            let reply = &reply[..reply.len().min(want)];
            stat_sn += 1;
            if reply.is_empty() {
                let mut g = good(b.itt(), 0);
                g.stat_sn = stat_sn;
                send(&mut s, d, &g.encode(), &[]);
            } else {
                let mut di = data_in(b.itt(), 0, true);
                di.stat_sn = stat_sn;
                send(&mut s, d, &di.encode(), reply);
            }
        }
        seen
    });
    (port, h)
}

fn zero_on_fake(lbp_flags: u8) -> Seen {
    use lunforge::iscsi::{IscsiUrl, Lun};
    use lunforge::sink::{Device, Zeroing};
    let (port, h) = fake_lun(lbp_flags);
    let url =
        IscsiUrl::parse(&format!("iscsi://127.0.0.1:{port}/{IQN}/1")).unwrap();
    let mut lun = Lun::open(&url, &Credentials::default(), &opts()).unwrap();
    assert_eq!(lun.capacity(), 1024 * 512);
    assert_eq!(lun.zeroing(), Zeroing::Unmap, "{}", lun.info());
    lun.zero(512, 40 * 512).unwrap();
    Box::new(lun).close().unwrap();
    let seen = h.join().unwrap();
    seen.into_iter()
        .filter(|(c, _)| matches!(c[0], 0x42 | 0x93))
        .collect()
}

#[test]
fn iscsi_zero_respects_unmap_limits() {
    // LBPU, LBPWS, LBPRZ: UNMAP, at most 2 descriptors of 8 blocks.
    let cmds = zero_on_fake(0xc4);
    assert_eq!(cmds.len(), 3, "{cmds:?}");
    let mut covered = Vec::new();
    for (cdb, params) in &cmds {
        assert_eq!(cdb[0], 0x42);
        let n = u16::from_be_bytes([params[2], params[3]]) as usize / 16;
        assert!(n <= 2);
        for d in params[8..].chunks(16).take(n) {
            let lba = u64::from_be_bytes(d[..8].try_into().unwrap());
            let count = u32::from_be_bytes(d[8..12].try_into().unwrap());
            assert!(count <= 8);
            covered.push((lba, count));
        }
    }
    assert_eq!(covered.first(), Some(&(1, 8)));
    assert_eq!(covered.iter().map(|c| c.1).sum::<u32>(), 40);

    // LBPWS only: WRITE SAME(16) with UNMAP, at most 16 blocks each,
    // one block of zeros as data.
    let cmds = zero_on_fake(0x44);
    let lens: Vec<u32> = cmds
        .iter()
        .map(|(c, d)| {
            assert_eq!((c[0], c[1] & 0x08), (0x93, 0x08));
            assert_eq!(d, &vec![0u8; 512]);
            u32::from_be_bytes(c[10..14].try_into().unwrap())
        })
        .collect();
    assert_eq!(lens, vec![16, 16, 8]);
}
