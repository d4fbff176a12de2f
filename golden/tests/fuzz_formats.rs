//! Parser fuzzing of the golden crate's file formats (docs/reliability.md "Parser fuzzing"): the compressed N:M
//! format (`Compressed::from_bytes`), LUT parameter files (`PwlParamsFile::from_json`), the published GQA-LUT
//! reference files (`parse_reference`) and program.json (`Program::from_json`).
//!
//! For arbitrary bytes and for structure-aware mutations of valid inputs (bytes flipped, inserted, removed, every
//! truncation, header and JSON fields replaced by extremes such as claimed shapes of 2^40 elements): never a panic,
//! never more heap than the input's length allows (fuzz_support's counting allocator), and what a parser accepts is
//! usable (re-serialises to the same value or bytes; evaluates, runs) — valid inputs round-trip.
//!
//! Default case counts keep the file at a few seconds in `cargo test --release`; for a long run:
//! `PROPTEST_CASES=100000 cargo test --release -p sta-golden --test fuzz_formats` (or `make fuzz`).

mod fuzz_support;

use std::path::PathBuf;

use fuzz_support::{
    apply_edits, apply_json_edits, arbitrary_bytes, byte_edits, cases, every_truncation,
    json_edits, within_allowance,
};
use proptest::prelude::*;
use sta_golden::encoder::program::{default_gelu_table, default_rsqrt_table, default_softmax_spec};
use sta_golden::encoder::{
    run, AttentionParams, EncoderDims, EncoderWeights, HostParams, LayerParams, LinearKind,
    LinearParams, NormMethod, NormParams, Program, Scale, Sparsity, Tokens, PROGRAM_FORMAT_VERSION,
};
use sta_golden::nm::{compress, decompress, prune_nm, Compressed, NmPattern};
use sta_golden::pwl::reference::parse_reference;
use sta_golden::pwl::{Provenance, PwlParamsFile, PwlRange};
use sta_golden::{FormatError, Matrix};

// ---------------------------------------------------------------------------------------------------------------
// The compressed N:M format (docs/compressed-format.md)
// ---------------------------------------------------------------------------------------------------------------

/// A random legal compressed matrix: any supported N:M, 1..6 rows, 1..4 groups, random INT8 values pruned to N:M.
fn compressed() -> impl Strategy<Value = Compressed> {
    let pattern = prop_oneof![Just(2usize), Just(4), Just(8), Just(16)]
        .prop_flat_map(|m| (1..=m, Just(m)))
        .prop_map(|(n, m)| NmPattern::new(n, m).expect("legal pattern"));
    (pattern, 1usize..6, 1usize..4)
        .prop_flat_map(|(p, rows, groups)| {
            let cols = groups * p.m();
            (
                Just(p),
                Just(rows),
                Just(cols),
                proptest::collection::vec(any::<i8>(), rows * cols),
            )
        })
        .prop_map(|(p, rows, cols, data)| {
            let w = prune_nm(&Matrix::new(rows, cols, data).expect("shape"), p);
            compress(&w, p).expect("pruned to N:M")
        })
}

fn parse_stanm(bytes: &[u8]) -> Result<Compressed, FormatError> {
    within_allowance("Compressed::from_bytes", bytes.len(), || {
        Compressed::from_bytes(bytes)
    })
}

/// A STANM file whose header has exactly these values, in the documented field order, and `payload` bytes after it.
fn stanm_with_header(fields: [u128; 8], payload: &[u8]) -> Vec<u8> {
    let [n, m, rows, cols, groups, index_bits, value_bytes, index_bytes] = fields;
    let header = format!(
        r#"{{"n":{n},"m":{m},"rows":{rows},"cols":{cols},"groups":{groups},"index_bits":{index_bits},"value_bytes":{value_bytes},"index_bytes":{index_bytes}}}"#
    );
    let mut b = b"STANM\0\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u32).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(payload);
    b
}

/// The header fields of a compressed matrix, in file order.
fn header_fields(c: &Compressed) -> [u128; 8] {
    let p = c.pattern();
    let slots = (c.rows() * c.groups() * p.n()) as u128;
    let ib = u128::from(p.index_bits());
    [
        p.n() as u128,
        p.m() as u128,
        c.rows() as u128,
        c.cols() as u128,
        c.groups() as u128,
        ib,
        slots,
        (slots * ib).div_ceil(8),
    ]
}

/// Header values that claim far more than any file holds.
fn huge() -> impl Strategy<Value = u128> {
    prop_oneof![
        Just(1u128 << 40),
        Just(1u128 << 32),
        Just((1u128 << 32) - 1),
        Just(u64::MAX as u128),
        Just(u64::MAX as u128 + 1),
        Just(usize::MAX as u128 / 2 + 1),
        (1u128 << 20)..(1u128 << 64),
    ]
}

proptest! {
    #![proptest_config(cases(2000))]

    #[test]
    fn stanm_round_trips(c in compressed()) {
        let bytes = c.to_bytes();
        let back = parse_stanm(&bytes).expect("a written file reads back");
        prop_assert_eq!(&back, &c);
        prop_assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn stanm_arbitrary_bytes_never_panic(bytes in arbitrary_bytes()) {
        let _ = parse_stanm(&bytes);
        // the same bytes behind a valid magic and version reach the header and payload checks
        let mut framed = b"STANM\0\x01\x00".to_vec();
        framed.extend_from_slice(&bytes);
        let _ = parse_stanm(&framed);
    }

    /// Every accepted file is canonical (the format's promise): a mutated file either fails or is byte-identical to
    /// the serialisation of what it decodes to, which decompresses without panicking.
    #[test]
    fn stanm_mutations_are_refused_or_canonical(c in compressed(), edits in byte_edits()) {
        let bytes = apply_edits(&c.to_bytes(), &edits);
        if let Ok(back) = parse_stanm(&bytes) {
            prop_assert_eq!(back.to_bytes(), bytes);
            let dense = decompress(&back);
            prop_assert_eq!((dense.rows(), dense.cols()), (back.rows(), back.cols()));
        }
    }

    /// One header field replaced by a huge value, alone or with every derived field made consistent with it: the
    /// claim is refused by comparing it with the bytes present (an allocation of it would abort the process).
    #[test]
    fn stanm_huge_claims_are_refused_without_allocating(
        c in compressed(),
        field in 0usize..8,
        value in huge(),
        consistent in any::<bool>(),
    ) {
        let mut f = header_fields(&c);
        f[field] = value;
        if consistent && (field == 2 || field == 4) {
            // rows or groups: recompute cols, value_bytes and index_bytes from the claim
            let (n, m, ib) = (f[0], f[1], f[5]);
            f[3] = f[4].saturating_mul(m);
            f[6] = f[2].saturating_mul(f[4]).saturating_mul(n);
            f[7] = f[6].saturating_mul(ib).div_ceil(8);
        }
        let bytes = c.to_bytes();
        let payload_at = bytes.len() - c.values().len() - header_fields(&c)[7] as usize;
        let file = stanm_with_header(f, &bytes[payload_at..]);
        prop_assert!(parse_stanm(&file).is_err());
    }
}

#[test]
fn stanm_every_truncation_is_refused() {
    let w = Matrix::new(
        3,
        16,
        (0..48)
            .map(|i| if i % 3 == 0 { i as i8 - 20 } else { 0 })
            .collect(),
    )
    .expect("shape");
    for p in [(1, 2), (2, 4), (3, 8), (16, 16)] {
        let p = NmPattern::new(p.0, p.1).expect("pattern");
        let c = compress(&prune_nm(&w, p), p).expect("N:M");
        every_truncation(&c.to_bytes(), |b| assert!(parse_stanm(b).is_err(), "{b:?}"));
    }
}

/// A header claiming 2^40 slots (rows = 2^40, every derived field consistent) over a 10-byte payload, and a header
/// length of 4 GiB − 1: both are refused from the lengths, before anything is allocated.
#[test]
fn stanm_claims_of_2_pow_40_slots_are_refused() {
    let rows = 1u128 << 40;
    let file = stanm_with_header([1, 2, rows, 2, 1, 1, rows, rows.div_ceil(8)], &[0; 10]);
    let err = parse_stanm(&file).unwrap_err();
    assert!(matches!(err, FormatError::Length { .. }), "{err}");
    let mut long = b"STANM\0\x01\x00".to_vec();
    long.extend_from_slice(&u32::MAX.to_le_bytes());
    long.extend_from_slice(b"{}");
    assert!(matches!(
        parse_stanm(&long),
        Err(FormatError::Length { .. })
    ));
}

// ---------------------------------------------------------------------------------------------------------------
// LUT parameter files and the published GQA-LUT reference files
// ---------------------------------------------------------------------------------------------------------------

fn gqa_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/gqa-lut")
}

/// The vendored GQA-LUT reference files (data/gqa-lut/*.json), as text.
fn reference_files() -> Vec<String> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(gqa_dir())
        .expect("data/gqa-lut")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    assert!(names.len() >= 8, "data/gqa-lut holds {}", names.len());
    names
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("readable"))
        .collect()
}

/// Our parameter files, made from every reference file the way `sta lut import` makes them.
fn params_files() -> Vec<String> {
    reference_files()
        .iter()
        .filter_map(|text| {
            let function = parse_reference(text, u32::MAX).ok()?.function;
            let format = function.default_format();
            let set = parse_reference(text, format.input_frac_bits).ok()?;
            let table = set.to_table(format).ok()?;
            let (lo, hi) = function.default_range();
            let provenance = Provenance::imported("fuzz_formats", "fuzz");
            let file =
                PwlParamsFile::new(function, PwlRange::new(lo, hi).ok()?, &table, provenance)
                    .ok()?;
            Some(file.to_json())
        })
        .collect()
}

fn parse_params(text: &str) -> Result<PwlParamsFile, sta_golden::PwlError> {
    within_allowance("PwlParamsFile::from_json", text.len(), || {
        PwlParamsFile::from_json(text)
    })
}

/// What every consumer of an accepted parameter file does: the table, every INT8 code through the datapath, the
/// float model across the range, and the file written again.
fn use_params(file: &PwlParamsFile) {
    let table = file.table().expect("an accepted file has a valid table");
    for q in i8::MIN..=i8::MAX {
        table.eval(q);
    }
    let range = file
        .pwl_range()
        .expect("an accepted file has a valid range");
    for i in 0..=16 {
        let x = range.lo() + (range.hi() - range.lo()) * f64::from(i) / 16.0;
        table.eval_float(x);
    }
    let again = PwlParamsFile::from_json(&file.to_json()).expect("re-reads");
    // the floats of `range` and `mse` may come back one ulp off (serde_json without float_roundtrip)
    assert_eq!(again.table().expect("table"), table);
    assert_eq!(
        (again.function, again.entries, &again.provenance),
        (file.function, file.entries, &file.provenance)
    );
}

fn parse_ref(
    text: &str,
    bits: u32,
) -> Result<sta_golden::pwl::reference::ReferenceSet, sta_golden::PwlError> {
    within_allowance("parse_reference", text.len(), || {
        parse_reference(text, bits)
    })
}

/// What `sta lut import` does with an accepted reference set: convert at the function's default formats (and at
/// D_IN = 15), and an accepted table validates.
fn use_reference(text: &str) {
    for bits in [u32::MAX, 0, 5, 15] {
        if let Ok(set) = parse_ref(text, bits) {
            let mut format = set.function.default_format();
            for d in [format.input_frac_bits, 15] {
                format.input_frac_bits = d;
                if let Ok(table) = set.to_table(format) {
                    table.validate().expect("to_table returns valid tables");
                }
            }
        }
    }
}

fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

proptest! {
    #![proptest_config(cases(1000))]

    #[test]
    fn lut_params_arbitrary_bytes_never_panic(bytes in arbitrary_bytes()) {
        let text = text_of(&bytes);
        if let Ok(file) = parse_params(&text) {
            use_params(&file);
        }
        use_reference(&text);
    }

    #[test]
    fn lut_params_json_mutations_are_refused_or_usable(which in any::<prop::sample::Index>(), edits in json_edits()) {
        let files = params_files();
        let valid: serde_json::Value = serde_json::from_str(which.get(&files).as_str()).expect("json");
        let text = serde_json::to_string(&apply_json_edits(&valid, &edits)).expect("serialises");
        if let Ok(file) = parse_params(&text) {
            use_params(&file);
        }
    }

    #[test]
    fn lut_params_byte_mutations_are_refused_or_usable(which in any::<prop::sample::Index>(), edits in byte_edits()) {
        let files = params_files();
        let text = text_of(&apply_edits(which.get(&files).as_bytes(), &edits));
        if let Ok(file) = parse_params(&text) {
            use_params(&file);
        }
    }

    #[test]
    fn gqa_reference_mutations_are_refused_or_usable(
        which in any::<prop::sample::Index>(),
        edits in json_edits(),
        bytes in byte_edits(),
        structural in any::<bool>(),
    ) {
        let files = reference_files();
        let original = which.get(&files);
        let text = if structural {
            let valid: serde_json::Value = serde_json::from_str(original).expect("json");
            serde_json::to_string(&apply_json_edits(&valid, &edits)).expect("serialises")
        } else {
            text_of(&apply_edits(original.as_bytes(), &bytes))
        };
        use_reference(&text);
    }
}

#[test]
fn lut_files_round_trip_and_every_truncation_is_refused() {
    for text in params_files() {
        let file = parse_params(&text).expect("valid");
        use_params(&file);
        every_truncation(text.trim_end().as_bytes(), |b| {
            assert!(parse_params(&text_of(b)).is_err())
        });
    }
    for text in reference_files() {
        parse_ref(&text, u32::MAX).expect("valid reference");
        every_truncation(text.trim_end().as_bytes(), |b| {
            assert!(parse_ref(&text_of(b), u32::MAX).is_err())
        });
    }
}

// ---------------------------------------------------------------------------------------------------------------
// program.json
// ---------------------------------------------------------------------------------------------------------------

const DIMS: EncoderDims = EncoderDims {
    d_model: 8,
    heads: 2,
    ffn: 16,
    layers: 1,
};

/// A small legal program: every parameter a plain in-range value, the committed tables.
fn program(method: NormMethod) -> Program {
    let linear = |lk: LinearKind| {
        let (out, _) = lk.shape(&DIMS);
        let residual = matches!(lk, LinearKind::AttnOut | LinearKind::FfnOut);
        LinearParams {
            bias: (0..out).map(|i| i as i32 * 37 - 100).collect(),
            mult: vec![1 << 14; out],
            shift: vec![20; out],
            residual_shift: if residual { vec![6; out] } else { Vec::new() },
        }
    };
    let norm = || NormParams {
        gain: vec![12000; DIMS.d_model],
        offset: vec![-1000; DIMS.d_model],
        shift: 22,
    };
    let layer = LayerParams {
        linear: LinearKind::ALL.iter().map(|&lk| linear(lk)).collect(),
        attention: AttentionParams {
            score: Scale {
                mult: 1 << 14,
                shift: 16,
            },
            context: Scale {
                mult: 1 << 14,
                shift: 21,
            },
        },
        norm_attn: norm(),
        norm_ffn: norm(),
        gelu: vec![default_gelu_table(4).expect("committed table")],
        gelu_select: vec![0; DIMS.ffn],
    };
    let p = Program {
        format_version: PROGRAM_FORMAT_VERSION,
        dims: DIMS,
        sparsity: Sparsity::Dense,
        host: HostParams {
            input_scales: vec![0.5; DIMS.d_model],
            layer_scales: vec![vec![0.25; DIMS.d_model]],
        },
        softmax: default_softmax_spec(),
        norm_method: method,
        rsqrt: (method == NormMethod::Rsqrt).then(default_rsqrt_table),
        layers: vec![layer],
        ops: Program::standard_ops(DIMS.layers),
    };
    p.validate().expect("the test program is legal");
    p
}

fn parse_program(text: &str) -> Result<Program, sta_golden::encoder::ProgramError> {
    within_allowance("Program::from_json", text.len(), || {
        Program::from_json(text)
    })
}

/// An accepted program runs on two short sentences (an error is fine, a panic is not) and re-serialises to itself.
fn use_program(p: &Program) {
    let d = p.dims;
    if d.d_model * d.ffn.max(d.d_model) * d.layers <= 1 << 22 {
        let weights = EncoderWeights {
            layers: (0..d.layers)
                .map(|_| {
                    LinearKind::ALL
                        .iter()
                        .map(|lk| {
                            let (o, i) = lk.shape(&d);
                            Matrix::from_fn(o, i, |r, c| ((r * 7 + c * 3) % 11) as i8 - 5)
                        })
                        .collect()
                })
                .collect(),
        };
        let tokens = Tokens {
            x: (0..3 * d.d_model).map(|i| (i % 17) as i8 - 8).collect(),
            lengths: vec![2, 1],
        };
        let _ = run(p, &weights, &tokens);
    }
    assert_eq!(&Program::from_json(&p.to_json()).expect("re-reads"), p);
}

proptest! {
    #![proptest_config(cases(600))]

    #[test]
    fn program_json_mutations_are_refused_or_runnable(rsqrt in any::<bool>(), edits in json_edits()) {
        let method = if rsqrt { NormMethod::Rsqrt } else { NormMethod::Exact };
        let valid = serde_json::to_value(program(method)).expect("value");
        let text = serde_json::to_string(&apply_json_edits(&valid, &edits)).expect("serialises");
        if let Ok(p) = parse_program(&text) {
            use_program(&p);
        }
    }

    #[test]
    fn program_json_bytes_are_refused_or_runnable(bytes in arbitrary_bytes(), edits in byte_edits()) {
        let _ = parse_program(&text_of(&bytes));
        let text = text_of(&apply_edits(program(NormMethod::Exact).to_json().as_bytes(), &edits));
        if let Ok(p) = parse_program(&text) {
            use_program(&p);
        }
    }
}

#[test]
fn program_round_trips_and_every_truncation_is_refused() {
    for method in [NormMethod::Exact, NormMethod::Rsqrt] {
        let p = program(method);
        use_program(&p);
        let compact = serde_json::to_string(&p).expect("json");
        every_truncation(compact.as_bytes(), |b| {
            assert!(parse_program(&text_of(b)).is_err())
        });
    }
}

/// The heap check is not vacuous: a parser that believed a claimed length would be caught.
#[test]
#[should_panic(expected = "bytes of heap for 10 bytes of input")]
fn the_heap_check_catches_an_allocation_from_a_claimed_length() {
    within_allowance("a credulous parser", 10, || vec![0u8; 4 << 20].len());
}
