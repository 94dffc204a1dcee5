//! A faulty mirror on 127.0.0.1: it serves the files of one directory
//! as [`super::http`] does, except for the one path it is told to spoil,
//! whose response breaks the way networks and mirrors break ([`Fault`]):
//! a connection reset or a clean close in the middle of the body, a body
//! of the wrong length or content, a body or an answer that never comes.
//!
//! It speaks just enough HTTP/1.1 for that, by hand (a library server
//! would not let a test cut a body short): each connection gets one
//! response with `Connection: close`, from a thread of its own. A held
//! connection ([`Fault::StallBody`], [`Fault::Silent`]) lasts until the
//! client gives up or the mirror is dropped. It logs the path of every
//! request, so that tests can count the attempts, and never listens on
//! anything but the loopback address.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::http::{decode, local};

/// How the spoiled path's response goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The headers and half the body, then a TCP reset (`SO_LINGER` 0):
    /// the connection dropped mid-download.
    Reset,
    /// The whole file's `Content-Length`, half the body, then a clean
    /// close: fewer bytes than announced.
    ShortBody,
    /// A well-formed response for the file with 100 bytes more than the
    /// index says: a mirror serving a file of the wrong length.
    WrongLength,
    /// The right length, one byte changed: a checksum mismatch.
    WrongContent,
    /// The headers and half the body, then silence, the connection held
    /// open.
    StallBody,
    /// The request read, then not a byte of answer, the connection held
    /// open.
    Silent,
}

/// Which requests of the spoiled path get the fault.
#[derive(Debug, Clone)]
struct Rule {
    path: String,
    fault: Fault,
    /// Requests still to spoil; `None`: every one.
    left: Option<usize>,
}

/// State shared with the connection threads.
#[derive(Default)]
struct Shared {
    rule: Mutex<Option<Rule>>,
    log: Mutex<Vec<String>>,
    stop: AtomicBool,
}

/// A running faulty mirror.
pub(crate) struct FaultyMirror {
    port: u16,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// How often waiting threads look at the stop flag.
const POLL: Duration = Duration::from_millis(20);

impl FaultyMirror {
    /// Serve the files under `root`, with no fault yet.
    pub(crate) fn start(root: &Path) -> FaultyMirror {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let port = listener.local_addr().expect("address").port();
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = Arc::clone(&shared);
            let root = root.to_path_buf();
            std::thread::spawn(move || accept(&listener, &root, &shared))
        };
        FaultyMirror {
            port,
            shared,
            thread: Some(thread),
        }
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Spoil every request of `path` (relative to the base) with
    /// `fault`.
    pub(crate) fn inject(&self, path: &str, fault: Fault) {
        self.set(Some(Rule {
            path: path.into(),
            fault,
            left: None,
        }));
    }

    /// Spoil only the next request of `path`.
    pub(crate) fn inject_once(&self, path: &str, fault: Fault) {
        self.set(Some(Rule {
            path: path.into(),
            fault,
            left: Some(1),
        }));
    }

    /// Serve every file as it is again.
    pub(crate) fn heal(&self) {
        self.set(None);
    }

    fn set(&self, rule: Option<Rule>) {
        *self.shared.rule.lock().unwrap_or_else(|e| e.into_inner()) = rule;
    }

    /// How often `path` was requested.
    pub(crate) fn count(&self, path: &str) -> usize {
        let log = self.shared.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().filter(|p| *p == path).count()
    }

    /// Forget the requests so far.
    pub(crate) fn clear_log(&self) {
        self.shared
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl Drop for FaultyMirror {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept(listener: &TcpListener, root: &Path, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((conn, _)) => {
                let shared = Arc::clone(shared);
                let root = root.to_path_buf();
                std::thread::spawn(move || {
                    let _ = respond(conn, &root, &shared);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(POLL);
            }
            Err(_) => return,
        }
    }
}

/// The request's path (without the leading `/`), once its head is read.
fn read_request(conn: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf)?;
        if n == 0 || head.len() > 64 * 1024 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let target = text.split(' ').nth(1).unwrap_or("");
    let target = target.split('?').next().unwrap_or("");
    Ok(decode(target).trim_start_matches('/').to_string())
}

/// The fault for this request of `path`, if any (counting it down).
fn fault_for(shared: &Shared, path: &str) -> Option<Fault> {
    let mut rule = shared.rule.lock().unwrap_or_else(|e| e.into_inner());
    let r = rule.as_mut().filter(|r| r.path == path)?;
    let fault = r.fault;
    match &mut r.left {
        Some(0) => return None,
        Some(n) => *n -= 1,
        None => {}
    }
    Some(fault)
}

fn respond(
    mut conn: TcpStream,
    root: &Path,
    shared: &Shared,
) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    let path = read_request(&mut conn)?;
    shared
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(path.clone());
    let file: Option<PathBuf> = local(root, &path);
    let Some(file) = file else {
        return conn.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\
              Connection: close\r\n\r\n",
        );
    };
    let mut body = std::fs::read(file)?;
    let fault = fault_for(shared, &path);
    let announced = body.len();
    let half = body.len() / 2;
    match fault {
        Some(Fault::WrongLength) => body.extend_from_slice(&[0x5a; 100]),
        Some(Fault::WrongContent) => body[half] ^= 0x01,
        _ => {}
    }
    let length = match fault {
        Some(Fault::WrongLength) => body.len(),
        _ => announced,
    };
    if fault == Some(Fault::Silent) {
        return hold(conn, shared);
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\
         Content-Type: application/octet-stream\r\n\
         Connection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes())?;
    match fault {
        Some(Fault::Reset) => {
            conn.write_all(&body[..half])?;
            conn.flush()?;
            // Let the bytes leave before the reset discards them.
            std::thread::sleep(Duration::from_millis(100));
            socket2::SockRef::from(&conn).set_linger(Some(Duration::ZERO))?;
            Ok(())
        }
        Some(Fault::ShortBody) => {
            conn.write_all(&body[..half])?;
            conn.shutdown(std::net::Shutdown::Both)
        }
        Some(Fault::StallBody) => {
            conn.write_all(&body[..half])?;
            hold(conn, shared)
        }
        _ => conn.write_all(&body),
    }
}

/// Keep `conn` open and silent until the client closes it or the
/// mirror stops.
fn hold(mut conn: TcpStream, shared: &Shared) -> std::io::Result<()> {
    conn.set_read_timeout(Some(POLL))?;
    let mut buf = [0u8; 512];
    while !shared.stop.load(Ordering::SeqCst) {
        match conn.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
