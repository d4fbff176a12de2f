//! The whole accelerator as a Yosys gate-level netlist: the smallest legal configuration (2×2 array, 2:4, d_model
//! 8, 2 heads, FFN 16, T_MAX 8) synthesised with `synth -flatten` + `check -assert`, simulated in Verilator on a
//! one-layer random BERT compiled 2:4 and on its dense program, and compared word for word with the RTL simulation
//! and value for value with the golden model. Catches what RTL simulation cannot: synthesis/simulation mismatches
//! (signed constants read as unsigned, widths, inferred memories). Slow (the netlist build): runs with
//! STA_TEST_FULL=1 (`make test-full`).

mod common;

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sta_compiler::engine::host_input;
use sta_compiler::model::BertDims;
use sta_compiler::pipeline::{compile_candidate, default_quant_options, sparsity_chain};
use sta_compiler::prune::PruneMethod;
use sta_compiler::BertModel;
use sta_generators::accel::generate::accel_files;
use sta_generators::accel::sim::{simulate_sources, Drive};
use sta_generators::output::write_dir_atomically;
use sta_generators::yosys::write_netlist;
use sta_golden::encoder::{run, EncoderDims, NormMethod};
use sta_golden::nm::NmPattern;
use sta_golden::top::lower::{lower, Trace};
use sta_golden::top::AccelConfig;

const DIMS: BertDims = BertDims {
    d_model: 8,
    heads: 2,
    ffn: 16,
    layers: 1,
    vocab: 100,
    max_positions: 64,
    type_vocab: 2,
};

fn sentence(rng: &mut ChaCha8Rng, len: usize) -> Vec<u32> {
    let mut s = vec![2];
    s.extend((0..len - 2).map(|_| rng.gen_range(4..100u32)));
    s.push(3);
    s
}

#[test]
fn the_netlist_of_the_smallest_accelerator_runs_a_bert_layer_bit_exact() {
    if common::skip_unless_full(
        "the whole accelerator's gate-level netlist (its build takes minutes)",
    ) {
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let model = BertModel::tiny_random(DIMS, 5);
    let calib: Vec<Vec<u32>> = (0..6).map(|i| sentence(&mut rng, 3 + i)).collect();
    let pattern = NmPattern::new(2, 4).unwrap();
    let pruned = sparsity_chain(&model, 4, 2, PruneMethod::Magnitude, &calib, None)
        .unwrap()
        .pop()
        .unwrap()
        .1;
    let mut options = default_quant_options();
    options.norm_method = NormMethod::Rsqrt;
    let sparse = compile_candidate(&pruned, Some(pattern), &calib, &options).unwrap();
    let dense = compile_candidate(&model, None, &calib, &options).unwrap();
    let dims = EncoderDims {
        d_model: DIMS.d_model,
        heads: DIMS.heads,
        ffn: DIMS.ffn,
        layers: DIMS.layers,
    };
    let config = AccelConfig::new((2, 4), 2, 2, 8, dims, 32).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let design = dir.path().join("design");
    let files = accel_files(&config).unwrap();
    write_dir_atomically(&design, &files, false).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(design.join("manifest.json")).unwrap())
            .unwrap();
    let top = manifest["top"].as_str().unwrap().to_string();
    let sources: Vec<PathBuf> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| design.join(f.as_str().unwrap()))
        .collect();
    let netlist = write_netlist(&sources, &top, dir.path()).unwrap_or_else(|e| panic!("{e}"));
    std::env::set_var(
        "STA_CACHE_DIR",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("sta-accel-netlist-cache"),
    );
    let drive = Drive {
        seed: 4,
        in_gap: 20,
        out_stall: 20,
    };
    for (name, program) in [("2:4", &sparse), ("dense", &dense)] {
        let batch = vec![sentence(&mut rng, 3), sentence(&mut rng, 4)];
        let tokens = host_input(&model, &program.program, &batch).unwrap();
        let golden = run(&program.program, &program.weights, &tokens).unwrap();
        let lowered = lower(
            &config,
            &program.program,
            &program.weights,
            &tokens,
            Trace::EveryLayer,
        )
        .unwrap();
        let rtl = simulate_sources(&sources, &top, &config, &lowered, drive).unwrap();
        let gates = simulate_sources(
            std::slice::from_ref(&netlist),
            &top,
            &config,
            &lowered,
            drive,
        )
        .unwrap();
        assert_eq!(rtl.status.error, 0, "{name}: RTL error");
        assert_eq!(gates.stores, rtl.stores, "{name}: netlist vs RTL");
        assert_eq!(gates.status.cycles, rtl.status.cycles, "{name}: cycles");
        let d = config.dims.d_model;
        for (i, row) in lowered.layout.rows().enumerate() {
            let want: Vec<i32> = golden.layers[0][i * d..i * d + d]
                .iter()
                .map(|&v| i32::from(v))
                .collect();
            assert_eq!(
                &gates.stores[0][row * d..row * d + d],
                &want[..],
                "{name}: token {i}"
            );
        }
    }
}
