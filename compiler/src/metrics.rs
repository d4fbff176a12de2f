//! How close a compressed or integer model's sentence embeddings are to the float model's, without labels:
//! the cosine of each embedding with its float counterpart, and the rank agreement (Spearman) of all pairwise
//! cosine similarities — what retrieval and semantic-similarity users feel.

use serde::{Deserialize, Serialize};

/// cos(a, b) in f64 (0 when either vector is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa.sqrt() * bb.sqrt())
    }
}

/// The cosine similarity of every unordered pair (i < j), in a fixed order.
pub fn pairwise_cosines(embeddings: &[Vec<f32>]) -> Vec<f64> {
    let n = embeddings.len();
    let mut out = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            out.push(cosine(&embeddings[i], &embeddings[j]));
        }
    }
    out
}

/// Ranks 1..n with ties given their average rank.
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0f64; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Pearson correlation (0 when either side is constant).
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len()) as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0f64, 0f64, 0f64);
    for (&a, &b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

/// Spearman's rank correlation: Pearson of the average ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// Agreement of a set of embeddings with the reference set (same sentences, same order).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub sentences: usize,
    pub mean_cosine: f64,
    pub min_cosine: f64,
    /// Spearman correlation of the pairwise cosine similarities.
    pub spearman: f64,
}

impl Agreement {
    pub fn measure(reference: &[Vec<f32>], candidate: &[Vec<f32>]) -> Agreement {
        let cos: Vec<f64> = reference
            .iter()
            .zip(candidate)
            .map(|(a, b)| cosine(a, b))
            .collect();
        Agreement {
            sentences: cos.len(),
            mean_cosine: cos.iter().sum::<f64>() / cos.len().max(1) as f64,
            min_cosine: cos.iter().copied().fold(f64::INFINITY, f64::min).min(1.0),
            spearman: spearman(&pairwise_cosines(reference), &pairwise_cosines(candidate)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_of_known_rankings() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((spearman(&x, &[10.0, 20.0, 30.0, 40.0, 50.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&x, &[5.0, 4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // Monotone but non-linear: still 1.
        assert!((spearman(&x, &[1.0, 8.0, 27.0, 64.0, 125.0]) - 1.0).abs() < 1e-12);
        // scipy.stats.spearmanr([1,2,3,4,5], [2,1,4,3,5]) = 0.8
        assert!((spearman(&x, &[2.0, 1.0, 4.0, 3.0, 5.0]) - 0.8).abs() < 1e-12);
    }

    #[test]
    fn ties_get_average_ranks() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
        // scipy.stats.spearmanr([1,2,2,3], [1,2,3,4]) = 0.9486832980505138
        let s = spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0]);
        assert!((s - 0.9486832980505138).abs() < 1e-12, "{s}");
    }

    #[test]
    fn identical_embeddings_agree_perfectly() {
        let e = vec![
            vec![1.0, 0.0, 0.5],
            vec![0.2, 0.9, 0.1],
            vec![-0.3, 0.4, 0.8],
        ];
        let a = Agreement::measure(&e, &e);
        assert!((a.mean_cosine - 1.0).abs() < 1e-12 && (a.min_cosine - 1.0).abs() < 1e-12);
        assert!((a.spearman - 1.0).abs() < 1e-12);
    }

    #[test]
    fn cosine_of_orthogonal_and_opposite_vectors() {
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 2.0]), 0.0);
        assert!((cosine(&[1.0, 2.0], &[-2.0, -4.0]) + 1.0).abs() < 1e-12);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
    }
}
