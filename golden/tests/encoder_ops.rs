//! The encoder's integer primitives against the rest of the golden model: the dense-with-zeros GEMM the interpreter
//! uses equals the compressed sparse×dense GEMM the PE array computes, and the dyadic scales approximate their reals.

use proptest::prelude::*;
use sta_golden::encoder::ops::gemm_i8;
use sta_golden::encoder::Scale;
use sta_golden::gemm::gemm_sparse;
use sta_golden::nm::{compress, prune_nm, NmPattern};
use sta_golden::Matrix;

fn nm_case() -> impl Strategy<Value = (usize, usize, usize, usize, Vec<i8>, Vec<i8>)> {
    (
        1usize..=8,
        prop::sample::select(vec![2usize, 4, 8, 16]),
        1usize..=4,
        1usize..=5,
        1usize..=6,
    )
        .prop_flat_map(|(n, m, groups, outputs, tokens)| {
            let n = n.min(m);
            let k = groups * m;
            (
                Just(n),
                Just(m),
                Just(outputs),
                Just(tokens),
                prop::collection::vec(any::<i8>(), outputs * k),
                prop::collection::vec(any::<i8>(), tokens * k),
            )
        })
}

proptest! {
    #[test]
    fn dense_gemm_of_pruned_weights_equals_the_sparse_gemm((n, m, outputs, tokens, w, x) in nm_case()) {
        let k = w.len() / outputs;
        let pattern = NmPattern::new(n, m).unwrap();
        let pruned = prune_nm(&Matrix::new(outputs, k, w).unwrap(), pattern);
        let compressed = compress(&pruned, pattern).unwrap();
        let x_t = Matrix::new(tokens, k, x.clone()).unwrap().transpose();
        let sparse = gemm_sparse(&compressed, &x_t, 32).unwrap();
        let dense = gemm_i8(&x, pruned.data(), k);
        for t in 0..tokens {
            for o in 0..outputs {
                prop_assert_eq!(i64::from(dense[t * outputs + o]), *sparse.get(o, t).unwrap());
            }
        }
    }

    #[test]
    fn dyadic_scales_are_within_half_an_lsb_of_the_real(real in 1e-9f64..30000.0) {
        let s = Scale::from_real(real).unwrap();
        prop_assert!(s.mult < 1 << 15 && s.shift <= 47);
        prop_assert!((s.value() - real).abs() <= 0.5 * 2f64.powi(-(s.shift as i32)) + 1e-18);
        if (0.5..16384.0).contains(&real) {
            prop_assert!(s.mult >= 1 << 14, "mult {} not normalised for {}", s.mult, real);
        }
    }
}

#[test]
fn scales_that_have_no_dyadic_form_are_refused() {
    assert_eq!(Scale::from_real(0.0), None);
    assert_eq!(Scale::from_real(-1.0), None);
    assert_eq!(Scale::from_real(f64::NAN), None);
    assert_eq!(Scale::from_real(40000.0), None);
    assert_eq!(
        Scale::from_real(32767.0),
        Some(Scale {
            mult: 32767,
            shift: 0
        })
    );
}
