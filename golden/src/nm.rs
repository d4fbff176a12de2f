//! N:M structured sparsity: the pattern, the legality check, magnitude pruning, and the canonical compressed form of
//! numerics.md (values plus in-group indices) with its storage figures. The byte format lives in [`format`].

mod format;

use std::fmt;

use serde::Serialize;

use crate::{Matrix, NmError, ParamError};

/// A validated N:M pattern: at most `n` non-zeros in every group of `m` consecutive weights along K.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NmPattern {
    n: usize,
    m: usize,
}

impl NmPattern {
    /// The group sizes the hardware supports: powers of two, so an index is exactly log2(M) bits.
    pub const SUPPORTED_M: [usize; 4] = [2, 4, 8, 16];

    /// Checks 1 ≤ n ≤ m and m ∈ {2, 4, 8, 16}.
    pub fn new(n: usize, m: usize) -> Result<Self, ParamError> {
        if !Self::SUPPORTED_M.contains(&m) {
            return Err(ParamError::UnsupportedM { m });
        }
        if n == 0 {
            return Err(ParamError::ZeroN { m });
        }
        if n > m {
            return Err(ParamError::NLargerThanM { n, m });
        }
        Ok(Self { n, m })
    }

    pub fn n(&self) -> usize {
        self.n
    }

    pub fn m(&self) -> usize {
        self.m
    }

    /// Width of one in-group index, log2(M) (M is a power of two).
    pub fn index_bits(&self) -> u32 {
        self.m.trailing_zeros()
    }
}

impl fmt::Display for NmPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.n, self.m)
    }
}

/// Fails unless `w` is legal N:M: K (its column count) a multiple of M and no group with more than N non-zeros.
/// The error describes the first violating group (row-major order) and counts all of them.
pub fn check_nm(w: &Matrix<i8>, p: NmPattern) -> Result<(), NmError> {
    check_k(w.cols(), p)?;
    let mut first = None;
    let mut violating = 0;
    for row in 0..w.rows() {
        for (group, values) in w.row(row).chunks(p.m).enumerate() {
            let count = values.iter().filter(|&&v| v != 0).count();
            if count > p.n {
                violating += 1;
                first.get_or_insert((row, group, count));
            }
        }
    }
    match first {
        None => Ok(()),
        Some((row, group, count)) => Err(NmError::TooManyNonZeros {
            row,
            group,
            first_col: group * p.m,
            end_col: (group + 1) * p.m,
            count,
            pattern: p,
            violating,
        }),
    }
}

fn check_k(k: usize, p: NmPattern) -> Result<(), NmError> {
    if !k.is_multiple_of(p.m) {
        return Err(NmError::KNotMultiple { k, m: p.m });
    }
    Ok(())
}

/// Magnitude pruning: in every group keep the `n` weights of largest |w| (|−128| = 128 is the largest) and zero the
/// rest; ties go to the lower index. A trailing partial group (K not a multiple of M) is pruned the same way.
///
/// Because the ranking (|w| descending, index ascending) is a strict total order that does not depend on `n`, the
/// kept set for n − 1 is a prefix of the kept set for n: the masks nest, so pruning the n-pruned matrix to n − 1
/// equals pruning the original to n − 1 (the "sparsity inheritance" that IDP relies on).
pub fn prune_nm(w: &Matrix<i8>, p: NmPattern) -> Matrix<i8> {
    let mut data = Vec::with_capacity(w.data().len());
    for row in 0..w.rows() {
        for group in w.row(row).chunks(p.m) {
            data.extend(prune_group(group, p.n));
        }
    }
    Matrix::from_fn(w.rows(), w.cols(), |r, c| data[r * w.cols() + c])
}

fn prune_group(group: &[i8], n: usize) -> Vec<i8> {
    let mut order: Vec<usize> = (0..group.len()).collect();
    order.sort_by_key(|&j| (std::cmp::Reverse(group[j].unsigned_abs()), j));
    let mut kept = vec![0; group.len()];
    for &j in order.iter().take(n) {
        kept[j] = group[j];
    }
    kept
}

/// The canonical compressed form of a legal N:M matrix: for every (row, group) exactly N slots ordered by ascending
/// in-group index; groups with fewer than N non-zeros are filled with value 0 at the smallest unused indices.
/// Canonical, so two equal matrices compress (and serialise) to identical bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compressed {
    pattern: NmPattern,
    rows: usize,
    groups: usize,
    /// `[row][group][slot]`, `rows · groups · n` entries.
    values: Vec<i8>,
    /// Same layout as `values`; every entry < m.
    indices: Vec<u8>,
}

impl Compressed {
    pub fn pattern(&self) -> NmPattern {
        self.pattern
    }

    /// O, the number of weight rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// K / M, the number of groups per row.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// K, the dense column count.
    pub fn cols(&self) -> usize {
        self.groups * self.pattern.m
    }

    /// All slot values, `[row][group][slot]`.
    pub fn values(&self) -> &[i8] {
        &self.values
    }

    /// All slot indices, `[row][group][slot]`.
    pub fn indices(&self) -> &[u8] {
        &self.indices
    }

    /// Value of `slot` in (`row`, `group`), or `None` outside the matrix.
    pub fn value(&self, row: usize, group: usize, slot: usize) -> Option<i8> {
        self.position(row, group, slot).map(|i| self.values[i])
    }

    /// In-group index of `slot` in (`row`, `group`), or `None` outside the matrix.
    pub fn index(&self, row: usize, group: usize, slot: usize) -> Option<u8> {
        self.position(row, group, slot).map(|i| self.indices[i])
    }

    fn position(&self, row: usize, group: usize, slot: usize) -> Option<usize> {
        let inside = row < self.rows && group < self.groups && slot < self.pattern.n;
        inside.then(|| (row * self.groups + group) * self.pattern.n + slot)
    }

    /// The N (value, index) slots of one group; callers iterate validated ranges.
    pub(crate) fn group_slots(
        &self,
        row: usize,
        group: usize,
    ) -> impl Iterator<Item = (i8, u8)> + '_ {
        let start = (row * self.groups + group) * self.pattern.n;
        let end = start + self.pattern.n;
        self.values[start..end]
            .iter()
            .copied()
            .zip(self.indices[start..end].iter().copied())
    }

    /// Storage cost of this matrix in the stored (per-non-zero index) form and its alternatives.
    pub fn storage_stats(&self) -> StorageStats {
        StorageStats::new(self.pattern, self.rows, self.groups)
    }
}

/// Compresses a legal N:M matrix into the canonical form; fails like [`check_nm`] otherwise.
pub fn compress(w: &Matrix<i8>, p: NmPattern) -> Result<Compressed, NmError> {
    check_nm(w, p)?;
    let slots = w.rows() * (w.cols() / p.m) * p.n;
    let mut c = Compressed {
        pattern: p,
        rows: w.rows(),
        groups: w.cols() / p.m,
        values: Vec::with_capacity(slots),
        indices: Vec::with_capacity(slots),
    };
    for row in 0..w.rows() {
        for group in w.row(row).chunks(p.m) {
            for (index, value) in canonical_slots(group, p.n) {
                c.indices.push(index);
                c.values.push(value);
            }
        }
    }
    Ok(c)
}

/// The canonical slots of one group with at most `n` non-zeros: walking the group in index order and taking every
/// non-zero plus the first `n − nonzeros` zeros yields exactly the ascending-index order with smallest-index padding.
fn canonical_slots(group: &[i8], n: usize) -> Vec<(u8, i8)> {
    let mut padding = n.saturating_sub(group.iter().filter(|&&v| v != 0).count());
    let mut slots = Vec::with_capacity(n);
    for (index, &value) in group.iter().enumerate() {
        if value != 0 || padding > 0 {
            padding -= usize::from(value == 0);
            slots.push((index as u8, value));
        }
    }
    slots
}

/// Expands the compressed form back into the dense O × K matrix.
pub fn decompress(c: &Compressed) -> Matrix<i8> {
    let m = c.pattern.m;
    let mut dense = vec![0i8; c.rows * c.cols()];
    for row in 0..c.rows {
        for group in 0..c.groups {
            for (value, index) in c.group_slots(row, group) {
                dense[row * c.cols() + group * m + usize::from(index)] = value;
            }
        }
    }
    Matrix::from_fn(c.rows, c.cols(), |r, col| dense[r * c.cols() + col])
}

/// Storage of an O × K N:M matrix, in bits, for the stored form and the two alternatives of mission.md.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StorageStats {
    /// INT8 dense: O · K · 8.
    pub dense_bits: u64,
    /// Stored non-zero slots: O · K/M · N · 8.
    pub value_bits: u64,
    /// Stored per-slot indices: O · K/M · N · log2(M).
    pub index_bits: u64,
    /// A bitmap instead of indices: M bits per group.
    pub bitmap_bits_alternative: u64,
    /// The combinatorial rank of the non-zero set instead of indices: ⌈log2 C(M, N)⌉ bits per group.
    pub rank_bits_alternative: u64,
    /// dense_bits / (value_bits + index_bits), computed per group so it is defined for empty matrices too.
    pub ratio: f64,
}

impl StorageStats {
    /// Figures for `rows` rows of `groups` groups each.
    pub fn new(p: NmPattern, rows: usize, groups: usize) -> Self {
        let groups_total = rows as u64 * groups as u64;
        let (n, m, index_bits) = (p.n as u64, p.m as u64, u64::from(p.index_bits()));
        let stored_per_group = n * 8 + n * index_bits;
        Self {
            dense_bits: groups_total * m * 8,
            value_bits: groups_total * n * 8,
            index_bits: groups_total * n * index_bits,
            bitmap_bits_alternative: groups_total * m,
            rank_bits_alternative: groups_total * ceil_log2(binomial(m, n)),
            ratio: (m * 8) as f64 / stored_per_group as f64,
        }
    }
}

/// One human-readable line for CLI output (the struct itself serialises to JSON for reports).
impl fmt::Display for StorageStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dense {} bits, stored {} bits ({} value + {} index), {:.2}× smaller; index alternatives: bitmap {} bits, \
             rank {} bits",
            self.dense_bits,
            self.value_bits + self.index_bits,
            self.value_bits,
            self.index_bits,
            self.ratio,
            self.bitmap_bits_alternative,
            self.rank_bits_alternative
        )
    }
}

/// C(m, n) for m ≤ 16 (exact: every intermediate product is a binomial coefficient times a small factor).
fn binomial(m: u64, n: u64) -> u64 {
    (0..n).fold(1, |acc, i| acc * (m - i) / (i + 1))
}

/// ⌈log2 x⌉ for x ≥ 1 (0 for x = 1: a single possibility needs no bits).
fn ceil_log2(x: u64) -> u64 {
    u64::from(x.next_power_of_two().trailing_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(n: usize, m: usize) -> NmPattern {
        NmPattern::new(n, m).expect("legal pattern")
    }

    fn matrix(rows: usize, cols: usize, data: &[i8]) -> Matrix<i8> {
        Matrix::new(rows, cols, data.to_vec()).expect("valid shape")
    }

    #[test]
    fn pattern_validation() {
        assert!(NmPattern::new(2, 4).is_ok());
        assert!(NmPattern::new(16, 16).is_ok());
        assert_eq!(
            NmPattern::new(5, 4),
            Err(ParamError::NLargerThanM { n: 5, m: 4 })
        );
        assert_eq!(NmPattern::new(0, 4), Err(ParamError::ZeroN { m: 4 }));
        assert_eq!(NmPattern::new(1, 3), Err(ParamError::UnsupportedM { m: 3 }));
        assert_eq!(
            NmPattern::new(1, 32),
            Err(ParamError::UnsupportedM { m: 32 })
        );
        assert_eq!(
            NmPattern::new(5, 4).map_err(|e| e.to_string()),
            Err("n = 5 is larger than m = 4: N must satisfy 1 ≤ N ≤ M".to_string())
        );
        assert_eq!(pattern(2, 8).index_bits(), 3);
        assert_eq!(pattern(1, 2).index_bits(), 1);
        assert_eq!(pattern(3, 16).to_string(), "3:16");
    }

    #[test]
    fn check_reports_k_first_violation_and_count() {
        let p = pattern(1, 2);
        assert_eq!(
            check_nm(&matrix(1, 3, &[0, 0, 0]), p),
            Err(NmError::KNotMultiple { k: 3, m: 2 })
        );
        let w = matrix(2, 4, &[1, 0, 0, 0, 0, 0, -128, 127]);
        assert!(check_nm(&w, p).is_err());
        let err =
            check_nm(&matrix(2, 4, &[1, 2, 0, 0, 3, 4, -128, 127]), p).expect_err("two violations");
        assert_eq!(
            err,
            NmError::TooManyNonZeros {
                row: 0,
                group: 0,
                first_col: 0,
                end_col: 2,
                count: 2,
                pattern: p,
                violating: 3
            }
        );
        let text = err.to_string();
        assert!(
            text.contains("row 0, group 0 (columns 0..2)")
                && text.contains("--prune")
                && !text.contains('\n')
        );
        assert_eq!(
            check_nm(&matrix(2, 4, &[1, 0, 0, 0, 0, 0, -128, 0]), p),
            Ok(())
        );
    }

    #[test]
    fn prune_keeps_largest_magnitudes_with_low_index_ties() {
        let w = matrix(1, 8, &[3, -128, 127, -3, 5, -5, 5, 0]);
        assert_eq!(
            prune_nm(&w, pattern(2, 4)).data(),
            &[0, -128, 127, 0, 5, -5, 0, 0]
        );
        assert_eq!(
            prune_nm(&w, pattern(1, 4)).data(),
            &[0, -128, 0, 0, 5, 0, 0, 0]
        );
        assert_eq!(
            prune_nm(&w, pattern(3, 4)).data(),
            &[3, -128, 127, 0, 5, -5, 5, 0]
        );
        // A trailing partial group is pruned like any other.
        assert_eq!(
            prune_nm(&matrix(1, 3, &[1, 2, 3]), pattern(1, 2)).data(),
            &[0, 2, 3]
        );
    }

    #[test]
    fn compress_is_canonical_for_sparse_and_empty_groups() {
        // Row 0: a full group, then an all-zero group. Row 1: -128/127, then a single non-zero at index 2.
        let w = matrix(
            2,
            8,
            &[0, 5, 0, -3, 0, 0, 0, 0, -128, 0, 0, 127, 0, 0, 7, 0],
        );
        let c = compress(&w, pattern(2, 4)).expect("legal 2:4");
        assert_eq!(c.values(), &[5, -3, 0, 0, -128, 127, 0, 7]);
        assert_eq!(c.indices(), &[1, 3, 0, 1, 0, 3, 0, 2]);
        assert_eq!((c.rows(), c.groups(), c.cols()), (2, 2, 8));
        assert_eq!(c.value(1, 1, 1), Some(7));
        assert_eq!(c.index(1, 1, 0), Some(0));
        assert_eq!(c.value(2, 0, 0), None);
        assert_eq!(c.index(0, 0, 2), None);
        assert_eq!(decompress(&c), w);
    }

    #[test]
    fn compress_rejects_illegal_matrices() {
        assert!(compress(&matrix(1, 4, &[1, 1, 1, 0]), pattern(2, 4)).is_err());
        assert!(compress(&matrix(1, 6, &[0; 6]), pattern(2, 4)).is_err());
    }

    #[test]
    fn dense_pattern_keeps_everything() {
        let w = matrix(1, 4, &[-128, 127, 0, 1]);
        let c = compress(&w, pattern(4, 4)).expect("4:4 accepts anything");
        assert_eq!(c.indices(), &[0, 1, 2, 3]);
        assert_eq!(decompress(&c), w);
    }

    #[test]
    fn storage_stats_follow_the_mission_arithmetic() {
        // 2:8 with INT8 values: 16 value bits + 6 index bits per 64 dense bits; bitmap 8, rank ⌈log2 28⌉ = 5.
        let s = StorageStats::new(pattern(2, 8), 3, 4);
        assert_eq!(s.dense_bits, 12 * 64);
        assert_eq!(s.value_bits, 12 * 16);
        assert_eq!(s.index_bits, 12 * 6);
        assert_eq!(s.bitmap_bits_alternative, 12 * 8);
        assert_eq!(s.rank_bits_alternative, 12 * 5);
        assert!((s.ratio - 64.0 / 22.0).abs() < 1e-12);
        assert_eq!(
            StorageStats::new(pattern(4, 4), 1, 1).rank_bits_alternative,
            0
        );
        assert_eq!(
            StorageStats::new(pattern(8, 16), 1, 1).rank_bits_alternative,
            14
        ); // C(16,8) = 12870
        assert_eq!(StorageStats::new(pattern(2, 4), 0, 0).ratio, 32.0 / 20.0);
        assert_eq!(
            StorageStats::new(pattern(2, 4), 1, 1).to_string(),
            "dense 32 bits, stored 20 bits (16 value + 4 index), 1.60× smaller; index alternatives: bitmap 4 bits, \
             rank 3 bits"
        );
    }
}
