//! Property tests across modules: pruning, compression and the file format agree with each other, and the
//! transaction-level array (schedule → run → assemble) reproduces the reference GEMMs bit for bit.

use proptest::prelude::*;
use sta_golden::gemm::{gemm_dense, gemm_sparse};
use sta_golden::nm::{check_nm, compress, decompress, prune_nm, Compressed, NmPattern};
use sta_golden::pe_array::{
    assemble, run_array, schedule_dense, schedule_sparse, ArrayShape, Schedule,
};
use sta_golden::{Matrix, StreamError};

/// INT8 values with the extremes and zero over-represented.
fn int8() -> impl Strategy<Value = i8> {
    prop_oneof![4 => any::<i8>(), 1 => Just(-128i8), 1 => Just(127i8), 2 => Just(0i8)]
}

fn matrix(rows: usize, cols: usize) -> impl Strategy<Value = Matrix<i8>> {
    proptest::collection::vec(int8(), rows * cols).prop_map(move |data| {
        Matrix::new(rows, cols, data).expect("generated with the right length")
    })
}

fn pattern() -> impl Strategy<Value = NmPattern> {
    prop_oneof![Just(2usize), Just(4), Just(8), Just(16)]
        .prop_flat_map(|m| (1..=m, Just(m)))
        .prop_map(|(n, m)| NmPattern::new(n, m).expect("n in 1..=m"))
}

/// A pattern and a weight matrix with K a multiple of M (not yet N:M).
fn pattern_and_weights() -> impl Strategy<Value = (NmPattern, Matrix<i8>)> {
    (pattern(), 1..6usize, 1..4usize)
        .prop_flat_map(|(p, rows, groups)| (Just(p), matrix(rows, groups * p.m())))
}

/// A GEMM problem for the array: shape (acc_width possibly narrow enough to wrap), dense weights (prune them for the
/// sparse mode), activations. K is a multiple of M but often not of N, so dense beats run past K.
fn array_problem() -> impl Strategy<Value = (ArrayShape, Matrix<i8>, Matrix<i8>)> {
    let dims = (
        pattern(),
        1..=5usize,
        1..=5usize,
        1..=11usize,
        1..=11usize,
        1..=3usize,
    );
    let acc = prop_oneof![Just(17u32), Just(20), Just(32), Just(48)];
    (dims, acc).prop_flat_map(|((p, rows, cols, o, t, groups), acc_width)| {
        // Built directly: ArrayShape::new would refuse the narrow widths that make wrapping happen.
        let shape = ArrayShape {
            n: p.n(),
            m: p.m(),
            rows,
            cols,
            acc_width,
            max_k: 1 << 20,
            dsp: Default::default(),
        };
        let k = groups * p.m();
        (Just(shape), matrix(o, k), matrix(k, t))
    })
}

fn through_array(shape: &ArrayShape, schedule: &Schedule) -> Result<Matrix<i64>, StreamError> {
    let results = run_array(shape, &schedule.weights, &schedule.acts)?;
    assemble(schedule, &results)
}

proptest! {
    #[test]
    fn prune_is_idempotent_and_legal((p, w) in pattern_and_weights()) {
        let pruned = prune_nm(&w, p);
        prop_assert_eq!(prune_nm(&pruned, p), pruned.clone());
        prop_assert_eq!(check_nm(&pruned, p), Ok(()));
        // Pruning only ever zeroes weights.
        prop_assert!(pruned.data().iter().zip(w.data()).all(|(&a, &b)| a == 0 || a == b));
    }

    #[test]
    fn sparsity_inheritance((p, w) in pattern_and_weights()) {
        prop_assume!(p.n() >= 2);
        let fewer = NmPattern::new(p.n() - 1, p.m()).expect("n − 1 ≥ 1");
        let via_n = prune_nm(&prune_nm(&w, p), fewer);
        prop_assert_eq!(&via_n, &prune_nm(&w, fewer));
        // The masks nest: every weight kept at n − 1 is kept at n.
        let at_n = prune_nm(&w, p);
        prop_assert!(via_n.data().iter().zip(at_n.data()).all(|(&a, &b)| a == 0 || a == b));
    }

    #[test]
    fn compress_round_trips((p, w) in pattern_and_weights()) {
        let w = prune_nm(&w, p);
        let c = compress(&w, p).expect("pruned matrices are legal");
        prop_assert_eq!(decompress(&c), w.clone());
        prop_assert!(c.indices().chunks(p.n()).all(|g| g.windows(2).all(|i| i[0] < i[1])));
        let bytes = c.to_bytes();
        prop_assert_eq!(Compressed::from_bytes(&bytes), Ok(c.clone()));
        let x = Matrix::from_fn(w.cols(), 3, |k, t| (k * 37 + t * 11) as i8);
        prop_assert_eq!(gemm_sparse(&c, &x, 32), gemm_dense(&w, &x, 32));
        prop_assert_eq!(gemm_sparse(&c, &x, 17), gemm_dense(&w, &x, 17));
    }

    #[test]
    fn corrupted_files_never_panic((p, w) in pattern_and_weights(), at in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = compress(&prune_nm(&w, p), p).expect("legal").to_bytes();
        let at = at % bytes.len();
        bytes[at] = byte;
        if let Ok(c) = Compressed::from_bytes(&bytes) {
            prop_assert_eq!(c.to_bytes(), bytes.clone());
        }
        prop_assert!(Compressed::from_bytes(&bytes[..at]).is_err());
    }

    #[test]
    fn array_matches_sparse_gemm((shape, w, x) in array_problem()) {
        let p = shape.checked_pattern().expect("generated legal");
        let c = compress(&prune_nm(&w, p), p).expect("pruned");
        let schedule = schedule_sparse(&shape, &c, &x).expect("fits");
        prop_assert_eq!(schedule.weights.len(), schedule.tiles.len() * c.groups());
        prop_assert_eq!(through_array(&shape, &schedule), Ok(gemm_sparse(&c, &x, shape.acc_width).expect("shapes")));
    }

    #[test]
    fn array_matches_dense_gemm((shape, w, x) in array_problem()) {
        let schedule = schedule_dense(&shape, &w, &x).expect("fits");
        prop_assert_eq!(schedule.weights.len(), schedule.tiles.len() * w.cols().div_ceil(shape.n));
        prop_assert_eq!(through_array(&shape, &schedule), Ok(gemm_dense(&w, &x, shape.acc_width).expect("shapes")));
    }
}

/// Six (−128)² products sum to 98304, which a 17-bit accumulator wraps (after every beat in the array, once in the
/// reference) to −32768; both paths and both modes must agree.
#[test]
fn narrow_accumulator_wraps_identically_in_array_and_reference() {
    let shape = ArrayShape {
        n: 2,
        m: 2,
        rows: 2,
        cols: 3,
        acc_width: 17,
        max_k: 64,
        dsp: Default::default(),
    };
    let w = Matrix::new(1, 6, vec![-128; 6]).expect("shape");
    let x = Matrix::new(6, 1, vec![-128; 6]).expect("shape");
    let expected = Matrix::new(1, 1, vec![-32768i64]).expect("shape");
    assert_eq!(gemm_dense(&w, &x, 17), Ok(expected.clone()));
    let dense = schedule_dense(&shape, &w, &x).expect("fits");
    assert_eq!(through_array(&shape, &dense), Ok(expected.clone()));
    let c = compress(&w, NmPattern::new(2, 2).expect("pattern")).expect("2:2 is dense");
    let sparse = schedule_sparse(&shape, &c, &x).expect("fits");
    assert_eq!(through_array(&shape, &sparse), Ok(expected));
}

/// O and T that are not multiples of R and C, with every extreme value, through a legal default-width array.
#[test]
fn edge_tiles_with_extreme_values() {
    let shape = ArrayShape::new(2, 4, 3, 2, 32, ArrayShape::DEFAULT_MAX_K).expect("legal");
    let p = NmPattern::new(2, 4).expect("pattern");
    let w = prune_nm(
        &Matrix::from_fn(7, 8, |r, c| [-128, 127, 0, -1, 1][(r * 3 + c) % 5]),
        p,
    );
    let x = Matrix::from_fn(8, 5, |r, c| [127, -128, 0][(r + c) % 3]);
    let c = compress(&w, p).expect("pruned");
    let schedule = schedule_sparse(&shape, &c, &x).expect("fits");
    assert_eq!(schedule.tiles.len(), 3 * 3);
    assert_eq!(
        through_array(&shape, &schedule),
        Ok(gemm_sparse(&c, &x, 32).expect("shapes"))
    );
    let dense = schedule_dense(&shape, &w, &x).expect("fits");
    assert_eq!(
        through_array(&shape, &dense),
        Ok(gemm_dense(&w, &x, 32).expect("shapes"))
    );
}
