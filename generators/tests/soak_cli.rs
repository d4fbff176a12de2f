//! `sta soak` end to end: a small campaign (`--max-size small`, one configuration of each kind: PE array, LUT unit,
//! PE array behind its stream wrapper, softmax unit) is generated, simulated in Verilator and compared bit-exactly,
//! with a zero-failure summary and every configuration listed in results.json; the reproduce command printed for
//! each configuration runs that configuration alone and gets the same parameters and the same outcome; bad flags are
//! refused with exit code 2 and nothing written. (A campaign of 100+ configurations is `make soak`.)
//!
//! `cargo test --release -p sta-generators --test soak_cli`

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The CI campaign's seed and size: four small configurations, about a minute of Verilator builds when the cache
/// is cold.
const CI_SEED: &str = "11";
const CI_CONFIGS: &str = "4";

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("sta-soak-cache")
}

fn sta(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sta"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("sta runs: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn results(dir: &Path) -> serde_json::Value {
    let path = dir.join("results.json");
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn small_campaign_passes_and_each_reproduce_command_reruns_its_configuration() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = tmp.path().join("campaign");
    let cache = cache_dir();
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let run = sta(&[
        "soak",
        "--configs",
        CI_CONFIGS,
        "--seed",
        CI_SEED,
        "--max-size",
        "small",
        "--out",
        &s(&out),
        "--cache-dir",
        &s(&cache),
    ]);
    let stdout = text(&run.stdout);
    assert!(
        run.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&run.stderr)
    );
    assert!(stdout.contains("failures: 0"), "{stdout}");
    assert!(
        stdout.contains(&format!("seed {CI_SEED}")),
        "the seed is printed: {stdout}"
    );

    let r = results(&out);
    assert_eq!(r["seed"], 11);
    assert_eq!(r["max_size"], "small");
    let summary = &r["summary"];
    assert_eq!(u(&summary["configurations"]), 4);
    assert_eq!(u(&summary["failed"]), 0);
    assert_eq!(u(&summary["passed"]), 4);
    let configs = r["configs"]
        .as_array()
        .unwrap_or_else(|| panic!("configs: {r}"));
    assert_eq!(configs.len(), 4, "every configuration is listed");
    let kinds: BTreeSet<&str> = configs.iter().filter_map(|c| c["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["lut", "pe-array", "pe-stream", "softmax"])
    );
    let mut beats = 0;
    for (i, c) in configs.iter().enumerate() {
        assert_eq!(u(&c["index"]), i as u64);
        assert_eq!(c["status"], "pass", "{c}");
        assert!(u(&c["beats"]) > 0 && u(&c["values"]) > 0, "{c}");
        assert!(c["config"].is_object(), "the drawn parameters: {c}");
        beats += u(&c["beats"]);
    }
    assert_eq!(u(&summary["beats"]), beats);
    let kind = |name: &str| &summary["by_kind"][name];
    assert_eq!(u(&kind("softmax")["configurations"]), 1);
    assert_eq!(u(&kind("lut")["beats"]), u(&configs[1]["beats"]));

    // each configuration's reproduce command, run as printed (plus an output directory and the same cache)
    for c in configs {
        let command = c["reproduce"].as_str().unwrap_or_default();
        let words: Vec<&str> = command.split_whitespace().collect();
        assert_eq!(words.first(), Some(&"sta"), "{command}");
        assert!(
            stdout.contains(command),
            "the command is printed: {command}"
        );
        let again = tmp.path().join(format!("again-{}", u(&c["index"])));
        let mut args: Vec<String> = words[1..].iter().map(|w| w.to_string()).collect();
        args.extend(["--out".into(), s(&again), "--cache-dir".into(), s(&cache)]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let rerun = sta(&args);
        assert!(
            rerun.status.success(),
            "{command}: {}{}",
            text(&rerun.stdout),
            text(&rerun.stderr)
        );
        let alone = results(&again);
        let listed = alone["configs"]
            .as_array()
            .unwrap_or_else(|| panic!("{alone}"));
        assert_eq!(listed.len(), 1, "{command} runs one configuration");
        let one = &listed[0];
        for field in [
            "index",
            "kind",
            "config",
            "description",
            "status",
            "beats",
            "values",
            "cycles",
            "reproduce",
        ] {
            assert_eq!(one[field], c[field], "{command}: {field}");
        }
    }
}

fn assert_refused(out: &Output, needle: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_flags_are_refused_with_exit_code_2_and_nothing_written() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = tmp.path().join("out");
    let o = out.to_string_lossy().into_owned();
    for (args, needle) in [
        (
            vec!["--configs", "0"],
            "--configs = 0 is outside 1..=1000000",
        ),
        (vec!["--configs", "1000001"], "--configs = 1000001"),
        (vec!["--configs", "-3"], "-3"),
        (vec!["--configs", "many"], "--configs"),
        (vec!["--seed", "1"], "--configs"),
        (vec!["--configs", "2", "--only", "1"], "--only"),
        (vec!["--only", "x"], "--only"),
        (vec!["--configs", "2", "--max-size", "huge"], "--max-size"),
        (vec!["--configs", "2", "--keep"], "--out"),
        (vec!["--configs", "2", "--force"], "--out"),
    ] {
        let mut full = vec!["soak"];
        full.extend(&args);
        full.extend(["--out", o.as_str()]);
        // --keep/--force without --out: leave --out off for those two
        if args.contains(&"--keep") || args.contains(&"--force") {
            full.truncate(full.len() - 2);
        }
        let run = sta(&full);
        assert_refused(&run, needle);
        assert!(!out.exists(), "{args:?}: nothing written");
    }
    // an existing --out is neither replaced nor touched without --force
    std::fs::create_dir(&out).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(out.join("mine.txt"), "precious").unwrap_or_else(|e| panic!("{e}"));
    let run = sta(&["soak", "--configs", "1", "--seed", "1", "--out", &o]);
    assert_refused(&run, "--force");
    assert_eq!(
        text(&run.stderr).trim_end().lines().count(),
        1,
        "one line: {}",
        text(&run.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("mine.txt"))
            .ok()
            .as_deref(),
        Some("precious")
    );
    assert_eq!(std::fs::read_dir(&out).map(|d| d.count()).ok(), Some(1));
}
