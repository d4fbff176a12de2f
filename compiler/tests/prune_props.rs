//! Properties of the sparsity-inheritance chain (compiler/src/prune.rs) on small random matrices shaped like the
//! linear layers of an encoder: every level N:M-legal and nested in the previous one, zero outside its mask; the
//! refit never worse than masking; magnitude equal to golden's `prune_nm`; wanda with equal norms equal to magnitude.

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sta_compiler::prune::{
    prune_chain, prune_chain_with, CalibStats, NmMask, PruneMethod, PrunedLevel, RefitMask,
};
use sta_compiler::{CompileError, Dense, Linear};
use sta_golden::nm::{prune_nm, NmPattern};
use sta_golden::Matrix;

fn gaussian(rng: &mut ChaCha8Rng) -> f32 {
    // Box-Muller; u1 in (0, 1].
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

fn linear(out: usize, k: usize, rng: &mut ChaCha8Rng) -> Linear {
    Linear {
        weight: Dense {
            rows: out,
            cols: k,
            data: (0..out * k).map(|_| gaussian(rng)).collect(),
        },
        bias: vec![0.0; out],
    }
}

/// Correlated activations with a few large "outlier" features, like a transformer's hidden states.
fn activations(tokens: usize, k: usize, rng: &mut ChaCha8Rng) -> Dense {
    let rank = (k / 2).max(1);
    let mix: Vec<f32> = (0..rank * k).map(|_| gaussian(rng)).collect();
    let scale: Vec<f32> = (0..k).map(|j| if j % 7 == 3 { 8.0 } else { 1.0 }).collect();
    let mut data = Vec::with_capacity(tokens * k);
    for _ in 0..tokens {
        let z: Vec<f32> = (0..rank).map(|_| gaussian(rng)).collect();
        for j in 0..k {
            let v: f32 =
                (0..rank).map(|r| z[r] * mix[r * k + j]).sum::<f32>() + 0.3 * gaussian(rng);
            data.push(v * scale[j]);
        }
    }
    Dense {
        rows: tokens,
        cols: k,
        data,
    }
}

fn stats_of(x: &Dense) -> CalibStats {
    CalibStats::from_activations(x).expect("valid activations")
}

/// (out, in) of Q/K/V/AttnOut, FfnIn and FfnOut in an encoder with d_model = d, ffn = 4d.
fn kind_shapes(d: usize) -> [(usize, usize); 3] {
    [(d, d), (4 * d, d), (d, 4 * d)]
}

/// Legal, nested, exactly n kept per group, zero outside the mask; magnitude/wanda keep the dense values.
fn check_structure(
    w: &Dense,
    m: usize,
    target: usize,
    method: PruneMethod,
    levels: &[PrunedLevel],
) {
    assert_eq!(
        levels.iter().map(|l| l.n).collect::<Vec<_>>(),
        (target..m).rev().collect::<Vec<_>>()
    );
    let mut prev = NmMask::dense(w.rows, w.cols, m);
    for level in levels {
        let mask = &level.mask;
        assert!(mask.is_legal(), "{method} level {} illegal", level.n);
        assert!(mask
            .keep
            .chunks(m)
            .all(|g| g.iter().filter(|&&k| k).count() == level.n));
        assert!(
            mask.is_subset_of(&prev),
            "{method} level {} not nested",
            level.n
        );
        assert!(!prev.is_subset_of(mask));
        for (i, (&v, &keep)) in level.weight.data.iter().zip(&mask.keep).enumerate() {
            if !keep {
                assert_eq!(
                    v.to_bits(),
                    0,
                    "{method} level {} [{i}] = {v} outside the mask",
                    level.n
                );
            } else if method != PruneMethod::Refit {
                assert_eq!(v, w.data[i]);
            }
        }
        prev = mask.clone();
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn prune_chain_nests_and_is_legal_for_every_method(
        seed in any::<u64>(),
        m in prop::sample::select(vec![2usize, 4, 8, 16]),
        kind in 0usize..3,
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (out, k) = kind_shapes(16)[kind];
        let lin = linear(out, k, &mut rng);
        let stats = stats_of(&activations(3 * k, k, &mut rng));
        let target = rng.gen_range(1..m);
        for method in PruneMethod::ALL {
            let levels = prune_chain(&lin, m, target, method, Some(&stats)).expect("valid");
            check_structure(&lin.weight, m, target, method, &levels);
        }
    }

    #[test]
    fn prune_refit_never_worse_than_masking_the_previous_level(
        seed in any::<u64>(),
        m in prop::sample::select(vec![2usize, 4, 8]),
        kind in 0usize..3,
        criterion in prop::sample::select(RefitMask::ALL.to_vec()),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (out, k) = kind_shapes(8)[kind];
        let lin = linear(out, k, &mut rng);
        // Few tokens (a rank-deficient Gram matrix) as well as plenty.
        let tokens = if seed % 2 == 0 { k / 2 } else { 4 * k };
        let stats = stats_of(&activations(tokens, k, &mut rng));
        let levels = prune_chain_with(&lin, m, 1, PruneMethod::Refit, Some(&stats), criterion).expect("valid");
        check_structure(&lin.weight, m, 1, PruneMethod::Refit, &levels);
        let dense = &lin.weight;
        let mut prev = dense.clone();
        for level in &levels {
            let mut masked = prev.clone();
            level.mask.apply(&mut masked).expect("same shape");
            let mut total = 0.0;
            for r in 0..dense.rows {
                let refit = stats.row_error(dense.row(r), level.weight.row(r));
                let mask = stats.row_error(dense.row(r), masked.row(r));
                let energy = stats.row_error(dense.row(r), &vec![0.0; k]);
                prop_assert!(
                    refit <= mask + 1e-6 * energy + 1e-9,
                    "level {} row {r}: refit {refit} > masking {mask}", level.n
                );
                total += refit;
            }
            let tracked = level.calib_error.expect("refit tracks its error");
            prop_assert!((tracked - total).abs() <= 1e-4 * total.max(1e-6), "tracked {tracked} vs {total}");
            prev = level.weight.clone();
        }
    }

    #[test]
    fn prune_magnitude_equals_golden_prune_nm(
        seed in any::<u64>(),
        m in prop::sample::select(vec![2usize, 4, 8, 16]),
        spread in prop::sample::select(vec![3i16, 128]),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (out, k) = (5, 2 * m);
        // A narrow spread makes many ties; the wide one includes −128.
        let codes: Vec<i8> = (0..out * k).map(|_| rng.gen_range(-spread..spread) as i8).collect();
        let lin = Linear {
            weight: Dense { rows: out, cols: k, data: codes.iter().map(|&c| f32::from(c)).collect() },
            bias: vec![0.0; out],
        };
        let golden = Matrix::new(out, k, codes).expect("shape");
        let levels = prune_chain(&lin, m, 1, PruneMethod::Magnitude, None).expect("valid");
        for level in &levels {
            let expected = prune_nm(&golden, NmPattern::new(level.n, m).expect("pattern"));
            let found: Vec<f32> = expected.data().iter().map(|&c| f32::from(c)).collect();
            prop_assert_eq!(&level.weight.data, &found, "level {}", level.n);
        }
    }

    #[test]
    fn prune_wanda_with_equal_norms_equals_magnitude(
        seed in any::<u64>(),
        m in prop::sample::select(vec![2usize, 4, 8, 16]),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (out, k) = (6, 2 * m);
        let mut lin = linear(out, k, &mut rng);
        // Some exact ties too.
        lin.weight.data[1] = lin.weight.data[0];
        lin.weight.data[k + 2] = -lin.weight.data[k + 3];
        // ±0.5 activations: every feature has the norm 0.5·sqrt(tokens), exactly.
        let tokens = 37;
        let x = Dense {
            rows: tokens,
            cols: k,
            data: (0..tokens * k).map(|_| if rng.gen_bool(0.5) { 0.5 } else { -0.5 }).collect(),
        };
        let stats = stats_of(&x);
        prop_assert!(stats.norms().iter().all(|&n| n == stats.norms()[0]));
        let wanda = prune_chain(&lin, m, 1, PruneMethod::Wanda, Some(&stats)).expect("valid");
        let magnitude = prune_chain(&lin, m, 1, PruneMethod::Magnitude, None).expect("valid");
        prop_assert_eq!(wanda, magnitude);
    }
}

#[test]
fn prune_refit_reduces_the_calibration_error() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (out, k) = (32, 64);
    let lin = linear(out, k, &mut rng);
    let stats = stats_of(&activations(4 * k, k, &mut rng));
    let magnitude = prune_chain(&lin, 8, 2, PruneMethod::Magnitude, None).expect("valid");
    let refit = prune_chain(&lin, 8, 2, PruneMethod::Refit, Some(&stats)).expect("valid");
    for (a, b) in magnitude.iter().zip(&refit) {
        let ea = stats.matrix_error(&lin.weight, &a.weight);
        let eb = stats.matrix_error(&lin.weight, &b.weight);
        assert!(eb < 0.7 * ea, "level {}: refit {eb} vs magnitude {ea}", a.n);
    }
}

#[test]
fn prune_mask_helpers() {
    let mut mask = NmMask::dense(1, 4, 4);
    assert!(mask.is_legal());
    mask.n = 2;
    assert!(!mask.is_legal());
    mask.keep = vec![true, false, false, true];
    assert!(mask.is_legal() && mask.is_subset_of(&NmMask::dense(1, 4, 4)));
    assert!(!NmMask::dense(1, 4, 4).is_subset_of(&mask));
    assert!(!mask.is_subset_of(&NmMask::dense(2, 2, 2)));
    let mut w = Dense {
        rows: 1,
        cols: 4,
        data: vec![1.0, -2.0, 3.0, 4.0],
    };
    mask.apply(&mut w).expect("same shape");
    assert_eq!(w.data, vec![1.0, 0.0, 0.0, 4.0]);
    assert!(mask.apply(&mut Dense::zeros(2, 4)).is_err());
    let bad_shape = NmMask {
        in_: 6,
        keep: vec![true; 6],
        ..mask.clone()
    };
    assert!(!bad_shape.is_legal());
}

#[test]
fn prune_errors_are_one_line_input_errors() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let lin = linear(4, 16, &mut rng);
    let stats = stats_of(&activations(20, 16, &mut rng));
    let narrow = stats_of(&activations(20, 8, &mut rng));
    let cases: Vec<(Result<Vec<PrunedLevel>, CompileError>, &str)> = vec![
        (
            prune_chain(&lin, 3, 1, PruneMethod::Magnitude, None),
            "M = 3 is not supported",
        ),
        (
            prune_chain(&lin, 32, 1, PruneMethod::Magnitude, None),
            "M = 32",
        ),
        (
            prune_chain(&linear(4, 12, &mut rng), 8, 1, PruneMethod::Magnitude, None),
            "not a multiple of M = 8",
        ),
        (
            prune_chain(&lin, 8, 0, PruneMethod::Magnitude, None),
            "target N = 0",
        ),
        (
            prune_chain(&lin, 8, 8, PruneMethod::Magnitude, None),
            "N must be in 1..8",
        ),
        (
            prune_chain(&lin, 8, 2, PruneMethod::Wanda, None),
            "wanda needs calibration statistics",
        ),
        (
            prune_chain(&lin, 8, 2, PruneMethod::Refit, None),
            "refit needs calibration statistics",
        ),
        (
            prune_chain(&lin, 8, 2, PruneMethod::Refit, Some(&narrow)),
            "8 features",
        ),
        (
            prune_chain(&lin, 8, 2, PruneMethod::Wanda, Some(&CalibStats::empty(16))),
            "no tokens",
        ),
    ];
    for (result, expected) in cases {
        match result {
            Err(CompileError::Input(msg)) => {
                assert!(msg.contains(expected), "{msg:?} lacks {expected:?}");
                assert!(!msg.contains('\n'));
            }
            other => panic!("expected an input error containing {expected:?}, got {other:?}"),
        }
    }
    let mut nan = lin.clone();
    nan.weight.data[5] = f32::NAN;
    assert!(prune_chain(&nan, 8, 2, PruneMethod::Magnitude, None).is_err());
    // Magnitude ignores statistics; the others accept matching ones.
    assert!(prune_chain(&lin, 8, 2, PruneMethod::Magnitude, Some(&narrow)).is_ok());
    assert!(prune_chain(&lin, 8, 2, PruneMethod::Refit, Some(&stats)).is_ok());
}
