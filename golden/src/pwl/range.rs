//! The input range [lo, hi) of an approximator and the INT8 codes that represent it at an input scale.

use crate::PwlError;

/// A validated, finite, non-empty range [lo, hi). `hi` is exclusive, as in both error measures of numerics.md.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PwlRange {
    lo: f64,
    hi: f64,
}

impl PwlRange {
    /// Refuses inverted, empty and non-finite ranges.
    pub fn new(lo: f64, hi: f64) -> Result<Self, PwlError> {
        let what = if !lo.is_finite() || !hi.is_finite() {
            Some("not finite")
        } else if lo > hi {
            Some("inverted")
        } else if lo == hi {
            Some("empty")
        } else {
            None
        };
        match what {
            Some(what) => Err(PwlError::Range { lo, hi, what }),
            None => Ok(PwlRange { lo, hi }),
        }
    }

    pub fn lo(&self) -> f64 {
        self.lo
    }

    pub fn hi(&self) -> f64 {
        self.hi
    }

    /// The first and last INT8 code whose x = q·2^−D lies in [lo, hi).
    ///
    /// Refuses a scale at which the range leaves the INT8 codes (lo·2^D < −128 or hi·2^D > 128): every x of the
    /// range must have a code, or the float and hardware measures would describe different inputs. Also refuses a
    /// range so narrow that it holds no code at all.
    pub fn codes(&self, input_frac_bits: u32) -> Result<(i8, i8), PwlError> {
        let scale = 2f64.powi(input_frac_bits as i32);
        let (lo, hi) = (self.lo * scale, self.hi * scale);
        if lo < -128.0 || hi > 128.0 {
            return Err(PwlError::RangeNotInt8 {
                lo: self.lo,
                hi: self.hi,
                input_frac_bits,
                hint: self.scale_hint(),
            });
        }
        // Both lie in [−128, 127] here: lo ≥ −128 and ceil(hi) − 1 ≤ 127.
        let first = lo.ceil() as i8;
        let last = (hi.ceil() - 1.0) as i8;
        if first > last {
            return Err(PwlError::RangeNotInt8 {
                lo: self.lo,
                hi: self.hi,
                input_frac_bits,
                hint: ", and it holds no code at this scale: use a finer input_frac_bits"
                    .to_string(),
            });
        }
        Ok((first, last))
    }

    /// The finest input scale that fits, as advice for an error message.
    fn scale_hint(&self) -> String {
        let fits = |d: i32| self.lo * 2f64.powi(d) >= -128.0 && self.hi * 2f64.powi(d) <= 128.0;
        match (0..=15).rev().find(|&d| fits(d)) {
            Some(d) => format!(": use input_frac_bits ≤ {d} or a narrower range"),
            None => ": use a narrower range".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_cover_the_half_open_range() {
        let r = PwlRange::new(-4.0, 4.0).unwrap();
        assert_eq!(r.codes(5).unwrap(), (-128, 127));
        assert_eq!(r.codes(4).unwrap(), (-64, 63));
        let r = PwlRange::new(0.25, 4.0).unwrap();
        assert_eq!(r.codes(5).unwrap(), (8, 127));
        let r = PwlRange::new(-8.0, 0.0).unwrap();
        assert_eq!(r.codes(4).unwrap(), (-128, -1));
        let r = PwlRange::new(0.3, 0.7).unwrap();
        assert_eq!(r.codes(3).unwrap(), (3, 5));
    }

    #[test]
    fn refuses_bad_ranges_and_scales() {
        assert!(PwlRange::new(1.0, 1.0)
            .unwrap_err()
            .to_string()
            .contains("empty"));
        assert!(PwlRange::new(2.0, 1.0)
            .unwrap_err()
            .to_string()
            .contains("inverted"));
        assert!(PwlRange::new(f64::NAN, 1.0).is_err());
        let err = PwlRange::new(-8.0, 0.0)
            .unwrap()
            .codes(5)
            .unwrap_err()
            .to_string();
        assert!(err.contains("input_frac_bits ≤ 4"), "{err}");
        assert!(PwlRange::new(0.1, 0.12).unwrap().codes(0).is_err());
    }
}
