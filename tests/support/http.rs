//! A static HTTP server on 127.0.0.1 for a test repository.
//!
//! It serves the files of one directory (404 for anything missing or
//! outside it), on a free port chosen by the kernel, from a thread of the
//! test process, and logs the path of every request so that tests can
//! prove what was (not) downloaded. It stops when dropped. It never
//! listens on anything but the loopback address.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A running server.
pub(crate) struct Server {
    server: Arc<tiny_http::Server>,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serve the files under `root`.
    pub(crate) fn start(root: &Path) -> Server {
        let server = Arc::new(
            tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1"),
        );
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let server = Arc::clone(&server);
            let log = Arc::clone(&log);
            let root = root.to_path_buf();
            std::thread::spawn(move || serve(&server, &root, &log))
        };
        Server {
            server,
            port,
            log,
            thread: Some(thread),
        }
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Paths requested so far (without the leading `/`), in order.
    pub(crate) fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How often `path` was requested.
    pub(crate) fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|p| *p == path).count()
    }

    /// Forget the requests so far.
    pub(crate) fn clear_log(&self) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(server: &tiny_http::Server, root: &Path, log: &Mutex<Vec<String>>) {
    for req in server.incoming_requests() {
        let target = req.url().split('?').next().unwrap_or("");
        // A client using us as its HTTP proxy sends the absolute URL
        // (RFC 9112 §3.2.2): serve its path, and log it as proxied.
        let (proxied, target) = match target.strip_prefix("http://") {
            Some(rest) => (true, rest.find('/').map_or("", |i| &rest[i..])),
            None => (false, target),
        };
        let path = decode(target);
        let rel = path.trim_start_matches('/').to_string();
        let logged = if proxied {
            format!("proxy:{rel}")
        } else {
            rel.clone()
        };
        log.lock().unwrap_or_else(|e| e.into_inner()).push(logged);
        let file = local(root, &rel).and_then(|p| std::fs::File::open(p).ok());
        let _ = match file {
            Some(f) if *req.method() == tiny_http::Method::Get => {
                req.respond(tiny_http::Response::from_file(f))
            }
            _ => req.respond(tiny_http::Response::empty(404)),
        };
    }
}

/// The file under `root` for a request path; `None` for a path that
/// tries to leave `root` or names no regular file.
pub(crate) fn local(root: &Path, rel: &str) -> Option<PathBuf> {
    if rel.split('/').any(|c| c == ".." || c == ".") {
        return None;
    }
    let p = root.join(rel);
    p.is_file().then_some(p)
}

/// Percent-decoding of a URL path.
pub(crate) fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
