//! The search's cost model: the points both error measures look at, and the best integer slope/intercept of every
//! possible segment, memoised.
//!
//! Both measures are sums over points and every point falls in exactly one segment, so an individual's fitness is
//! the sum of its segments' costs and each segment can be fitted on its own. A segment is a pair of *positions*
//! [s, e): position 0 stands for −∞, position u ∈ 1..=N for the code qlo + u − 1 (a breakpoint), N + 1 for +∞.
//! With breakpoints at positions, "x ≥ p" becomes "position of x ≥ position of p" for both the float grid (x's
//! position is ⌊x·2^D⌋'s) and the codes, so the costs are exactly the measures of numerics.md.

use std::sync::OnceLock;

use rayon::prelude::*;

use sta_golden::functions::Function;
use sta_golden::numerics::{round_shift, sat};
use sta_golden::pwl::mse::float_grid;
use sta_golden::pwl::{PwlFormat, PwlRange};

/// What the search minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fitness {
    /// The hardware MSE of the integer datapath.
    Hardware,
    /// The float MSE (the reference code's measure).
    Float,
    /// Float MSE + hardware MSE: good on both.
    Sum,
}

impl Fitness {
    pub fn name(self) -> &'static str {
        match self {
            Fitness::Hardware => "hardware",
            Fitness::Float => "float",
            Fitness::Sum => "sum",
        }
    }

    /// Weights of the float and the hardware MSE.
    fn weights(self) -> (f64, f64) {
        match self {
            Fitness::Hardware => (0.0, 1.0),
            Fitness::Float => (1.0, 0.0),
            Fitness::Sum => (1.0, 1.0),
        }
    }
}

/// The best coefficients of one segment and what they cost.
#[derive(Debug, Clone, Copy)]
pub struct SegmentFit {
    /// This segment's share of the weighted MSE sum.
    pub cost: f64,
    pub slope: i64,
    pub intercept: i64,
    /// How far (in codes) the unconstrained fit lies outside CW; 0 when it fits. Drives the search towards
    /// segmentations whose coefficients fit and, if none does, lets the command say how many bits are missing.
    pub excess: i64,
    /// The fitted codes before clamping to CW (equal to slope/intercept when excess = 0).
    pub wanted: (i64, i64),
}

/// A point of one measure: its position, x, and f(x) (for hardware points also the code).
#[derive(Debug, Clone, Copy)]
struct Point {
    x: f64,
    target: f64,
    code: i64,
}

/// Everything a segment fit needs, plus the memo.
pub struct Segments {
    format: PwlFormat,
    range: PwlRange,
    function: Function,
    first_code: i64,
    /// N: number of codes in the range.
    codes: usize,
    weights: (f64, f64),
    /// Float points sorted by position, and `float_start[u]` = index of the first one at position ≥ u.
    float_points: Vec<Point>,
    float_start: Vec<usize>,
    /// Hardware points, one per code; the one at position u ≥ 1 has index u − 1.
    hw_points: Vec<Point>,
    limits: (i64, i64),
    memo: Vec<OnceLock<SegmentFit>>,
}

impl Segments {
    pub fn new(
        function: Function,
        range: PwlRange,
        format: PwlFormat,
        fitness: Fitness,
        first_code: i8,
        last_code: i8,
    ) -> Self {
        let first = i64::from(first_code);
        let codes = (i64::from(last_code) - first + 1) as usize;
        let scale = 2f64.powi(format.input_frac_bits as i32);
        let float_points: Vec<Point> = float_grid(range)
            .map(|x| Point {
                x,
                target: function.eval(x),
                code: (x * scale).floor() as i64,
            })
            .collect();
        let position = |code: i64| (code - first + 1).clamp(0, codes as i64) as usize;
        let float_start = (0..=codes + 1)
            .map(|u| float_points.partition_point(|p| position(p.code) < u))
            .collect();
        let hw_points = (0..codes as i64)
            .map(|i| {
                let code = first + i;
                let x = format.input_value(code);
                Point {
                    x,
                    target: function.eval(x),
                    code,
                }
            })
            .collect();
        let (wf, wh) = fitness.weights();
        let n_float = float_points.len().max(1) as f64;
        Segments {
            format,
            range,
            function,
            first_code: first,
            codes,
            weights: (wf / n_float, wh / codes as f64),
            float_points,
            float_start,
            hw_points,
            limits: format.coeff_limits(),
            memo: (0..(codes + 2) * (codes + 2))
                .map(|_| OnceLock::new())
                .collect(),
        }
    }

    /// N, the number of codes; breakpoint positions lie in 1..=N.
    pub fn codes(&self) -> usize {
        self.codes
    }

    /// The INT8 code of a breakpoint position.
    pub fn code_of(&self, position: usize) -> i8 {
        // Positions 1..=N map into [first_code, last_code], both INT8 codes.
        (self.first_code + position as i64 - 1) as i8
    }

    /// The fit of segment [s, e) (positions), computed once.
    pub fn fit(&self, s: usize, e: usize) -> &SegmentFit {
        self.memo[s * (self.codes + 2) + e].get_or_init(|| self.compute(s, e))
    }

    fn compute(&self, s: usize, e: usize) -> SegmentFit {
        let float = &self.float_points[self.float_start[s]..self.float_start[e]];
        let hw = &self.hw_points[s.max(1) - 1..(e.max(1) - 1).min(self.codes)];
        let (k, b) = self.least_squares(float, hw, s, e);
        let wanted = (self.to_code(k), self.to_code(b));
        let clamp = |c: i64| c.clamp(self.limits.0, self.limits.1);
        let excess = (wanted.0 - clamp(wanted.0)).abs() + (wanted.1 - clamp(wanted.1)).abs();
        let (slope, intercept, cost) = self.refine(float, hw, (clamp(wanted.0), clamp(wanted.1)));
        SegmentFit {
            cost,
            slope,
            intercept,
            excess,
            wanted,
        }
    }

    fn to_code(&self, value: f64) -> i64 {
        let code = (value * 2f64.powi(self.format.coeff_frac_bits as i32)).round();
        code.clamp(-(1i64 << 40) as f64, (1i64 << 40) as f64) as i64
    }

    /// Weighted least squares over both measures' points; the chord of f across the segment when the points do not
    /// determine a line (fewer than two distinct x).
    fn least_squares(&self, float: &[Point], hw: &[Point], s: usize, e: usize) -> (f64, f64) {
        let (wf, wh) = self.weights;
        let points = float
            .iter()
            .map(|p| (wf, p))
            .chain(hw.iter().map(|p| (wh, p)));
        let (mut sw, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (w, p) in points.filter(|(w, _)| *w > 0.0) {
            sw += w;
            sx += w * p.x;
            sy += w * p.target;
            sxx += w * p.x * p.x;
            sxy += w * p.x * p.target;
        }
        let det = sw * sxx - sx * sx;
        if sw > 0.0 && det > 1e-12 * sw * sw {
            let k = (sw * sxy - sx * sy) / det;
            return (k, (sy - k * sx) / sw);
        }
        let (x0, x1) = self.extent(s, e);
        let (y0, y1) = (self.function.eval(x0), self.function.eval(x1));
        let k = if x1 > x0 { (y1 - y0) / (x1 - x0) } else { 0.0 };
        let b = if sw > 0.0 {
            (sy - k * sx) / sw
        } else {
            y0 - k * x0
        };
        (k, b)
    }

    /// The real interval a segment covers inside the range.
    fn extent(&self, s: usize, e: usize) -> (f64, f64) {
        let x = |u: usize| self.format.input_value(self.first_code + u as i64 - 1);
        let x0 = if s == 0 { self.range.lo() } else { x(s) };
        let x1 = if e > self.codes {
            self.range.hi()
        } else {
            x(e)
        };
        (x0.max(self.range.lo()), x1.min(self.range.hi()))
    }

    /// Integer descent from the rounded fit: move to the best of the 8 neighbouring (k, b) codes until none improves.
    /// The rounding of the hardware output makes the cost non-smooth, so the rounded real optimum is often not the
    /// integer one.
    fn refine(&self, float: &[Point], hw: &[Point], start: (i64, i64)) -> (i64, i64, f64) {
        let mut best = (start.0, start.1, self.cost(float, hw, start.0, start.1));
        for _ in 0..64 {
            let centre = best;
            for (dk, db) in [
                (-1, -1),
                (-1, 0),
                (-1, 1),
                (0, -1),
                (0, 1),
                (1, -1),
                (1, 0),
                (1, 1),
            ] {
                let (k, b) = (centre.0 + dk, centre.1 + db);
                if !(self.limits.0..=self.limits.1).contains(&k)
                    || !(self.limits.0..=self.limits.1).contains(&b)
                {
                    continue;
                }
                let cost = self.cost(float, hw, k, b);
                if cost < best.2 {
                    best = (k, b, cost);
                }
            }
            if (best.0, best.1) == (centre.0, centre.1) {
                break;
            }
        }
        best
    }

    /// The segment's weighted squared error with codes (k, b), exactly as the two measures compute it.
    fn cost(&self, float: &[Point], hw: &[Point], k: i64, b: i64) -> f64 {
        let (wf, wh) = self.weights;
        let mut total = 0.0;
        if wf > 0.0 {
            let (kr, br) = (self.format.coeff_value(k), self.format.coeff_value(b));
            total += wf
                * float
                    .iter()
                    .map(|p| (p.target - (kr * p.x + br)).powi(2))
                    .sum::<f64>();
        }
        if wh > 0.0 {
            total += wh
                * hw.iter()
                    .map(|p| (p.target - self.hardware_output(k, b, p.code)).powi(2))
                    .sum::<f64>();
        }
        total
    }

    /// numerics.md's `out` for one code, as a real number (the same arithmetic as `PwlTable::eval`).
    fn hardware_output(&self, k: i64, b: i64, q: i64) -> f64 {
        let f = &self.format;
        let acc = i128::from(k) * i128::from(q) + (i128::from(b) << f.input_frac_bits);
        let shift = (f.coeff_frac_bits + f.input_frac_bits) as i32 - f.output_frac_bits as i32;
        let out = sat(round_shift(acc, shift), f.output_bits);
        out as f64 * 2f64.powi(-(f.output_frac_bits as i32))
    }
}

/// The exact optimum over all breakpoint positions for K segments, by dynamic programming: segment costs are
/// additive, so best(j, e) = min over s ≤ e of best(j − 1, s) + cost(s, e). Costs every one of the ~N²/2 segments,
/// so it is slower than the GA on wide ranges but gives the yardstick the GA is tested against.
pub fn optimum(segments: &Segments, entries: usize, penalty: f64) -> (Vec<usize>, f64) {
    let n = segments.codes();
    // Fit every segment first, on all cores; the memo makes the DP below pure look-ups.
    (1..=n + 1).into_par_iter().for_each(|e| {
        for s in 0..=e.min(n) {
            let _ = segments.fit(s, e);
        }
    });
    let cost = |s: usize, e: usize| {
        let fit = segments.fit(s, e);
        fit.cost + penalty * fit.excess as f64
    };
    // best[u]: the cheapest j segments covering positions [0, u), the last breakpoint at u (best[0] is unused).
    let mut best: Vec<f64> = (0..=n)
        .map(|u| if u == 0 { f64::INFINITY } else { cost(0, u) })
        .collect();
    // The cheapest previous breakpoint s ≤ e for a segment [s, e) after `best`.
    let cheapest = |best: &[f64], e: usize| {
        (1..=e.min(n))
            .map(|s| (s, best[s] + cost(s, e)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((1, f64::INFINITY))
    };
    let mut choices: Vec<Vec<usize>> = Vec::new();
    for _ in 1..entries - 1 {
        let (choice, next): (Vec<usize>, Vec<f64>) = (0..=n)
            .map(|e| {
                if e == 0 {
                    (0, f64::INFINITY)
                } else {
                    cheapest(&best, e)
                }
            })
            .unzip();
        choices.push(choice);
        best = next;
    }
    let (mut last, total) = cheapest(&best, n + 1);
    let mut genes = vec![last];
    for choice in choices.iter().rev() {
        last = choice[last];
        genes.push(last);
    }
    genes.reverse();
    (genes, total)
}
