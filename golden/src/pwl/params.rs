//! The parameter file of one approximator (numerics.md "LUT parameter files"): integers only for the datapath, plus
//! both error figures with how they were measured, plus where the parameters came from.
//!
//! Every consumer (RTL generator, plots, comparisons) reads it through [`PwlParamsFile::from_json`], which validates
//! everything a hand-edited file could get wrong, and [`PwlParamsFile::table`].

use serde::{Deserialize, Serialize};

use super::mse::{float_mse, hardware_mse, FLOAT_MEASURE, HARDWARE_MEASURE};
use super::{PwlFormat, PwlRange, PwlTable};
use crate::functions::Function;
use crate::PwlError;

/// How a parameter file came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Our quantization-aware genetic search.
    Search,
    /// Converted from a GQA-LUT reference file.
    Import,
    /// A random legal table ([`super::random`], `sta soak`): a test input, not an approximator.
    Random,
}

/// Provenance: enough to reproduce the file (search settings) or trace it (reference file and key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The tool and its version, e.g. `sta 0.1.0`.
    pub generator: String,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub population: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generations: Option<usize>,
    /// The measure the search minimised (`hardware`, `float` or `sum`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitness: Option<String>,
    /// Wall-clock search time: the only field that differs between two runs with the same seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_seconds: Option<f64>,
    /// For imports: the reference file name and the decimal-bit key used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl Provenance {
    /// The provenance of a table imported from a reference file (`reference`: its name and the key used).
    pub fn imported(generator: impl Into<String>, reference: impl Into<String>) -> Provenance {
        Provenance {
            generator: generator.into(),
            source: Source::Import,
            seed: None,
            population: None,
            generations: None,
            fitness: None,
            search_seconds: None,
            reference: Some(reference.into()),
        }
    }
}

/// Both error figures of numerics.md and, as text, how each was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MseFigures {
    pub float: f64,
    pub hardware: f64,
    pub float_measure: String,
    pub hardware_measure: String,
}

impl MseFigures {
    /// Measures `table` both ways on `range` against `function`.
    pub fn measure(
        function: Function,
        table: &PwlTable,
        range: PwlRange,
    ) -> Result<Self, PwlError> {
        Ok(MseFigures {
            float: float_mse(|x| function.eval(x), table, range),
            hardware: hardware_mse(|x| function.eval(x), table, range)?,
            float_measure: FLOAT_MEASURE.to_string(),
            hardware_measure: HARDWARE_MEASURE.to_string(),
        })
    }
}

/// One approximator as stored on disk. Fields are public for reading; build it with [`PwlParamsFile::new`] or
/// [`PwlParamsFile::from_json`], both of which validate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PwlParamsFile {
    pub function: Function,
    /// K, the number of segments.
    pub entries: usize,
    /// [lo, hi): the range the approximator is built and measured for (hi exclusive).
    pub range: [f64; 2],
    pub input_frac_bits: u32,
    pub coeff_bits: u32,
    pub coeff_frac_bits: u32,
    pub output_bits: u32,
    pub output_frac_bits: u32,
    /// K−1 INT8 codes at the input scale, non-decreasing.
    pub breakpoints: Vec<i8>,
    /// K slope codes, real slope k·2^−FK.
    pub slopes: Vec<i64>,
    /// K intercept codes, real intercept b·2^−FK.
    pub intercepts: Vec<i64>,
    pub mse: MseFigures,
    pub provenance: Provenance,
}

impl PwlParamsFile {
    /// Validates `table` on `range` and measures both errors.
    pub fn new(
        function: Function,
        range: PwlRange,
        table: &PwlTable,
        provenance: Provenance,
    ) -> Result<Self, PwlError> {
        table.validate()?;
        let mse = MseFigures::measure(function, table, range)?;
        let f = table.format;
        Ok(PwlParamsFile {
            function,
            entries: table.entries(),
            range: [range.lo(), range.hi()],
            input_frac_bits: f.input_frac_bits,
            coeff_bits: f.coeff_bits,
            coeff_frac_bits: f.coeff_frac_bits,
            output_bits: f.output_bits,
            output_frac_bits: f.output_frac_bits,
            breakpoints: table.breakpoints.clone(),
            slopes: table.slopes.clone(),
            intercepts: table.intercepts.clone(),
            mse,
            provenance,
        })
    }

    /// Parses and validates a parameter file: malformed JSON, an unknown function, bad formats, a range that does not
    /// fit INT8 codes, K outside 4..=32, wrong counts, non-monotonic breakpoints or coefficients wider than CW are all
    /// refused with a one-line error.
    pub fn from_json(json: &str) -> Result<Self, PwlError> {
        let file: PwlParamsFile = serde_json::from_str(json).map_err(|e| PwlError::File {
            reason: e.to_string(),
        })?;
        file.validate()?;
        Ok(file)
    }

    /// Pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        // Serializing plain structs of numbers, strings and vectors cannot fail.
        let mut json = serde_json::to_string_pretty(self).unwrap_or_default();
        json.push('\n');
        json
    }

    /// The formats as one value.
    pub fn format(&self) -> PwlFormat {
        PwlFormat {
            input_frac_bits: self.input_frac_bits,
            coeff_bits: self.coeff_bits,
            coeff_frac_bits: self.coeff_frac_bits,
            output_bits: self.output_bits,
            output_frac_bits: self.output_frac_bits,
        }
    }

    /// The validated range.
    pub fn pwl_range(&self) -> Result<PwlRange, PwlError> {
        PwlRange::new(self.range[0], self.range[1])
    }

    /// The integer datapath's table, validated.
    pub fn table(&self) -> Result<PwlTable, PwlError> {
        let table = self.table_unchecked();
        table.validate()?;
        Ok(table)
    }

    fn table_unchecked(&self) -> PwlTable {
        PwlTable {
            format: self.format(),
            breakpoints: self.breakpoints.clone(),
            slopes: self.slopes.clone(),
            intercepts: self.intercepts.clone(),
        }
    }

    /// Everything [`PwlParamsFile::from_json`] promises, on an already parsed value.
    pub fn validate(&self) -> Result<(), PwlError> {
        if !(super::MIN_ENTRIES..=super::MAX_ENTRIES).contains(&self.entries) {
            return Err(PwlError::Entries {
                entries: self.entries,
            });
        }
        if self.slopes.len() != self.entries {
            return Err(PwlError::Count {
                field: "slopes",
                found: self.slopes.len(),
                entries: self.entries,
                expected: self.entries,
            });
        }
        self.table_unchecked().validate()?;
        self.pwl_range()?.codes(self.input_frac_bits)?;
        for (field, mse) in [
            ("mse.float", self.mse.float),
            ("mse.hardware", self.mse.hardware),
        ] {
            if !(mse.is_finite() && mse >= 0.0) {
                return Err(PwlError::File {
                    reason: format!(
                        "{field} = {mse} is not a mean squared error: it must be finite and ≥ 0"
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> PwlParamsFile {
        let function = Function::Gelu;
        let table = PwlTable {
            format: function.default_format(),
            breakpoints: vec![-64, -32, 0, 32, 64],
            slopes: vec![0, -6, 6, 38, 70, 64],
            intercepts: vec![0, -14, 0, 0, -4, 0],
        };
        let provenance = Provenance {
            generator: "test".into(),
            source: Source::Search,
            seed: Some(1),
            population: None,
            generations: None,
            fitness: None,
            search_seconds: None,
            reference: None,
        };
        PwlParamsFile::new(
            function,
            PwlRange::new(-4.0, 4.0).unwrap(),
            &table,
            provenance,
        )
        .unwrap()
    }

    #[test]
    fn json_round_trip() {
        let file = example();
        let back = PwlParamsFile::from_json(&file.to_json()).unwrap();
        assert_eq!(back, file);
        assert_eq!(back.table().unwrap().entries(), 6);
    }

    fn edited(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v: serde_json::Value = serde_json::from_str(&example().to_json()).unwrap();
        edit(&mut v);
        let err = PwlParamsFile::from_json(&v.to_string())
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\n'), "one line: {err}");
        err
    }

    #[test]
    fn refuses_broken_files() {
        assert!(PwlParamsFile::from_json("{")
            .unwrap_err()
            .to_string()
            .contains("not valid"));
        let err = edited(|v| v["breakpoints"][2] = (-40).into());
        assert!(err.contains("non-decreasing"), "{err}");
        let err = edited(|v| v["slopes"][1] = 200.into());
        assert!(err.contains("coeff_bits ≥ 9"), "{err}");
        let err = edited(|v| v["function"] = "softmax".into());
        assert!(err.contains("softmax"), "{err}");
        let err = edited(|v| v["entries"] = 40.into());
        assert!(err.contains("4..=32"), "{err}");
        let err = edited(|v| v["breakpoints"] = serde_json::json!([0, 1]));
        assert!(err.contains("breakpoints has 2 values"), "{err}");
        let err = edited(|v| v["input_frac_bits"] = 6.into());
        assert!(err.contains("INT8"), "{err}");
        let err = edited(|v| v["output_frac_bits"] = 12.into());
        assert!(err.contains("output_frac_bits"), "{err}");
        let err = edited(|v| v["breakpoints"][0] = 300.into());
        assert!(err.contains("not valid"), "{err}");
    }
}
