//! Parallel, cached, verified downloads of the package files.
//!
//! Every `.deb` is fetched through the content-addressed [`cache`], so a
//! file is downloaded at most once per cache and a file that fails its
//! size or SHA-256 check never becomes visible. Downloads run on a small
//! pool of threads sharing one HTTP client (connection reuse matters more
//! than parallelism against a single mirror).

pub mod cache;

use std::path::PathBuf;

use crate::progress::{Level, Progress};
use crate::repo::transport::{Expected, Transport};

pub use cache::Cache;

/// A download failure, naming the package.
#[derive(Debug, thiserror::Error)]
#[error("package {package}: {source}")]
pub struct Error {
    /// The package whose file failed.
    pub package: String,
    /// What failed.
    pub source: cache::Error,
}

/// Result of fetching.
pub type Result<T> = std::result::Result<T, Error>;

/// One file to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Package name, for messages.
    pub package: String,
    /// Path relative to the mirror base.
    pub path: String,
    /// Size and digest from the signed index or the lock.
    pub expected: Expected,
}

/// What a fetch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Cached path of each item, in the order given.
    pub paths: Vec<PathBuf>,
    /// Files downloaded now.
    pub downloaded: usize,
    /// Bytes downloaded now.
    pub downloaded_bytes: u64,
    /// Files already in the cache.
    pub cached: usize,
}

/// Number of parallel downloads.
pub const DEFAULT_JOBS: usize = 4;

/// Fetch every item into `cache` with `jobs` parallel downloads. On a
/// failure no new download starts; of the failures seen, the earliest
/// item's is returned ([`crate::parallel::run`]).
pub fn fetch_all(
    transport: &dyn Transport,
    cache: &Cache,
    items: &[Item],
    jobs: usize,
    progress: &dyn Progress,
) -> Result<Report> {
    let total: u64 = items.iter().map(|i| i.expected.size).sum();
    progress.begin("fetch", items.len() as u64, total);
    let order: Vec<usize> = (0..items.len()).collect();
    let results =
        crate::parallel::run(items.len(), &order, jobs.clamp(1, 32), |i| {
            let item = &items[i];
            let fail = |source| Error {
                package: item.package.clone(),
                source,
            };
            crate::cancel::check()
                .map_err(|i| fail(cache::Error::Transport(i.into())))?;
            let done = cache
                .fetch(transport, &item.path, &item.expected)
                .map_err(fail)?;
            progress.advance(&item.package, item.expected.size);
            progress.detail(
                Level::Verbose,
                format_args!(
                    "fetch: {}: {}, {}",
                    item.package,
                    crate::units::human(item.expected.size),
                    if done.1 { "downloaded" } else { "in the cache" }
                ),
            );
            Ok(done)
        });
    let results = match results {
        Ok(r) => r,
        Err(e) => {
            progress.end("failed");
            return Err(e);
        }
    };
    let mut report = Report::default();
    for (item, (path, downloaded)) in items.iter().zip(results) {
        if downloaded {
            report.downloaded += 1;
            report.downloaded_bytes += item.expected.size;
        } else {
            report.cached += 1;
        }
        report.paths.push(path);
    }
    progress.end(&format!(
        "{} files, {} downloaded ({}), {} from the cache",
        items.len(),
        report.downloaded,
        crate::units::human(report.downloaded_bytes),
        report.cached
    ));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::transport;

    #[test]
    fn error_messages() {
        let e = Error {
            package: "libc6 2.41-12".into(),
            source: cache::Error::Transport(transport::Error::HashMismatch {
                url: "http://m/pool/libc6.deb".into(),
                expected: "ab".into(),
                actual: "cd".into(),
            }),
        };
        assert_eq!(
            e.to_string(),
            "package libc6 2.41-12: http://m/pool/libc6.deb: SHA-256 cd does \
             not match the expected ab"
        );
        let e = Error {
            package: "dash 0.5".into(),
            source: cache::Error::Io {
                path: "/c/tmp".into(),
                source: std::io::Error::other("disk full"),
            },
        };
        assert_eq!(e.to_string(), "package dash 0.5: cache /c/tmp: disk full");
    }
}
