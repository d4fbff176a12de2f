//! The two error measures of numerics.md, exactly as written there. Both are means of (f(x) − y)².

use super::{PwlRange, PwlTable};
use crate::PwlError;

/// The step of the float measure's grid (the reference code's 0.01).
pub const FLOAT_GRID_STEP: f64 = 0.01;

/// How [`float_mse`] measures, for parameter files and reports.
pub const FLOAT_MEASURE: &str =
    "float: x = lo + 0.01·n for every n with x < hi; breakpoints as real values \
     p·2^-D_IN; y = k·x + b with the quantized k and b, no output rounding; mean of (f(x) - y)^2";

/// How [`hardware_mse`] measures, for parameter files and reports.
pub const HARDWARE_MEASURE: &str = "hardware: every INT8 code q with x = q·2^-D_IN in [lo, hi); y = the \
     integer datapath's output code times 2^-D_OUT (round half up, saturated to OW bits); mean of (f(x) - y)^2";

/// The float grid lo, lo + 0.01, … below hi. Computed as lo + 0.01·n (not by accumulation) like `numpy.arange`,
/// so the points are the reference code's.
pub fn float_grid(range: PwlRange) -> impl Iterator<Item = f64> {
    (0u64..)
        .map(move |n| range.lo() + FLOAT_GRID_STEP * n as f64)
        .take_while(move |&x| x < range.hi())
}

/// The reference code's measure: the float PWL (no input or output quantization) on the 0.01 grid.
pub fn float_mse(f: impl Fn(f64) -> f64, table: &PwlTable, range: PwlRange) -> f64 {
    mean(float_grid(range).map(|x| f(x) - table.eval_float(x)))
}

/// The hardware's error: every INT8 code of the range through [`PwlTable::eval`].
///
/// Fails only if the range does not fit INT8 codes at the table's input scale.
pub fn hardware_mse(
    f: impl Fn(f64) -> f64,
    table: &PwlTable,
    range: PwlRange,
) -> Result<f64, PwlError> {
    let (first, last) = range.codes(table.format.input_frac_bits)?;
    Ok(mean((first..=last).map(|q| {
        let x = table.format.input_value(i64::from(q));
        f(x) - table.output_value(table.eval(q))
    })))
}

fn mean(errors: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = errors.fold((0.0, 0usize), |(s, n), e| (s + e * e, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pwl::PwlFormat;

    /// Two segments, y = x below 0 and y = 0.5 from 0 on, at D_IN = 2, Q1.6 coefficients, D_OUT = 2.
    fn step_table() -> PwlTable {
        PwlTable {
            format: PwlFormat {
                input_frac_bits: 2,
                coeff_bits: 8,
                coeff_frac_bits: 6,
                output_bits: 8,
                output_frac_bits: 2,
            },
            breakpoints: vec![0, 0, 0],
            slopes: vec![64, 0, 0, 0],
            intercepts: vec![0, 0, 0, 32],
        }
    }

    #[test]
    fn float_grid_matches_the_reference_point_count() {
        assert_eq!(float_grid(PwlRange::new(-4.0, 4.0).unwrap()).count(), 800);
        assert_eq!(float_grid(PwlRange::new(0.25, 4.0).unwrap()).count(), 375);
        assert_eq!(float_grid(PwlRange::new(0.5, 4.0).unwrap()).count(), 350);
    }

    #[test]
    fn float_mse_by_hand() {
        // f(x) = x on [−0.02, 0.015): grid −0.02, −0.01, 0, 0.01. The PWL is exact below 0 and 0.5 from 0 on:
        // errors 0, 0, −0.5, −0.49 → MSE (0.25 + 0.2401) / 4.
        let range = PwlRange::new(-0.02, 0.015).unwrap();
        let mse = float_mse(|x| x, &step_table(), range);
        assert!((mse - (0.25 + 0.2401) / 4.0).abs() < 1e-12, "{mse}");
    }

    #[test]
    fn hardware_mse_by_hand() {
        // Codes −2..=1 at D_IN = 2: x = −0.5, −0.25, 0, 0.25. Outputs (D_OUT = 2): −2, −1, 2, 2 → y = −0.5, −0.25,
        // 0.5, 0.5. With f(x) = x the errors are 0, 0, −0.5, −0.25 → MSE (0.25 + 0.0625) / 4.
        let range = PwlRange::new(-0.5, 0.5).unwrap();
        let mse = hardware_mse(|x| x, &step_table(), range).unwrap();
        assert!((mse - (0.25 + 0.0625) / 4.0).abs() < 1e-12, "{mse}");
    }

    #[test]
    fn hardware_mse_sees_output_rounding_and_saturation() {
        // y = 1.3 everywhere, D_OUT = 2: 1.3·4 = 5.2 → acc = 83·2^2 = 332 at scale 2^−8, shift 6 → round(5.1875) = 5
        // → 1.25 (intercept code round(1.3·64) = 83 = 1.296875). With OW = 3 (max code 3) it saturates to 0.75.
        let mut table = step_table();
        table.breakpoints = vec![0, 0, 0];
        table.slopes = vec![0; 4];
        table.intercepts = vec![83; 4];
        let range = PwlRange::new(0.0, 0.25).unwrap();
        let mse = hardware_mse(|_| 1.3, &table, range).unwrap();
        assert!((mse - 0.05f64.powi(2)).abs() < 1e-12, "{mse}");
        table.format.output_bits = 3;
        let mse = hardware_mse(|_| 1.3, &table, range).unwrap();
        assert!((mse - 0.55f64.powi(2)).abs() < 1e-12, "{mse}");
    }
}
