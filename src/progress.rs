//! Progress reporting: stages never print, they report here.
//!
//! [`Progress`] has a silent implementation for tests and library users
//! and a terminal one: an indicatif bar when stderr is a terminal, and
//! otherwise a few plain lines (start, every quarter, end) that read well
//! in CI logs.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

/// Receives progress from the stages.
pub trait Progress: Send + Sync {
    /// A stage starts work on `items` things totalling `bytes` bytes.
    fn begin(&self, stage: &str, items: u64, bytes: u64);
    /// One item of `bytes` bytes is done.
    fn advance(&self, item: &str, bytes: u64);
    /// The stage is done; `summary` says what it did.
    fn end(&self, summary: &str);
    /// A note worth showing (a choice made, a fallback taken).
    fn note(&self, message: &str);
    /// A stage of the build starts: a line a user (or a test waiting
    /// to interrupt that stage) can see before the stage's own output.
    fn stage(&self, name: &str) {
        let _ = name;
    }
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _: &str, _: u64, _: u64) {}
    fn advance(&self, _: &str, _: u64) {}
    fn end(&self, _: &str) {}
    fn note(&self, _: &str) {}
}

/// Reports on stderr: a bar on a terminal, lines otherwise.
#[derive(Debug)]
pub struct Terminal {
    state: Mutex<State>,
    tty: bool,
    quiet: bool,
}

#[derive(Debug)]
struct State {
    stage: String,
    items: u64,
    done: u64,
    bytes: u64,
    done_bytes: u64,
    next_quarter: u64,
    started: Instant,
    bar: Option<indicatif::ProgressBar>,
}

impl Terminal {
    /// A reporter on stderr; `quiet` silences it (the command still
    /// prints its own summary and errors).
    pub fn new(quiet: bool) -> Terminal {
        Terminal {
            state: Mutex::new(State {
                stage: String::new(),
                items: 0,
                done: 0,
                bytes: 0,
                done_bytes: 0,
                next_quarter: 1,
                started: Instant::now(),
                bar: None,
            }),
            tty: std::io::stderr().is_terminal(),
            quiet,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock only loses progress output.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Progress for Terminal {
    fn begin(&self, stage: &str, items: u64, bytes: u64) {
        let mut s = self.lock();
        s.stage = stage.into();
        s.items = items;
        s.bytes = bytes;
        s.done = 0;
        s.done_bytes = 0;
        s.next_quarter = 1;
        s.started = Instant::now();
        if self.quiet {
            return;
        }
        if self.tty && (items > 0 || bytes > 0) {
            let bar = indicatif::ProgressBar::new(bytes.max(1));
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix:>8} [{bar:30}] {bytes}/{total_bytes} \
                     {bytes_per_sec} {wide_msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(stage.to_string());
            s.bar = Some(bar);
        } else if items > 0 {
            eprintln!("{stage}: {items} files, {}", crate::units::human(bytes));
        } else {
            eprintln!("{stage}: {}", crate::units::human(bytes));
        }
    }

    fn advance(&self, item: &str, bytes: u64) {
        let mut s = self.lock();
        s.done += 1;
        s.done_bytes += bytes;
        if self.quiet {
            return;
        }
        if let Some(bar) = &s.bar {
            bar.inc(bytes);
            bar.set_message(item.to_string());
        } else if s.items >= 8 && s.done * 4 >= s.next_quarter * s.items {
            eprintln!(
                "{}: {}/{} files ({})",
                s.stage,
                s.done,
                s.items,
                crate::units::human(s.done_bytes)
            );
            s.next_quarter += 1;
        } else if s.items == 0
            && s.bytes > 0
            && s.done_bytes * 4 >= s.next_quarter * s.bytes
            && s.next_quarter < 4
        {
            // A stage counted in bytes (a device write): quarters of
            // them, with the throughput so far.
            let secs = s.started.elapsed().as_secs_f64().max(1e-3);
            eprintln!(
                "{}: {} of {} ({}/s)",
                s.stage,
                crate::units::human(s.done_bytes),
                crate::units::human(s.bytes),
                crate::units::human((s.done_bytes as f64 / secs) as u64)
            );
            s.next_quarter += 1;
        }
    }

    fn end(&self, summary: &str) {
        let mut s = self.lock();
        if let Some(bar) = s.bar.take() {
            bar.finish_and_clear();
        }
        if self.quiet {
            return;
        }
        let secs = s.started.elapsed().as_secs_f64();
        eprintln!("{}: {summary} in {secs:.1}s", s.stage);
    }

    fn stage(&self, name: &str) {
        self.note(&format!("{name}: starting"));
    }

    fn note(&self, message: &str) {
        if self.quiet {
            return;
        }
        let s = self.lock();
        match &s.bar {
            Some(bar) => bar.println(message),
            None => eprintln!("{message}"),
        }
    }
}
