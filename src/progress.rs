//! Progress reporting: stages never print, they report here.
//!
//! [`Progress`] has a silent implementation for tests and library users
//! and a terminal one: an indicatif bar when stderr is a terminal, and
//! otherwise a few plain lines (start, every quarter, end) that read well
//! in CI logs.
//!
//! How much the terminal shows is a [`Level`], as `-q`, `-v` and `-vv`
//! pick it (mmdebstrap's `--quiet`, `--verbose` and `--debug`). The
//! stages report everything they know cheaply; the reporter drops what
//! its level does not show. A detail ([`Progress::detail`]) is passed as
//! `format_args!`, so one that is not shown is never formatted.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

/// How much a reporter shows, from `-q` to `-vv`. Each level shows
/// everything the levels below it do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `-q`: nothing (the command still prints its summary, warnings
    /// and errors).
    Quiet,
    /// The default: each stage as it starts, its progress and result,
    /// and the choices a build makes (the configure strategy).
    #[default]
    Normal,
    /// `-v`: also each stage's end and time, which mirror and why, which
    /// Release was verified, each package downloaded or found in the
    /// cache.
    Verbose,
    /// `-vv`: also each request to the mirror, each maintainer script
    /// the configure sandbox runs (and what it prints), each boot file.
    Trace,
}

impl Level {
    /// The level of `-q` (`quiet`) and of `verbose` times `-v`.
    pub fn from_flags(quiet: bool, verbose: u8) -> Level {
        match (quiet, verbose) {
            (true, _) => Level::Quiet,
            (false, 0) => Level::Normal,
            (false, 1) => Level::Verbose,
            (false, _) => Level::Trace,
        }
    }
}

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
    /// Detail that a reporter shows at `level` ([`Level::Verbose`] or
    /// [`Level::Trace`]) and above; formatted only when shown.
    fn detail(&self, level: Level, message: std::fmt::Arguments<'_>) {
        let _ = (level, message);
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

/// Keeps every note and detail it is told, in order, with its level
/// (a note is [`Level::Normal`]): for tests, and for library users that
/// show progress their own way.
#[derive(Debug, Default)]
pub struct Recorder {
    lines: Mutex<Vec<(Level, String)>>,
}

impl Recorder {
    /// What was told so far.
    pub fn lines(&self) -> Vec<(Level, String)> {
        // A panic while holding the lock loses no line.
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn push(&self, level: Level, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.push((level, line));
    }
}

impl Progress for Recorder {
    fn begin(&self, _: &str, _: u64, _: u64) {}
    fn advance(&self, _: &str, _: u64) {}
    fn end(&self, _: &str) {}
    fn note(&self, message: &str) {
        self.push(Level::Normal, message.to_string());
    }
    fn detail(&self, level: Level, message: std::fmt::Arguments<'_>) {
        self.push(level, message.to_string());
    }
}

/// Reports on stderr: a bar on a terminal, lines otherwise.
#[derive(Debug)]
pub struct Terminal {
    state: Mutex<State>,
    tty: bool,
    level: Level,
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
    /// A reporter on stderr showing what `level` does ([`Level::Quiet`]
    /// silences it; the command still prints its own summary and
    /// errors).
    pub fn new(level: Level) -> Terminal {
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
            level,
        }
    }

    /// Whether the level silences everything.
    fn quiet(&self) -> bool {
        self.level == Level::Quiet
    }

    /// A line on stderr, above the bar when there is one.
    fn line(&self, message: &dyn std::fmt::Display) {
        let s = self.lock();
        match &s.bar {
            Some(bar) => bar.println(message.to_string()),
            None => eprintln!("{message}"),
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
        if self.quiet() {
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
        if self.quiet() {
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
        if self.quiet() {
            return;
        }
        let secs = s.started.elapsed().as_secs_f64();
        eprintln!("{}: {summary} in {secs:.1}s", s.stage);
    }

    fn stage(&self, name: &str) {
        self.note(&format!("{name}: starting"));
    }

    fn note(&self, message: &str) {
        if !self.quiet() {
            self.line(&message);
        }
    }

    fn detail(&self, level: Level, message: std::fmt::Arguments<'_>) {
        if self.level >= level && !self.quiet() {
            self.line(&message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_pick_the_level() {
        assert_eq!(Level::from_flags(true, 0), Level::Quiet);
        assert_eq!(Level::from_flags(false, 0), Level::Normal);
        assert_eq!(Level::from_flags(false, 1), Level::Verbose);
        assert_eq!(Level::from_flags(false, 2), Level::Trace);
        assert_eq!(Level::from_flags(false, 7), Level::Trace);
    }

    #[test]
    fn the_recorder_keeps_notes_and_details_in_order() {
        let r = Recorder::default();
        r.note("configure: firstboot");
        r.detail(Level::Trace, format_args!("GET {}", "/InRelease"));
        r.detail(Level::Verbose, format_args!("fetch: done in {:.1} s", 0.25));
        assert_eq!(
            r.lines(),
            [
                (Level::Normal, "configure: firstboot".to_string()),
                (Level::Trace, "GET /InRelease".to_string()),
                (Level::Verbose, "fetch: done in 0.2 s".to_string()),
            ]
        );
    }

    /// Each level shows what the ones below it do.
    #[test]
    fn levels_are_ordered() {
        let all = [Level::Quiet, Level::Normal, Level::Verbose, Level::Trace];
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Level::default(), Level::Normal);
    }
}
