//! Building (and caching) the Verilator simulation binary of one design + harness.
//!
//! The binary lives in `cache_root/<key>/sim`, where `key` is the SHA-256 of everything that affects it (see
//! [`cache_key`]). A build runs in a fresh temporary directory inside `cache_root` and is renamed into place only
//! once complete, so a key directory is either absent or complete; when two processes race, the loser finds the
//! destination taken and uses the winner's binary.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use sta_golden::pe_array::ArrayShape;

use crate::error::SimError;
use crate::harness::{render_harness, BITS_HEADER, TB_HEADER};
use crate::tool::{find_verilator, Verilator};

/// File names inside a cache entry.
const BINARY: &str = "sim";
const LOG: &str = "build.log";
const HARNESS: &str = "harness.cpp";
const BITS: &str = "sta_bits.h";
const TB: &str = "sta_tb.h";
const SOURCES: &str = "sources.txt";

/// Lines of the build log shown in a build failure.
const TAIL_LINES: usize = 30;

/// Bumped whenever the way a binary is built changes in a way the hashed inputs do not capture.
const CACHE_SCHEMA: &str = "sta-testbenches/build/v1";

/// Build-time choices. Only `trace` changes the binary (and the cache key); `jobs` only changes how fast it builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// Compile in VCD tracing (`--trace`), needed for `RunOptions::vcd`. Slows the model down, so off by default.
    pub trace: bool,
    /// Parallel C++ compile jobs (`verilator -j`).
    pub jobs: u32,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            trace: false,
            jobs: 2,
        }
    }
}

/// A built simulation of the PE array, ready to [`run`](SimBuild::run): the cached model plus the shape its harness
/// was rendered for.
#[derive(Debug, Clone)]
pub struct SimBuild {
    pub shape: ArrayShape,
    pub model: BuiltModel,
}

/// A cached Verilator binary for any harness: what [`build_model`] returns. [`SimBuild`] (the PE array), [`PwlSimBuild`](crate::PwlSimBuild) and the softmax build wrap it with their
/// harness's knowledge.
#[derive(Debug, Clone)]
pub struct BuiltModel {
    /// The cache entry directory (`cache_root/<key>`).
    pub dir: PathBuf,
    pub binary: PathBuf,
    /// Verilator's full build output, RTL warnings included.
    pub log: PathBuf,
    /// The first line of each `%Warning` in the build log.
    pub warnings: Vec<String>,
    pub key: String,
    pub cache_hit: bool,
    /// Wall time of this call: the Verilator build, or only the lookup on a cache hit.
    pub build_seconds: f64,
    pub trace: bool,
    /// The tool's [`Verilator::identity`] (version line, and the wheel's package version), as hashed into `key`.
    pub verilator_version: String,
}

impl BuiltModel {
    /// Runs the harness in `dir` with `plusargs` and parses the JSON summary it writes to `summary`; a run that left
    /// no summary failed ([`SimError::HarnessFailed`], with its output). Returns the summary and the wall time.
    pub(crate) fn run_harness<S: DeserializeOwned>(
        &self,
        dir: &Path,
        plusargs: &[String],
        summary: &Path,
    ) -> Result<(S, f64), SimError> {
        let start = Instant::now();
        let output = Command::new(&self.binary)
            .args(plusargs)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .map_err(SimError::io("run", &self.binary))?;
        let wall_seconds = start.elapsed().as_secs_f64();
        let Ok(text) = fs::read_to_string(summary) else {
            return Err(SimError::harness_failed(&output));
        };
        let parsed = serde_json::from_str(&text).map_err(|e| SimError::Summary {
            path: summary.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok((parsed, wall_seconds))
    }
}

/// The Verilator arguments that shape the binary (paths excluded, so they can be hashed). `workarounds` are the
/// tool's [`Verilator::workaround_flags`]: `-fno-dfg -fno-const-bit-op-tree` for Verilator before 5.048, whose DFG
/// optimizer and bit-op-tree folding miscompile Yosys gate-level netlists (see [`crate::tool`]).
fn verilator_flags(top: &str, options: &BuildOptions, workarounds: &[&str]) -> Vec<String> {
    let mut flags: Vec<String> = ["--cc", "--exe", "--build", "-O3"]
        .iter()
        .chain(workarounds)
        .chain(&["--x-assign", "fast", "--x-initial", "fast"])
        .map(|s| s.to_string())
        .collect();
    flags.extend([
        "-Wno-fatal".into(),
        "--top-module".into(),
        top.into(),
        "--prefix".into(),
        format!("V{top}"),
    ]);
    flags.extend(["-o".into(), BINARY.into()]);
    if options.trace {
        flags.push("--trace".into());
    }
    flags
}

/// SHA-256 (hex) over the schema tag, each source's contents (length-prefixed, in order), the rendered harness,
/// the helper header, the Verilator version (its [`Verilator::identity`]: version line and wheel version) and the
/// build flags (the workarounds among them). Source *paths* are not hashed: the same
/// design written to another place reuses the binary.
pub fn cache_key(sources: &[Vec<u8>], harness: &str, version: &str, flags: &[String]) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(CACHE_SCHEMA.as_bytes());
    field(&(sources.len() as u64).to_le_bytes());
    sources.iter().for_each(|s| field(s));
    field(harness.as_bytes());
    field(BITS_HEADER.as_bytes());
    field(TB_HEADER.as_bytes());
    field(version.as_bytes());
    field(flags.join("\0").as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn read_sources(sources: &[PathBuf]) -> Result<Vec<Vec<u8>>, SimError> {
    sources
        .iter()
        .map(|p| fs::read(p).map_err(SimError::io("read", p)))
        .collect()
}

fn absolute(path: &Path) -> Result<PathBuf, SimError> {
    fs::canonicalize(path).map_err(SimError::io("resolve", path))
}

/// Builds (or finds in the cache) the simulation of `sources` (Verilog in dependency order; a Yosys netlist works
/// too) with the harness for `shape`, whose top module must be `shape.array_module_name()`.
pub fn build(
    sources: &[PathBuf],
    shape: &ArrayShape,
    cache_root: &Path,
    options: &BuildOptions,
) -> Result<SimBuild, SimError> {
    let harness = render_harness(shape, options.trace)?;
    let model = build_model(
        sources,
        &shape.array_module_name(),
        &harness,
        cache_root,
        options,
    )?;
    Ok(SimBuild {
        shape: *shape,
        model,
    })
}

/// Builds (or finds in the cache) `sources` with `top` as top module and the rendered C++ `harness` (which must
/// include `V<top>.h`; `sta_bits.h` and `sta_tb.h` are staged next to it). The cache key covers the sources, the
/// harness, the helper headers, the Verilator version and the flags, so every harness shares one cache without
/// collisions.
pub fn build_model(
    sources: &[PathBuf],
    top: &str,
    harness: &str,
    cache_root: &Path,
    options: &BuildOptions,
) -> Result<BuiltModel, SimError> {
    let start = Instant::now();
    let tool = find_verilator()?;
    let version = tool.identity();
    let flags = verilator_flags(top, options, tool.workaround_flags());
    let key = cache_key(&read_sources(sources)?, harness, &version, &flags);
    let dest = cache_root.join(&key);
    let mut cache_hit = dest.join(BINARY).is_file();
    if !cache_hit {
        // One build per key at a time: processes that need the same new model wait for the first one's build
        // instead of compiling it again (publishing stays atomic, so the lock only saves work).
        fs::create_dir_all(cache_root).map_err(SimError::io("create", cache_root))?;
        let lock_path = cache_root.join(format!("{key}.lock"));
        let lock = File::options()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(SimError::io("create", &lock_path))?;
        lock.lock().map_err(SimError::io("lock", &lock_path))?;
        cache_hit = dest.join(BINARY).is_file();
        let built = if cache_hit {
            Ok(())
        } else {
            let job = BuildJob {
                tool: &tool,
                sources,
                harness,
                flags: &flags,
                jobs: options.jobs,
            };
            job.run(cache_root, &key, &dest)
        };
        let _ = fs::remove_file(&lock_path);
        drop(lock);
        built?;
    }
    let log = dest.join(LOG);
    Ok(BuiltModel {
        binary: dest.join(BINARY),
        warnings: log_warnings(&log),
        log,
        dir: dest,
        key,
        cache_hit,
        build_seconds: start.elapsed().as_secs_f64(),
        trace: options.trace,
        verilator_version: version,
    })
}

/// One uncached build: the inputs needed to stage, compile and publish a cache entry.
struct BuildJob<'a> {
    tool: &'a Verilator,
    sources: &'a [PathBuf],
    harness: &'a str,
    flags: &'a [String],
    jobs: u32,
}

impl BuildJob<'_> {
    fn run(&self, cache_root: &Path, key: &str, dest: &Path) -> Result<(), SimError> {
        fs::create_dir_all(cache_root).map_err(SimError::io("create", cache_root))?;
        let tmp = tempfile::Builder::new()
            .prefix(".build-")
            .tempdir_in(cache_root)
            .map_err(SimError::io("create a build directory in", cache_root))?;
        self.stage(tmp.path())?;
        self.compile(tmp.path(), cache_root, key)?;
        finish_entry(tmp.path())?;
        publish(tmp, dest)
    }

    /// Writes the harness sources and a human-readable list of the design files into the build directory.
    fn stage(&self, dir: &Path) -> Result<(), SimError> {
        let write = |name: &str, text: &str| {
            fs::write(dir.join(name), text).map_err(SimError::io("write", dir.join(name)))
        };
        write(HARNESS, self.harness)?;
        write(BITS, BITS_HEADER)?;
        write(TB, TB_HEADER)?;
        let list: String = self
            .sources
            .iter()
            .map(|p| format!("{}\n", p.display()))
            .collect();
        write(SOURCES, &list)
    }

    /// Runs Verilator with all output in `build.log`; on failure the log is kept as `cache_root/failed-<key>.log`.
    fn compile(&self, dir: &Path, cache_root: &Path, key: &str) -> Result<(), SimError> {
        let log_path = dir.join(LOG);
        let mut log = File::create(&log_path).map_err(SimError::io("create", &log_path))?;
        let mut cmd = self.tool.command();
        cmd.args(self.flags)
            .args(self.tool.make_args())
            .arg("-j")
            .arg(self.jobs.max(1).to_string());
        cmd.arg("-Mdir").arg(dir.join("obj_dir"));
        for s in self.sources {
            cmd.arg(absolute(s)?);
        }
        cmd.arg(dir.join(HARNESS)).current_dir(dir);
        // the first line names the Verilator (its identity, where it was found) and the whole command
        writeln!(
            log,
            "# {} from {}: {cmd:?}",
            self.tool.identity(),
            self.tool.source
        )
        .map_err(SimError::io("write", &log_path))?;
        let log_err = log.try_clone().map_err(SimError::io("open", &log_path))?;
        let status = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .status();
        let status = status.map_err(SimError::io("run", &self.tool.path))?;
        if status.success() && dir.join("obj_dir").join(BINARY).is_file() {
            return Ok(());
        }
        let kept = cache_root.join(format!("failed-{key}.log"));
        let _ = fs::copy(&log_path, &kept);
        Err(build_failure(&log_path, kept, status.to_string()))
    }
}

fn build_failure(log_path: &Path, kept: PathBuf, status: String) -> SimError {
    let text = fs::read_to_string(log_path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    let first_error = lines
        .iter()
        .find(|l| l.starts_with("%Error") || l.contains("error:"))
        .map_or("see the build log", |l| l.trim())
        .to_string();
    SimError::BuildFailed {
        status,
        first_error,
        log: kept,
        tail,
    }
}

/// Keeps only what a cache entry needs: the binary moves up and the object directory (tens of MB) goes.
fn finish_entry(dir: &Path) -> Result<(), SimError> {
    let built = dir.join("obj_dir").join(BINARY);
    fs::rename(&built, dir.join(BINARY)).map_err(SimError::io("move", &built))?;
    let obj = dir.join("obj_dir");
    fs::remove_dir_all(&obj).map_err(SimError::io("remove", &obj))
}

/// Atomically renames the finished build directory to `dest`. If another process got there first, its
/// (complete, identical-by-key) entry wins and ours is discarded.
fn publish(tmp: tempfile::TempDir, dest: &Path) -> Result<(), SimError> {
    match fs::rename(tmp.path(), dest) {
        Ok(()) => {
            let _ = tmp.keep();
            Ok(())
        }
        Err(_) if dest.join(BINARY).is_file() => Ok(()),
        Err(e) => Err(SimError::Io {
            action: "publish the build to",
            path: dest.to_path_buf(),
            source: e,
        }),
    }
}

/// First lines of the `%Warning` messages in a build log (empty if the log cannot be read).
fn log_warnings(log: &Path) -> Vec<String> {
    let text = fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("%Warning"))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_depends_on_every_input() {
        let flags = vec!["--cc".to_string()];
        let base = cache_key(&[b"module a; endmodule".to_vec()], "h", "V 5", &flags);
        assert_eq!(base.len(), 64);
        assert_eq!(
            base,
            cache_key(&[b"module a; endmodule".to_vec()], "h", "V 5", &flags)
        );
        assert_ne!(
            base,
            cache_key(&[b"module b; endmodule".to_vec()], "h", "V 5", &flags)
        );
        assert_ne!(
            base,
            cache_key(&[b"module a; endmodule".to_vec()], "h2", "V 5", &flags)
        );
        assert_ne!(
            base,
            cache_key(&[b"module a; endmodule".to_vec()], "h", "V 4", &flags)
        );
        assert_ne!(
            base,
            cache_key(
                &[b"module a; endmodule".to_vec()],
                "h",
                "V 5",
                &["--trace".to_string()]
            )
        );
        // Splitting the same bytes differently across files is a different design.
        assert_ne!(
            cache_key(&[b"ab".to_vec(), b"c".to_vec()], "h", "V 5", &flags),
            cache_key(&[b"a".to_vec(), b"bc".to_vec()], "h", "V 5", &flags)
        );
    }

    #[test]
    fn trace_and_workarounds_are_flags_and_jobs_is_not() {
        let plain = verilator_flags("top", &BuildOptions::default(), &[]);
        let jobs = verilator_flags(
            "top",
            &BuildOptions {
                trace: false,
                jobs: 8,
            },
            &[],
        );
        let traced = verilator_flags(
            "top",
            &BuildOptions {
                trace: true,
                jobs: 2,
            },
            &[],
        );
        let old = verilator_flags(
            "top",
            &BuildOptions::default(),
            &crate::tool::NETLIST_WORKAROUNDS,
        );
        assert_eq!(plain, jobs);
        assert!(traced.contains(&"--trace".to_string()) && !plain.contains(&"--trace".to_string()));
        assert!(plain
            .windows(2)
            .any(|w| w[0] == "--prefix" && w[1] == "Vtop"));
        assert!(!plain.iter().any(|f| f.starts_with("-fno-")));
        assert!(
            old.contains(&"-fno-dfg".to_string())
                && old.contains(&"-fno-const-bit-op-tree".to_string())
        );
        let key = |flags: &[String]| cache_key(&[b"m".to_vec()], "h", "V", flags);
        assert_ne!(
            key(&plain),
            key(&old),
            "the workarounds separate cache entries"
        );
    }
}
