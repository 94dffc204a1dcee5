//! SIGINT and SIGTERM at each stage of `lunforge build`: the build stops
//! within seconds with the shell's status for the signal (130, 143) and
//! leaves nothing behind: `TMPDIR` empty, nothing mounted below the
//! test's directories, no process left in a staging root, no temporary
//! or unverified file in the cache, no output file; then a rerun in the
//! same directories succeeds.
//!
//! Each build runs with `TMPDIR`, `--cache` and `-o` in fresh
//! directories and is signalled once its progress on stderr shows the
//! stage (`STAGE: starting`); the test also asserts that no later stage
//! started, so the signal surely came while that stage ran. Resolve and
//! fetch are held open by a mirror on 127.0.0.1 that stops half way
//! through one file ([`HoldingMirror`]); the later stages run long
//! enough on the host mirror's default guest, whose packages come from
//! the shared `target/test-cache` (linked into each fresh cache).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::blockdev_loop::root;
use crate::support::qemu::test_cache;
use crate::support::testrepo::TestRepo;
use crate::support::{lunforge, lunforge_cmd, sha256_hex, RecipeFile};

/// A signal's generous bound: a hang detector, not a benchmark.
const STOP_WITHIN: Duration = Duration::from_secs(10);
/// How long a build may take to reach the stage it is signalled in.
const REACH_WITHIN: Duration = Duration::from_secs(300);

/// The fresh directories of one build and its reruns.
struct Dirs {
    _top: tempfile::TempDir,
    tmp: PathBuf,
    cache: PathBuf,
    out: PathBuf,
}

impl Dirs {
    fn new() -> Dirs {
        let top = tempfile::Builder::new()
            .prefix("lf-signals-")
            .tempdir()
            .expect("work dir");
        let d = |n: &str| {
            let p = top.path().join(n);
            std::fs::create_dir(&p).expect("mkdir");
            p
        };
        Dirs {
            tmp: d("tmp"),
            cache: d("cache"),
            out: d("out"),
            _top: top,
        }
    }

    /// `build -o OUT --cache CACHE ARGS…` with `TMPDIR=TMP`.
    fn args(&self, args: &[&str]) -> Vec<String> {
        let mut v = vec![
            "build".to_string(),
            "-o".into(),
            self.out.display().to_string(),
            "--cache".into(),
            self.cache.display().to_string(),
        ];
        v.extend(args.iter().map(|a| a.to_string()));
        v
    }

    /// Link every file of the shared test cache into this fresh cache:
    /// the later stages' builds need their packages without a download,
    /// and files lunforge adds stay apart from the shared ones.
    fn link_test_cache(&self) {
        let shared = test_cache().join("sha256");
        for sub in std::fs::read_dir(&shared).expect("test cache").flatten() {
            let dir = self.cache.join("sha256").join(sub.file_name());
            std::fs::create_dir_all(&dir).expect("mkdir");
            for f in std::fs::read_dir(sub.path()).expect("read").flatten() {
                std::os::unix::fs::symlink(f.path(), dir.join(f.file_name()))
                    .expect("symlink");
            }
        }
    }
}

/// A `lunforge build` running, its stderr collected.
struct Build {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Build {
    fn start(dirs: &Dirs, args: &[&str]) -> Build {
        let (mut cmd, _) = lunforge_cmd(dirs.args(args));
        let mut child = cmd
            .env("TMPDIR", &dirs.tmp)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lunforge");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(|l| l.ok()) {
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                s.push_str(&line);
                s.push('\n');
            }
        });
        Build { child, stderr }
    }

    fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Wait until stderr shows `text`; panic if the build ends first.
    fn reach(&mut self, text: &str) {
        let start = Instant::now();
        while !self.stderr().contains(text) {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "lunforge ended ({status}) before {text:?}:\n{}",
                    self.stderr()
                );
            }
            assert!(
                start.elapsed() < REACH_WITHIN,
                "no {text:?} within {REACH_WITHIN:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Send `signal` to lunforge alone (as `kill` does, not to its
    /// process group) and wait for it to end; its exit code and how long
    /// it took.
    fn interrupt(mut self, signal: rustix::process::Signal) -> (i32, String) {
        let pid = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .expect("pid");
        let sent = Instant::now();
        rustix::process::kill_process(pid, signal).expect("kill");
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if sent.elapsed() > STOP_WITHIN {
                let _ = self.child.kill();
                panic!(
                    "lunforge still runs {STOP_WITHIN:?} after {signal:?}:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let took = sent.elapsed();
        // The reader thread ends with the pipe; give it a moment.
        std::thread::sleep(Duration::from_millis(50));
        eprintln!("stopped {took:?} after {signal:?}");
        (status.code().unwrap_or(-1), self.stderr())
    }
}

/// Signal a build at `stage` (after `settle`, so the stage is under
/// way) and check it stopped there with `code` and left nothing.
fn interrupt_at(
    dirs: &Dirs,
    args: &[&str],
    stage: &str,
    settle: Duration,
    signal: rustix::process::Signal,
    code: i32,
) {
    let mut b = Build::start(dirs, args);
    b.reach(&format!("{stage}: starting"));
    std::thread::sleep(settle);
    stopped_in(b, dirs, stage, signal, code);
}

/// Signal `b` and check that it stopped in `stage` with `code` and
/// left nothing.
fn stopped_in(
    b: Build,
    dirs: &Dirs,
    stage: &str,
    signal: rustix::process::Signal,
    code: i32,
) {
    let (got, stderr) = b.interrupt(signal);
    assert_eq!(
        got, code,
        "exit code after {signal:?} in {stage}:\n{stderr}"
    );
    let last = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_suffix(": starting"));
    assert_eq!(last, Some(stage), "not stopped in {stage}:\n{stderr}");
    assert!(stderr.contains("lunforge: stopped by SIG"), "{stderr}");
    assert_left_nothing(dirs);
}

/// The build in `dirs` again, to success, leaving `TMPDIR` empty.
fn rerun(dirs: &Dirs, args: &[&str]) {
    let (mut cmd, shown) = lunforge_cmd(dirs.args(args));
    let out = cmd.env("TMPDIR", &dirs.tmp).output();
    crate::support::finish(shown, out).ok();
    let tmp = files_under(&dirs.tmp);
    assert!(tmp.is_empty(), "left in TMPDIR by a build: {tmp:?}");
}

/// Nothing of the stopped build is left: see the module documentation.
#[track_caller]
fn assert_left_nothing(dirs: &Dirs) {
    let tmp: Vec<_> = std::fs::read_dir(&dirs.tmp)
        .expect("TMPDIR")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(tmp.is_empty(), "left in TMPDIR: {tmp:?}");
    let mounts =
        std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let top = dirs.tmp.parent().expect("top").display().to_string();
    let under: Vec<&str> =
        mounts.lines().filter(|l| l.contains(&top)).collect();
    assert!(under.is_empty(), "still mounted: {under:?}");
    let rooted = processes_in(&dirs.tmp);
    assert!(
        rooted.is_empty(),
        "processes left in a staging root: {rooted:?}"
    );
    let out = files_under(&dirs.out);
    assert!(out.is_empty(), "output left: {out:?}");
    let parts = files_under(&dirs.cache.join("tmp"));
    assert!(parts.is_empty(), "temporary files in the cache: {parts:?}");
    for f in files_under(&dirs.cache.join("sha256")) {
        if f.is_symlink() {
            continue;
        }
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let data = std::fs::read(&f).expect("cache file");
        assert_eq!(sha256_hex(&data), name, "unverified cache file {f:?}");
    }
}

/// Regular files and symlinks below `dir` (none when it is missing).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Processes working on `dir`: chrooted below it, or naming it on
/// their command line (the sandbox is given its staging root there).
fn processes_in(dir: &Path) -> Vec<String> {
    let name = dir.display().to_string();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| {
            let root = std::fs::read_link(e.path().join("root")).ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (root.starts_with(dir) || cmdline.contains(&name)).then(|| {
                format!("{} {cmdline}", e.file_name().to_string_lossy())
            })
        })
        .collect()
}

/// A mirror on 127.0.0.1 serving a directory, except that the first
/// request for a path containing `hold` gets half its body and then
/// nothing more until the mirror is dropped: the build surely waits in
/// that download when it is signalled.
struct HoldingMirror {
    url: String,
    held: Arc<AtomicBool>,
    release: Arc<AtomicBool>,
}

impl HoldingMirror {
    fn start(root: &Path, hold: &'static str) -> HoldingMirror {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let held = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        let (h, r) = (Arc::clone(&held), Arc::clone(&release));
        let root = root.to_path_buf();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (root, h, r) =
                    (root.clone(), Arc::clone(&h), Arc::clone(&r));
                std::thread::spawn(move || serve(conn, &root, hold, &h, &r));
            }
        });
        HoldingMirror { url, held, release }
    }

    /// Whether the held download has started.
    fn holding(&self) -> bool {
        self.held.load(Ordering::SeqCst)
    }
}

impl Drop for HoldingMirror {
    fn drop(&mut self) {
        self.release.store(true, Ordering::SeqCst);
    }
}

/// Answer one request (`Connection: close`).
fn serve(
    mut conn: TcpStream,
    root: &Path,
    hold: &str,
    held: &AtomicBool,
    release: &AtomicBool,
) {
    let mut req = Vec::new();
    let mut byte = [0u8; 1];
    while !req.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1
    {
        req.push(byte[0]);
    }
    let req = String::from_utf8_lossy(&req);
    let path = req.split_whitespace().nth(1).unwrap_or("/");
    let rel = path.trim_start_matches('/');
    let file = (!rel.split('/').any(|c| c == ".."))
        .then(|| std::fs::read(root.join(rel)).ok())
        .flatten();
    let Some(body) = file else {
        let _ = conn.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    if rel.contains(hold) && !held.swap(true, Ordering::SeqCst) {
        let _ = conn.write_all(&body[..body.len() / 2]);
        let _ = conn.flush();
        while !release.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        return;
    }
    let _ = conn.write_all(&body);
}

/// A test repository of eight 256 KiB packages, served by a mirror
/// that holds the first download of a path containing `hold`; the
/// recipe written next to `dirs`.
fn held_site(
    hold: &'static str,
    dirs: &Dirs,
) -> (crate::support::testrepo::Repo, HoldingMirror, PathBuf) {
    let repo = TestRepo::new("sigtest").essentials(8, 256 * 1024).build();
    let mirror = HoldingMirror::start(&repo.mirror(), hold);
    let text = RecipeFile::new(&mirror.url, &repo.suite).text();
    let recipe = dirs.tmp.parent().expect("top").join("guest.toml");
    std::fs::write(&recipe, text).expect("recipe");
    (repo, mirror, recipe)
}

/// Interrupt a test-repository build while `hold` is half downloaded
/// in `stage`; then the same build, with the mirror answering in full,
/// succeeds.
fn interrupt_held_download(
    hold: &'static str,
    stage: &str,
    signal: rustix::process::Signal,
    code: i32,
) {
    let dirs = Dirs::new();
    let (repo, mirror, recipe) = held_site(hold, &dirs);
    let keyring = repo.keyring();
    let recipe = recipe.display().to_string();
    let keyring = keyring.display().to_string();
    let args = [
        recipe.as_str(),
        "--keyring",
        keyring.as_str(),
        "--configure",
        "firstboot",
    ];
    let mut b = Build::start(&dirs, &args);
    b.reach(&format!("{stage}: starting"));
    let start = Instant::now();
    while !mirror.holding() {
        assert!(start.elapsed() < REACH_WITHIN, "{}", b.stderr());
        std::thread::sleep(Duration::from_millis(10));
    }
    // The half body is surely in the client's hands.
    std::thread::sleep(Duration::from_millis(200));
    stopped_in(b, &dirs, stage, signal, code);
    rerun(&dirs, &args);
    assert!(dirs.out.join("testguest.img").is_file());
    drop(mirror);
}

#[test]
fn sigint_while_resolving_reads_the_index() {
    interrupt_held_download(
        "binary-",
        "resolve",
        rustix::process::Signal::INT,
        130,
    );
}

#[test]
fn sigterm_while_fetching_a_package() {
    interrupt_held_download(
        "pool/",
        "fetch",
        rustix::process::Signal::TERM,
        143,
    );
}

/// The default guest from the host mirror, with packages from the
/// shared test cache (fetched there first, once).
fn host_dirs() -> Dirs {
    let shared = test_cache().display().to_string();
    lunforge(["-q", "fetch", "--cache", shared.as_str()]).ok();
    let dirs = Dirs::new();
    dirs.link_test_cache();
    dirs
}

#[test]
fn unpack_boot_files_and_disk_write_stop_on_a_signal() {
    let dirs = host_dirs();
    let firstboot = ["--configure", "firstboot"];
    let settle = Duration::from_millis(300);
    use rustix::process::Signal;
    let (int, term) = (Signal::INT, Signal::TERM);
    interrupt_at(&dirs, &firstboot, "unpack", settle, int, 130);
    interrupt_at(&dirs, &firstboot, "boot files", settle, term, 143);
    interrupt_at(
        &dirs,
        &firstboot,
        "partition, format and write",
        settle,
        int,
        130,
    );
    rerun(&dirs, &firstboot);
    assert!(dirs.out.join("virtual01.img").is_file());
}

#[test]
fn sigterm_in_sandbox_configure_kills_the_scripts() {
    if !root("sigterm_in_sandbox_configure_kills_the_scripts") {
        return;
    }
    let dirs = host_dirs();
    let mut b = Build::start(&dirs, &["--configure", "chroot"]);
    b.reach("then dpkg --configure -a, in a sandbox");
    // Signal once the sandbox runs on its staging root in TMPDIR (and
    // its first scripts have had a moment): what the signal must end.
    let start = Instant::now();
    while processes_in(&dirs.tmp).is_empty() {
        assert!(start.elapsed() < REACH_WITHIN, "{}", b.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(1));
    stopped_in(b, &dirs, "configure", rustix::process::Signal::TERM, 143);
    // The cache and the directories serve a new build (the cheapest
    // that uses them all: no chroot, a tarball).
    rerun(&dirs, &["--configure", "firstboot", "--format", "tar"]);
    assert!(dirs.out.join("virtual01.tar").is_file());
}
