//! What a build made, for the caller to print or check: the disk (or
//! tarball) and where it went, the files of `OUT/<name>/` with their
//! SHA-256s, the configure strategy, and how long each stage took; and
//! the same as one JSON document (`lunforge build --json`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::output::manifest::Entry;
use crate::sink::Finished;

/// One stage's wall-clock time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageTime {
    /// The stage, as the procedure names it.
    pub stage: &'static str,
    /// How long it took.
    pub time: Duration,
}

/// The build's main output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Made {
    /// The disk, written to its target.
    Disk(Finished),
    /// The root file system as a tarball at this path.
    Tar(PathBuf),
}

/// What [`super::build`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildReport {
    /// The image's name.
    pub name: String,
    /// Packages installed.
    pub packages: usize,
    /// Paths in the root file system.
    pub paths: usize,
    /// The guest's architecture.
    pub architecture: String,
    /// The configure strategy that ran (`chroot`, `unshare`,
    /// `firstboot`).
    pub configure: String,
    /// The disk or the tarball.
    pub made: Made,
    /// Its size and SHA-256 (named as in the manifest).
    pub output: Entry,
    /// `OUT/<name>/`.
    pub dir: PathBuf,
    /// Every file of `OUT/<name>/`, by name: the boot files,
    /// `sbom.spdx.json`, `manifest.json` and `SHA256SUMS`.
    pub files: Vec<Entry>,
    /// How many of `files` are boot files: none for a tarball or a guest
    /// without a kernel.
    pub boot_files: usize,
    /// Every stage that ran, in order.
    pub stages: Vec<StageTime>,
}

/// `lunforge build --json`: the report as one document.
#[derive(Debug, Serialize)]
struct Json<'a> {
    name: &'a str,
    format: &'static str,
    architecture: &'a str,
    configure: &'a str,
    packages: usize,
    paths: usize,
    /// The disk or tarball first, then the files of `OUT/<name>/`.
    artifacts: Vec<Artifact<'a>>,
    /// What the operator should know of a device written.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    notes: &'a [String],
    stages: Vec<Stage>,
}

/// A file the build made, and where.
#[derive(Debug, Serialize)]
struct Artifact<'a> {
    name: &'a str,
    /// The file's path, the device, or the `iscsi://` URL (without a
    /// secret).
    path: String,
    size: u64,
    sha256: &'a str,
}

#[derive(Debug, Serialize)]
struct Stage {
    stage: &'static str,
    seconds: f64,
}

impl BuildReport {
    /// The report as a JSON document (pretty-printed, no final
    /// newline).
    pub fn to_json(&self) -> String {
        let (format, path, notes) = match &self.made {
            Made::Disk(f) => ("image", f.target.clone(), &f.notes[..]),
            Made::Tar(p) => ("tar", p.display().to_string(), &[][..]),
        };
        let mut artifacts = vec![Artifact {
            name: &self.output.name,
            path,
            size: self.output.size,
            sha256: &self.output.sha256,
        }];
        artifacts.extend(self.files.iter().map(|f| Artifact {
            name: &f.name,
            path: self.dir.join(&f.name).display().to_string(),
            size: f.size,
            sha256: &f.sha256,
        }));
        let json = Json {
            name: &self.name,
            format,
            architecture: &self.architecture,
            configure: &self.configure,
            packages: self.packages,
            paths: self.paths,
            artifacts,
            notes,
            stages: self
                .stages
                .iter()
                .map(|s| Stage {
                    stage: s.stage,
                    seconds: s.time.as_secs_f64(),
                })
                .collect(),
        };
        // OK to unwrap: strings and numbers (finite: durations), which
        // always serialise.
        serde_json::to_string_pretty(&json).expect("build report")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_lists_the_output_then_the_files_with_paths() {
        let report = BuildReport {
            name: "g".into(),
            packages: 2,
            paths: 10,
            architecture: "arm64".into(),
            configure: "firstboot".into(),
            made: Made::Tar("out/g.tar".into()),
            output: Entry::of("g.tar", b"t"),
            dir: "out/g".into(),
            files: vec![Entry::of("SHA256SUMS", b"s")],
            boot_files: 0,
            stages: vec![StageTime {
                stage: "resolve",
                time: Duration::from_millis(1500),
            }],
        };
        let v: serde_json::Value =
            serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(v["format"], "tar");
        assert_eq!(v["architecture"], "arm64");
        assert_eq!(v["artifacts"][0]["path"], "out/g.tar");
        assert_eq!(v["artifacts"][1]["path"], "out/g/SHA256SUMS");
        assert_eq!(v["artifacts"][1]["size"], 1);
        assert_eq!(v["stages"][0]["seconds"], 1.5);
        assert!(v.get("notes").is_none());
    }
}
