//! Importing the published GQA-LUT parameter files (vendored in `data/gqa-lut/*.json`).
//!
//! Layout: `{ "<function>": { "<d>": { "breakpoints", "slopes", "intercepts" } } }` with float values, one breakpoint
//! set per number of decimal bits d (the breakpoints lie on the 2^−d grid) and, in practice, one slope/intercept set.
//! The RSQRT file spells the fields `split_points`, `coeff`, `bias`.

use serde_json::{Map, Value};

use super::{PwlFormat, PwlTable};
use crate::functions::Function;
use crate::PwlError;

/// One breakpoint/coefficient set of a reference file, still in floats.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceSet {
    pub function: Function,
    /// The decimal-bit key the set was taken from.
    pub decimal_bits: u32,
    pub breakpoints: Vec<f64>,
    pub slopes: Vec<f64>,
    pub intercepts: Vec<f64>,
}

fn invalid(reason: impl Into<String>) -> PwlError {
    PwlError::Reference {
        reason: reason.into(),
    }
}

/// Reads the set for `input_frac_bits` from a reference file.
///
/// The key d = `input_frac_bits` if the file has it; otherwise the largest key below it, whose breakpoints lie on a
/// coarser grid and so are exact at the finer input scale; an error if every key is above it (those breakpoints would
/// have to be moved).
pub fn parse_reference(json: &str, input_frac_bits: u32) -> Result<ReferenceSet, PwlError> {
    let root: Value = serde_json::from_str(json).map_err(|e| invalid(e.to_string()))?;
    let (name, sets) = root
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.iter().next())
        .ok_or_else(|| invalid("expected one top-level key, the function name"))?;
    let function: Function = name.parse()?;
    let sets = sets.as_object().ok_or_else(|| {
        invalid(format!(
            "\"{name}\" must map decimal bits to parameter sets"
        ))
    })?;
    let keys: Vec<u32> = sets.keys().filter_map(|k| k.parse().ok()).collect();
    let decimal_bits = keys
        .iter()
        .copied()
        .filter(|&d| d <= input_frac_bits)
        .max()
        .ok_or_else(|| {
            invalid(format!(
                "no breakpoint set for {input_frac_bits} or fewer decimal bits (keys: {keys:?}): use --input-frac-bits ≥ {}",
                keys.iter().min().copied().unwrap_or(0)
            ))
        })?;
    let set = sets
        .get(&decimal_bits.to_string())
        .and_then(Value::as_object)
        .ok_or_else(|| invalid(format!("key \"{decimal_bits}\" is not an object")))?;
    let field = |names: [&str; 2]| numbers(set, names, decimal_bits);
    let reference = ReferenceSet {
        function,
        decimal_bits,
        breakpoints: field(["breakpoints", "split_points"])?,
        slopes: field(["slopes", "coeff"])?,
        intercepts: field(["intercepts", "bias"])?,
    };
    if reference.slopes.len() != reference.breakpoints.len() + 1
        || reference.intercepts.len() != reference.slopes.len()
    {
        return Err(invalid(format!(
            "key \"{decimal_bits}\": {} breakpoints need {} slopes and intercepts, found {} and {}",
            reference.breakpoints.len(),
            reference.breakpoints.len() + 1,
            reference.slopes.len(),
            reference.intercepts.len()
        )));
    }
    Ok(reference)
}

/// The first of `names` present in `set`, as finite numbers.
fn numbers(set: &Map<String, Value>, names: [&str; 2], key: u32) -> Result<Vec<f64>, PwlError> {
    let values = names
        .iter()
        .find_map(|n| set.get(*n))
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(format!("key \"{key}\" has no \"{}\" array", names[0])))?;
    values
        .iter()
        .map(|v| v.as_f64().filter(|x| x.is_finite()))
        .collect::<Option<Vec<f64>>>()
        .ok_or_else(|| {
            invalid(format!(
                "key \"{key}\": \"{}\" must hold numbers only",
                names[0]
            ))
        })
}

impl ReferenceSet {
    /// Converts the floats to our integer table in `format`.
    ///
    /// Breakpoint p becomes the code ⌈p·2^D_IN⌉: the hardware's test q ≥ code then holds for exactly the codes q
    /// whose value is ≥ p, so every code lands in the same segment as in the float model (and for breakpoints on
    /// the input grid, as all reference ones are at d ≤ D_IN, the code is exact). Codes below −128 clamp to −128
    /// (no change: every code is ≥ both); a breakpoint above every INT8 code is refused. Slopes and intercepts are
    /// rounded to the nearest multiple of 2^−FK (exact for the reference's 2^−6 values when FK ≥ 6).
    pub fn to_table(&self, format: PwlFormat) -> Result<PwlTable, PwlError> {
        format.validate()?;
        let scale = 2f64.powi(format.input_frac_bits as i32);
        let breakpoints = self
            .breakpoints
            .iter()
            .map(|&p| {
                let code = (p * scale).ceil();
                if code > 127.0 {
                    Err(invalid(format!(
                        "breakpoint {p} lies above every INT8 code at input_frac_bits = {}",
                        format.input_frac_bits
                    )))
                } else {
                    Ok(code.max(-128.0) as i8)
                }
            })
            .collect::<Result<Vec<i8>, PwlError>>()?;
        let coeff_scale = 2f64.powi(format.coeff_frac_bits as i32);
        let codes = |values: &[f64]| {
            values
                .iter()
                .map(|v| (v * coeff_scale).round() as i64)
                .collect()
        };
        let table = PwlTable {
            format,
            breakpoints,
            slopes: codes(&self.slopes),
            intercepts: codes(&self.intercepts),
        };
        table.validate()?;
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{"gelu": {"4": {"breakpoints": [-3.0, -2.1875, -0.875, -0.4375, 0.0625, 0.625, 2.8125],
        "slopes": [-0.0, -0.03125, -0.109375, 0.046875, 0.359375, 0.75, 1.078125, 1.0],
        "intercepts": [-0.0, -0.09375, -0.265625, -0.125, 0.0, -0.015625, -0.21875, -0.0]}}}"#;

    #[test]
    fn converts_exactly_on_the_grid() {
        let set = parse_reference(FILE, 5).unwrap();
        assert_eq!(set.decimal_bits, 4);
        let table = set.to_table(Function::Gelu.default_format()).unwrap();
        assert_eq!(table.breakpoints, vec![-96, -70, -28, -14, 2, 20, 90]);
        assert_eq!(table.slopes, vec![0, -2, -7, 3, 23, 48, 69, 64]);
        assert_eq!(table.intercepts, vec![0, -6, -17, -8, 0, -1, -14, 0]);
    }

    #[test]
    fn breakpoints_off_the_grid_round_up() {
        let set = ReferenceSet {
            function: Function::Gelu,
            decimal_bits: 6,
            breakpoints: vec![-3.015625, 0.03125, 1.0, 1.0, 2.0, 2.5, 3.0],
            slopes: vec![0.0; 8],
            intercepts: vec![0.0; 8],
        };
        let mut format = Function::Gelu.default_format();
        format.input_frac_bits = 4;
        let table = set.to_table(format).unwrap();
        assert_eq!(table.breakpoints[..2], [-48, 1]);
    }

    #[test]
    fn refuses_missing_keys_and_bad_layouts() {
        let err = parse_reference(FILE, 3).unwrap_err().to_string();
        assert!(err.contains("--input-frac-bits ≥ 4"), "{err}");
        assert!(parse_reference("[1]", 5).is_err());
        assert!(parse_reference(r#"{"softmax": {}}"#, 5)
            .unwrap_err()
            .to_string()
            .contains("softmax"));
        let short = FILE.replace("-0.21875, -0.0]", "-0.21875]");
        assert!(parse_reference(&short, 5)
            .unwrap_err()
            .to_string()
            .contains("slopes and intercepts"));
    }
}
