//! Parser fuzzing of the `sta` tool's inputs (docs/reliability.md "Parser fuzzing"):
//!
//! - `.npy` matrices (`npy::parse_i8_matrix`, behind `--weights`, `--activations`, …; `softmax::run::read_scores`,
//!   int8 and int16);
//! - TOML configurations (`sta generate --config`: `ArrayArgs::resolve`; `sta accel generate --config`:
//!   `AccelArgs::resolve`);
//! - design directories (`DesignInfo::from_files` / `DesignInfo::load`, `accel::generate::read_design`: manifest.json
//!   and filelist.f);
//! - `sta estimate --against` run reports;
//! - LUT files through the commands' readers (`lut::rtl::read_params` → the RTL generator, `lut::import`);
//! - what the accelerator's simulator sends back (`sta_testbenches::accel_top::parse_results` →
//!   `accel::sim::split_output`), and the PE-array and stream-wrapper harness result lines.
//!
//! Arbitrary bytes and structure-aware mutations of valid inputs (bytes flipped/inserted/removed, every truncation,
//! TOML/JSON values replaced by extremes, .npy headers claiming 2^40 elements): never a panic, never more heap than
//! the input allows (fuzz_support's counting allocator), valid inputs round-trip through their writers.
//!
//! Long run: `PROPTEST_CASES=100000 cargo test --release -p sta-generators --test fuzz_parsers` (or `make fuzz`).

#[path = "../../golden/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fuzz_support::{
    apply_edits, apply_json_edits, arbitrary_bytes, byte_edits, cases, every_truncation,
    json_edits, within_allowance, ByteEdit, JsonEdit,
};
use proptest::prelude::*;
use sta_generators::accel::estimate::{run_estimate, EstimateArgs};
use sta_generators::accel::generate::{accel_files, read_design, AccelArgs};
use sta_generators::accel::sim::{split_output, StoreShape};
use sta_generators::config::{resolved_toml, ArrayArgs};
use sta_generators::design::pe_array_files;
use sta_generators::fpga::design_dir::DesignInfo;
use sta_generators::lut::formats::FormatArgs;
use sta_generators::lut::import::import_reference;
use sta_generators::lut::rtl::{read_params, rtl_files, unit_of};
use sta_generators::npy::{encode_npy, i8_matrix_to_npy, parse_i8_matrix};
use sta_generators::softmax::run::read_scores;
use sta_golden::encoder::EncoderDims;
use sta_golden::pe_array::{ArrayShape, DspMapping};
use sta_golden::top::isa::{BufferId, Word, STATUS_BITS};
use sta_golden::top::AccelConfig;
use sta_golden::Matrix;
use sta_testbenches::accel_top::parse_results;

fn temp_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------------------------------------
// .npy
// ---------------------------------------------------------------------------------------------------------------

fn matrix() -> impl Strategy<Value = Matrix<i8>> {
    (1usize..24, 1usize..24).prop_flat_map(|(r, c)| {
        proptest::collection::vec(any::<i8>(), r * c)
            .prop_map(move |d| Matrix::new(r, c, d).expect("shape"))
    })
}

fn parse_npy(bytes: &[u8]) -> sta_generators::error::Result<Matrix<i8>> {
    within_allowance("parse_i8_matrix", bytes.len(), || {
        parse_i8_matrix(bytes, "--weights w.npy")
    })
}

/// A version-1.0 .npy file with this header dictionary (padded as NumPy pads it) and `data` after it.
fn npy_with_header(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut header = dict.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

/// Claimed dimensions far beyond any file: 2^40, 2^32, u64::MAX, products that overflow u64.
fn huge_dim() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(1u64 << 40),
        Just(1u64 << 32),
        Just(1u64 << 63),
        Just(u64::MAX),
        Just(u64::MAX / 2 + 1),
        (1u64 << 20)..u64::MAX,
    ]
}

fn one_error_line(e: &sta_generators::error::StaError) -> Result<(), TestCaseError> {
    let text = e.to_string();
    prop_assert!(!text.contains('\n'), "multi-line error: {text}");
    Ok(())
}

proptest! {
    #![proptest_config(cases(2000))]

    #[test]
    fn npy_round_trips(m in matrix()) {
        let bytes = i8_matrix_to_npy(&m).expect("encodes");
        prop_assert_eq!(parse_npy(&bytes).expect("a written file reads back"), m);
    }

    #[test]
    fn npy_arbitrary_bytes_are_refused(bytes in arbitrary_bytes()) {
        if let Err(e) = parse_npy(&bytes) {
            one_error_line(&e)?;
        }
        // the same bytes behind a valid magic reach the header parser
        let mut framed = b"\x93NUMPY\x01\x00".to_vec();
        framed.extend_from_slice(&bytes);
        let _ = parse_npy(&framed);
    }

    /// A mutated file is refused, or reads as some matrix whose size matches what the file holds.
    #[test]
    fn npy_mutations_are_refused_or_consistent(m in matrix(), edits in byte_edits()) {
        let bytes = apply_edits(&i8_matrix_to_npy(&m).expect("encodes"), &edits);
        match parse_npy(&bytes) {
            Ok(back) => prop_assert!(back.rows() * back.cols() <= bytes.len()),
            Err(e) => one_error_line(&e)?,
        }
    }

    /// Headers claiming huge shapes over a few bytes of data are refused from the lengths (an allocation of the
    /// claim would abort the process).
    #[test]
    fn npy_huge_shapes_are_refused_without_allocating(
        huge in huge_dim(),
        other in prop_oneof![huge_dim(), 1u64..4],
        swap in any::<bool>(),
        extra in proptest::collection::vec(huge_dim(), 0..2),
        dtype in prop_oneof![Just("|i1"), Just("<i2"), Just("<i4")],
        data in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let (rows, cols) = if swap { (other, huge) } else { (huge, other) };
        let mut shape = format!("({rows}, {cols}");
        for d in &extra {
            shape.push_str(&format!(", {d}"));
        }
        shape.push(')');
        let file = npy_with_header(
            &format!("{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape}, }}"),
            &data,
        );
        let err = parse_npy(&file).expect_err("a claim beyond the data");
        one_error_line(&err)?;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = temp_file(dir.path(), "s.npy", &file);
        for bits in [8, 12, 16] {
            let e = within_allowance("read_scores", file.len(), || read_scores(&path, bits));
            prop_assert!(e.is_err());
        }
    }

    /// `sta softmax run --scores`: int8 and int16 files, mutated, at every score width.
    #[test]
    fn score_files_are_refused_or_in_range(
        rows in 1usize..6,
        cols in 1usize..20,
        wide in any::<bool>(),
        edits in proptest::option::of(byte_edits()),
        bits in prop_oneof![Just(8u32), Just(12), Just(16)],
    ) {
        let n = rows * cols;
        let bytes = if wide {
            let v: Vec<i16> = (0..n).map(|i| (i as i16 * 97) % 2000 - 1000).collect();
            encode_npy(&[rows as u64, cols as u64], &v).expect("encodes")
        } else {
            let v: Vec<i8> = (0..n).map(|i| (i as i8).wrapping_mul(37)).collect();
            encode_npy(&[rows as u64, cols as u64], &v).expect("encodes")
        };
        let bytes = edits.map_or(bytes.clone(), |e| apply_edits(&bytes, &e));
        let dir = tempfile::tempdir().expect("tempdir");
        let path = temp_file(dir.path(), "s.npy", &bytes);
        match within_allowance("read_scores", bytes.len(), || read_scores(&path, bits)) {
            Ok(m) => {
                let limit = 1i32 << (bits - 1);
                prop_assert!(m.data().iter().all(|v| (-limit..limit).contains(v)));
            }
            Err(e) => one_error_line(&e)?,
        }
    }
}

#[test]
fn npy_every_truncation_is_refused() {
    let m = Matrix::new(3, 5, (0..15).map(|i| i as i8 - 7).collect()).expect("shape");
    let bytes = i8_matrix_to_npy(&m).expect("encodes");
    every_truncation(&bytes, |b| {
        assert!(parse_npy(b).is_err(), "{} bytes", b.len())
    });
}

/// The header claims (2^40, 1) int8 elements over 16 bytes of data: refused with the sizes, before allocating.
#[test]
fn npy_claim_of_2_pow_40_elements_is_refused() {
    let file = npy_with_header(
        "{'descr': '|i1', 'fortran_order': False, 'shape': (1099511627776, 1), }",
        &[0; 16],
    );
    let err = parse_npy(&file).expect_err("refused").to_string();
    assert!(
        err.contains("truncated data") && err.contains("1099511627776 bytes"),
        "{err}"
    );
}

/// A product of dimensions beyond u64 (2^63 × 2, which wraps to 0 inside the .npy reader) is refused too.
#[test]
fn npy_shape_product_overflow_is_refused() {
    let file = npy_with_header(
        "{'descr': '|i1', 'fortran_order': False, 'shape': (9223372036854775808, 2), }",
        &[],
    );
    let err = parse_npy(&file).expect_err("refused").to_string();
    assert!(err.contains("more than 2^64"), "{err}");
}

/// Regression: a format-2.0 header length of 4 GiB − 1 in a 16-byte file made the .npy reader allocate the claimed
/// length before reading (found as 662,372,470 bytes of heap for a 124-byte mutated file); refused from the length.
#[test]
fn npy_header_length_claim_is_refused_without_allocating() {
    let mut file = b"\x93NUMPY\x02\x00".to_vec();
    file.extend_from_slice(&u32::MAX.to_le_bytes());
    file.extend_from_slice(b"{'descr'");
    let err = parse_npy(&file).expect_err("refused").to_string();
    assert!(err.contains("header claims 4294967295 bytes"), "{err}");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = temp_file(dir.path(), "s.npy", &file);
    let err = within_allowance("read_scores", file.len(), || read_scores(&path, 12))
        .expect_err("refused")
        .to_string();
    assert!(err.contains("header claims"), "{err}");
}

/// Regression: a header with a syntax error gave a six-line message (the reader quotes the header with a caret under
/// the column, control characters included); it is one line now.
#[test]
fn npy_header_syntax_errors_are_one_line() {
    let file = npy_with_header(
        "{'de\x7fcr': '|i1', 'fortran_order': False, 'shape': (2, 8), } des",
        &[0; 16],
    );
    let err = parse_npy(&file).expect_err("refused").to_string();
    assert!(
        !err.contains('\n') && !err.contains('\x7f') && err.contains("(expected EOI)"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// TOML configurations
// ---------------------------------------------------------------------------------------------------------------

/// A TOML document with structure-aware edits applied through its JSON image (TOML cannot hold null or integers
/// beyond i64: such edits leave the document unchanged), or with byte edits.
fn mutate_toml(valid: &str, json: &[JsonEdit], bytes: &[ByteEdit], structural: bool) -> Vec<u8> {
    if !structural {
        return apply_edits(valid.as_bytes(), bytes);
    }
    let table: toml::Table = toml::from_str(valid).expect("valid TOML");
    let value = serde_json::to_value(&table).expect("json image");
    let edited = apply_json_edits(&value, json);
    toml::to_string(&edited).map_or_else(|_| valid.as_bytes().to_vec(), String::into_bytes)
}

fn array_shape() -> impl Strategy<Value = ArrayShape> {
    (
        prop_oneof![Just(2usize), Just(4), Just(8), Just(16)].prop_flat_map(|m| (1..=m, Just(m))),
        1usize..=64,
        1usize..=64,
        16u32..=48,
        1usize..4096,
        any::<bool>(),
    )
        .prop_filter_map("legal shape", |((n, m), rows, cols, acc, k, ecp5)| {
            let dsp = if ecp5 {
                DspMapping::Ecp5
            } else {
                DspMapping::Inferred
            };
            ArrayShape::new(n, m, rows, cols, acc, k * m)
                .ok()
                .map(|s| s.with_dsp(dsp))
        })
}

fn resolve_pe(dir: &Path, bytes: &[u8]) -> (sta_generators::error::Result<ArrayShape>, PathBuf) {
    let path = temp_file(dir, "c.toml", bytes);
    let args = ArrayArgs {
        config: Some(path.clone()),
        ..ArrayArgs::default()
    };
    let shape = within_allowance("ArrayArgs::resolve", bytes.len(), || args.resolve());
    let _ = args.config_io_word_bits();
    (shape, path)
}

/// A legal accelerator configuration (docs/accelerator.md "Parameters"), built to satisfy every rule.
fn accel_config() -> impl Strategy<Value = AccelConfig> {
    (
        prop_oneof![Just(2usize), Just(4), Just(8), Just(16)],
        0u32..5,
        0usize..5,
        0u32..5,
        1usize..4,
        1usize..4,
        1usize..4,
        1usize..8,
        prop_oneof![Just(32u32), Just(64), Just(128)],
    )
        .prop_filter_map(
            "legal configuration",
            |(m, n_log, array_i, lanes_log, heads, per_head, ffn_units, token_mult, word_bits)| {
                let array = [2usize, 4, 8, 16, 32][array_i];
                let n = 1usize << n_log;
                let lanes = 1usize << lanes_log;
                let unit = array.max(m);
                let dims = EncoderDims {
                    d_model: unit * heads * per_head,
                    heads,
                    ffn: unit * ffn_units,
                    layers: 6,
                };
                AccelConfig::new((n, m), array, lanes, array * token_mult, dims, word_bits).ok()
            },
        )
}

fn accel_toml(c: &AccelConfig) -> String {
    format!(
        "n_m = \"{}:{}\"\nrows = {}\ncols = {}\nlanes = {}\nmax_tokens = {}\nd_model = {}\nheads = {}\nffn = {}\n\
         word_bits = {}\n",
        c.n,
        c.m,
        c.array,
        c.array,
        c.lanes,
        c.max_tokens,
        c.dims.d_model,
        c.dims.heads,
        c.dims.ffn,
        c.word_bits
    )
}

fn resolve_accel(dir: &Path, bytes: &[u8]) -> sta_generators::error::Result<AccelConfig> {
    let path = temp_file(dir, "a.toml", bytes);
    let args = AccelArgs {
        n_m: None,
        rows: None,
        cols: None,
        lanes: None,
        max_tokens: None,
        d_model: None,
        heads: None,
        ffn: None,
        word_bits: None,
        config: Some(path),
    };
    within_allowance("AccelArgs::resolve", bytes.len(), || args.resolve())
}

proptest! {
    #![proptest_config(cases(1000))]

    /// `config.resolved.toml` reproduces the design exactly.
    #[test]
    fn pe_array_toml_round_trips(shape in array_shape(), io in prop_oneof![Just(8u32), Just(16), Just(32), Just(64)]) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (back, path) = resolve_pe(dir.path(), resolved_toml(&shape, io).as_bytes());
        prop_assert_eq!(back.expect("the resolved configuration reads back"), shape);
        let args = ArrayArgs { config: Some(path), ..ArrayArgs::default() };
        prop_assert_eq!(args.config_io_word_bits().expect("word bits"), Some(io));
    }

    #[test]
    fn pe_array_toml_mutations_are_refused_or_legal(
        shape in array_shape(),
        json in json_edits(),
        bytes in byte_edits(),
        structural in any::<bool>(),
        arbitrary in proptest::option::weighted(0.1, arbitrary_bytes()),
    ) {
        let valid = resolved_toml(&shape, 32);
        let input = arbitrary.unwrap_or_else(|| mutate_toml(&valid, &json, &bytes, structural));
        let dir = tempfile::tempdir().expect("tempdir");
        match resolve_pe(dir.path(), &input).0 {
            // what the generator accepts passes the shape's own checks again
            Ok(s) => prop_assert!(ArrayShape::new(s.n, s.m, s.rows, s.cols, s.acc_width, s.max_k).is_ok()),
            Err(e) => one_error_line(&e)?,
        }
    }

    #[test]
    fn accel_toml_round_trips(c in accel_config()) {
        let dir = tempfile::tempdir().expect("tempdir");
        prop_assert_eq!(resolve_accel(dir.path(), accel_toml(&c).as_bytes()).expect("reads back"), c);
    }

    #[test]
    fn accel_toml_mutations_are_refused_or_legal(
        c in accel_config(),
        json in json_edits(),
        bytes in byte_edits(),
        structural in any::<bool>(),
        arbitrary in proptest::option::weighted(0.1, arbitrary_bytes()),
    ) {
        let input = arbitrary.unwrap_or_else(|| mutate_toml(&accel_toml(&c), &json, &bytes, structural));
        let dir = tempfile::tempdir().expect("tempdir");
        match resolve_accel(dir.path(), &input) {
            Ok(c) => prop_assert!(c.validate().is_ok()),
            Err(e) => one_error_line(&e)?,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Design directories and `sta estimate --against`
// ---------------------------------------------------------------------------------------------------------------

type Files = Vec<(PathBuf, Vec<u8>)>;

fn tiny_accel() -> AccelConfig {
    let dims = EncoderDims {
        d_model: 32,
        heads: 2,
        ffn: 64,
        layers: 6,
    };
    AccelConfig::new((2, 8), 8, 4, 16, dims, 32).expect("legal")
}

/// The files of a generated accelerator (tiny) and PE array (2:4, 2×3), built once.
fn designs() -> &'static [Files; 2] {
    static DESIGNS: OnceLock<[Files; 2]> = OnceLock::new();
    DESIGNS.get_or_init(|| {
        let shape = ArrayShape::new(2, 4, 2, 3, 32, 64).expect("legal");
        [
            accel_files(&tiny_accel()).expect("accelerator files"),
            pe_array_files(&shape).expect("PE array files").1,
        ]
    })
}

fn write_design(dir: &Path, files: &Files) {
    for (rel, bytes) in files {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, bytes).expect("write");
    }
}

/// `files` with manifest.json (or filelist.f) mutated.
fn mutate_design(
    files: &Files,
    filelist: bool,
    json: &[JsonEdit],
    bytes: &[ByteEdit],
    structural: bool,
) -> Files {
    let target = if filelist {
        "filelist.f"
    } else {
        "manifest.json"
    };
    files
        .iter()
        .map(|(p, b)| {
            if p != Path::new(target) {
                return (p.clone(), b.clone());
            }
            let edited = match serde_json::from_slice::<serde_json::Value>(b) {
                Ok(v) if structural => {
                    serde_json::to_vec_pretty(&apply_json_edits(&v, json)).expect("json")
                }
                _ => apply_edits(b, bytes),
            };
            (p.clone(), edited)
        })
        .collect()
}

proptest! {
    #![proptest_config(cases(250))]

    /// The FPGA flow's reader of any design directory, from memory and from disk; the accelerator's reader.
    #[test]
    fn design_manifest_mutations_are_refused_or_consistent(
        accel in any::<bool>(),
        filelist in any::<bool>(),
        json in json_edits(),
        bytes in byte_edits(),
        structural in any::<bool>(),
    ) {
        let files = mutate_design(&designs()[usize::from(!accel)], filelist, &json, &bytes, structural);
        let size: usize = files.iter().filter(|(p, _)| p.extension().is_some_and(|e| e == "json" || e == "f")).map(|(_, b)| b.len()).sum();
        if let Ok(d) = within_allowance("DesignInfo::from_files", size, || DesignInfo::from_files(&files)) {
            prop_assert!(!d.files.is_empty());
        }
        let dir = tempfile::tempdir().expect("tempdir");
        write_design(dir.path(), &files);
        if let Ok(d) = DesignInfo::load(dir.path()) {
            prop_assert!(d.files.iter().all(|f| dir.path().join(f).is_file()));
        }
        match read_design(dir.path()) {
            Ok((_, c)) => prop_assert!(c.validate().is_ok()),
            Err(e) => one_error_line(&e)?,
        }
    }

    /// `sta estimate --against REPORT`: the report's tokens, sparsity and cycles, mutated.
    #[test]
    fn estimate_reports_are_refused_or_estimated(
        json in json_edits(),
        bytes in byte_edits(),
        structural in any::<bool>(),
        arbitrary in proptest::option::weighted(0.1, arbitrary_bytes()),
    ) {
        let valid = serde_json::json!({"tokens": [5, 3], "sparsity": "2:8", "total_cycles": 123456});
        let report = arbitrary.unwrap_or_else(|| {
            if structural {
                serde_json::to_vec(&apply_json_edits(&valid, &json)).expect("json")
            } else {
                apply_edits(&serde_json::to_vec(&valid).expect("json"), &bytes)
            }
        });
        if let Err(e) = estimate_against(&report) {
            one_error_line(&e)?;
        }
    }
}

fn estimate_against(report: &[u8]) -> sta_generators::error::Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    write_design(&dir.path().join("design"), &designs()[0]);
    let path = temp_file(dir.path(), "r.json", report);
    run_estimate(&EstimateArgs {
        design: dir.path().join("design"),
        tokens: 16,
        batch: 1,
        dense: false,
        layers: 1,
        stream_bytes_per_cycle: None,
        freq: 100.0,
        every_layer: false,
        against: vec![path],
    })
}

/// Regression: a report whose sentence has 2^64 − 1 tokens wrapped to a batch of 0 rows in `BatchLayout::new`
/// (`len.div_ceil(B) · B` overflowed) and was accepted; the cycle model then ran for ever. Refused now.
#[test]
fn estimate_refuses_a_sentence_of_2_pow_64_tokens() {
    let report = br#"{"tokens": [18446744073709551615], "sparsity": "2:8", "total_cycles": 1}"#;
    let err = estimate_against(report).expect_err("refused").to_string();
    assert!(
        err.contains("18446744073709551615") && !err.contains('\n'),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// LUT files through the commands' readers
// ---------------------------------------------------------------------------------------------------------------

fn gqa_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/gqa-lut");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("data/gqa-lut")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

/// Our parameter files as `sta lut import` writes them, one per reference file it accepts.
fn params_texts() -> &'static Vec<String> {
    static TEXTS: OnceLock<Vec<String>> = OnceLock::new();
    TEXTS.get_or_init(|| {
        gqa_files()
            .iter()
            .filter_map(|p| import_reference(p, &FormatArgs::default()).ok())
            .map(|f| f.to_json())
            .collect()
    })
}

proptest! {
    #![proptest_config(cases(300))]

    /// `sta lut rtl --params`: an accepted file becomes Verilog.
    #[test]
    fn lut_params_are_refused_or_generate_rtl(
        which in any::<prop::sample::Index>(),
        json in json_edits(),
        bytes in byte_edits(),
        structural in any::<bool>(),
    ) {
        let valid = which.get(params_texts());
        let text = if structural {
            let v: serde_json::Value = serde_json::from_str(valid).expect("json");
            serde_json::to_vec(&apply_json_edits(&v, &json)).expect("json")
        } else {
            apply_edits(valid.as_bytes(), &bytes)
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = temp_file(dir.path(), "p.json", &text);
        match read_params(&path) {
            Ok(params) => {
                let unit = unit_of(&params).expect("an accepted file has a unit");
                let (module, files) = rtl_files(&unit, params.range).expect("RTL");
                prop_assert!(!module.text.is_empty() && files.len() == 2);
            }
            Err(e) => one_error_line(&e)?,
        }
    }

    /// `sta lut import --reference`: mutated published files.
    #[test]
    fn gqa_references_are_refused_or_imported(
        which in any::<prop::sample::Index>(),
        json in json_edits(),
        bytes in byte_edits(),
        structural in any::<bool>(),
    ) {
        let original = std::fs::read(which.get(&gqa_files())).expect("readable");
        let text = match serde_json::from_slice::<serde_json::Value>(&original) {
            Ok(v) if structural => serde_json::to_vec(&apply_json_edits(&v, &json)).expect("json"),
            _ => apply_edits(&original, &bytes),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = temp_file(dir.path(), "r.json", &text);
        match import_reference(&path, &FormatArgs::default()) {
            Ok(file) => prop_assert!(file.table().is_ok()),
            Err(e) => one_error_line(&e)?,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// What the simulators send back
// ---------------------------------------------------------------------------------------------------------------

/// A results file of the accelerator's harness: `<hex word> <last>` lines, `reset` lines between segments.
fn results_text(words: &[Word], resets: &[usize]) -> String {
    let mut s = String::new();
    for (i, w) in words.iter().enumerate() {
        if resets.contains(&i) {
            s.push_str("reset\n");
        }
        s.push_str(&format!("{} {}\n", w.hex(), u8::from(i + 1 == words.len())));
    }
    s
}

fn store_shapes() -> impl Strategy<Value = Vec<(BufferId, usize)>> {
    let buffer = prop_oneof![
        Just(BufferId::X),
        Just(BufferId::V),
        Just(BufferId::Resid),
        Just(BufferId::Ffn),
        Just(BufferId::Ctx)
    ];
    proptest::collection::vec((buffer, 1usize..=2), 0..3)
}

proptest! {
    #![proptest_config(cases(1000))]

    #[test]
    fn accel_results_are_refused_or_split(
        chunks in proptest::collection::vec(any::<u32>(), 0..400),
        resets in proptest::collection::vec(0usize..100, 0..2),
        edits in proptest::option::of(byte_edits()),
        stores in store_shapes(),
        arbitrary in proptest::option::weighted(0.1, arbitrary_bytes()),
    ) {
        let c = tiny_accel();
        let per = c.word_bits as usize / 32;
        let words: Vec<Word> = chunks.chunks_exact(per).map(|w| Word(w.to_vec())).collect();
        let valid = results_text(&words, &resets);
        let text = match (arbitrary, edits) {
            (Some(b), _) => text_of(&b),
            (None, Some(e)) => text_of(&apply_edits(valid.as_bytes(), &e)),
            (None, None) => valid,
        };
        let parsed = within_allowance("parse_results", text.len(), || parse_results(&text, c.word_bits));
        if let Ok(segments) = parsed {
            let last: Vec<Word> = segments.last().map(|s| s.iter().map(|(w, _)| w.clone()).collect()).unwrap_or_default();
            prop_assert!(last.iter().all(|w| w.0.len() == per));
            let shapes: Vec<StoreShape> = stores.iter().map(|&(b, t)| StoreShape::of(&c, b, t * c.array)).collect();
            match split_output(&c, &last, &shapes) {
                Ok((out, _status)) => prop_assert!(out.len() <= shapes.len()),
                Err(e) => {
                    one_error_line(&e)?;
                    prop_assert!(last.len() < c.words(STATUS_BITS));
                }
            }
        }
    }

    /// Result lines of hex digits mixed with multi-byte characters, of about the right length.
    #[test]
    fn accel_result_lines_with_any_characters(
        lines in proptest::collection::vec("[0-9a-fA-Fé€ÿ\\-+]{0,34}( [01])?", 1..4),
        w in prop_oneof![Just(32u32), Just(64), Just(128)],
    ) {
        let text = lines.join("\n");
        if let Ok(segments) = parse_results(&text, w) {
            prop_assert!(segments.iter().flatten().all(|(word, _)| word.0.len() == w as usize / 32));
        }
    }

    /// The PE-array and stream-wrapper harnesses' result lines.
    #[test]
    fn harness_result_lines_never_panic(bytes in arbitrary_bytes(), lanes in 1usize..9, acc in 1u32..=64) {
        let text = text_of(&bytes);
        let shape = ArrayShape { n: 2, m: 4, rows: 2, cols: lanes, acc_width: acc, max_k: 64, dsp: DspMapping::Inferred };
        for line in text.lines() {
            if let Ok(beat) = sta_testbenches::beatfile::parse_result_line(line, &shape) {
                prop_assert_eq!(beat.values.len(), lanes);
            }
        }
        let _ = sta_testbenches::stream_io::parse_output_text(&text);
    }
}

/// Regression: a 64-bit word of 16 bytes with a two-byte character across the chunk boundary panicked in
/// `parse_results` ("byte index 8 is not a char boundary"), and a '+' passed for a hex digit. Both are refused now.
#[test]
fn accel_results_refuse_non_hex_characters() {
    for (line, w) in [("0000000é0000000 1", 64), ("+0000001 0", 32)] {
        let err = parse_results(line, w).expect_err(line).to_string();
        assert!(err.contains("bad hex word"), "{err}");
    }
}

/// Valid results read back word for word.
#[test]
fn accel_results_round_trip() {
    for word_bits in [32u32, 64, 128] {
        let per = word_bits as usize / 32;
        let words: Vec<Word> = (0..7u32)
            .map(|i| {
                Word(
                    (0..per as u32)
                        .map(|c| i.wrapping_mul(0x9e37_79b9) ^ c)
                        .collect(),
                )
            })
            .collect();
        let segments = parse_results(&results_text(&words, &[3]), word_bits).expect("valid");
        let back: Vec<Word> = segments.iter().flatten().map(|(w, _)| w.clone()).collect();
        assert_eq!((segments.len(), back), (2, words));
    }
}
