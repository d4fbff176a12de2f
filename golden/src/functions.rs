//! The non-linear functions the PWL approximators stand in for, in f64: the "truth" both error measures compare against.
//!
//! Each function also carries its defaults: the range the GQA-LUT reference uses (numerics.md) and the fixed-point
//! formats of its approximator. The format rules (tested below):
//! - D_IN is the largest input scale whose INT8 codes cover the whole range (x·2^D_IN ∈ [−128, 128)).
//! - CW/FK: Q1.6 (8 bits, 6 fraction bits) like GQA-LUT, except 1/x and RSQRT whose slopes reach −4 and intercepts
//!   ≈ 3.9 near the low end of their ranges: Q3.6 (10 bits). FK stays 6 so their coefficients are on the reference's grid.
//! - OW = 8, D_OUT the largest output scale at which f on every code of the range fits OW bits without saturating.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::pwl::PwlFormat;
use crate::PwlError;

/// One approximated function. Serialized as its lowercase [`Function::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Function {
    /// GELU, exact erf form: x·Φ(x).
    Gelu,
    /// Hard swish: x·ReLU6(x + 3)/6.
    Hswish,
    /// e^x (softmax, after subtracting the row maximum).
    Exp,
    /// 1/x: the DIV unit (softmax normalisation).
    Reci,
    /// 1/√x (LayerNorm).
    Rsqrt,
    /// SiLU: x·σ(x).
    Silu,
    /// The logistic function σ(x) = 1/(1 + e^−x).
    Sigmoid,
    /// tanh(x).
    Tanh,
}

impl Function {
    /// Every function, in the order tables list them.
    pub const ALL: [Function; 8] = [
        Function::Gelu,
        Function::Hswish,
        Function::Exp,
        Function::Reci,
        Function::Rsqrt,
        Function::Silu,
        Function::Sigmoid,
        Function::Tanh,
    ];

    /// The CLI and file name.
    pub fn name(self) -> &'static str {
        match self {
            Function::Gelu => "gelu",
            Function::Hswish => "hswish",
            Function::Exp => "exp",
            Function::Reci => "reci",
            Function::Rsqrt => "rsqrt",
            Function::Silu => "silu",
            Function::Sigmoid => "sigmoid",
            Function::Tanh => "tanh",
        }
    }

    /// The key the GQA-LUT reference files use for this function (`sqrt_reci` for RSQRT).
    pub fn reference_name(self) -> &'static str {
        match self {
            Function::Rsqrt => "sqrt_reci",
            f => f.name(),
        }
    }

    /// f(x) in f64.
    pub fn eval(self, x: f64) -> f64 {
        match self {
            Function::Gelu => 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)),
            Function::Hswish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
            Function::Exp => x.exp(),
            Function::Reci => 1.0 / x,
            Function::Rsqrt => 1.0 / x.sqrt(),
            Function::Silu => x / (1.0 + (-x).exp()),
            Function::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Function::Tanh => x.tanh(),
        }
    }

    /// The default range [lo, hi) (numerics.md for the GQA-LUT five; SiLU and tanh like GELU, sigmoid over the
    /// wider [−8, 8) where it saturates).
    pub fn default_range(self) -> (f64, f64) {
        match self {
            Function::Gelu | Function::Hswish | Function::Silu | Function::Tanh => (-4.0, 4.0),
            Function::Exp => (-8.0, 0.0),
            Function::Reci => (0.5, 4.0),
            Function::Rsqrt => (0.25, 4.0),
            Function::Sigmoid => (-8.0, 8.0),
        }
    }

    /// The default formats (module docs give the rules).
    pub fn default_format(self) -> PwlFormat {
        let (input_frac_bits, coeff_bits, output_frac_bits) = match self {
            Function::Gelu | Function::Hswish | Function::Silu => (5, 8, 5),
            Function::Tanh => (5, 8, 6),
            Function::Exp => (4, 8, 7),
            Function::Sigmoid => (4, 8, 6),
            Function::Reci | Function::Rsqrt => (5, 10, 5),
        };
        PwlFormat {
            input_frac_bits,
            coeff_bits,
            coeff_frac_bits: 6,
            output_bits: 8,
            output_frac_bits,
        }
    }

    /// The names `FromStr` accepts, for error messages.
    pub fn allowed_names() -> String {
        let names: Vec<&str> = Function::ALL.iter().map(|f| f.name()).collect();
        names.join(", ")
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Function {
    type Err = PwlError;

    /// Accepts the names, the reference files' keys and the paper's unit names (`div`, `sqrt_reci`), any case.
    fn from_str(s: &str) -> Result<Self, PwlError> {
        let lower = s.trim().to_ascii_lowercase();
        let alias = match lower.as_str() {
            "div" | "recip" | "reciprocal" => Some(Function::Reci),
            "sqrt_reci" => Some(Function::Rsqrt),
            "swish" => Some(Function::Silu),
            _ => None,
        };
        alias
            .or_else(|| Function::ALL.into_iter().find(|f| f.name() == lower))
            .ok_or_else(|| PwlError::UnknownFunction {
                name: s.to_string(),
                allowed: Function::allowed_names(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn values_at_known_points() {
        assert!(close(Function::Gelu.eval(0.0), 0.0));
        // Φ(1) = 0.841344746068543
        assert!(close(Function::Gelu.eval(1.0), 0.841344746068543));
        assert!(close(Function::Gelu.eval(-1.0), -0.158655253931457));
        assert!(close(Function::Hswish.eval(-3.5), 0.0));
        assert!(close(Function::Hswish.eval(1.0), 4.0 / 6.0));
        assert!(close(Function::Hswish.eval(3.5), 3.5));
        assert!(close(Function::Exp.eval(-1.0), (-1f64).exp()));
        assert!(close(Function::Reci.eval(0.5), 2.0));
        assert!(close(Function::Rsqrt.eval(0.25), 2.0));
        assert!(close(Function::Sigmoid.eval(0.0), 0.5));
        assert!(close(Function::Silu.eval(2.0), 2.0 / (1.0 + (-2f64).exp())));
        assert!(close(Function::Tanh.eval(0.5), 0.5f64.tanh()));
    }

    #[test]
    fn names_round_trip_and_aliases_parse() {
        for f in Function::ALL {
            assert_eq!(f.name().parse::<Function>().unwrap(), f);
            assert_eq!(f.reference_name().parse::<Function>().unwrap(), f);
        }
        assert_eq!("DIV".parse::<Function>().unwrap(), Function::Reci);
        let err = "softmax".parse::<Function>().unwrap_err().to_string();
        assert!(err.contains("softmax") && err.contains("gelu"), "{err}");
    }

    /// The codes of [lo, hi) at the input scale: what the hardware sees.
    fn range_codes(f: Function) -> impl Iterator<Item = i32> {
        let (lo, hi) = f.default_range();
        let scale = f64::from(1u32 << f.default_format().input_frac_bits);
        ((lo * scale).ceil() as i32..).take_while(move |&q| f64::from(q) < hi * scale)
    }

    #[test]
    fn default_input_scale_is_the_finest_that_covers_the_range() {
        for f in Function::ALL {
            let (lo, hi) = f.default_range();
            let d = f.default_format().input_frac_bits as i32;
            let fits = |d: i32| lo * 2f64.powi(d) >= -128.0 && hi * 2f64.powi(d) <= 128.0;
            assert!(fits(d) && !fits(d + 1), "{f}: D_IN = {d}");
        }
    }

    #[test]
    fn default_output_scale_is_the_finest_without_saturation() {
        for f in Function::ALL {
            let format = f.default_format();
            let d = f64::from(1u32 << format.input_frac_bits);
            let peak = range_codes(f)
                .map(|q| f.eval(f64::from(q) / d).abs())
                .fold(0.0, f64::max);
            let max_code = f64::from((1u32 << (format.output_bits - 1)) - 1);
            let fits = |e: u32| peak <= max_code / f64::from(1u32 << e);
            let e = format.output_frac_bits;
            assert!(fits(e) && !fits(e + 1), "{f}: D_OUT = {e}, peak {peak}");
        }
    }
}
