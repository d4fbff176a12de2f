//! Random legal approximators: the test inputs of the random differential campaign (`sta soak`).
//!
//! A drawn table is not a good approximator (nothing is fitted); it is anything a parameter file may legally hold:
//! a format anywhere inside [`PwlFormat::validate`], a range of the function's domain that fits INT8 codes at the
//! drawn input scale, 4..=32 segments, breakpoints anywhere in INT8 (sorted, ties and the extremes −128/127 mixed
//! in) and slope/intercept codes anywhere in CW signed bits (the extremes and zero mixed in). Every draw passes
//! [`PwlParamsFile::validate`](super::PwlParamsFile::validate), so the RTL generator must accept it and match
//! [`PwlTable::eval`] on every code.

use rand::Rng;

use super::{
    Provenance, PwlFormat, PwlParamsFile, PwlRange, PwlTable, Source, MAX_ENTRIES, MIN_ENTRIES,
};
use crate::functions::Function;
use crate::PwlError;

/// The widest formats a draw may use (a consumer such as the softmax unit may take less than a parameter file allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomLimits {
    /// Largest D_IN (the parameter file allows 15).
    pub max_input_frac_bits: u32,
    /// Largest CW (32).
    pub max_coeff_bits: u32,
    /// Largest OW (32).
    pub max_output_bits: u32,
}

impl Default for RandomLimits {
    /// Everything a parameter file allows.
    fn default() -> Self {
        RandomLimits {
            max_input_frac_bits: 15,
            max_coeff_bits: 32,
            max_output_bits: 32,
        }
    }
}

/// The INT8 codes c with lo ≤ c·2^−D < hi, if any.
fn domain_codes(function: Function, input_frac_bits: u32) -> Option<(i64, i64)> {
    let (lo, hi) = function.default_range();
    let scale = 2f64.powi(input_frac_bits as i32);
    let first = ((lo * scale).ceil() as i64).max(-128);
    let last = ((hi * scale).ceil() as i64 - 1).min(127);
    (first <= last).then_some((first, last))
}

/// One code of a `bits`-bit signed field: the two extremes and zero one time in ten each, else uniform.
fn code<R: Rng + ?Sized>(rng: &mut R, (min, max): (i64, i64)) -> i64 {
    match rng.gen_range(0..10) {
        0 => min,
        1 => max,
        2 => 0,
        _ => rng.gen_range(min..=max),
    }
}

/// A random legal format, range and table of `function` within `limits`. The range lies inside the function's
/// default range (so f is finite on it), on whole codes of the drawn input scale.
pub fn random_table<R: Rng + ?Sized>(
    rng: &mut R,
    function: Function,
    limits: RandomLimits,
) -> Result<(PwlRange, PwlTable), PwlError> {
    let scales: Vec<u32> = (0..=limits.max_input_frac_bits.min(15))
        .filter(|&d| domain_codes(function, d).is_some())
        .collect();
    let Some(&input_frac_bits) = scales.get(rng.gen_range(0..scales.len().max(1))) else {
        return Err(PwlError::Format {
            field: "input_frac_bits",
            value: i64::from(limits.max_input_frac_bits),
            allowed: format!("no input scale up to it puts a code of {function}'s range in INT8"),
        });
    };
    let (first, last) = domain_codes(function, input_frac_bits).unwrap_or((0, 0));
    let a = rng.gen_range(first..=last);
    let b = rng.gen_range(a..=last);
    let scale = 2f64.powi(input_frac_bits as i32);
    let range = PwlRange::new(a as f64 / scale, (b + 1) as f64 / scale)?;
    let max_cw = limits.max_coeff_bits.clamp(2, 32);
    // half the draws keep the coefficients narrow (the usual case), half go up to the limit
    let coeff_bits = if rng.gen_bool(0.5) {
        rng.gen_range(2..=max_cw.min(12))
    } else {
        rng.gen_range(2..=max_cw)
    };
    let coeff_frac_bits = rng.gen_range(0..=24);
    let format = PwlFormat {
        input_frac_bits,
        coeff_bits,
        coeff_frac_bits,
        output_bits: rng.gen_range(2..=limits.max_output_bits.clamp(2, 32)),
        output_frac_bits: rng.gen_range(0..=coeff_frac_bits + input_frac_bits),
    };
    let entries = rng.gen_range(MIN_ENTRIES..=MAX_ENTRIES);
    let mut breakpoints: Vec<i8> = Vec::with_capacity(entries - 1);
    for _ in 1..entries {
        let p = match (rng.gen_range(0..10), breakpoints.last()) {
            (0, _) => i8::MIN,
            (1, _) => i8::MAX,
            (2, Some(&previous)) => previous,
            _ => rng.gen(),
        };
        breakpoints.push(p);
    }
    breakpoints.sort_unstable();
    let limits = format.coeff_limits();
    let slopes = (0..entries).map(|_| code(rng, limits)).collect();
    let intercepts = (0..entries).map(|_| code(rng, limits)).collect();
    let table = PwlTable {
        format,
        breakpoints,
        slopes,
        intercepts,
    };
    table.validate()?;
    range.codes(input_frac_bits)?;
    Ok((range, table))
}

/// [`random_table`] as a validated parameter file (errors measured; provenance [`Source::Random`], `generator` and
/// `seed` recorded).
pub fn random_params_file<R: Rng + ?Sized>(
    rng: &mut R,
    function: Function,
    limits: RandomLimits,
    generator: &str,
    seed: Option<u64>,
) -> Result<PwlParamsFile, PwlError> {
    let (range, table) = random_table(rng, function, limits)?;
    let provenance = Provenance {
        generator: generator.to_string(),
        source: Source::Random,
        seed,
        population: None,
        generations: None,
        fitness: None,
        search_seconds: None,
        reference: None,
    };
    PwlParamsFile::new(function, range, &table, provenance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn every_draw_is_a_legal_parameter_file_that_round_trips() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (mut wide, mut tie, mut extreme) = (false, false, false);
        for i in 0..2000 {
            let function = Function::ALL[i % Function::ALL.len()];
            let file =
                random_params_file(&mut rng, function, RandomLimits::default(), "test", None)
                    .unwrap_or_else(|e| panic!("{function} draw {i}: {e}"));
            let back = PwlParamsFile::from_json(&file.to_json())
                .unwrap_or_else(|e| panic!("{function} draw {i}: {e}"));
            assert_eq!(back.table().ok(), file.table().ok());
            assert_eq!(back.provenance.source, Source::Random);
            wide |= file.coeff_bits > 24 && file.output_bits > 24;
            tie |= file.breakpoints.windows(2).any(|w| w[0] == w[1]);
            extreme |= file.breakpoints.first() == Some(&i8::MIN)
                && file.slopes.contains(&file.format().coeff_limits().1);
        }
        assert!(wide && tie && extreme, "the draws reach the corners");
    }

    #[test]
    fn limits_are_kept_and_draws_are_reproducible() {
        let limits = RandomLimits {
            max_input_frac_bits: 5,
            max_coeff_bits: 10,
            max_output_bits: 16,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..500 {
            let (_, t) =
                random_table(&mut rng, Function::Reci, limits).unwrap_or_else(|e| panic!("{e}"));
            let f = t.format;
            assert!(f.input_frac_bits <= 5 && f.coeff_bits <= 10 && f.output_bits <= 16);
        }
        let draw =
            |seed| random_table(&mut ChaCha8Rng::seed_from_u64(seed), Function::Exp, limits).ok();
        assert_eq!(draw(9), draw(9));
        assert_ne!(draw(9), draw(10));
    }
}
