//! The bad-input table (issue 11): every `sta` command given bad input answers with exit code 2 and one line on
//! stderr naming the input and what is allowed, never panics, writes nothing and leaves existing files byte for byte
//! as they were. Numeric flags are tried at 0, at their limit (accepted) and one past it (refused).
//!
//! All cases run in one fixture directory (the working directory of every command, so paths in the table are
//! relative); after each case the whole directory is compared with a snapshot taken before the first: a refused
//! case that created, removed or changed anything fails. No case reaches a simulation: the limits of expensive
//! commands are shown accepted by a later, cheap refusal whose message does not name the flag under test.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use sha2::{Digest, Sha256};
use sta_compiler::tokenize::write_test_tokenizer;
use sta_compiler::BertModel;
use sta_generators::npy::encode_npy;

use common::{s, sta_command, usage_error_problem};

/// What a case must do.
enum Expect {
    /// Exit 2, one line holding every needle, nothing changed.
    Refused(Vec<String>),
    /// Refused by a later check (every needle), so the value under test (`passed`, absent from the message) was
    /// accepted; nothing changed.
    Later {
        needles: Vec<String>,
        passed: String,
    },
    /// Exit 0; the output it names (if any) must exist and is then removed.
    Accepted(Option<String>),
}

struct Case {
    name: String,
    args: Vec<String>,
    expect: Expect,
    /// Run under a 256 MiB address-space limit: an allocation sized by a file's header would abort.
    small_memory: bool,
}

/// The table under construction.
#[derive(Default)]
struct Table(Vec<Case>);

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

impl Table {
    fn push(&mut self, name: &str, args: Vec<String>, expect: Expect) -> &mut Case {
        self.0.push(Case {
            name: name.to_string(),
            args,
            expect,
            small_memory: false,
        });
        self.0.last_mut().expect("just pushed")
    }

    /// `args` (split on whitespace) must be refused with every needle in the message.
    fn refused(&mut self, name: &str, args: &str, needles: &[&str]) -> &mut Case {
        self.push(name, words(args), Expect::Refused(strings(needles)))
    }

    /// `args` must be refused by a later check (`needles`): `passed` was accepted.
    fn later(&mut self, name: &str, args: &str, passed: &str, needles: &[&str]) -> &mut Case {
        let expect = Expect::Later {
            needles: strings(needles),
            passed: passed.to_string(),
        };
        self.push(name, words(args), expect)
    }

    /// `args` must succeed (and create `output`, which is then removed).
    fn accepted(&mut self, name: &str, args: &str, output: Option<&str>) -> &mut Case {
        self.push(
            name,
            words(args),
            Expect::Accepted(output.map(str::to_string)),
        )
    }
}

/// One entry of a directory snapshot.
#[derive(Debug, PartialEq)]
enum Node {
    Dir,
    File(Vec<u8>),
    Link(PathBuf),
}

/// Every path under `root` (relative) with its contents.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    fn walk(root: &Path, dir: &Path, map: &mut BTreeMap<PathBuf, Node>) {
        for entry in fs::read_dir(dir).expect("readable fixture") {
            let path = entry.expect("entry").path();
            let rel = path.strip_prefix(root).expect("under root").to_path_buf();
            let meta = fs::symlink_metadata(&path).expect("metadata");
            if meta.file_type().is_symlink() {
                map.insert(rel, Node::Link(fs::read_link(&path).expect("link")));
            } else if meta.is_dir() {
                map.insert(rel, Node::Dir);
                walk(root, &path, map);
            } else {
                map.insert(rel, Node::File(fs::read(&path).expect("readable file")));
            }
        }
    }
    let mut map = BTreeMap::new();
    walk(root, root, &mut map);
    map
}

/// The differences between two snapshots, one path per line ("" if none).
fn changes(before: &BTreeMap<PathBuf, Node>, after: &BTreeMap<PathBuf, Node>) -> String {
    let mut lines = Vec::new();
    for (path, node) in after {
        match before.get(path) {
            None => lines.push(format!("created {}", path.display())),
            Some(old) if old != node => lines.push(format!("changed {}", path.display())),
            _ => {}
        }
    }
    for path in before.keys().filter(|p| !after.contains_key(*p)) {
        lines.push(format!("removed {}", path.display()));
    }
    lines.join(", ")
}

/// A `.npy` file with any header (numpy's v1 layout, header padded to 64 bytes) followed by `data`.
fn raw_npy(descr: &str, fortran: bool, shape: &[u64], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let order = if fortran { "True" } else { "False" };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}");
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs `sta` in the fixture; `ok` must succeed.
fn run_ok(root: &Path, args: &[&str]) {
    let out = sta_command().current_dir(root).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "fixture step {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The tiny tokenizer's words; everything else is [UNK].
const WORDS: [&str; 12] = [
    "the", "a", "cat", "dog", "sat", "ran", "on", "mat", "red", "bird", ".", ",",
];

/// Copies the program `prog` to `name` with its first STANM weight file replaced by `edit(bytes)`, and index.json's
/// sizes and SHA-256 sums updated to match, so that the STANM reader itself has to refuse it.
fn tampered_program(root: &Path, name: &str, edit: impl FnOnce(&mut Vec<u8>)) {
    let dir = root.join(name);
    copy_dir(&root.join("prog"), &dir);
    let weights = dir.join("weights");
    let mut stanm: Vec<PathBuf> = fs::read_dir(&weights)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "stanm"))
        .collect();
    stanm.sort();
    let file = stanm.first().expect("a 2:8 program has STANM weights");
    let mut bytes = fs::read(file).unwrap();
    edit(&mut bytes);
    fs::write(file, &bytes).unwrap();
    let file_name = file.file_name().unwrap().to_str().unwrap().to_string();
    let index_path = weights.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&index_path).unwrap()).unwrap();
    let mut patched = 0;
    for list in ["files", "tensors"] {
        for entry in index[list].as_array_mut().unwrap() {
            if entry["file"] == file_name.as_str() {
                entry["bytes"] = bytes.len().into();
                entry["sha256"] = sha256_hex(&bytes).into();
                patched += 1;
            }
        }
    }
    assert_eq!(patched, 2, "{file_name}: one file and one tensor entry");
    fs::write(&index_path, serde_json::to_string_pretty(&index).unwrap()).unwrap();
}

/// Writes every input of the table into `root`.
fn build_fixture(root: &Path) {
    let w = |name: &str, bytes: &[u8]| fs::write(root.join(name), bytes).unwrap();
    // .npy: good W [2, 8] (2:4) and X [8, 3], X with the wrong K, and the broken ones
    w(
        "w.npy",
        &encode_npy(&[2, 8], &[1i8, 2, 0, 0, 0, 3, 0, 4, 5, 0, 6, 0, 0, 0, 7, 8]).unwrap(),
    );
    w("x.npy", &encode_npy(&[8, 3], &[1i8; 24]).unwrap());
    w("x4.npy", &encode_npy(&[4, 3], &[1i8; 12]).unwrap());
    w("s.npy", &encode_npy(&[2, 8], &[-3i8; 16]).unwrap());
    w(
        "huge.npy",
        &raw_npy("|i1", false, &[1 << 40, 1 << 40], &[0; 16]),
    );
    w("8gib.npy", &raw_npy("|i1", false, &[1 << 31, 4], &[0; 16]));
    w(
        "huge16.npy",
        &raw_npy("<i2", false, &[1 << 31, 4], &[0; 16]),
    );
    w("trunc.npy", &raw_npy("|i1", false, &[2, 8], &[0; 10]));
    w("f32.npy", &raw_npy("<f4", false, &[2, 8], &[0; 64]));
    w("i16.npy", &raw_npy("<i2", false, &[2, 8], &[0; 32]));
    w("fortran.npy", &raw_npy("|i1", true, &[2, 8], &[0; 16]));
    w("flat.npy", &raw_npy("|i1", false, &[16], &[0; 16]));
    w("cube.npy", &raw_npy("|i1", false, &[2, 2, 4], &[0; 16]));
    w("junk.npy", b"\x93NUMPY\x01\x00\xff\xff{'descr'");
    // TOML configurations
    w(
        "latin1.toml",
        b"[pe_array]\nn = 2\nm = 4\nrows = 1\ncols = 1\n# caf\xe9\n",
    );
    w("broken.toml", b"[pe_array]\nn = 2\nm = \n");
    w(
        "unknown.toml",
        b"[pe_array]\nn = 2\nm = 4\nrows = 1\ncols = 1\nfoo = 3\n",
    );
    w("accel-latin1.toml", b"n_m = \"2:8\"\n# caf\xe9\n");
    w("accel-broken.toml", b"n_m = \"2:8\"\nrows = [\n");
    w("accel-rows.toml", b"n_m = \"2:8\"\nrows = -2\n");
    // outputs that exist, a dangling symlink, an empty directory, a file where a directory is expected
    w("exists.txt", b"precious\n");
    fs::create_dir(root.join("exists")).unwrap();
    fs::write(root.join("exists/mine.txt"), b"mine\n").unwrap();
    fs::create_dir(root.join("empty")).unwrap();
    std::os::unix::fs::symlink("nowhere", root.join("dangling")).unwrap();
    // LUT parameter files: a good one, then edited copies
    run_ok(
        root,
        &[
            "lut",
            "search",
            "--function",
            "gelu",
            "--population",
            "4",
            "--generations",
            "0",
            "--islands",
            "1",
            "--out",
            "good.json",
        ],
    );
    let good = fs::read_to_string(root.join("good.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&good).unwrap();
    let edited = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = value.clone();
        edit(&mut v);
        w(name, serde_json::to_string_pretty(&v).unwrap().as_bytes());
    };
    edited("p-slope.json", &|v| v["slopes"][3] = 1000.into());
    edited("p-breakpoint.json", &|v| v["breakpoints"][2] = 300.into());
    edited("p-entries.json", &|v| v["entries"] = 100_000.into());
    edited("p-range.json", &|v| {
        v["range"] = serde_json::json!([4.0, -4.0])
    });
    edited("p-mse.json", &|v| v["mse"]["hardware"] = (-1.0).into());
    let range_start = good.find("\"range\"").unwrap();
    let lo_at = range_start + good[range_start..].find("-4.0").unwrap();
    let replace_lo = |with: &str| format!("{}{with}{}", &good[..lo_at], &good[lo_at + 4..]);
    w("p-nan.json", replace_lo("NaN").as_bytes());
    w("p-inf.json", replace_lo("-1e999").as_bytes());
    w("p-truncated.json", &good.as_bytes()[..good.len() / 2]);
    let mut latin1 = good.clone().into_bytes();
    let at = good.find("gelu").unwrap();
    latin1[at + 1] = 0xe9;
    w("p-latin1.json", &latin1);
    // GQA-LUT reference files
    let bp = "[-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]";
    let reference = |slope3: &str| {
        format!(
            "{{\"gelu\": {{\"0\": {{\"breakpoints\": {bp}, \"slopes\": [0.0, 0.1, 0.2, {slope3}, 0.8, 0.9, 1.0, 1.0], \
             \"intercepts\": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]}}}}}}"
        )
    };
    w("ref-nan.json", reference("NaN").as_bytes());
    w("ref-inf.json", reference("Infinity").as_bytes());
    w("ref-huge.json", reference("1e300").as_bytes());
    w("ref-latin1.json", b"{\"g\xe9lu\": {}}");
    // design directories: a PE array, one with a missing source, one with an edited source; an accelerator
    run_ok(
        root,
        &[
            "generate", "--n", "2", "--m", "4", "--rows", "1", "--cols", "1", "--out", "pe",
        ],
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(root.join("pe/manifest.json")).unwrap()).unwrap();
    let first_source = manifest["files"][0].as_str().unwrap().to_string();
    copy_dir(&root.join("pe"), &root.join("pe-missing"));
    fs::remove_file(root.join("pe-missing").join(&first_source)).unwrap();
    copy_dir(&root.join("pe"), &root.join("pe-edited"));
    let edited_path = root.join("pe-edited").join(&first_source);
    let mut text = fs::read_to_string(&edited_path).unwrap();
    text.push_str("// edited by hand\n");
    fs::write(&edited_path, text).unwrap();
    fs::write(root.join("first_source"), &first_source).unwrap();
    run_ok(
        root,
        &[
            "accel",
            "generate",
            "--n-m",
            "2:8",
            "--rows",
            "2",
            "--cols",
            "2",
            "--lanes",
            "2",
            "--max-tokens",
            "32",
            "--d-model",
            "32",
            "--heads",
            "2",
            "--ffn",
            "64",
            "--word-bits",
            "32",
            "--out",
            "accel",
        ],
    );
    // a tiny model, its 2:8 program, and programs whose STANM weights are broken (index.json patched to match)
    let model = root.join("model");
    fs::create_dir(&model).unwrap();
    BertModel::tiny_random(BertModel::TINY_DIMS, 5)
        .save(&model)
        .unwrap();
    write_test_tokenizer(&model, &WORDS).unwrap();
    w("calib.txt", b"the cat sat on the mat.\na red bird ran.\n");
    w("calib-latin1.txt", b"the cat sat.\nthe caf\xe9 sat.\n");
    run_ok(
        root,
        &[
            "compile",
            "--model",
            "model",
            "--n-m",
            "2:8",
            "--method",
            "magnitude",
            "--calib",
            "calib.txt",
            "--eval-sentences",
            "2",
            "--out",
            "prog",
        ],
    );
    // sta idp: a finished run (M = 4, level 3:4), another model, an empty text file
    let model_b = root.join("model-b");
    fs::create_dir(&model_b).unwrap();
    BertModel::tiny_random(BertModel::TINY_DIMS, 6)
        .save(&model_b)
        .unwrap();
    write_test_tokenizer(&model_b, &WORDS).unwrap();
    w("empty.txt", b"");
    run_ok(
        root,
        &[
            "idp",
            "--model",
            "model",
            "--m",
            "4",
            "--target",
            "3",
            "--steps-per-level",
            "2",
            "--batch",
            "2",
            "--text",
            "calib.txt",
            "--eval-sentences",
            "2",
            "--no-integer",
            "--out",
            "idp-run",
        ],
    );
    tampered_program(root, "prog-truncated", |b| {
        b.truncate(b.len() - 3);
    });
    tampered_program(root, "prog-index", |b| {
        // the first group's first two slot indices swapped: not the canonical (ascending) order
        let header_len = u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize;
        let header: serde_json::Value = serde_json::from_slice(&b[12..12 + header_len]).unwrap();
        let values = header["value_bytes"].as_u64().unwrap() as usize;
        let at = 12 + header_len + values;
        // 3-bit indices, LSB first: slot 0 in bits 0..3, slot 1 in bits 3..6 of the first byte
        let (i0, i1) = (b[at] & 7, (b[at] >> 3) & 7);
        b[at] = (b[at] & !0x3f) | i0 << 3 | i1;
        assert_ne!(i0, i1);
    });
    tampered_program(root, "prog-index-bits", |b| {
        // the header claims 4-bit indices for M = 8 (could index slots 8..15); same length, so only that differs
        let text = String::from_utf8_lossy(&b[..200]).into_owned();
        let at = text
            .find("\"index_bits\":3")
            .expect("index_bits in the header")
            + 13;
        b[at] = b'4';
    });
    // a regular file where a cache directory is expected
    w("cache-file", b"not a directory\n");
}

/// An unwritable directory for outputs: `ro/` (mode 555) unless the tests run as root, where permission bits do not
/// stop writes; then /sys (sysfs refuses new files even to root); else none, with the reason.
fn unwritable_dir(root: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let ro = root.join("ro");
    fs::create_dir(&ro).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    let probe = ro.join("probe");
    if fs::write(&probe, b"x").is_err() {
        return Ok(ro);
    }
    fs::remove_file(&probe).unwrap();
    let sys = Path::new("/sys/sta-bad-input-probe");
    if fs::write(sys, b"x").is_err() && !sys.exists() {
        return Ok(PathBuf::from("/sys"));
    }
    Err(
        "running as root, so a mode-555 directory is writable, and /sys accepts new files too"
            .into(),
    )
}

fn table(root: &Path, unwritable: Option<&Path>) -> Table {
    let first_source = fs::read_to_string(root.join("first_source")).unwrap();
    let mut t = Table::default();
    let pe = "--n 2 --m 4 --rows 1 --cols 1";

    // ---- generate: configuration files, outputs, every numeric flag
    t.refused(
        "generate: --config not UTF-8",
        "generate --config latin1.toml --out new",
        &["latin1.toml", "UTF-8"],
    );
    t.refused(
        "generate: --config malformed TOML",
        "generate --config broken.toml --out new",
        &["broken.toml", "not valid"],
    );
    t.refused(
        "generate: --config unknown key",
        "generate --config unknown.toml --out new",
        &["unknown.toml", "`foo`", "rows"],
    );
    t.refused(
        "generate: --out is an existing file",
        &format!("generate {pe} --out exists.txt"),
        &["exists.txt", "already exists", "--force"],
    );
    t.refused(
        "generate: --out is an existing directory",
        &format!("generate {pe} --out exists"),
        &["exists", "already exists", "--force"],
    );
    t.refused(
        "generate: --out is a dangling symlink",
        &format!("generate {pe} --out dangling"),
        &["dangling", "already exists", "--force"],
    );
    if let Some(dir) = unwritable {
        let out = dir.join("new");
        t.refused(
            "generate: --out in an unwritable directory",
            &format!("generate {pe} --out {}", out.display()),
            &[s(&out), "cannot write"],
        );
    }
    t.refused(
        "generate: --out below a regular file",
        &format!("generate {pe} --out exists.txt/new"),
        &["exists.txt/new", "cannot write"],
    );
    let g = "generate --n 1 --m 2 --rows 1 --cols 1";
    t.accepted(
        "generate: --dsp ecp5-mixed:4096",
        &format!("{g} --dsp ecp5-mixed:4096 --out new"),
        Some("new"),
    );
    t.refused(
        "generate: --dsp ecp5-mixed:4097",
        &format!("{g} --dsp ecp5-mixed:4097 --out new"),
        &["ecp5-mixed:4097", "0..=4096"],
    );
    t.refused(
        "generate: --dsp ecp5-mixed:",
        &format!("{g} --dsp ecp5-mixed: --out new"),
        &["ecp5-mixed:", "allowed: inferred, ecp5"],
    );
    t.refused(
        "generate: --n 0",
        "generate --n 0 --m 2 --rows 1 --cols 1 --out new",
        &["n = 0", "1 ≤ N ≤ M"],
    );
    t.accepted(
        "generate: --n 16 --m 16",
        "generate --n 16 --m 16 --rows 1 --cols 1 --out new",
        Some("new"),
    );
    t.refused(
        "generate: --n 17 --m 16",
        "generate --n 17 --m 16 --rows 1 --cols 1 --out new",
        &["n = 17", "1 ≤ N ≤ M"],
    );
    t.refused(
        "generate: --m 0",
        "generate --n 1 --m 0 --rows 1 --cols 1 --out new",
        &["m = 0", "2, 4, 8, 16"],
    );
    t.refused(
        "generate: --m 17",
        "generate --n 1 --m 17 --rows 1 --cols 1 --out new",
        &["m = 17", "2, 4, 8, 16"],
    );
    t.refused(
        "generate: --rows 0",
        "generate --n 1 --m 2 --rows 0 --cols 1 --out new",
        &["rows = 0", "1..=64"],
    );
    t.accepted(
        "generate: --rows 64",
        "generate --n 1 --m 2 --rows 64 --cols 1 --out new",
        Some("new"),
    );
    t.refused(
        "generate: --rows 65",
        "generate --n 1 --m 2 --rows 65 --cols 1 --out new",
        &["rows = 65", "1..=64"],
    );
    t.refused(
        "generate: --cols 0",
        "generate --n 1 --m 2 --rows 1 --cols 0 --out new",
        &["cols = 0", "1..=64"],
    );
    t.accepted(
        "generate: --cols 64",
        "generate --n 1 --m 2 --rows 1 --cols 64 --out new",
        Some("new"),
    );
    t.refused(
        "generate: --cols 65",
        "generate --n 1 --m 2 --rows 1 --cols 65 --out new",
        &["cols = 65", "1..=64"],
    );
    t.refused(
        "generate: --acc-width 0",
        &format!("{g} --acc-width 0 --out new"),
        &["acc_width = 0", "16..=48"],
    );
    t.refused(
        "generate: --acc-width 16 (too narrow for any group of 2)",
        &format!("{g} --acc-width 16 --max-k 2 --out new"),
        &["acc_width = 16", "acc_width ≥ 17"],
    );
    t.accepted(
        "generate: --acc-width 17 --max-k 2",
        &format!("{g} --acc-width 17 --max-k 2 --out new"),
        Some("new"),
    );
    t.accepted(
        "generate: --acc-width 48",
        &format!("{g} --acc-width 48 --out new"),
        Some("new"),
    );
    t.refused(
        "generate: --acc-width 49",
        &format!("{g} --acc-width 49 --out new"),
        &["acc_width = 49", "16..=48"],
    );
    t.refused(
        "generate: --max-k 0",
        &format!("{g} --max-k 0 --out new"),
        &["max_k = 0", "multiple of m = 2"],
    );
    t.accepted(
        "generate: --max-k 131070 (the limit at 32 bits)",
        &format!("{g} --max-k 131070 --out new"),
        Some("new"),
    );
    t.refused(
        "generate: --max-k 131072",
        &format!("{g} --max-k 131072 --out new"),
        &["max_k = 131072", "131070"],
    );
    t.refused(
        "generate: --max-k past u64",
        &format!("{g} --max-k 18446744073709551616 --out new"),
        &["--max-k", "18446744073709551616"],
    );
    t.refused(
        "generate: --io-width 0",
        &format!("{g} --io-width 0 --out new"),
        &["--io-width = 0", "8, 16 or 32"],
    );
    t.accepted(
        "generate: --io-width 32",
        &format!("{g} --io-width 32 --out new"),
        Some("new"),
    );
    t.refused(
        "generate: --io-width 33",
        &format!("{g} --io-width 33 --out new"),
        &["--io-width = 33", "8, 16 or 32"],
    );
    t.refused(
        "generate: --rows not a number",
        "generate --n 1 --m 2 --rows abc --cols 1 --out new",
        &["--rows", "'abc'"],
    );
    t.refused(
        "generate: --out missing",
        "generate --n 1 --m 2 --rows 1 --cols 1",
        &["--out"],
    );
    t.refused("sta: unknown command", "frobnicate", &["frobnicate"]);

    // ---- gemm: .npy inputs, outputs, stall probabilities (limits shown accepted by the later shape check)
    let gemm = |w: &str, x: &str, extra: &str| {
        format!("gemm {pe} --weights {w} --activations {x} --out y.npy {extra}")
    };
    t.refused(
        "gemm: --weights header claims (2^40, 2^40)",
        &gemm("huge.npy", "x.npy", ""),
        &[
            "--weights huge.npy",
            "[1099511627776, 1099511627776]",
            "the file holds 16",
        ],
    )
    .small_memory = true;
    t.refused(
        "gemm: --weights header claims 8 GiB",
        &gemm("8gib.npy", "x.npy", ""),
        &[
            "--weights 8gib.npy",
            "needs 8589934592 bytes",
            "the file holds 16",
        ],
    )
    .small_memory = true;
    t.refused(
        "gemm: --activations header claims 8 GiB",
        &gemm("w.npy", "8gib.npy", ""),
        &["--activations 8gib.npy", "needs 8589934592 bytes"],
    )
    .small_memory = true;
    t.refused(
        "gemm: --weights truncated",
        &gemm("trunc.npy", "x.npy", ""),
        &["--weights trunc.npy", "truncated", "needs 16 bytes"],
    );
    t.refused(
        "gemm: --weights float32",
        &gemm("f32.npy", "x.npy", ""),
        &["--weights f32.npy", "int8", "<f4"],
    );
    t.refused(
        "gemm: --weights Fortran order",
        &gemm("fortran.npy", "x.npy", ""),
        &["--weights fortran.npy", "Fortran"],
    );
    t.refused(
        "gemm: --weights 1-D",
        &gemm("flat.npy", "x.npy", ""),
        &["--weights flat.npy", "2-D", "[16]"],
    );
    t.refused(
        "gemm: --activations 3-D",
        &gemm("w.npy", "cube.npy", ""),
        &["--activations cube.npy", "2-D", "[2, 2, 4]"],
    );
    t.refused(
        "gemm: --weights not .npy",
        &gemm("junk.npy", "x.npy", ""),
        &["--weights junk.npy", "not a valid .npy"],
    );
    t.refused(
        "gemm: --weights missing",
        &gemm("absent.npy", "x.npy", ""),
        &["--weights absent.npy", "cannot read"],
    );
    t.refused(
        "gemm: --out exists",
        &format!("gemm {pe} --weights w.npy --activations x.npy --out exists.txt"),
        &["exists.txt", "already exists", "--force"],
    );
    t.refused(
        "gemm: --out is a dangling symlink",
        &format!("gemm {pe} --weights w.npy --activations x.npy --out dangling"),
        &["dangling", "already exists"],
    );
    t.later(
        "gemm: --in-gap 0",
        &gemm("w.npy", "x4.npy", "--in-gap 0"),
        "--in-gap",
        &["--activations has 4 rows", "K = 8"],
    );
    t.later(
        "gemm: --in-gap 0.99",
        &gemm("w.npy", "x4.npy", "--in-gap 0.99"),
        "--in-gap",
        &["--activations has 4 rows"],
    );
    t.refused(
        "gemm: --in-gap 1",
        &gemm("w.npy", "x.npy", "--in-gap 1"),
        &["--in-gap = 1", "[0, 1)"],
    );
    t.refused(
        "gemm: --out-stall -0.5",
        &gemm("w.npy", "x.npy", "--out-stall=-0.5"),
        &["--out-stall = -0.5", "[0, 1)"],
    );
    t.refused(
        "gemm: --out-stall NaN",
        &gemm("w.npy", "x.npy", "--out-stall NaN"),
        &["--out-stall = NaN", "[0, 1)"],
    );
    t.refused(
        "gemm: --cache-dir is a file",
        &gemm("w.npy", "x.npy", "--cache-dir cache-file"),
        &["cache-file", "build cache"],
    );

    // ---- demo, bench
    t.refused(
        "demo: --out exists",
        "demo --out exists",
        &["exists", "already exists", "--force"],
    );
    t.refused(
        "demo: --out is a dangling symlink",
        "demo --out dangling",
        &["dangling", "already exists"],
    );
    t.refused(
        "bench: --repeat 0",
        "bench --repeat 0 --out bench.json",
        &["--repeat 0", "at least 1"],
    );

    // ---- lut search / import / compare / plot / rtl
    let search = "lut search --function gelu --population 4 --generations 1 --islands 1";
    t.refused(
        "lut search: --entries 3",
        &format!("{search} --entries 3 --out new.json"),
        &["entries = 3", "4..=32"],
    );
    t.accepted(
        "lut search: --entries 32",
        &format!("{search} --entries 32 --out new.json"),
        Some("new.json"),
    );
    t.refused(
        "lut search: --entries 33",
        &format!("{search} --entries 33 --out new.json"),
        &["entries = 33", "4..=32"],
    );
    t.refused(
        "lut search: --population 0",
        "lut search --function gelu --population 0 --out new.json",
        &["--population = 0", "2..=100000"],
    );
    t.refused(
        "lut search: --islands 0",
        "lut search --function gelu --islands 0 --out new.json",
        &["--islands = 0", "1..=64"],
    );
    t.refused(
        "lut search: --mutation NaN",
        &format!("{search} --mutation NaN --out new.json"),
        &["--mutation = NaN", "0..=1"],
    );
    t.refused(
        "lut search: --range with NaN",
        &format!("{search} --range=-4,nan --out new.json"),
        &["NaN", "finite"],
    );
    t.refused(
        "lut search: --function unknown",
        "lut search --function relu --out new.json",
        &["relu", "gelu"],
    );
    t.refused(
        "lut search: --out exists",
        &format!("{search} --out exists.txt"),
        &["exists.txt", "already exists"],
    );
    t.refused(
        "lut search: --out is a dangling symlink",
        &format!("{search} --out dangling"),
        &["dangling", "already exists"],
    );
    t.refused(
        "lut import: NaN in the reference",
        "lut import --reference ref-nan.json --out new.json",
        &["ref-nan.json", "not valid"],
    );
    t.refused(
        "lut import: Infinity in the reference",
        "lut import --reference ref-inf.json --out new.json",
        &["ref-inf.json", "not valid"],
    );
    t.refused(
        "lut import: slope 1e300",
        "lut import --reference ref-huge.json --out new.json",
        &["ref-huge.json", "slopes[3]", "coeff_bits"],
    );
    t.refused(
        "lut import: reference not UTF-8",
        "lut import --reference ref-latin1.json --out new.json",
        &["ref-latin1.json", "UTF-8"],
    );
    t.refused(
        "lut compare: --reference-dir missing",
        "lut compare --reference-dir absent --generations 1",
        &["absent"],
    );
    t.refused(
        "lut compare: --reference-dir without reference files",
        "lut compare --reference-dir empty --generations 1",
        &["empty", "json"],
    );
    t.refused(
        "lut plot: NaN in --params",
        "lut plot --params p-nan.json --out new.svg",
        &["p-nan.json", "not valid"],
    );
    t.refused(
        "lut plot: inf in --params",
        "lut plot --params p-inf.json --out new.svg",
        &["p-inf.json", "out of range"],
    );
    t.refused(
        "lut plot: --params not UTF-8",
        "lut plot --params p-latin1.json --out new.svg",
        &["p-latin1.json", "UTF-8"],
    );
    t.refused(
        "lut plot: --params truncated",
        "lut plot --params p-truncated.json --out new.svg",
        &["p-truncated.json", "not valid"],
    );
    t.refused(
        "lut plot: negative MSE in --params",
        "lut plot --params p-mse.json --out new.svg",
        &["p-mse.json", "mse", "≥ 0"],
    );
    if let Some(dir) = unwritable {
        let out = dir.join("new.svg");
        t.refused(
            "lut plot: --out in an unwritable directory",
            &format!("lut plot --params good.json --out {}", out.display()),
            &[s(&out), "cannot write"],
        );
    }
    t.refused(
        "lut rtl: slope wider than coeff_bits",
        "lut rtl --params p-slope.json --out new",
        &["p-slope.json", "slopes[3] = 1000", "coeff_bits"],
    );
    t.refused(
        "lut rtl: breakpoint outside INT8",
        "lut rtl --params p-breakpoint.json --out new",
        &["p-breakpoint.json", "300", "i8"],
    );
    t.refused(
        "lut rtl: entries 100000",
        "lut rtl --params p-entries.json --out new",
        &["p-entries.json", "entries = 100000", "4..=32"],
    );
    t.refused(
        "lut rtl: inverted range",
        "lut rtl --params p-range.json --out new",
        &["p-range.json", "lo < hi"],
    );
    t.refused(
        "lut rtl: --out exists",
        "lut rtl --params good.json --out exists",
        &["exists", "already exists"],
    );

    // ---- softmax generate / run / accuracy
    let sm = "softmax generate --lanes 1 --max-len 8";
    t.refused(
        "softmax generate: --exp-params out of range",
        &format!("{sm} --exp-params p-slope.json --out new"),
        &["p-slope.json", "coeff_bits"],
    );
    t.refused(
        "softmax generate: --lanes 0",
        "softmax generate --lanes 0 --max-len 8 --out new",
        &["lanes = 0", "1..=64"],
    );
    t.accepted(
        "softmax generate: --lanes 64",
        "softmax generate --lanes 64 --max-len 8 --out new",
        Some("new"),
    );
    t.refused(
        "softmax generate: --lanes 65",
        "softmax generate --lanes 65 --max-len 8 --out new",
        &["lanes = 65", "1..=64"],
    );
    t.refused(
        "softmax generate: --max-len 0",
        "softmax generate --lanes 1 --max-len 0 --out new",
        &["max-len = 0", "1..=65536"],
    );
    t.accepted(
        "softmax generate: --max-len 65536",
        "softmax generate --lanes 1 --max-len 65536 --out new",
        Some("new"),
    );
    t.refused(
        "softmax generate: --max-len 65537",
        "softmax generate --lanes 1 --max-len 65537 --out new",
        &["max-len = 65537", "1..=65536"],
    );
    t.refused(
        "softmax generate: --score-bits 0",
        &format!("{sm} --score-bits 0 --out new"),
        &["score_bits = 0", "8..=16"],
    );
    t.accepted(
        "softmax generate: --score-bits 16",
        &format!("{sm} --score-bits 16 --out new"),
        Some("new"),
    );
    t.refused(
        "softmax generate: --score-bits 17",
        &format!("{sm} --score-bits 17 --out new"),
        &["score_bits = 17", "8..=16"],
    );
    t.accepted(
        "softmax generate: --input-frac-bits 0",
        &format!("{sm} --input-frac-bits 0 --out new"),
        Some("new"),
    );
    t.accepted(
        "softmax generate: --input-frac-bits 7",
        &format!("{sm} --input-frac-bits 7 --out new"),
        Some("new"),
    );
    t.refused(
        "softmax generate: --input-frac-bits 8",
        &format!("{sm} --input-frac-bits 8 --out new"),
        &["= 8", "0..=7"],
    );
    t.refused(
        "softmax generate: --output-bits 0",
        &format!("{sm} --output-bits 0 --out new"),
        &["output_bits = 0", "7..=8"],
    );
    t.accepted(
        "softmax generate: --output-bits 8",
        &format!("{sm} --output-bits 8 --out new"),
        Some("new"),
    );
    t.refused(
        "softmax generate: --output-bits 9",
        &format!("{sm} --output-bits 9 --out new"),
        &["output_bits = 9", "7..=8"],
    );
    t.refused(
        "softmax generate: --out exists",
        &format!("{sm} --out exists"),
        &["exists", "already exists"],
    );
    let run = |scores: &str, extra: &str| {
        format!("softmax run --lanes 1 --max-len 8 --scores {scores} --out y.npy {extra}")
    };
    t.refused(
        "softmax run: --scores header claims 8 GiB",
        &run("8gib.npy", ""),
        &["--scores 8gib.npy", "needs 8589934592 bytes"],
    )
    .small_memory = true;
    t.refused(
        "softmax run: int16 --scores header claims 16 GiB",
        &run("huge16.npy", "--score-bits 12"),
        &["--scores huge16.npy", "needs 17179869184 bytes"],
    )
    .small_memory = true;
    t.refused(
        "softmax run: int16 --scores at --score-bits 8",
        &run("i16.npy", ""),
        &["--scores i16.npy", "--score-bits 9..=16"],
    );
    t.refused(
        "softmax run: --scores Fortran order",
        &run("fortran.npy", ""),
        &["--scores fortran.npy", "Fortran"],
    );
    t.refused(
        "softmax run: --scores 1-D",
        &run("flat.npy", ""),
        &["--scores flat.npy", "2-D"],
    );
    t.refused(
        "softmax run: rows longer than --max-len",
        "softmax run --lanes 1 --max-len 4 --scores s.npy --out y.npy",
        &["--scores s.npy", "--max-len 4"],
    );
    t.later(
        "softmax run: --in-gap 90",
        &run("s.npy", "--in-gap 90 --cache-dir cache-file"),
        "--in-gap",
        &["cache-file", "build cache"],
    );
    t.refused(
        "softmax run: --in-gap 91",
        &run("s.npy", "--in-gap 91"),
        &["--in-gap = 91", "0..=90"],
    );
    t.refused(
        "softmax run: --out-stall 91",
        &run("s.npy", "--out-stall 91"),
        &["--out-stall = 91", "0..=90"],
    );
    t.refused(
        "softmax run: --out exists",
        "softmax run --lanes 1 --max-len 8 --scores s.npy --out exists.txt",
        &["exists.txt", "already exists"],
    );
    t.refused(
        "softmax accuracy: --exp without --reci",
        "softmax accuracy --exp good.json",
        &["--reci"],
    );
    t.refused(
        "softmax accuracy: --rows 0",
        "softmax accuracy --rows 0",
        &["rows = 0", "1..=1000000"],
    );

    // ---- synth, sweep
    t.refused(
        "synth: a source of the design is missing",
        "synth --design pe-missing --target generic --out new",
        &["pe-missing", &first_source, "missing"],
    );
    t.refused(
        "synth: a source of the design was edited",
        "synth --design pe-edited --target generic --out new",
        &["pe-edited", &first_source, "SHA-256"],
    );
    t.refused(
        "synth: --design missing",
        "synth --design absent --target generic --out new",
        &["--design absent", "no such directory"],
    );
    t.refused(
        "synth: --design is not a design",
        "synth --design empty --target generic --out new",
        &["empty", "not a generated design"],
    );
    t.refused(
        "synth: --target unknown",
        "synth --design pe --target ecp5-12k --out new",
        &["ecp5-12k", "ecp5-25k"],
    );
    t.refused(
        "synth: --freq 0",
        "synth --design pe --target generic --freq 0 --out new",
        &["--freq 0", "1 to 1000"],
    );
    t.later(
        "synth: --freq 1000",
        "synth --design pe --target generic --freq 1000 --out exists",
        "--freq",
        &["exists", "already exists"],
    );
    t.refused(
        "synth: --freq 1001",
        "synth --design pe --target generic --freq 1001 --out new",
        &["--freq 1001", "1 to 1000"],
    );
    t.refused(
        "synth: --out exists",
        "synth --design pe --target generic --out exists",
        &["exists", "already exists"],
    );
    let sweep = "sweep --n-m 2:8 --sizes 2x2 --target generic";
    t.refused(
        "sweep: --jobs 0",
        &format!("{sweep} --jobs 0 --out new"),
        &["--jobs 0", "1..=16"],
    );
    t.later(
        "sweep: --jobs 16",
        &format!("{sweep} --jobs 16 --out exists"),
        "--jobs",
        &["exists", "not a sweep directory"],
    );
    t.refused(
        "sweep: --jobs 17",
        &format!("{sweep} --jobs 17 --out new"),
        &["--jobs 17", "1..=16"],
    );
    t.refused(
        "sweep: --freq 0",
        &format!("{sweep} --freq 0 --out new"),
        &["--freq 0", "1 to 1000"],
    );
    t.refused(
        "sweep: --dsp ecp5-mixed on iCE40",
        "sweep --n-m 2:8 --sizes 2x2 --target ice40-up5k --dsp ecp5-mixed --out new",
        &["ecp5-mixed", "ice40-up5k", "does not have"],
    );
    t.refused(
        "sweep: --dsp ecp5-mixd",
        &format!("{sweep} --dsp ecp5-mixd --out new"),
        &["ecp5-mixd", "ecp5-mixed:D"],
    );
    t.refused(
        "sweep: --n-m 3:5",
        "sweep --n-m 3:5 --sizes 2x2 --target generic --out new",
        &["3:5", "2, 4, 8, 16"],
    );
    t.refused(
        "sweep: --sizes 65x2",
        "sweep --n-m 2:8 --sizes 65x2 --target generic --out new",
        &["65x2", "1..=64"],
    );

    // ---- compile, embed, accuracy
    let compile = "compile --model model --calib calib.txt --method magnitude";
    t.refused(
        "compile: --n-m 9:8",
        &format!("{compile} --n-m 9:8 --out new"),
        &["9:8", "1 ≤ N ≤ M"],
    );
    t.refused(
        "compile: --calib not UTF-8",
        "compile --model model --calib calib-latin1.txt --n-m 2:8 --out new",
        &["calib-latin1.txt", "UTF-8"],
    );
    t.refused(
        "compile: --eval-sentences 0",
        &format!("{compile} --n-m 2:8 --eval-sentences 0 --out new"),
        &["--eval-sentences 0", "1..=512"],
    );
    t.refused(
        "compile: --eval-sentences 513",
        &format!("{compile} --n-m 2:8 --eval-sentences 513 --out new"),
        &["--eval-sentences 513", "1..=512"],
    );
    t.refused(
        "compile: --model missing",
        "compile --model absent --n-m 2:8 --out new",
        &["absent"],
    );
    t.refused(
        "compile: --out exists",
        &format!("{compile} --n-m 2:8 --out exists"),
        &["exists", "already exists"],
    );
    // ---- idp
    let idp = "idp --model model --text calib.txt --eval-sentences 2 --no-integer";
    t.refused(
        "idp: --target 8 for --m 8 (N ≥ M)",
        &format!("{idp} --m 8 --target 8 --out new"),
        &["--target 8", "1..=7"],
    );
    t.refused(
        "idp: --m 6",
        &format!("{idp} --m 6 --target 2 --out new"),
        &["--m 6", "2, 4, 8 or 16"],
    );
    t.refused(
        "idp: --steps-per-level 0",
        &format!("{idp} --m 8 --target 2 --steps-per-level 0 --out new"),
        &["--steps-per-level 0", "1 or more"],
    );
    t.refused(
        "idp: --schedule gradual",
        &format!("{idp} --m 8 --target 2 --schedule gradual --out new"),
        &["--schedule", "idp or one-shot"],
    );
    t.refused(
        "idp: --model missing",
        "idp --model absent --m 8 --target 2 --out new",
        &["absent"],
    );
    t.refused(
        "idp: --text empty",
        "idp --model model --m 8 --target 2 --text empty.txt --out new",
        &["empty.txt", "no sentences"],
    );
    t.refused(
        "idp: --text not UTF-8",
        "idp --model model --m 8 --target 2 --text calib-latin1.txt --out new",
        &["calib-latin1.txt", "UTF-8"],
    );
    t.refused(
        "idp: --text missing",
        "idp --model model --m 8 --target 2 --text absent.txt --out new",
        &["absent.txt", "cannot read"],
    );
    t.refused(
        "idp: --out holds a run, no --resume",
        &format!("{idp} --m 4 --target 3 --steps-per-level 2 --batch 2 --out idp-run"),
        &["idp-run", "--resume", "--force"],
    );
    t.refused(
        "idp: --out holds a run for another M",
        &format!("{idp} --m 8 --target 2 --steps-per-level 2 --batch 2 --resume --out idp-run"),
        &["idp-run", "M = 4, not 8", "--force"],
    );
    t.refused(
        "idp: --out holds a run for another model",
        "idp --model model-b --text calib.txt --eval-sentences 2 --no-integer --m 4 --target 3 \
         --steps-per-level 2 --batch 2 --resume --out idp-run",
        &["idp-run", "a different model", "--force"],
    );
    t.refused(
        "idp: --out is not a run",
        &format!("{idp} --m 8 --target 2 --resume --out prog"),
        &["prog", "no run to resume", "--force"],
    );
    let embed = |prog: &str, extra: &str| format!("embed --program {prog} --text cat {extra}");
    t.refused(
        "embed: STANM weight file truncated",
        &embed("prog-truncated", ""),
        &["prog-truncated", ".stanm", "bytes"],
    );
    t.refused(
        "embed: STANM slot indices out of order",
        &embed("prog-index", ""),
        &["prog-index", ".stanm", "canonical"],
    );
    t.refused(
        "embed: STANM header with 4-bit indices for M = 8",
        &embed("prog-index-bits", ""),
        &["prog-index-bits", ".stanm", "index_bits"],
    );
    t.refused(
        "embed: --program missing",
        &embed("absent", ""),
        &["absent"],
    );
    t.refused(
        "embed: --out exists",
        &embed("prog", "--out exists.txt"),
        &["exists.txt", "already exists"],
    );
    t.refused(
        "embed: --engine unknown",
        &embed("prog", "--engine fast"),
        &["--engine", "fast", "golden"],
    );
    let accuracy = "accuracy --model model --calib calib.txt";
    t.refused(
        "accuracy: --eval-sentences 0",
        &format!("{accuracy} --eval-sentences 0 --out new"),
        &["--eval-sentences 0", "1..=512"],
    );
    t.later(
        "accuracy: --eval-sentences 512",
        &format!("{accuracy} --eval-sentences 512 --out exists"),
        "--eval-sentences",
        &["exists", "already exists"],
    );
    t.refused(
        "accuracy: --eval-sentences 513",
        &format!("{accuracy} --eval-sentences 513 --out new"),
        &["--eval-sentences 513", "1..=512"],
    );
    t.refused(
        "accuracy: --m 3",
        &format!("{accuracy} --m 3 --out new"),
        &["--m 3", "2, 4, 8 or 16"],
    );
    t.refused(
        "accuracy: --levels 9",
        &format!("{accuracy} --levels 9 --out new"),
        &["--levels", "1..=7"],
    );

    // ---- accel generate: configuration files and every numeric flag
    let accel = "accel generate --n-m 2:8";
    t.refused(
        "accel generate: --config not UTF-8",
        &format!("{accel} --config accel-latin1.toml --out new"),
        &["accel-latin1.toml", "UTF-8"],
    );
    t.refused(
        "accel generate: --config malformed",
        &format!("{accel} --config accel-broken.toml --out new"),
        &["accel-broken.toml"],
    );
    t.refused(
        "accel generate: --config rows -2",
        &format!("{accel} --config accel-rows.toml --out new"),
        &["accel-rows.toml", "-2"],
    );
    t.refused(
        "accel generate: --config missing",
        &format!("{accel} --config absent.toml --out new"),
        &["absent.toml"],
    );
    t.refused(
        "accel generate: --rows 0",
        &format!("{accel} --rows 0 --out new"),
        &["array = 0", "2, 4, 8, 16, 32"],
    );
    t.accepted(
        "accel generate: --rows 32",
        &format!("{accel} --rows 32 --out new"),
        Some("new"),
    );
    t.refused(
        "accel generate: --rows 33",
        &format!("{accel} --rows 33 --out new"),
        &["array = 33", "2, 4, 8, 16, 32"],
    );
    t.refused(
        "accel generate: --word-bits 0",
        &format!("{accel} --rows 4 --word-bits 0 --out new"),
        &["word-bits = 0", "32, 64, 128"],
    );
    t.accepted(
        "accel generate: --word-bits 128",
        &format!("{accel} --rows 4 --word-bits 128 --out new"),
        Some("new"),
    );
    t.refused(
        "accel generate: --word-bits 129",
        &format!("{accel} --rows 4 --word-bits 129 --out new"),
        &["word-bits = 129", "32, 64, 128"],
    );
    t.refused(
        "accel generate: --max-tokens 0",
        &format!("{accel} --rows 4 --max-tokens 0 --out new"),
        &["max-tokens = 0", "4096"],
    );
    t.accepted(
        "accel generate: --max-tokens 4096",
        &format!("{accel} --rows 4 --max-tokens 4096 --out new"),
        Some("new"),
    );
    t.refused(
        "accel generate: --max-tokens 4100",
        &format!("{accel} --rows 4 --max-tokens 4100 --out new"),
        &["max-tokens = 4100", "4096"],
    );
    t.refused(
        "accel generate: --lanes 0",
        &format!("{accel} --rows 4 --lanes 0 --out new"),
        &["lanes = 0", "power of two"],
    );
    t.accepted(
        "accel generate: --lanes 4 (= rows)",
        &format!("{accel} --rows 4 --lanes 4 --out new"),
        Some("new"),
    );
    t.refused(
        "accel generate: --lanes 8 (> rows)",
        &format!("{accel} --rows 4 --lanes 8 --out new"),
        &["lanes = 8", "≤ array = 4"],
    );
    t.refused(
        "accel generate: --out exists",
        &format!("{accel} --rows 4 --out exists"),
        &["exists", "already exists"],
    );

    // ---- run, estimate
    t.refused(
        "run: --design is a PE array",
        "run --design pe --program prog --text cat",
        &["--design pe", "sta accel generate"],
    );
    t.refused(
        "run: --stall-percent 91",
        "run --design accel --program prog --text cat --stall-percent 91",
        &["--stall-percent 91", "0..=90"],
    );
    t.refused(
        "run: --program with broken weights",
        "run --design accel --program prog-truncated --text cat",
        &["prog-truncated", ".stanm"],
    );
    t.refused(
        "run: --out exists",
        "run --design accel --program prog --text cat --out exists.txt",
        &["exists.txt", "already exists"],
    );
    t.refused(
        "estimate: --tokens 0",
        "estimate --design accel --tokens 0",
        &["--tokens", "at least 1"],
    );
    t.refused(
        "estimate: --batch 0",
        "estimate --design accel --batch 0",
        &["--batch", "at least 1"],
    );
    t.refused(
        "estimate: --batch 10^12",
        "estimate --design accel --batch 1000000000000",
        &["--batch 1000000000000", "16"],
    )
    .small_memory = true;
    t.refused(
        "estimate: --tokens 33 (T_MAX 32)",
        "estimate --design accel --tokens 33",
        &["--tokens", "32"],
    );
    t.refused(
        "estimate: --layers 0",
        "estimate --design accel --layers 0",
        &["--layers 0", "1..=1024"],
    );
    t.accepted(
        "estimate: --layers 1024",
        "estimate --design accel --layers 1024",
        None,
    );
    t.refused(
        "estimate: --layers 10^9",
        "estimate --design accel --layers 1000000000",
        &["--layers 1000000000", "1..=1024"],
    )
    .small_memory = true;
    t.refused(
        "estimate: --freq 0",
        "estimate --design accel --freq 0",
        &["--freq 0", "positive"],
    );
    t.refused(
        "estimate: --design missing",
        "estimate --design absent",
        &["--design absent"],
    );

    // ---- compress, soak
    t.refused(
        "compress: --weights not 2:4",
        "compress --n 1 --m 4 --weights w.npy --out new.stanm",
        &["1:4", "--prune"],
    );
    t.refused(
        "compress: --weights header claims 8 GiB",
        "compress --n 2 --m 4 --weights 8gib.npy --out new.stanm",
        &["--weights 8gib.npy", "needs 8589934592 bytes"],
    )
    .small_memory = true;
    t.refused(
        "compress: --n 0",
        "compress --n 0 --m 4 --weights w.npy --out new.stanm",
        &["n = 0", "1 ≤ N ≤ M"],
    );
    t.refused(
        "compress: --out exists",
        "compress --n 2 --m 4 --weights w.npy --out exists.txt",
        &["exists.txt", "already exists"],
    );
    t.refused(
        "compress: --out is a dangling symlink",
        "compress --n 2 --m 4 --weights w.npy --out dangling",
        &["dangling", "already exists"],
    );
    if let Some(dir) = unwritable {
        let out = dir.join("new.stanm");
        t.refused(
            "compress: --out in an unwritable directory",
            &format!(
                "compress --n 2 --m 4 --weights w.npy --out {}",
                out.display()
            ),
            &[s(&out), "cannot write"],
        );
    }
    t.refused(
        "soak: --configs 0",
        "soak --configs 0 --seed 1",
        &["--configs = 0", "1..=1000000"],
    );
    t.later(
        "soak: --configs 1000000",
        "soak --configs 1000000 --seed 1 --out exists",
        "--configs",
        &["exists", "already exists"],
    );
    t.refused(
        "soak: --configs 1000001",
        "soak --configs 1000001 --seed 1",
        &["--configs = 1000001", "1..=1000000"],
    );
    t.refused(
        "soak: --only with --configs",
        "soak --configs 2 --only 1",
        &["--configs", "--only"],
    );
    t
}

/// What is wrong with one case's run ("" if nothing).
fn check(case: &Case, out: &Output, root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match &case.expect {
        Expect::Refused(needles) => {
            let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
            problems.extend(usage_error_problem(out, &needles));
        }
        Expect::Later { needles, passed } => {
            let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
            problems.extend(usage_error_problem(out, &needles));
            if stderr.contains(passed.as_str()) {
                problems.push(format!("{passed} refused: {stderr:?}"));
            }
        }
        Expect::Accepted(output) => {
            if !out.status.success() {
                problems.push(format!(
                    "exit {:?}, not 0; stderr: {stderr:?}",
                    out.status.code()
                ));
            }
            if let Some(path) = output {
                let path = root.join(path);
                if !path.exists() {
                    problems.push(format!("{} not written", path.display()));
                }
                let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
            }
        }
    }
    if stdout.contains("panicked") || stderr.contains("panicked") {
        problems.push("panic".into());
    }
    problems
}

#[test]
fn every_command_refuses_bad_input_with_one_line_and_exit_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    build_fixture(root);
    let unwritable = unwritable_dir(root);
    if let Err(why) = &unwritable {
        eprintln!("SKIPPED the unwritable-directory cases: {why}");
    }
    let table = table(root, unwritable.as_ref().ok().map(PathBuf::as_path));
    let mut before = snapshot(root);
    let mut failures = Vec::new();
    for case in &table.0 {
        let mut cmd = if case.small_memory {
            let mut c = std::process::Command::new("sh");
            c.arg("-c")
                .arg("ulimit -v 262144 && exec \"$0\" \"$@\"")
                .arg(env!("CARGO_BIN_EXE_sta"));
            c
        } else {
            sta_command()
        };
        let out = cmd
            .args(&case.args)
            .current_dir(root)
            .env("STA_CACHE_DIR", root.join("cache"))
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let mut problems = check(case, &out, root);
        let diff = changes(&before, &snapshot(root));
        if !diff.is_empty() {
            problems.push(format!("the fixture changed: {diff}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}\n    sta {}\n    {}",
                case.name,
                case.args.join(" "),
                problems.join("\n    ")
            ));
        }
        if !diff.is_empty() {
            // put the fixture back for the next cases: remove what the case created
            for line in diff.split(", ") {
                if let Some(p) = line.strip_prefix("created ") {
                    let p = root.join(p);
                    let _ = fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p));
                }
            }
            // report each change once: what could not be undone is the next cases' baseline
            before = snapshot(root);
        }
    }
    let commands: std::collections::BTreeSet<String> = table
        .0
        .iter()
        .map(|c| match c.args[0].as_str() {
            "lut" | "softmax" | "accel" => format!("{} {}", c.args[0], c.args[1]),
            other => other.to_string(),
        })
        .collect();
    eprintln!(
        "{} cases over {} commands ({}); {} failed",
        table.0.len(),
        commands.len(),
        commands.iter().cloned().collect::<Vec<_>>().join(", "),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        table.0.len(),
        failures.join("\n")
    );
}
