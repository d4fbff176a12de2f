//! The integer encoder's program format, interpreter and primitives against their contracts (docs/numerics.md
//! "Integer-only encoder", golden/src/encoder/*.rs): a hand-built small program survives JSON unchanged, `validate`
//! refuses every corruption with a message naming it, `run` is deterministic, batching-invariant (block-diagonal
//! attention) and refuses bad input with errors instead of panics, and each primitive matches a hand formula.

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sta_golden::encoder::ops::{
    affine, gelu, mean_mult, norm_stats, normalise, requant, residual, MEAN_SHIFT, RESIDUAL_BITS,
};
use sta_golden::encoder::program::{
    default_gelu_table, default_rsqrt_table, default_softmax_spec, GELU_FRAC_BITS,
};
use sta_golden::encoder::{
    run, AttentionParams, Buffer, EncoderDims, EncoderWeights, Epilogue, HostParams, LayerParams,
    LinearKind, LinearParams, NormKind, NormMethod, NormParams, Op, Program, Scale, Sparsity,
    Tokens, PROGRAM_FORMAT_VERSION,
};
use sta_golden::numerics::round_shift;
use sta_golden::Matrix;

const DIMS: EncoderDims = EncoderDims {
    d_model: 8,
    heads: 2,
    ffn: 16,
    layers: 2,
};

/// How the random parameters are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Params {
    /// Scales that keep the activations mostly inside INT8 (outputs that are neither all saturated nor all zero).
    Moderate,
    /// Anything `validate` accepts, extremes included.
    Wild,
}

fn scale(rng: &mut ChaCha8Rng, kind: Params, shifts: std::ops::RangeInclusive<u32>) -> Scale {
    match kind {
        Params::Moderate => Scale {
            mult: rng.gen_range(1 << 14..1 << 15),
            shift: rng.gen_range(shifts),
        },
        Params::Wild => match rng.gen_range(0..4) {
            0 => Scale {
                mult: (1 << 15) - 1,
                shift: 0,
            },
            1 => Scale {
                mult: rng.gen_range(0..=1),
                shift: 47,
            },
            _ => Scale {
                mult: rng.gen_range(0..1 << 15),
                shift: rng.gen_range(0..=47),
            },
        },
    }
}

fn linear_params(
    rng: &mut ChaCha8Rng,
    kind: Params,
    lk: LinearKind,
    dims: &EncoderDims,
) -> LinearParams {
    let (outputs, inputs) = lk.shape(dims);
    // acc ~ √inputs · 2^14 / 3 for random codes: the shift that brings it back to ±100.
    let base = 14 + (inputs as f64).log2().round() as u32 / 2;
    let residual = matches!(lk, LinearKind::AttnOut | LinearKind::FfnOut);
    let mut scales = (0..outputs).map(|_| scale(rng, kind, base + 12..=base + 15));
    let (mult, shift): (Vec<u32>, Vec<u32>) = scales.by_ref().map(|s| (s.mult, s.shift)).unzip();
    LinearParams {
        bias: (0..outputs)
            .map(|_| match kind {
                Params::Moderate => rng.gen_range(-5000..5000),
                Params::Wild => rng.gen(),
            })
            .collect(),
        mult,
        shift,
        residual_shift: if residual {
            (0..outputs)
                .map(|_| match kind {
                    Params::Moderate => rng.gen_range(4..=10),
                    Params::Wild => rng.gen_range(0..=24),
                })
                .collect()
        } else {
            Vec::new()
        },
    }
}

fn norm_params(rng: &mut ChaCha8Rng, kind: Params, d: usize) -> NormParams {
    match kind {
        Params::Moderate => NormParams {
            gain: (0..d).map(|_| rng.gen_range(8000..16000)).collect(),
            offset: (0..d).map(|_| rng.gen_range(-(1 << 22)..1 << 22)).collect(),
            shift: 22,
        },
        Params::Wild => NormParams {
            gain: (0..d).map(|_| rng.gen_range(-32768..=32767)).collect(),
            offset: (0..d)
                .map(|_| rng.gen_range(-(1i64 << 39) + 1..1 << 39))
                .collect(),
            shift: rng.gen_range(0..=47),
        },
    }
}

fn layer_params(rng: &mut ChaCha8Rng, kind: Params, dims: &EncoderDims) -> LayerParams {
    let tables: Vec<_> = GELU_FRAC_BITS
        .filter(|_| rng.gen_bool(0.6))
        .chain([4])
        .map(|d| default_gelu_table(d).expect("committed GELU table"))
        .collect();
    let dh_bits = (dims.head_dim() as f64).log2().round() as u32 / 2;
    LayerParams {
        linear: LinearKind::ALL
            .iter()
            .map(|&lk| linear_params(rng, kind, lk, dims))
            .collect(),
        attention: AttentionParams {
            // Q·Kᵀ ~ √dh·2^12 → 16-bit scores at 2^−8 (≈ ±2^11); A·V ~ 2^7·100 → INT8.
            score: scale(rng, kind, 15 + dh_bits..=17 + dh_bits),
            context: scale(rng, kind, 21..=22),
        },
        norm_attn: norm_params(rng, kind, dims.d_model),
        norm_ffn: norm_params(rng, kind, dims.d_model),
        gelu_select: (0..dims.ffn)
            .map(|_| rng.gen_range(0..tables.len()) as u8)
            .collect(),
        gelu: tables,
    }
}

fn program(seed: u64, kind: Params, dims: EncoderDims, method: NormMethod) -> Program {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let layers = (0..dims.layers)
        .map(|_| layer_params(&mut rng, kind, &dims))
        .collect();
    let positive = |rng: &mut ChaCha8Rng| rng.gen_range(1e-3f32..4.0);
    let p = Program {
        format_version: PROGRAM_FORMAT_VERSION,
        dims,
        sparsity: Sparsity::Dense,
        host: HostParams {
            input_scales: (0..dims.d_model).map(|_| positive(&mut rng)).collect(),
            layer_scales: (0..dims.layers)
                .map(|_| (0..dims.d_model).map(|_| positive(&mut rng)).collect())
                .collect(),
        },
        softmax: default_softmax_spec(),
        norm_method: method,
        rsqrt: (method == NormMethod::Rsqrt).then(default_rsqrt_table),
        layers,
        ops: Program::standard_ops(dims.layers),
    };
    p.validate().expect("the generated program is legal");
    p
}

fn weights(seed: u64, dims: &EncoderDims, fill: Option<i8>) -> EncoderWeights {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    EncoderWeights {
        layers: (0..dims.layers)
            .map(|_| {
                LinearKind::ALL
                    .iter()
                    .map(|lk| {
                        let (o, i) = lk.shape(dims);
                        Matrix::from_fn(o, i, |_, _| fill.unwrap_or_else(|| rng.gen()))
                    })
                    .collect()
            })
            .collect(),
    }
}

fn tokens(seed: u64, lengths: &[usize], d: usize) -> Tokens {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let count: usize = lengths.iter().sum();
    Tokens {
        x: (0..count * d).map(|_| rng.gen()).collect(),
        lengths: lengths.to_vec(),
    }
}

fn base() -> Program {
    program(1, Params::Moderate, DIMS, NormMethod::Rsqrt)
}

// ---------------------------------------------------------------------------------------------------------------
// (a) JSON round trip
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn json_round_trip_is_identical() {
    for (seed, kind, method) in [
        (1, Params::Moderate, NormMethod::Rsqrt),
        (2, Params::Moderate, NormMethod::Exact),
        (3, Params::Wild, NormMethod::Rsqrt),
        (4, Params::Wild, NormMethod::Exact),
    ] {
        let mut p = program(seed, kind, DIMS, method);
        for sparsity in [Sparsity::Dense, Sparsity::Nm { n: 2, m: 8 }] {
            p.sparsity = sparsity;
            let json = p.to_json();
            let back = Program::from_json(&json).expect("a valid program's JSON reads back");
            assert_eq!(back, p, "seed {seed}");
            // Serialisation is canonical: the second trip gives the same text.
            assert_eq!(back.to_json(), json);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// (b) validation refuses every corruption, naming it
// ---------------------------------------------------------------------------------------------------------------

enum Corruption {
    /// Edit the program in memory; `validate` (and `from_json` of its JSON) must refuse it.
    Program(fn(&mut Program)),
    /// Edit the JSON text; `from_json` must refuse it.
    Json(fn(String) -> String),
}

fn linear_mut(p: &mut Program, layer: usize, kind: LinearKind) -> &mut LinearParams {
    &mut p.layers[layer].linear[kind.index()]
}

/// Parses the JSON, edits the value, writes it back.
fn edit_json(json: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    edit(&mut v);
    v.to_string()
}

#[test]
fn validate_refuses_each_corruption_with_a_message_naming_it() {
    use Corruption::{Json, Program as P};
    let cases: Vec<(&str, Corruption, &[&str])> = vec![
        (
            "wrong version",
            P(|p| p.format_version = 2),
            &["version 2", "version 1"],
        ),
        (
            "mult = 2^15",
            P(|p| linear_mut(p, 0, LinearKind::Q).mult[3] = 1 << 15),
            &["layer 0 q", "channel 3", "mult = 32768", "2^15"],
        ),
        (
            "shift 48",
            P(|p| linear_mut(p, 1, LinearKind::FfnIn).shift[15] = 48),
            &["layer 1 ffn_in", "channel 15", "shift = 48", "47"],
        ),
        (
            "bias of the wrong length",
            P(|p| {
                linear_mut(p, 0, LinearKind::V).bias.pop();
            }),
            &["layer 0 v", "bias has 7 entries, expected 8"],
        ),
        (
            "mult of the wrong length",
            P(|p| linear_mut(p, 1, LinearKind::FfnOut).mult.push(1)),
            &["layer 1 ffn_out", "mult has 9 entries, expected 8"],
        ),
        (
            "residual_shift on a non-residual linear",
            P(|p| linear_mut(p, 0, LinearKind::K).residual_shift = vec![0; 8]),
            &["layer 0 k", "residual_shift has 8 entries, expected 0"],
        ),
        (
            "residual_shift missing on a residual linear",
            P(|p| linear_mut(p, 0, LinearKind::AttnOut).residual_shift.clear()),
            &[
                "layer 0 attn_out",
                "residual_shift has 0 entries, expected 8",
            ],
        ),
        (
            "residual_shift > 24",
            P(|p| linear_mut(p, 1, LinearKind::AttnOut).residual_shift[2] = 25),
            &["layer 1 attn_out", "residual_shift 25", "0..=24"],
        ),
        (
            "gain beyond 16 bits",
            P(|p| p.layers[0].norm_ffn.gain[5] = 32768),
            &["layer 0 norm_ffn", "gain 32768", "16 signed bits"],
        ),
        (
            "negative gain beyond 16 bits",
            P(|p| p.layers[1].norm_attn.gain[0] = -32769),
            &["layer 1 norm_attn", "gain -32769", "16 signed bits"],
        ),
        (
            "offset beyond 40 bits",
            P(|p| p.layers[0].norm_attn.offset[1] = 1 << 39),
            &["norm_attn", "offset 549755813888", "40 signed bits"],
        ),
        (
            "LayerNorm shift 48",
            P(|p| p.layers[1].norm_ffn.shift = 48),
            &["norm_ffn", "shift = 48", "0..=47"],
        ),
        (
            "attention score mult 40000",
            P(|p| p.layers[0].attention.score.mult = 40000),
            &["attention score", "mult = 40000"],
        ),
        (
            "op on a non-existent layer",
            P(|p| {
                p.ops.push(Op::LayerNorm {
                    layer: 2,
                    norm: NormKind::Attn,
                    src: Buffer::Resid,
                    dst: Buffer::H1,
                })
            }),
            &["op 18", "layer 2 does not exist", "layers = 2"],
        ),
        (
            "linear whose source is its destination",
            P(|p| {
                p.ops[0] = Op::Linear {
                    layer: 0,
                    kind: LinearKind::Q,
                    src: Buffer::X,
                    dst: Buffer::X,
                    epilogue: Epilogue::Requant,
                }
            }),
            &["op 0", "L0 linear q", "source and destination are the same"],
        ),
        (
            "linear reading the residual buffer",
            P(|p| {
                p.ops[1] = Op::Linear {
                    layer: 0,
                    kind: LinearKind::K,
                    src: Buffer::Resid,
                    dst: Buffer::K,
                    epilogue: Epilogue::Requant,
                }
            }),
            &["op 1", "source Resid", "INT8 buffer of width 8"],
        ),
        (
            "residual epilogue into an INT8 buffer",
            P(|p| {
                p.ops[4] = Op::Linear {
                    layer: 0,
                    kind: LinearKind::AttnOut,
                    src: Buffer::Ctx,
                    dst: Buffer::H1,
                    epilogue: Epilogue::Residual { skip: Buffer::X },
                }
            }),
            &["op 4", "destination H1", "Residual"],
        ),
        (
            "LayerNorm reading a non-resid buffer",
            P(|p| {
                p.ops[5] = Op::LayerNorm {
                    layer: 0,
                    norm: NormKind::Attn,
                    src: Buffer::Ctx,
                    dst: Buffer::H1,
                }
            }),
            &[
                "op 5",
                "L0 layer_norm attn",
                "reads Ctx",
                "LayerNorm reads resid",
            ],
        ),
        (
            "attention overwriting an operand",
            P(|p| {
                p.ops[3] = Op::Attention {
                    layer: 0,
                    q: Buffer::Q,
                    k: Buffer::K,
                    v: Buffer::V,
                    dst: Buffer::V,
                }
            }),
            &["op 3", "L0 attention", "overwrites an operand"],
        ),
        (
            "softmax output_bits 8",
            P(|p| p.softmax.output_bits = 8),
            &["softmax output_bits = 8", "output_bits = 7"],
        ),
        (
            "gelu_select pointing past the tables",
            P(|p| {
                let n = p.layers[1].gelu.len() as u8;
                p.layers[1].gelu_select[9] = n;
            }),
            &["layer 1 gelu", "channel 9 selects table"],
        ),
        (
            "gelu_select of the wrong length",
            P(|p| {
                p.layers[0].gelu_select.pop();
            }),
            &[
                "layer 0 gelu",
                "gelu_select has 15 entries, expected ffn = 16",
            ],
        ),
        (
            "no GELU table",
            P(|p| {
                p.layers[0].gelu.clear();
                p.layers[0].gelu_select = vec![0; 16];
            }),
            &["layer 0 gelu", "0 tables", "1..=16"],
        ),
        (
            "a GELU table wider than INT8",
            P(|p| p.layers[0].gelu[0].format.output_bits = 9),
            &["layer 0 gelu", "output_bits = 9", "at most 8"],
        ),
        (
            "zero host scale",
            P(|p| p.host.input_scales[2] = 0.0),
            &["input_scales = 0", "finite and positive"],
        ),
        (
            "negative host layer scale",
            P(|p| p.host.layer_scales[1][7] = -0.5),
            &["layer_scales = -0.5", "finite and positive"],
        ),
        (
            "host scales of the wrong length",
            P(|p| {
                p.host.input_scales.pop();
            }),
            &["host scales", "d_model = 8"],
        ),
        (
            "heads not dividing d_model",
            P(|p| p.dims.heads = 3),
            &["d_model = 8", "heads = 3"],
        ),
        (
            "more layers declared than given",
            P(|p| p.dims.layers = 3),
            &["layers = 3"],
        ),
        (
            "M not dividing the inputs",
            P(|p| p.sparsity = Sparsity::Nm { n: 2, m: 16 }),
            &["8 inputs", "M = 16"],
        ),
        (
            "illegal N:M",
            P(|p| p.sparsity = Sparsity::Nm { n: 3, m: 5 }),
            &["m = 5"],
        ),
        (
            "rsqrt without its table",
            P(|p| p.rsqrt = None),
            &["rsqrt", "no rsqrt table"],
        ),
        (
            "unknown top-level JSON field",
            Json(|j| edit_json(&j, |v| v["surprise"] = 1.into())),
            &["program.json", "unknown field `surprise`"],
        ),
        (
            "unknown JSON field inside a layer",
            Json(|j| edit_json(&j, |v| v["layers"][0]["linear"][2]["scale"] = 1.into())),
            &["program.json", "unknown field `scale`"],
        ),
        (
            "unknown op",
            Json(|j| edit_json(&j, |v| v["ops"][0]["op"] = "convolution".into())),
            &["program.json", "convolution"],
        ),
        (
            "negative mult in JSON",
            Json(|j| edit_json(&j, |v| v["layers"][0]["linear"][0]["mult"][0] = (-1).into())),
            &["program.json", "-1"],
        ),
        (
            "truncated JSON",
            Json(|j| j[..j.len() / 2].to_string()),
            &["program.json", "EOF"],
        ),
        (
            "empty JSON",
            Json(|_| String::new()),
            &["program.json", "EOF"],
        ),
    ];
    assert!(cases.len() >= 15);
    let good = base();
    for (name, corruption, needles) in cases {
        let message = match corruption {
            P(edit) => {
                let mut p = good.clone();
                edit(&mut p);
                let e = p.validate().expect_err(name).to_string();
                // The same program through JSON is refused too.
                assert!(
                    Program::from_json(&p.to_json()).is_err(),
                    "{name}: from_json accepted it"
                );
                e
            }
            Json(edit) => Program::from_json(&edit(good.to_json()))
                .expect_err(name)
                .to_string(),
        };
        assert!(!message.contains('\n'), "{name}: not one line: {message}");
        for needle in needles {
            assert!(
                message.contains(needle),
                "{name}: {needle:?} not in {message:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// (c) run: deterministic, batching-invariant, refuses bad input
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn run_is_deterministic_and_nontrivial() {
    for method in [NormMethod::Rsqrt, NormMethod::Exact] {
        let p = program(11, Params::Moderate, DIMS, method);
        let w = weights(12, &DIMS, None);
        let t = tokens(13, &[5, 3], DIMS.d_model);
        let a = run(&p, &w, &t).unwrap();
        let b = run(&p, &w, &t).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.layers.len(), DIMS.layers);
        for out in &a.layers {
            assert_eq!(out.len(), 8 * DIMS.d_model);
        }
        // Moderate parameters give outputs that are neither constant nor all saturated.
        let last = a.last();
        let distinct: std::collections::BTreeSet<i8> = last.iter().copied().collect();
        assert!(distinct.len() > 8, "{method:?}: {last:?}");
        let saturated = last.iter().filter(|&&v| v == 127 || v == -128).count();
        assert!(saturated < last.len() / 2, "{method:?}: {last:?}");
    }
}

#[test]
fn batching_never_changes_a_sentence_result() {
    let d = DIMS.d_model;
    for (seed, kind, method) in [
        (21, Params::Moderate, NormMethod::Rsqrt),
        (22, Params::Moderate, NormMethod::Exact),
        (23, Params::Wild, NormMethod::Rsqrt),
    ] {
        let p = program(seed, kind, DIMS, method);
        let w = weights(seed + 100, &DIMS, None);
        let lengths = [4usize, 1, 7, 2];
        let batch = tokens(seed + 200, &lengths, d);
        let together = run(&p, &w, &batch).unwrap();
        let mut start = 0;
        for &len in &lengths {
            let alone = Tokens {
                x: batch.x[start * d..(start + len) * d].to_vec(),
                lengths: vec![len],
            };
            let single = run(&p, &w, &alone).unwrap();
            for (l, (all, one)) in together.layers.iter().zip(&single.layers).enumerate() {
                assert_eq!(
                    &all[start * d..(start + len) * d],
                    &one[..],
                    "seed {seed}, layer {l}, sentence at token {start}"
                );
            }
            start += len;
        }
        // Two sentences at once: exactly the two single runs concatenated (the other order too).
        let (a, b) = (&batch.x[..4 * d], &batch.x[4 * d..5 * d]);
        for (first, second, la, lb) in [(a, b, 4, 1), (b, a, 1, 4)] {
            let pair = Tokens {
                x: [first, second].concat(),
                lengths: vec![la, lb],
            };
            let both = run(&p, &w, &pair).unwrap();
            let one = |x: &[i8], len| {
                run(
                    &p,
                    &w,
                    &Tokens {
                        x: x.to_vec(),
                        lengths: vec![len],
                    },
                )
                .unwrap()
            };
            let (ra, rb) = (one(first, la), one(second, lb));
            for l in 0..DIMS.layers {
                assert_eq!(
                    both.layers[l],
                    [ra.layers[l].clone(), rb.layers[l].clone()].concat()
                );
            }
        }
    }
}

#[test]
fn run_refuses_bad_tokens_and_weights_with_errors() {
    let p = base();
    let w = weights(31, &DIMS, None);
    let d = DIMS.d_model;
    let err = |w: &EncoderWeights, t: &Tokens| run(&p, w, t).unwrap_err().to_string();

    let token_cases: Vec<(&str, Tokens, &[&str])> = vec![
        (
            "no sentence",
            Tokens {
                x: vec![],
                lengths: vec![],
            },
            &["tokens:", "at least one sentence"],
        ),
        (
            "an empty sentence",
            Tokens {
                x: vec![0; 3 * d],
                lengths: vec![3, 0],
            },
            &["tokens:", "at least one token"],
        ),
        (
            "too few codes",
            Tokens {
                x: vec![0; 3 * d - 1],
                lengths: vec![3],
            },
            &["tokens:", "23 input codes", "3 tokens", "= 24"],
        ),
        (
            "too many codes",
            Tokens {
                x: vec![0; 4 * d],
                lengths: vec![1, 2],
            },
            &["tokens:", "32 input codes", "= 24"],
        ),
    ];
    for (name, t, needles) in token_cases {
        let e = err(&w, &t);
        for n in needles {
            assert!(e.contains(n), "{name}: {n:?} not in {e:?}");
        }
    }

    let t = tokens(32, &[3], d);
    let mut missing_layer = w.clone();
    missing_layer.layers.pop();
    let mut missing_linear = w.clone();
    missing_linear.layers[1].truncate(5);
    let mut misshaped = w.clone();
    misshaped.layers[0][LinearKind::FfnIn.index()] = Matrix::from_fn(16, 7, |_, _| 1i8);
    let mut transposed = w.clone();
    transposed.layers[1][LinearKind::FfnOut.index()] = Matrix::from_fn(16, 8, |_, _| 1i8);
    let weight_cases: Vec<(&str, EncoderWeights, &[&str])> = vec![
        (
            "one layer missing",
            missing_layer,
            &["weights:", "1 layers", "2-layer"],
        ),
        (
            "a linear missing",
            missing_linear,
            &["weights:", "layer 1", "no ffn_out"],
        ),
        (
            "a misshaped matrix",
            misshaped,
            &["layer 0 ffn_in", "16×7", "16×8"],
        ),
        (
            "a transposed matrix",
            transposed,
            &["layer 1 ffn_out", "16×8", "8×16"],
        ),
    ];
    for (name, w, needles) in weight_cases {
        let e = err(&w, &t);
        for n in needles {
            assert!(e.contains(n), "{name}: {n:?} not in {e:?}");
        }
    }

    // An invalid program is refused by run too (it validates first).
    let mut bad = p.clone();
    bad.layers[0].norm_attn.shift = 60;
    assert!(run(&bad, &w, &t)
        .unwrap_err()
        .to_string()
        .contains("shift = 60"));
}

// ---------------------------------------------------------------------------------------------------------------
// (d) run never panics on legal parameters and any INT8 input
// ---------------------------------------------------------------------------------------------------------------

fn fill_strategy() -> impl Strategy<Value = Option<i8>> {
    prop_oneof![
        Just(None),
        Just(Some(-128i8)),
        Just(Some(127i8)),
        Just(Some(0i8))
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn run_never_panics_on_legal_parameters(
        seed in any::<u64>(),
        wild in any::<bool>(),
        exact in any::<bool>(),
        shape in prop::sample::select(vec![(8usize, 2usize, 16usize, 1usize), (8, 2, 16, 2), (16, 4, 32, 1), (4, 1, 8, 1)]),
        weight_fill in fill_strategy(),
        input_fill in fill_strategy(),
        lengths in prop::collection::vec(1usize..6, 1..4),
    ) {
        let (d_model, heads, ffn, layers) = shape;
        let dims = EncoderDims { d_model, heads, ffn, layers };
        let kind = if wild { Params::Wild } else { Params::Moderate };
        let method = if exact { NormMethod::Exact } else { NormMethod::Rsqrt };
        let p = program(seed, kind, dims, method);
        let w = weights(seed ^ 1, &dims, weight_fill);
        let mut t = tokens(seed ^ 2, &lengths, d_model);
        if let Some(v) = input_fill {
            t.x.iter_mut().for_each(|x| *x = v);
        }
        let out = run(&p, &w, &t).unwrap();
        prop_assert_eq!(out.layers.len(), layers);
        for layer in &out.layers {
            prop_assert_eq!(layer.len(), t.count() * d_model);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The primitives against their contracts
// ---------------------------------------------------------------------------------------------------------------

/// round_shift by hand: ⌊(v + 2^(s−1)) / 2^s⌋ for s > 0, v for s = 0.
fn hand_round_shift(v: i128, s: u32) -> i128 {
    if s == 0 {
        v
    } else {
        (v + (1i128 << (s - 1))).div_euclid(1i128 << s)
    }
}

fn hand_sat(v: i128, bits: u32) -> i128 {
    let half = 1i128 << (bits - 1);
    v.clamp(-half, half - 1)
}

fn extremes_i64() -> Vec<i64> {
    vec![
        i64::MIN,
        i64::MIN + 1,
        -(1 << 40),
        i64::from(i32::MIN),
        -1,
        0,
        1,
        i64::from(i32::MAX),
        1 << 40,
        i64::MAX,
    ]
}

#[test]
fn requant_is_sat_of_round_shift_of_the_product() {
    let mut rng = ChaCha8Rng::seed_from_u64(41);
    let mut accs = extremes_i64();
    accs.extend((0..2000).map(|_| rng.gen::<i64>() >> rng.gen_range(0..63)));
    let mut scales: Vec<Scale> = [
        (0, 0),
        (1, 0),
        (32767, 0),
        (32767, 47),
        (1, 47),
        (16384, 14),
    ]
    .iter()
    .map(|&(mult, shift)| Scale { mult, shift })
    .collect();
    scales.extend((0..40).map(|_| Scale {
        mult: rng.gen_range(0..1 << 15),
        shift: rng.gen_range(0..=47),
    }));
    for &acc in &accs {
        for &s in &scales {
            for bits in [8, 16, 24, 32] {
                let want = hand_sat(
                    hand_round_shift(i128::from(acc) * i128::from(s.mult), s.shift),
                    bits,
                );
                assert_eq!(
                    i128::from(requant(acc, s, bits)),
                    want,
                    "acc {acc}, {s:?}, {bits} bits"
                );
            }
        }
    }
    // Round half up: +2.5 → 3 and −2.5 → −2.
    let half = Scale { mult: 5, shift: 1 };
    assert_eq!(requant(1, half, 8), 3);
    assert_eq!(requant(-1, half, 8), -2);
}

#[test]
fn residual_matches_its_formula_and_saturates_at_the_residual_width() {
    assert_eq!(RESIDUAL_BITS, 24);
    let (lo, hi) = (-(1i128 << 23), (1i128 << 23) - 1);
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    for i in 0..20_000 {
        let acc = match i % 4 {
            0 => i64::from(rng.gen::<i32>()),
            1 => rng.gen_range(-(1i64 << 31)..1 << 31),
            _ => rng.gen_range(-100_000..100_000),
        };
        let bias: i32 = if i % 3 == 0 {
            rng.gen()
        } else {
            rng.gen_range(-1000..1000)
        };
        let s = Scale {
            mult: rng.gen_range(0..1 << 15),
            shift: rng.gen_range(0..=47),
        };
        let skip: i8 = rng.gen();
        let rs = rng.gen_range(0..=24);
        let want = ((i128::from(skip) << rs)
            + hand_round_shift(
                (i128::from(acc) + i128::from(bias)) * i128::from(s.mult),
                s.shift,
            ))
        .clamp(lo, hi);
        let got = residual(acc, bias, s, skip, rs);
        assert_eq!(
            i128::from(got),
            want,
            "acc {acc} bias {bias} {s:?} skip {skip} rs {rs}"
        );
    }
    // The extremes saturate to exactly ±2^23 (−2^23 and 2^23 − 1).
    let big = Scale {
        mult: 32767,
        shift: 0,
    };
    assert_eq!(
        residual(i64::from(i32::MAX), i32::MAX, big, 127, 24),
        (1 << 23) - 1
    );
    assert_eq!(
        residual(i64::from(i32::MIN), i32::MIN, big, -128, 24),
        -(1 << 23)
    );
    // The skip alone at the largest shift already saturates: 127·2^24 > 2^23.
    let zero = Scale { mult: 0, shift: 0 };
    assert_eq!(residual(0, 0, zero, 127, 24), (1 << 23) - 1);
    assert_eq!(residual(0, 0, zero, -128, 24), -(1 << 23));
    assert_eq!(residual(0, 0, zero, -1, 23), -(1 << 23));
    assert_eq!(residual(0, 0, zero, 1, 22), 1 << 22);
}

/// A row of `d` residual values with spread about 2^`bits` around an offset.
fn residual_row(rng: &mut ChaCha8Rng, d: usize, bits: u32) -> Vec<i32> {
    let offset = rng.gen_range(-(1 << 20)..1 << 20);
    let spread = 1i32 << bits;
    (0..d)
        .map(|_| (offset + rng.gen_range(-spread..=spread)).clamp(-(1 << 23), (1 << 23) - 1))
        .collect()
}

/// Largest relative error of n against z/‖z‖·2^15 (the normaliser's contract), over the row, relative to 2^15, and
/// the error of the whole vector relative to its norm.
fn norm_errors(row: &[i32], method: NormMethod) -> (f64, f64, i128) {
    let table = default_rsqrt_table();
    let stats = norm_stats(row, method, Some(&table));
    let z: Vec<f64> = row
        .iter()
        .map(|&r| f64::from(r) - stats.mean as f64)
        .collect();
    let norm = z.iter().map(|v| v * v).sum::<f64>().sqrt();
    let (mut worst, mut diff_sq, mut raw_max) = (0f64, 0f64, 0i128);
    for (&r, &zi) in row.iter().zip(&z) {
        let n = normalise(r, &stats);
        assert!((-32768..=32767).contains(&n));
        let raw = round_shift(
            i128::from(i64::from(r) - stats.mean) * i128::from(stats.mult),
            stats.shift,
        );
        raw_max = raw_max.max(raw.abs());
        let want = zi / norm * 32768.0;
        worst = worst.max((f64::from(n) - want).abs() / 32768.0);
        diff_sq += (f64::from(n) - want).powi(2);
    }
    (worst, diff_sq.sqrt() / 32768.0, raw_max)
}

#[test]
fn normalise_is_z_over_its_norm_for_both_methods() {
    let mut rng = ChaCha8Rng::seed_from_u64(43);
    let (mut exact_worst, mut exact_vec, mut rsqrt_worst, mut rsqrt_vec) = (0f64, 0f64, 0f64, 0f64);
    for i in 0..3000 {
        let d = [2, 3, 8, 32, 384, 1024][i % 6];
        // Spreads from 2^6 to 2^22 around the offset: V = Σz² from ~2^13 up.
        let bits = rng.gen_range(6..=22);
        let row = residual_row(&mut rng, d, bits);
        if norm_stats(&row, NormMethod::Exact, None).sum_sq == 0 {
            continue; // a constant row: n = 0, nothing to compare
        }
        let (worst, vec, raw) = norm_errors(&row, NormMethod::Exact);
        // V is scaled up to ≥ 2^60 before the root, so s ≥ 2^30: ⌊√·⌋ and ⌊2^(e+16)/s⌋ lose at most ~2^−15 relative.
        assert!(worst <= 1e-3 && vec <= 1e-3, "exact, d {d}: {worst} {vec}");
        assert!(raw <= 32768 + 64, "exact: unsaturated |n| {raw}");
        exact_worst = exact_worst.max(worst);
        exact_vec = exact_vec.max(vec);
        let (worst, vec, raw) = norm_errors(&row, NormMethod::Rsqrt);
        assert!(worst <= 0.02 && vec <= 0.02, "rsqrt, d {d}: {worst} {vec}");
        assert!(raw as f64 <= 32768.0 * 1.02, "rsqrt: unsaturated |n| {raw}");
        rsqrt_worst = rsqrt_worst.max(worst);
        rsqrt_vec = rsqrt_vec.max(vec);
    }
    println!(
        "normaliser error vs z/‖z‖·2^15 (per element, of 2^15 / whole vector): exact {exact_worst:.2e} / \
         {exact_vec:.2e}, rsqrt {rsqrt_worst:.2e} / {rsqrt_vec:.2e}"
    );
    // Small V: row [0, 0, 1, 1]: μ = round(0.5) = 1, z = [−1, −1, 0, 0], V = 2; the exact path scales V up before
    // its root, so n = round(−2^15/√2) = −23170. The RSQRT path reads V = 2 exactly (f = 64) and is within 2 %.
    let small = [0, 0, 1, 1];
    let (worst, _, _) = norm_errors(&small, NormMethod::Exact);
    assert!(worst <= 1e-3, "{worst}");
    let exact = norm_stats(&small, NormMethod::Exact, None);
    assert_eq!((exact.mean, exact.sum_sq), (1, 2));
    assert_eq!(normalise(0, &exact), -23170);
    let (worst, _, _) = norm_errors(&small, NormMethod::Rsqrt);
    assert!(worst <= 0.02, "{worst}");

    // The RSQRT path over every possible table input: V = f·2^(2k−5) for every f and several k.
    let table = default_rsqrt_table();
    let mut factor_worst = 0f64;
    for k in 3..30u32 {
        for f in 32u64..128 {
            let v = f << (2 * k - 5);
            // mult·2^−shift ≈ 2^15/√V.
            let got = norm_stats_for_sum_sq(v, &table);
            let want = 32768.0 / (v as f64).sqrt();
            factor_worst = factor_worst.max((got / want - 1.0).abs());
            assert!(
                (got / want - 1.0).abs() <= 0.02,
                "V = {f}·2^{}: {got} vs {want}",
                2 * k - 5
            );
        }
    }
    println!("RSQRT factor vs 2^15/√V on the table grid: worst relative error {factor_worst:.2e}");
}

/// The rsqrt normaliser's factor mult·2^−shift for a given V, by the documented formula: k = ⌊⌊log2 V⌋/2⌋,
/// f = min(127, round_shift(V, 2k − 5)), mult = max(0, RSQRT(f)), shift = k + D_O − 15.
fn norm_stats_for_sum_sq(v: u64, table: &sta_golden::pwl::PwlTable) -> f64 {
    let k = (63 - v.leading_zeros()) / 2;
    let f = round_shift(i128::from(v), 2 * k as i32 - 5).min(127) as i8;
    let rs = table.eval(f).max(0) as f64;
    rs * 2f64.powi(-((k + table.format.output_frac_bits) as i32 - 15))
}

#[test]
fn rsqrt_factor_formula_is_what_norm_stats_uses() {
    // Rows [a, −a, b, −b] have μ = 0 and V = 2a² + 2b²: norm_stats' (mult, shift) must be the formula's.
    let table = default_rsqrt_table();
    let mut rng = ChaCha8Rng::seed_from_u64(44);
    for _ in 0..5000 {
        let a = rng.gen_range(1..1 << 22);
        let b = rng.gen_range(0..1 << 22);
        let stats = norm_stats(&[a, -a, b, -b], NormMethod::Rsqrt, Some(&table));
        assert_eq!(stats.mean, 0);
        let v = 2 * (a as u64).pow(2) + 2 * (b as u64).pow(2);
        assert_eq!(stats.sum_sq, v);
        let factor = stats.mult as f64 * 2f64.powi(-stats.shift);
        assert_eq!(factor, norm_stats_for_sum_sq(v, &table));
    }
}

#[test]
fn a_constant_row_normalises_to_zero() {
    let table = default_rsqrt_table();
    for method in [NormMethod::Exact, NormMethod::Rsqrt] {
        for (value, d) in [
            (0, 1),
            (7, 16),
            (-(1 << 23), 384),
            ((1 << 23) - 1, 4096),
            (-5, 3),
        ] {
            let row = vec![value; d];
            let stats = norm_stats(&row, method, Some(&table));
            assert_eq!(stats.mean, i64::from(value), "{method:?} {value} × {d}");
            assert_eq!(stats.sum_sq, 0);
            assert_eq!(stats.mult, 0);
            assert!(row.iter().all(|&r| normalise(r, &stats) == 0));
            // y is the offset alone: round_shift(c, shift).
            assert_eq!(affine(0, 12345, 5 << 10, 10), 5);
        }
    }
}

#[test]
fn norm_stats_are_exact_on_the_widest_rows() {
    // d = 4096 residual values at ±2^23: V = Σz² reaches 2^58 and must be exact (u64, no wrap).
    let table = default_rsqrt_table();
    let lo = -(1 << 23);
    let hi = (1 << 23) - 1;
    let rows: Vec<Vec<i32>> = vec![
        (0..4096)
            .map(|i| if i % 2 == 0 { lo } else { hi })
            .collect(),
        (0..4096).map(|i| if i == 0 { hi } else { lo }).collect(),
        (0..4096).map(|i| if i < 2048 { lo } else { hi }).collect(),
    ];
    for row in &rows {
        for method in [NormMethod::Exact, NormMethod::Rsqrt] {
            let stats = norm_stats(row, method, Some(&table));
            let want: u128 = row
                .iter()
                .map(|&r| {
                    (i128::from(r) - i128::from(stats.mean))
                        .unsigned_abs()
                        .pow(2)
                })
                .sum();
            assert_eq!(u128::from(stats.sum_sq), want);
            let n: Vec<i32> = row.iter().map(|&r| normalise(r, &stats)).collect();
            let norm = n.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt() / 32768.0;
            assert!((norm - 1.0).abs() < 0.02, "{method:?}: ‖n‖ = {norm}");
        }
    }
}

/// round(Σ/d) with ties toward +∞ (what round_shift does), exactly.
fn round_div(sum: i64, d: i64) -> i64 {
    (2 * sum + d).div_euclid(2 * d)
}

fn mu(sum: i64, d: usize) -> i64 {
    round_shift(
        i128::from(sum) * i128::from(mean_mult(d)),
        MEAN_SHIFT as i32,
    ) as i64
}

#[test]
fn mean_mult_is_the_documented_formula() {
    for d in 1..=4096usize {
        let want = ((1u64 << 32) + d as u64 / 2) / d as u64;
        assert_eq!(mean_mult(d), want, "d = {d}");
    }
}

/// μ = round_shift(Σ·MU, 32) is round(Σ/d) exactly when d is a power of two (MU = 2^32/d) or |Σ|·d < 2^32 (the
/// error |Σ|·|MU − 2^32/d|/2^32 ≤ |Σ|/2^33 is then below the distance 1/(2d) from any non-tie to a rounding
/// boundary), ties excepted; otherwise it can be off by one. So for |Σ| < 2^28 and d ≤ 4096 the mean is
/// round(Σ/d) only approximately: off by at most 1 (measured: 2,463 of 400,000 random cases, 0.6 %).
#[test]
fn mean_is_round_of_the_average_within_one() {
    let mut rng = ChaCha8Rng::seed_from_u64(45);
    let (mut checked, mut mismatches, mut off) = (0u64, 0u64, Vec::new());
    for i in 0..400_000 {
        let d = if i % 5 == 0 {
            1usize << rng.gen_range(0..=12)
        } else {
            rng.gen_range(1..=4096)
        };
        let sum: i64 = rng.gen_range(-(1i64 << 28) + 1..1 << 28);
        let got = mu(sum, d);
        let want = round_div(sum, d as i64);
        checked += 1;
        assert!(
            (got - want).abs() <= 1,
            "Σ {sum}, d {d}: μ {got}, round {want}"
        );
        if d.is_power_of_two() {
            assert_eq!(got, want, "Σ {sum}, d {d}");
        }
        if (sum.unsigned_abs() as u128) * (d as u128) < 1 << 32
            && (2 * sum).rem_euclid(2 * d as i64) != d as i64
        {
            assert_eq!(got, want, "Σ {sum}, d {d} (|Σ|·d < 2^32, no tie)");
        }
        if got != want {
            mismatches += 1;
            if off.len() < 5 {
                off.push((sum, d, got, want));
            }
        }
    }
    println!(
        "μ vs round(Σ/d), {checked} random cases with |Σ| < 2^28, d ≤ 4096: {mismatches} off by one, first \
         (Σ, d, μ, round) {off:?}"
    );
    assert!(mismatches > 0);
    // Not a tie: Σ = −164,516,683, d = 2760, Σ/d = −59,607.494…, round −59,607; MU = 1,556,148 is 0.43 above
    // 2^32/d, which moves Σ·MU/2^32 by −0.0164 past −59,607.5, so μ = −59,608.
    assert_eq!(mean_mult(2760), 1_556_148);
    assert_eq!(round_div(-164_516_683, 2760), -59_607);
    assert_eq!(mu(-164_516_683, 2760), -59_608);
    // A tie: Σ = 268,423,158, d = 12, Σ/d = 22,368,596.5; MU = ⌊2^32/12⌋ rounded down gives μ = 22,368,596, round
    // half up 22,368,597.
    assert_eq!(mu(268_423_158, 12), 22_368_596);
    assert_eq!(round_div(268_423_158, 12), 22_368_597);
    // A tie: d = 384 (MU rounded up), Σ = −192: Σ/d = −0.5 rounds (half up) to 0, μ gives −1.
    assert_eq!(round_div(-192, 384), 0);
    assert_eq!(mu(-192, 384), -1);
}

#[test]
fn affine_is_sat8_of_round_shift_and_saturates() {
    let mut rng = ChaCha8Rng::seed_from_u64(46);
    for _ in 0..50_000 {
        let n = rng.gen_range(-32768..=32767);
        let g = rng.gen_range(-32768..=32767);
        let c = rng.gen_range(-(1i64 << 39) + 1..1 << 39);
        let s = rng.gen_range(0..=47);
        let want = hand_sat(
            hand_round_shift(i128::from(n) * i128::from(g) + i128::from(c), s),
            8,
        );
        assert_eq!(
            i128::from(affine(n, g, c, s)),
            want,
            "n {n} g {g} c {c} s {s}"
        );
    }
    assert_eq!(affine(32767, 32767, (1 << 39) - 1, 0), 127);
    assert_eq!(affine(-32768, 32767, -(1 << 39) + 1, 0), -128);
    assert_eq!(affine(32767, -32768, 0, 47), 0);
    assert_eq!(affine(100, 100, 0, 0), 127);
    assert_eq!(affine(-100, 100, 0, 0), -128);
    assert_eq!(affine(3, 1, 0, 1), 2);
    assert_eq!(affine(-3, 1, 0, 1), -1);
    assert_eq!(affine(-1, 1, 0, 1), 0);
}

#[test]
fn gelu_is_sat8_of_the_table() {
    for d in GELU_FRAC_BITS {
        let table = default_gelu_table(d).unwrap();
        for q in i8::MIN..=i8::MAX {
            assert_eq!(i64::from(gelu(q, &table)), table.eval(q).clamp(-128, 127));
        }
    }
    // A table with a wider output than INT8 (not a legal program table) is still saturated to INT8.
    let mut wide = default_gelu_table(2).unwrap();
    wide.format.output_bits = 16;
    wide.format.output_frac_bits = 6;
    wide.validate().unwrap();
    let mut saturated = 0;
    for q in i8::MIN..=i8::MAX {
        let raw = wide.eval(q);
        assert_eq!(i64::from(gelu(q, &wide)), raw.clamp(-128, 127));
        saturated += usize::from(!(-128..=127).contains(&raw));
    }
    assert!(saturated > 0, "the wide table never left INT8");
    assert!(default_gelu_table(1).is_none() && default_gelu_table(8).is_none());
}
