//! Stopping a build on SIGINT or SIGTERM without leaving anything
//! behind.
//!
//! The default action of both signals ends the process at once: no
//! destructor runs, so the staging tree of a chroot configure, its
//! `/proc` mount, a cache download's `.part` file and an image's
//! temporary file all stay. Instead, [`install`] makes the signals only
//! record themselves; every stage calls [`check`] at its natural loop
//! points (per download chunk, package, archive entry, group, block) and
//! returns [`Interrupted`] through `?`, so the usual error path runs the
//! destructors that remove the temporary files, and `main` exits with
//! `128 + signal` as a shell would report it.
//!
//! Child processes are waited for by [`wait`] and [`output`], which
//! poll for the signal and kill the child's whole process group when it
//! comes: a terminal's Ctrl-C reaches the foreground group, but
//! `kill -TERM <pid>` reaches lunforge alone, so lunforge must end its
//! children itself and reap them before it removes what they use.
//!
//! A library user decides about signals itself: nothing here installs a
//! handler unless [`install`] is called (the `lunforge` binary does).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The signal that asked the build to stop, or 0 while none did.
static SIGNAL: AtomicUsize = AtomicUsize::new(0);

/// How often a wait looks at the flag: short enough that a build stops
/// well within a second, long enough to cost nothing.
pub const POLL: Duration = Duration::from_millis(50);

/// The signals that stop a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Ctrl-C on the terminal.
    Int,
    /// `kill`, a service manager, a CI runner's timeout.
    Term,
}

impl Signal {
    /// The signal's number.
    pub fn number(self) -> i32 {
        match self {
            Signal::Int => signal_hook::consts::SIGINT,
            Signal::Term => signal_hook::consts::SIGTERM,
        }
    }

    /// The exit status a shell gives a command this signal ended:
    /// 130 for SIGINT, 143 for SIGTERM.
    pub fn exit_code(self) -> u8 {
        // SIGINT and SIGTERM are 2 and 15: the sum fits.
        u8::try_from(128 + self.number()).unwrap_or(u8::MAX)
    }

    fn from_number(n: usize) -> Option<Signal> {
        [Signal::Int, Signal::Term]
            .into_iter()
            .find(|s| usize::try_from(s.number()).is_ok_and(|m| m == n))
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
        })
    }
}

/// The build stopped because a signal asked it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted by {signal}")]
pub struct Interrupted {
    /// The signal.
    pub signal: Signal,
}

/// Result of a cancellable step.
pub type Result<T> = std::result::Result<T, Interrupted>;

/// Make SIGINT and SIGTERM stop the build at its next [`check`] instead
/// of ending the process on the spot.
pub fn install() -> std::io::Result<()> {
    for s in [Signal::Int, Signal::Term] {
        let n = usize::try_from(s.number()).unwrap_or(0);
        signal_hook::flag::register_usize(s.number(), &SIGNAL, n)?;
    }
    Ok(())
}

/// The signal received, if any.
pub fn requested() -> Option<Signal> {
    Signal::from_number(SIGNAL.load(Ordering::SeqCst))
}

/// [`Interrupted`] once a signal has come.
pub fn check() -> Result<()> {
    match requested() {
        Some(signal) => Err(Interrupted { signal }),
        None => Ok(()),
    }
}

/// Record `signal` as if it had been received: for tests, and for a
/// library user that stops a build on its own terms.
pub fn request(signal: Signal) {
    let n = usize::try_from(signal.number()).unwrap_or(0);
    SIGNAL.store(n, Ordering::SeqCst);
}

/// Sleep for `d` (a retry's back-off), waking early to stop.
pub fn sleep(d: Duration) -> Result<()> {
    let end = Instant::now() + d;
    loop {
        check()?;
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep(POLL.min(end - now));
    }
}

/// The next message of `rx`, or `None` when its sender is gone; a
/// signal ends the wait (the sender's thread is left to notice the
/// dropped receiver).
pub fn recv<T>(rx: &Receiver<T>) -> Result<Option<T>> {
    loop {
        check()?;
        match rx.recv_timeout(POLL) {
            Ok(v) => return Ok(Some(v)),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(None),
        }
    }
}

/// Start `cmd` in a process group of its own, so that [`wait`] can end
/// it together with everything it started (dpkg's maintainer scripts,
/// their helpers). Its standard input is the caller's to set.
pub fn spawn(cmd: &mut Command) -> std::io::Result<Child> {
    cmd.process_group(0).spawn()
}

/// A failure to wait for a child.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// A signal came; the child was killed and reaped.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    /// Waiting or reading its output failed.
    #[error("waiting for the child process: {0}")]
    Io(#[from] std::io::Error),
}

/// Wait for `child` (started by [`spawn`]), or on a signal kill its
/// process group, reap it and return [`Interrupted`].
pub fn wait(child: &mut Child) -> std::result::Result<ExitStatus, WaitError> {
    loop {
        if let Err(e) = check() {
            kill(child);
            return Err(e.into());
        }
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        std::thread::sleep(POLL);
    }
}

/// Run `cmd` (in its own process group) to completion, capturing its
/// standard output and error as [`Command::output`] does; on a signal
/// the group is killed and reaped.
pub fn output(cmd: &mut Command) -> std::result::Result<Output, WaitError> {
    use std::process::Stdio;
    let mut child = spawn(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()))?;
    // Read both pipes on threads, so a child filling one never blocks.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let status = wait(&mut child);
    // The group is gone (exited or killed), so the pipes reach their
    // end unless a daemon escaped the group; do not wait for it then.
    let join = |h: std::thread::JoinHandle<Vec<u8>>| {
        if status.is_ok() {
            h.join().unwrap_or_default()
        } else {
            Vec::new()
        }
    };
    let stdout = join(out);
    let stderr = join(err);
    Ok(Output {
        status: status?,
        stdout,
        stderr,
    })
}

/// Kill `child`'s process group (the child leads it, see [`spawn`]) and
/// reap the child. Errors are ignored: the group may already be gone.
fn kill(child: &mut Child) {
    if let Some(pid) = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(
            pid,
            rustix::process::Signal::KILL,
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_messages() {
        assert_eq!(Signal::Int.exit_code(), 130);
        assert_eq!(Signal::Term.exit_code(), 143);
        let e = Interrupted {
            signal: Signal::Term,
        };
        assert_eq!(e.to_string(), "interrupted by SIGTERM");
        let e = WaitError::Io(std::io::Error::other("no such process"));
        assert_eq!(
            e.to_string(),
            "waiting for the child process: no such process"
        );
        assert_eq!(Signal::from_number(2), Some(Signal::Int));
        assert_eq!(Signal::from_number(0), None);
    }
}
