//! What a run needs besides the recipe: where the cache is, how signatures
//! are checked, the clock, and where progress goes.

use std::path::PathBuf;

use crate::progress::Progress;

/// Settings of one run that are not part of the recipe.
pub struct Context {
    /// Download cache directory.
    pub cache_dir: PathBuf,
    /// Keyring files overriding the recipe's and the host's.
    pub keyring: Vec<PathBuf>,
    /// Accept unsigned suites.
    pub insecure_unsigned: bool,
    /// Accept an expired `Valid-Until`.
    pub ignore_valid_until: bool,
    /// Parallel downloads.
    pub jobs: usize,
    /// The time `Valid-Until` is checked against.
    pub now: i64,
    /// Where stages report.
    pub progress: Box<dyn Progress>,
}

impl Context {
    /// Defaults: the XDG cache, the host keyring, the system clock and a
    /// silent reporter.
    pub fn new() -> Context {
        Context {
            cache_dir: crate::fetch::Cache::default_dir(),
            keyring: Vec::new(),
            insecure_unsigned: false,
            ignore_valid_until: false,
            jobs: crate::fetch::DEFAULT_JOBS,
            now: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            progress: Box::new(crate::progress::Silent),
        }
    }
}

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

/// `SOURCE_DATE_EPOCH` from the environment, when set to a number of
/// seconds. A value that is set but not a number is a mistake the build
/// must not paper over with another time: it is reported on stderr and
/// ignored, so the build still says which time it used.
pub fn source_date_epoch() -> Option<i64> {
    let v = std::env::var("SOURCE_DATE_EPOCH").ok()?;
    match v.trim().parse() {
        Ok(t) => Some(t),
        Err(_) => {
            eprintln!(
                "lunforge: warning: SOURCE_DATE_EPOCH={v:?} is not a number \
                 of seconds; ignored"
            );
            None
        }
    }
}
