//! The accelerator's lowering (`sta_golden::top::lower`) on a tiny random BERT compiled dense and 2:8: the
//! instruction-level model (`sta_golden::top::machine`), reading every field back from the records' bits, gives
//! exactly the op-level interpreter's output of every layer for every real token, for batches with sentences shorter
//! and longer than the array and on two array sizes; programs the design cannot run are refused with both sides
//! named.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sta_compiler::engine::host_input;
use sta_compiler::pipeline::{compile_candidate, default_quant_options, sparsity_chain};
use sta_compiler::prune::PruneMethod;
use sta_compiler::quantize::Compiled;
use sta_compiler::BertModel;
use sta_golden::encoder::{run, EncoderDims, NormMethod};
use sta_golden::nm::NmPattern;
use sta_golden::top::lower::{check_program, lower, LowerError, Trace};
use sta_golden::top::machine::execute;
use sta_golden::top::AccelConfig;

const CLS: u32 = 2;
const SEP: u32 = 3;

fn sentences(rng: &mut ChaCha8Rng, lengths: &[usize]) -> Vec<Vec<u32>> {
    lengths
        .iter()
        .map(|&len| {
            let mut s = vec![CLS];
            s.extend((0..len - 2).map(|_| rng.gen_range(4..100u32)));
            s.push(SEP);
            s
        })
        .collect()
}

/// The model pruned to `pattern` (magnitude chain), calibrated and quantised with the accelerator's LayerNorm.
fn compiled(model: &BertModel, pattern: Option<NmPattern>, calib: &[Vec<u32>]) -> Compiled {
    let pruned = match pattern {
        None => model.clone(),
        Some(p) => {
            sparsity_chain(model, p.m(), p.n(), PruneMethod::Magnitude, calib, None)
                .expect("prunes")
                .pop()
                .expect("one level at least")
                .1
        }
    };
    let mut options = default_quant_options();
    options.norm_method = NormMethod::Rsqrt;
    compile_candidate(&pruned, pattern, calib, &options).expect("compiles")
}

fn tiny_dims() -> EncoderDims {
    let t = BertModel::TINY_DIMS;
    EncoderDims {
        d_model: t.d_model,
        heads: t.heads,
        ffn: t.ffn,
        layers: t.layers,
    }
}

/// Lowers `batch` for `config`, runs the machine model and compares every STORE with the interpreter's layer output.
fn check_batch(config: &AccelConfig, model: &BertModel, c: &Compiled, batch: &[Vec<u32>]) {
    let tokens = host_input(model, &c.program, batch).unwrap();
    let expected = run(&c.program, &c.weights, &tokens).unwrap();
    let lowered = lower(config, &c.program, &c.weights, &tokens, Trace::EveryLayer).unwrap();
    let out = execute(config, &lowered.records).unwrap();
    assert_eq!(out.stores.len(), c.program.dims.layers);
    let d = config.dims.d_model;
    for (layer, store) in out.stores.iter().enumerate() {
        for (i, row) in lowered.layout.rows().enumerate() {
            assert_eq!(
                &store[row * d..row * d + d],
                &expected.layers[layer][i * d..i * d + d],
                "layer {layer}, token {i} (row {row}), array {}",
                config.array
            );
        }
    }
}

#[test]
fn the_machine_model_of_the_lowered_stream_equals_the_interpreter() {
    let model = BertModel::tiny_random(BertModel::TINY_DIMS, 11);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let calib = sentences(&mut rng, &[5, 9, 12, 3, 15, 7]);
    let pattern = NmPattern::new(2, 8).unwrap();
    for program in [
        compiled(&model, None, &calib),
        compiled(&model, Some(pattern), &calib),
    ] {
        for (array, lanes) in [(4, 2), (8, 8)] {
            let config = AccelConfig::new((2, 8), array, lanes, 48, tiny_dims(), 32).unwrap();
            let batch = sentences(&mut rng, &[3, 11, 8]);
            check_batch(&config, &model, &program, &batch);
        }
    }
}

#[test]
fn programs_the_design_cannot_run_are_refused_naming_both() {
    let model = BertModel::tiny_random(BertModel::TINY_DIMS, 11);
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let calib = sentences(&mut rng, &[5, 9, 12]);
    let four_eight = compiled(&model, Some(NmPattern::new(4, 8).unwrap()), &calib);
    let config = AccelConfig::new((2, 8), 4, 4, 16, tiny_dims(), 32).unwrap();
    let e = check_program(&config, &four_eight.program)
        .unwrap_err()
        .to_string();
    assert!(e.contains("4:8") && e.contains("2:8"), "{e}");

    let mut options = default_quant_options();
    options.norm_method = NormMethod::Exact;
    let exact = compile_candidate(&model, None, &calib, &options).unwrap();
    assert_eq!(
        check_program(&config, &exact.program),
        Err(LowerError::NormMethod)
    );

    let wide = AccelConfig::new(
        (2, 8),
        4,
        4,
        16,
        EncoderDims {
            d_model: 64,
            ..tiny_dims()
        },
        32,
    )
    .unwrap();
    let e = check_program(&wide, &exact.program)
        .unwrap_err()
        .to_string();
    assert!(e.contains("d_model 32") && e.contains("d_model 64"), "{e}");

    let dense = compiled(&model, None, &calib);
    let batch = sentences(&mut rng, &[9, 9]);
    let tokens = host_input(&model, &dense.program, &batch).unwrap();
    let e = lower(
        &config,
        &dense.program,
        &dense.weights,
        &tokens,
        Trace::LastLayer,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("24 tokens") && e.contains("holds 16"), "{e}");
}

/// The weight-free plan of the cycle model is the lowering's instruction list (scales and shifts aside).
#[test]
fn plan_matches_lower() {
    use sta_golden::top::isa::Instr;
    use sta_golden::top::lower::plan_standard;
    let model = BertModel::tiny_random(BertModel::TINY_DIMS, 11);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let calib = sentences(&mut rng, &[5, 9, 12]);
    let pattern = NmPattern::new(2, 8).unwrap();
    let config = AccelConfig::new((2, 8), 4, 4, 48, tiny_dims(), 32).unwrap();
    let erase = |i: &Instr| match *i {
        Instr::SetAttn { .. } => Instr::SetAttn {
            score_mult: 0,
            score_shift: 0,
            context_mult: 0,
            context_shift: 0,
        },
        Instr::LayerNorm {
            bank, dst, tokens, ..
        } => Instr::LayerNorm {
            bank,
            dst,
            shift: 0,
            tokens,
        },
        other => other,
    };
    for (program, dense) in [
        (compiled(&model, None, &calib), true),
        (compiled(&model, Some(pattern), &calib), false),
    ] {
        let batch = sentences(&mut rng, &[3, 11, 8]);
        let tokens = host_input(&model, &program.program, &batch).unwrap();
        for trace in [Trace::EveryLayer, Trace::LastLayer] {
            let lowered =
                lower(&config, &program.program, &program.weights, &tokens, trace).unwrap();
            let plan = plan_standard(&config, &tokens.lengths, dense, 2, trace).unwrap();
            let got: Vec<Instr> = lowered.instructions.iter().map(erase).collect();
            assert_eq!(got, plan, "dense {dense}, {trace:?}");
        }
    }
}
