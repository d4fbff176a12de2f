//! The options every LUT command shares: function, range and fixed-point formats, each defaulting per function.

use clap::Args;
use sta_golden::functions::Function;
use sta_golden::pwl::mse::float_grid;
use sta_golden::pwl::{PwlFormat, PwlRange};

use crate::error::{usage, Result, StaError};

/// Range and format overrides; anything left out takes the function's default (`docs/lut.md`).
#[derive(Debug, Clone, Default, Args)]
pub struct FormatArgs {
    /// Input range "LO,HI" (HI exclusive), e.g. --range=-4,4. Default: the function's.
    #[arg(long, value_name = "LO,HI", allow_hyphen_values = true)]
    pub range: Option<String>,
    /// D_IN: input code q means x = q·2^−D_IN.
    #[arg(long, value_name = "D")]
    pub input_frac_bits: Option<u32>,
    /// CW: signed width of slope and intercept codes.
    #[arg(long, value_name = "CW")]
    pub coeff_bits: Option<u32>,
    /// FK: fraction bits of slope and intercept.
    #[arg(long, value_name = "FK")]
    pub coeff_frac_bits: Option<u32>,
    /// OW: signed width of the output code.
    #[arg(long, value_name = "OW")]
    pub output_bits: Option<u32>,
    /// D_OUT: output code means y = out·2^−D_OUT.
    #[arg(long, value_name = "E")]
    pub output_frac_bits: Option<u32>,
}

/// A function with its validated range and formats: the range fits INT8 codes at D_IN, the formats are sane.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    pub function: Function,
    pub range: PwlRange,
    pub format: PwlFormat,
}

impl FormatArgs {
    /// Applies the overrides to the function's defaults and validates the result.
    pub fn resolve(&self, function: Function) -> Result<Resolved> {
        let d = function.default_format();
        let format = PwlFormat {
            input_frac_bits: self.input_frac_bits.unwrap_or(d.input_frac_bits),
            coeff_bits: self.coeff_bits.unwrap_or(d.coeff_bits),
            coeff_frac_bits: self.coeff_frac_bits.unwrap_or(d.coeff_frac_bits),
            output_bits: self.output_bits.unwrap_or(d.output_bits),
            output_frac_bits: self.output_frac_bits.unwrap_or(d.output_frac_bits),
        };
        format.validate().map_err(usage)?;
        let (lo, hi) = match &self.range {
            Some(text) => parse_range(text)?,
            None => function.default_range(),
        };
        let range = PwlRange::new(lo, hi).map_err(usage)?;
        let (first, last) = range.codes(format.input_frac_bits).map_err(usage)?;
        check_finite(function, range, format, first, last)?;
        Ok(Resolved {
            function,
            range,
            format,
        })
    }
}

/// Refuses a range on which f is not finite somewhere the measures look (1/x at 0, RSQRT below 0): every fit and
/// error figure there would be NaN.
fn check_finite(
    function: Function,
    range: PwlRange,
    format: PwlFormat,
    first: i8,
    last: i8,
) -> Result<()> {
    let codes = (first..=last).map(|q| format.input_value(i64::from(q)));
    match float_grid(range).chain(codes).find(|&x| !function.eval(x).is_finite()) {
        None => Ok(()),
        Some(x) => Err(usage(format!(
            "range = [{}, {}) is not allowed for {function}: f({x}) is not finite; choose a range where it is",
            range.lo(),
            range.hi()
        ))),
    }
}

fn parse_range(text: &str) -> Result<(f64, f64)> {
    let bad = || {
        usage(format!("--range = {text:?} is not valid: expected \"LO,HI\" with two numbers, e.g. --range=-4,4"))
    };
    let (lo, hi) = text.split_once(',').ok_or_else(bad)?;
    let lo: f64 = lo.trim().parse().map_err(|_| bad())?;
    let hi: f64 = hi.trim().parse().map_err(|_| bad())?;
    Ok((lo, hi))
}

/// Parses a function name into a usage error on failure.
pub fn parse_function(name: &str) -> Result<Function> {
    name.parse().map_err(usage)
}

/// Reads a user's input file; a missing or unreadable file is the user's to fix (exit code 2).
pub fn read_text(path: &std::path::Path, flag: &str) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| StaError::Usage(format!("{flag} {}: cannot read it: {e}", path.display())))
}
