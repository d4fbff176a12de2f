//! The integer primitives of the numeric contract (`docs/numerics.md`): wrapping, rounding shifts,
//! saturation and ACC_W → INT8 requantization. Every other module builds its arithmetic from these.

use crate::ParamError;

/// The largest INT8 × INT8 product, (−128)·(−128). The most negative one is −128 · 127 = −16256, so a reduction of K
/// products stays in [−K·16384, K·16384] and the overflow rule only needs this bound.
pub const MAX_PRODUCT: i64 = 16384;

/// Two's-complement wrap of `v` into `bits` bits, sign-extended back to i64: what a `bits`-wide hardware register holds.
///
/// `bits` is clamped into 1..=64 (an i64 cannot hold more, and a 0-bit register does not exist); callers pass
/// validated widths.
pub fn wrap(v: i128, bits: u32) -> i64 {
    let unused = 128 - bits.clamp(1, 64);
    // Shifting left then arithmetically right keeps the low `bits` bits and copies bit `bits − 1` upwards;
    // the result lies in the i64 range, so the final cast is exact.
    ((v << unused) >> unused) as i64
}

/// `round_shift(v, s)` of numerics.md: for s ≥ 1 `(v + 2^(s−1)) >> s` (round half towards +∞), for s = 0 `v`, for
/// s < 0 `v << −s` (wrapping modulo 2^128, irrelevant for the contract's operand sizes).
pub fn round_shift(v: i128, s: i32) -> i128 {
    match s {
        0 => v,
        s if s > 0 => {
            // floor((v + 2^(s−1)) / 2^s) == floor((q + 1) / 2) with q = v >> (s − 1); written as (q >> 1) + (q & 1)
            // it cannot overflow even for v = i128::MAX, and shifts of 127 or more saturate to the sign.
            let q = v >> (s - 1).min(127);
            (q >> 1) + (q & 1)
        }
        s => v.checked_shl(s.unsigned_abs()).unwrap_or(0),
    }
}

/// `sat_W(v)` of numerics.md: clamp `v` into the signed `bits`-bit range [−2^(bits−1), 2^(bits−1) − 1].
///
/// `bits` is clamped into 1..=64 like [`wrap`].
pub fn sat(v: i128, bits: u32) -> i64 {
    let half = 1i128 << (bits.clamp(1, 64) - 1);
    v.clamp(-half, half - 1) as i64
}

/// Validated requantization constants (ACC_W → INT8): a multiplier `mult < 2^15` and a right shift `shift ≤ 47`.
/// Validating once lets the per-element [`Requant::apply`] be infallible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requant {
    mult: u32,
    shift: u32,
}

impl Requant {
    /// The largest legal multiplier, 2^15 − 1.
    pub const MAX_MULT: u32 = (1 << 15) - 1;
    /// The largest legal shift.
    pub const MAX_SHIFT: u32 = 47;

    pub fn new(mult: u32, shift: u32) -> Result<Self, ParamError> {
        if mult > Self::MAX_MULT {
            return Err(ParamError::Mult { mult });
        }
        if shift > Self::MAX_SHIFT {
            return Err(ParamError::Shift { shift });
        }
        Ok(Self { mult, shift })
    }

    pub fn mult(&self) -> u32 {
        self.mult
    }

    pub fn shift(&self) -> u32 {
        self.shift
    }

    /// `sat_8(round_shift(acc · mult, shift))`; the product is formed in i128, wider than the contract's ACC_W + 16.
    pub fn apply(&self, acc: i64) -> i8 {
        let scaled = round_shift(i128::from(acc) * i128::from(self.mult), self.shift as i32);
        sat(scaled, 8) as i8
    }
}

/// One-shot requantization of `acc`; validates `mult` and `shift` (use [`Requant`] to validate once for many values).
pub fn requantize(acc: i64, mult: u32, shift: u32) -> Result<i8, ParamError> {
    Ok(Requant::new(mult, shift)?.apply(acc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_at_common_widths() {
        assert_eq!(wrap(32767, 16), 32767);
        assert_eq!(wrap(32768, 16), -32768);
        assert_eq!(wrap(-32769, 16), 32767);
        assert_eq!(wrap(65536, 16), 0);
        assert_eq!(wrap(i128::from(i32::MAX) + 1, 32), i64::from(i32::MIN));
        assert_eq!(wrap(-(1 << 31) - 1, 32), i64::from(i32::MAX));
        assert_eq!(wrap(1 << 47, 48), -(1 << 47));
        assert_eq!(wrap((1 << 47) - 1, 48), (1 << 47) - 1);
        assert_eq!(wrap(-(1 << 47), 48), -(1 << 47));
        assert_eq!(wrap(1 << 64, 64), 0);
        assert_eq!(wrap(-1, 1), -1);
        assert_eq!(wrap(1, 1), -1);
        assert_eq!(wrap(2, 1), 0);
    }

    #[test]
    fn wrap_clamps_out_of_range_widths() {
        assert_eq!(wrap(1, 0), wrap(1, 1));
        assert_eq!(wrap(i128::MAX, 200), -1);
    }

    #[test]
    fn round_shift_rounds_half_towards_positive_infinity() {
        assert_eq!(round_shift(5, 1), 3); // 2.5 → 3
        assert_eq!(round_shift(-5, 1), -2); // −2.5 → −2
        assert_eq!(round_shift(-6, 2), -1); // −1.5 → −1
        assert_eq!(round_shift(-7, 2), -2); // −1.75 → −2
        assert_eq!(round_shift(-3, 1), -1); // −1.5 → −1
        assert_eq!(round_shift(-1, 1), 0); // −0.5 → 0
        assert_eq!(round_shift(1, 1), 1); // 0.5 → 1
        assert_eq!(round_shift(6, 2), 2); // 1.5 → 2
        assert_eq!(round_shift(-9, 3), -1); // −1.125 → −1
    }

    #[test]
    fn round_shift_zero_and_negative_shifts() {
        assert_eq!(round_shift(-17, 0), -17);
        assert_eq!(round_shift(-3, -2), -12);
        assert_eq!(round_shift(1, -200), 0);
        assert_eq!(round_shift(1, i32::MIN), 0);
    }

    #[test]
    fn round_shift_extremes_do_not_overflow() {
        assert_eq!(round_shift(i128::MAX, 1), 1i128 << 126);
        assert_eq!(round_shift(i128::MIN, 1), -(1i128 << 126));
        assert_eq!(round_shift(i128::MAX, 200), 0);
        assert_eq!(round_shift(i128::MIN, 200), 0);
        assert_eq!(round_shift(-1, 127), 0);
    }

    #[test]
    fn round_shift_matches_the_formula() {
        for v in -300i128..300 {
            for s in 1..10 {
                assert_eq!(
                    round_shift(v, s),
                    (v + (1 << (s - 1))) >> s,
                    "v = {v}, s = {s}"
                );
            }
        }
    }

    #[test]
    fn sat_bounds() {
        assert_eq!(sat(127, 8), 127);
        assert_eq!(sat(128, 8), 127);
        assert_eq!(sat(-128, 8), -128);
        assert_eq!(sat(-129, 8), -128);
        assert_eq!(sat(i128::MAX, 64), i64::MAX);
        assert_eq!(sat(i128::MIN, 64), i64::MIN);
        assert_eq!(sat(5, 1), 0);
        assert_eq!(sat(-5, 1), -1);
    }

    #[test]
    fn requantize_examples() {
        assert_eq!(requantize(100, 1, 0), Ok(100));
        assert_eq!(requantize(1000, 1, 0), Ok(127));
        assert_eq!(requantize(-1000, 1, 0), Ok(-128));
        assert_eq!(requantize(-128, 1, 0), Ok(-128));
        assert_eq!(requantize(-5, 1, 1), Ok(-2));
        assert_eq!(requantize(5, 1, 1), Ok(3));
        assert_eq!(requantize(3, 3, 2), Ok(2)); // 9 / 4 = 2.25 → 2
        assert_eq!(requantize(i64::MIN, Requant::MAX_MULT, 47), Ok(-128));
        assert_eq!(requantize(i64::MAX, Requant::MAX_MULT, 0), Ok(127));
        assert_eq!(requantize(1 << 40, 0, 0), Ok(0));
    }

    #[test]
    fn requantize_rejects_bad_constants() {
        assert_eq!(
            requantize(0, 1 << 15, 0),
            Err(ParamError::Mult { mult: 1 << 15 })
        );
        assert_eq!(requantize(0, 1, 48), Err(ParamError::Shift { shift: 48 }));
        assert!(Requant::new(Requant::MAX_MULT, Requant::MAX_SHIFT).is_ok());
    }
}
