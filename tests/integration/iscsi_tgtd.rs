//! The iSCSI initiator against a real target: Debian's `tgtd`
//! ([`crate::support::tgtd`]), one daemon per test on 127.0.0.1. What
//! lunforge reads (targets, sizes) is compared with libiscsi's
//! `iscsi-ls` and `iscsi-inq` (package libiscsi-bin), and what it
//! writes with the backing file, byte for byte.

use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::{Duration, Instant};

use lunforge::iscsi::login::Negotiated;
use lunforge::iscsi::{
    self, Credentials, DigestChoice, Error, IscsiUrl, Lun, Options, Secret,
};
use lunforge::sink::{self, Device, Zeroing};

use crate::support::run;
use crate::support::tgtd::Tgtd;

const IQN: &str = "iqn.2024-01.org.lunforge.test:disk1";
const MIB: u64 = 1 << 20;

/// tgtd with target 1 named [`IQN`] and LUN 1 of `size` bytes.
fn target(size: u64) -> (Tgtd, std::path::PathBuf) {
    let mut t = Tgtd::start();
    t.add_target(1, IQN);
    let file = t.backing_file("lun1.img", size);
    t.add_lun(1, 1, &file);
    (t, file)
}

fn opts() -> Options {
    Options {
        initiator_name: "iqn.2024-01.org.lunforge.test:initiator".into(),
        connect_timeout: Duration::from_secs(5),
        io_timeout: Duration::from_secs(20),
        ..Options::default()
    }
}

fn open(t: &Tgtd, creds: &Credentials, o: &Options) -> iscsi::Result<Lun> {
    let url = IscsiUrl::parse(&t.url(IQN, 1)).unwrap();
    Lun::open(&url, creds, o)
}

fn creds(user: &str, secret: &str) -> Credentials {
    Credentials {
        user: Some(user.into()),
        secret: Some(Secret::from(secret)),
        ..Credentials::default()
    }
}

/// A deterministic pattern: each 8-byte word holds its own offset,
/// mixed with a tag so that stale data never matches.
fn pattern(offset: u64, len: usize, tag: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut at = offset;
    while out.len() < len {
        let w = (at / 8).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ tag;
        out.extend_from_slice(&w.to_le_bytes());
        at += 8;
    }
    out.truncate(len);
    out
}

#[test]
fn iscsi_discovery_agrees_with_iscsi_ls() {
    let (t, _file) = target(64 * MIB);
    let url = IscsiUrl::parse_partial(&format!("iscsi://127.0.0.1:{}", t.port))
        .unwrap();
    let found =
        iscsi::discover(&url, &Credentials::default(), &opts()).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].name, IQN);
    let p = &found[0].portals[0];
    assert_eq!(
        (p.host.as_str(), p.port, p.tpgt),
        ("127.0.0.1", t.port, Some(1))
    );

    let turl =
        IscsiUrl::parse_partial(&format!("iscsi://127.0.0.1:{}/{IQN}", t.port))
            .unwrap();
    let luns =
        iscsi::list_luns(&turl, &Credentials::default(), &opts()).unwrap();
    assert_eq!(luns.len(), 1, "{luns:?}");
    assert_eq!(luns[0].lun, 1);
    assert_eq!(luns[0].capacity, 64 * MIB);

    let out = run(
        Command::new("iscsi-ls")
            .arg("-s")
            .arg(format!("iscsi://127.0.0.1:{}", t.port)),
        "libiscsi-bin",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("Target:{IQN} Portal:127.0.0.1:{},1", t.port)),
        "{text}"
    );
    // iscsi-ls prints the returned (last) LBA times the block size, in
    // whole MiB rounded down: 64 MiB shows as 63M.
    let shown = (luns[0].capacity - u64::from(luns[0].block_size)) / MIB;
    assert!(
        text.contains(&format!("Lun:1    Type:DIRECT_ACCESS (Size:{shown}M)")),
        "{text}\n{:?}",
        luns[0]
    );
}

#[test]
fn iscsi_capacity_and_inquiry_agree_with_iscsi_inq() {
    let size = 48 * MIB + 4096;
    let (t, _file) = target(size);
    let lun = open(&t, &Credentials::default(), &opts()).unwrap();
    assert_eq!(lun.capacity(), size);
    assert_eq!(lun.block_size(), 512);
    let info = lun.info().clone();
    assert_eq!(info.blocks, size / 512);
    assert_eq!(info.inquiry.device_type, 0);
    let out = run(Command::new("iscsi-inq").arg(t.url(IQN, 1)), "libiscsi-bin");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("Vendor:{}", info.inquiry.vendor)),
        "{text}\n{info:?}"
    );
    assert!(
        text.contains(&format!("Product:{}", info.inquiry.product)),
        "{text}\n{info:?}"
    );
    assert_eq!(lun.zeroing(), Zeroing::Write, "not thin: {info:?}");
    let rc16 = oracle(&["iscsi-readcapacity16", &t.url(IQN, 1)]);
    assert_eq!(field(&rc16, "Total size"), size.to_string(), "{rc16}");
    assert_eq!(field(&rc16, "LOGICAL BLOCK LENGTH IN BYTES"), "512");
    assert_eq!(field(&rc16, "LBPME:"), "0", "{rc16}");
    Box::new(lun).close().unwrap();
}

/// Run a libiscsi-bin tool; its standard output.
fn oracle(args: &[&str]) -> String {
    let out = run(Command::new(args[0]).args(&args[1..]), "libiscsi-bin");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value after `key:` (or after `key` when it ends in ':') on the
/// line where the key appears, up to the next space.
fn field(text: &str, key: &str) -> String {
    let key = key.trim_end_matches(':');
    let pat = format!("{key}:");
    let at = text
        .find(&pat)
        .unwrap_or_else(|| panic!("no {key:?} in:\n{text}"));
    text[at + pat.len()..]
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn iscsi_chap_one_way_and_mutual() {
    let (t, _file) = target(8 * MIB);
    t.chap(1, "jim", "jimsecret123", false);
    // No credentials: the target requires CHAP.
    let e = open(&t, &Credentials::default(), &opts()).unwrap_err();
    assert!(
        e.to_string().contains("authentication")
            || e.to_string().contains("CHAP"),
        "{e}"
    );
    // Wrong secret.
    let e = open(&t, &creds("jim", "wrongsecret99"), &opts()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Login {
                class: 2,
                detail: 1,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("authentication failure"), "{e}");
    // Right secret.
    let lun = open(&t, &creds("jim", "jimsecret123"), &opts()).unwrap();
    lun.logout().unwrap();

    // Mutual: the target answers with its outgoing account.
    t.chap(1, "tgtuser", "tgtsecret456", true);
    let mut c = creds("jim", "jimsecret123");
    c.target_user = Some("tgtuser".into());
    c.target_secret = Some(Secret::from("tgtsecret456"));
    let lun = open(&t, &c, &opts()).unwrap();
    lun.logout().unwrap();
    c.target_secret = Some(Secret::from("notthesecret"));
    let e = open(&t, &c, &opts()).unwrap_err();
    assert!(e.to_string().contains("mutual CHAP"), "{e}");
    // The URL form carries the same (secret in the URL).
    let url = IscsiUrl::parse(&format!(
        "iscsi://jim%jimsecret123@127.0.0.1:{}/{IQN}/1?target_user=tgtuser&target_password=tgtsecret456",
        t.port
    ))
    .unwrap();
    assert!(url.has_secret_in_url());
    let lun =
        Lun::open(&url, &Credentials::from_url(&url, None, None), &opts())
            .unwrap();
    assert!(!lun.name().contains("jimsecret"), "{}", lun.name());
    lun.logout().unwrap();
}

#[test]
fn iscsi_unknown_target_and_missing_lun() {
    let (t, _file) = target(8 * MIB);
    let other = "iqn.2024-01.org.lunforge.test:nosuch";
    let url = IscsiUrl::parse(&t.url(other, 1)).unwrap();
    let e = Lun::open(&url, &Credentials::default(), &opts()).unwrap_err();
    assert!(e.to_string().contains(other), "{e}");
    assert!(e.to_string().contains("target not found"), "{e}");

    let url = IscsiUrl::parse(&t.url(IQN, 5)).unwrap();
    let e = Lun::open(&url, &Credentials::default(), &opts()).unwrap_err();
    assert!(matches!(e, Error::NoLun { lun: 5, .. }), "{e:?}");
    assert!(e.to_string().contains("has no LUN 5"), "{e}");

    // tgt's LUN 0 is its controller, not a disk.
    let url = IscsiUrl::parse(&t.url(IQN, 0)).unwrap();
    let e = Lun::open(&url, &Credentials::default(), &opts()).unwrap_err();
    assert!(
        e.to_string().contains(&format!(
            "{IQN} LUN 0: peripheral device type 0x0c is not a \
             direct-access block device"
        )),
        "{e}"
    );

    // Nothing listening.
    let port = crate::support::tgtd::free_port();
    let url =
        IscsiUrl::parse(&format!("iscsi://127.0.0.1:{port}/{IQN}/1")).unwrap();
    let e = Lun::open(&url, &Credentials::default(), &opts()).unwrap_err();
    assert!(e.to_string().contains("cannot connect"), "{e}");
}

/// Write `size` bytes with pipelined writes of mixed sizes, sync, read
/// back through the initiator and compare with the backing file.
fn write_read_compare(
    o: &Options,
    size: u64,
    tag: u64,
    params: &[(&str, &str)],
) -> (f64, Negotiated) {
    let (t, file) = target(size);
    for (k, v) in params {
        t.param(1, k, v);
    }
    let mut lun = open(&t, &Credentials::default(), o).unwrap();
    let neg = lun.negotiated().clone();
    let sizes = [
        512usize,
        4096,
        65536,
        65536 + 512,
        262144,
        1 << 20,
        3 << 20,
        4 << 20,
    ];
    let start = Instant::now();
    let mut at = 0u64;
    let mut i = 0;
    let mut most_in_flight = 0;
    while at < size {
        let n = (sizes[i % sizes.len()] as u64).min(size - at) as usize;
        lun.write(at, &pattern(at, n, tag)).unwrap();
        most_in_flight = most_in_flight.max(lun.in_flight());
        at += n as u64;
        i += 1;
    }
    // Overwrite a range that is likely still in flight: must not be
    // overtaken by the older write.
    lun.write(4096, &pattern(4096, 8192, !tag)).unwrap();
    lun.sync().unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert!(most_in_flight > 4, "writes were not pipelined");
    assert_eq!(lun.in_flight(), 0, "sync waits for every write");
    let mut back = vec![0u8; 1 << 20];
    let mut at = 0u64;
    while at < size.min(8 * MIB) {
        lun.read(at, &mut back).unwrap();
        let mut want = pattern(at, back.len(), tag);
        if at == 0 {
            want[4096..12288].copy_from_slice(&pattern(4096, 8192, !tag));
        }
        assert!(back == want, "read back differs in MiB at {at}");
        at += MIB;
    }
    assert_eq!(lun.acked(), size + 8192);
    Box::new(lun).close().unwrap();
    let on_disk = std::fs::read(&file).unwrap();
    let mut want = pattern(0, size as usize, tag);
    want[4096..12288].copy_from_slice(&pattern(4096, 8192, !tag));
    assert!(on_disk == want, "backing file differs");
    (size as f64 / MIB as f64 / secs, neg)
}

#[test]
fn iscsi_pipelined_writes_read_back() {
    let (mibs, neg) = write_read_compare(&opts(), 64 * MIB, 1, &[]);
    eprintln!("tgtd loopback, default digests: {mibs:.0} MiB/s, {neg:?}");
    assert!(neg.max_burst < 4 << 20, "writes > MaxBurstLength: {neg:?}");
}

#[test]
fn iscsi_digests_crc32c() {
    let o = Options {
        header_digest: DigestChoice::Require,
        data_digest: DigestChoice::Require,
        ..opts()
    };
    let crc = [("HeaderDigest", "CRC32C"), ("DataDigest", "CRC32C")];
    let (mibs, neg) = write_read_compare(&o, 16 * MIB, 2, &crc);
    assert!(neg.digests.header && neg.digests.data, "{neg:?}");
    eprintln!("tgtd loopback, CRC32C digests: {mibs:.0} MiB/s");
}

#[test]
fn iscsi_no_immediate_data_and_initial_r2t() {
    let o = Options {
        immediate_data: false,
        initial_r2t: true,
        header_digest: DigestChoice::Off,
        data_digest: DigestChoice::Off,
        ..opts()
    };
    let (_, neg) = write_read_compare(&o, 8 * MIB, 3, &[]);
    assert!(!neg.immediate_data && neg.initial_r2t, "{neg:?}");
}

/// The target allows unsolicited data and big PDUs: immediate data and
/// unsolicited Data-Out up to FirstBurstLength, then R2Ts.
#[test]
fn iscsi_unsolicited_data_and_large_pdus() {
    let params = [
        ("InitialR2T", "No"),
        ("ImmediateData", "Yes"),
        ("FirstBurstLength", "262144"),
        ("MaxBurstLength", "1048576"),
        ("MaxRecvDataSegmentLength", "262144"),
        ("MaxOutstandingR2T", "4"),
    ];
    let (mibs, neg) = write_read_compare(&opts(), 64 * MIB, 4, &params);
    eprintln!("tgtd loopback, unsolicited data: {mibs:.0} MiB/s, {neg:?}");
    assert!(neg.immediate_data && !neg.initial_r2t, "{neg:?}");
    assert_eq!(neg.first_burst, 262_144, "{neg:?}");
}

#[test]
fn iscsi_thin_zero_punches_holes() {
    let size = 32 * MIB;
    let (t, file) = target(size);
    t.thin(1, 1);
    let mut lun = open(&t, &Credentials::default(), &opts()).unwrap();
    assert_eq!(lun.zeroing(), Zeroing::Unmap, "{:?}", lun.info());
    // What the initiator read agrees with libiscsi's tools.
    let info = lun.info().clone();
    let url = t.url(IQN, 1);
    let rc16 = oracle(&["iscsi-readcapacity16", &url]);
    assert_eq!(field(&rc16, "LBPME"), "1", "{rc16}");
    assert_eq!(field(&rc16, "LBPRZ"), "1", "{rc16}");
    assert!(info.lbpme && info.lbprz, "{info:?}");
    let lbp = oracle(&["iscsi-inq", "-e", "1", "-c", "178", &url]);
    let p = info.provisioning.unwrap();
    assert_eq!(field(&lbp, "lbpu"), if p.lbpu { "1" } else { "0" }, "{lbp}");
    assert_eq!(field(&lbp, "lbpws"), if p.lbpws { "1" } else { "0" });
    assert_eq!(
        field(&lbp, "provisioning type"),
        p.provisioning_type.to_string()
    );
    let bl = oracle(&["iscsi-inq", "-e", "1", "-c", "176", &url]);
    assert_eq!(
        field(&bl, "maximum unmap lba count"),
        info.limits.max_unmap_lbas.to_string(),
        "{bl}"
    );
    assert_eq!(
        field(&bl, "maximum unmap block descriptor count"),
        info.limits.max_unmap_descriptors.to_string()
    );
    let data = pattern(0, size as usize, 7);
    for (i, chunk) in data.chunks(4 << 20).enumerate() {
        lun.write(i as u64 * (4 << 20), chunk).unwrap();
    }
    lun.sync().unwrap();
    let full = std::fs::metadata(&file).unwrap().blocks();
    assert!(full * 512 >= size, "{full} blocks");
    lun.zero(MIB, 16 * MIB).unwrap();
    lun.sync().unwrap();
    let after = std::fs::metadata(&file).unwrap().blocks();
    assert!(
        after * 512 <= size - 15 * MIB,
        "{after} blocks of 512 bytes after unmapping 16 MiB (was {full})"
    );
    let mut buf = vec![1u8; MIB as usize];
    lun.read(2 * MIB, &mut buf).unwrap();
    assert!(buf.iter().all(|b| *b == 0));
    lun.read(0, &mut buf).unwrap();
    assert!(buf == data[..MIB as usize]);
    Box::new(lun).close().unwrap();
}

#[test]
fn iscsi_target_killed_mid_write() {
    let size = 256 * MIB;
    let (mut t, _file) = target(size);
    let o = Options {
        io_timeout: Duration::from_secs(5),
        ..opts()
    };
    let mut lun = open(&t, &Credentials::default(), &o).unwrap();
    let chunk = pattern(0, 4 << 20, 9);
    let mut at = 0u64;
    let mut result: sink::Result<()> = Ok(());
    while at < size {
        if at == 32 * MIB {
            t.kill();
        }
        result = lun.write(at, &chunk);
        if result.is_err() {
            break;
        }
        at += 4 << 20;
    }
    if result.is_ok() {
        result = lun.sync();
    }
    let e = result.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("session ended with"), "{msg}");
    assert!(msg.contains("bytes of writes acknowledged"), "{msg}");
}

/// tgtd's own sense data, decoded: a read past the end and a write to
/// a read-only LUN (whose failure surfaces at the sync that waits for
/// the pipelined write).
#[test]
fn iscsi_sense_from_tgtd() {
    let size = 8 * MIB;
    let (t, _file) = target(size);
    let url = IscsiUrl::parse(&t.url(IQN, 1)).unwrap();
    let mut s = lunforge::iscsi::session::Session::connect(
        "127.0.0.1",
        t.port,
        lunforge::iscsi::login::SessionKind::Normal(IQN),
        "sense",
        &Credentials::default(),
        &opts(),
    )
    .unwrap();
    let past = size / 512 + 10;
    let e = s
        .run(lunforge::iscsi::session::Command {
            cdb: lunforge::iscsi::scsi::read16(past, 1),
            lun: lunforge::iscsi::pdu::encode_lun(1),
            data_out: None,
            data_in: 512,
            range: None,
        })
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("READ(16) at LBA 16394"), "{msg}");
    assert!(msg.contains("LBA out of range (ILLEGAL REQUEST"), "{msg}");
    s.logout().unwrap();

    t.tgtadm(&[
        "--op",
        "update",
        "--mode",
        "logicalunit",
        "--tid",
        "1",
        "--lun",
        "1",
        "--params",
        "readonly=1",
    ]);
    let mut lun = Lun::open(&url, &Credentials::default(), &opts()).unwrap();
    lun.write(0, &[1u8; 4096]).unwrap();
    let e = lun.sync().unwrap_err();
    assert!(e.to_string().contains("LUN is write-protected"), "{e}");
    assert!(e.to_string().contains("WRITE(16) at LBA 0"), "{e}");
}
