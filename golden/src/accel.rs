//! Golden models of the accelerator's datapath units, one result beat at a time (docs/accelerator.md).
//!
//! [`epilogue_beat`]: the epilogue after the PE array. A beat is the COLS accumulators of one output channel (lane
//! c = token c of the tile); every lane goes through the same channel parameters. Each mode is one composition of
//! the encoder's integer primitives ([`crate::encoder::ops`]), so the accelerator is bit-exact with the interpreter
//! by construction.

use crate::encoder::ops::{gelu, requant, residual};
use crate::encoder::program::Scale;
use crate::pwl::PwlTable;

/// What the epilogue does with a beat (the 2-bit `mode` of the hardware; GEMM instructions use 0..=2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EpilogueMode {
    /// 0: `sat_8(round_shift((acc + bias)·mult, shift))`, an INT8 activation.
    Req8,
    /// 1: REQ8, then `sat_8(T[gelu_select](q))`: the FFN-in layer.
    Gelu,
    /// 2: the 24-bit residual add `sat_24((skip << rshift) + round_shift((acc + bias)·mult, shift))`.
    Resid,
    /// 3: requantisation to SW bits: the attention scores (the accelerator passes bias 0, SW = 16).
    Reqs,
}

impl EpilogueMode {
    pub const ALL: [EpilogueMode; 4] = [Self::Req8, Self::Gelu, Self::Resid, Self::Reqs];

    /// The 2-bit hardware code.
    pub fn code(self) -> u8 {
        match self {
            Self::Req8 => 0,
            Self::Gelu => 1,
            Self::Resid => 2,
            Self::Reqs => 3,
        }
    }

    /// The mode of a 2-bit code (`None` above 3).
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Req8 => "REQ8",
            Self::Gelu => "GELU",
            Self::Resid => "RESID",
            Self::Reqs => "REQS",
        }
    }
}

impl std::fmt::Display for EpilogueMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The per-channel constants of one beat (the PARAM record of docs/accelerator.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpilogueParams {
    pub bias: i32,
    /// mult < 2^15, shift ≤ 47.
    pub scale: Scale,
    /// The residual shift rs ≤ 24 (RESID only).
    pub residual_shift: u32,
    /// Index of the GELU table (GELU only).
    pub gelu_select: usize,
}

/// One lane: `acc` is the lane's accumulator (already sign-extended from ACC_W bits), `skip` its INT8 skip code
/// (RESID only). The result is the signed value the hardware puts on its 24-bit lane: INT8 for REQ8 and GELU,
/// 24-bit for RESID, `score_bits`-bit for REQS.
///
/// # Panics
/// In GELU mode when `params.gelu_select` does not index `tables` (the hardware's output is undefined there).
pub fn epilogue_lane(
    mode: EpilogueMode,
    acc: i64,
    params: &EpilogueParams,
    skip: i8,
    tables: &[PwlTable],
    score_bits: u32,
) -> i32 {
    // acc + bias needs at most 49 bits (ACC_W ≤ 48): i64 holds it exactly
    let biased = acc + i64::from(params.bias);
    match mode {
        EpilogueMode::Req8 => requant(biased, params.scale, 8) as i32,
        EpilogueMode::Gelu => {
            let q = requant(biased, params.scale, 8) as i8;
            i32::from(gelu(q, &tables[params.gelu_select]))
        }
        EpilogueMode::Resid => {
            residual(acc, params.bias, params.scale, skip, params.residual_shift)
        }
        EpilogueMode::Reqs => requant(biased, params.scale, score_bits) as i32,
    }
}

/// One beat: lane l of the result is [`epilogue_lane`] of `accs[l]` and `skips[l]`.
///
/// # Panics
/// When `skips` and `accs` differ in length, or as [`epilogue_lane`].
pub fn epilogue_beat(
    mode: EpilogueMode,
    accs: &[i64],
    params: &EpilogueParams,
    skips: &[i8],
    tables: &[PwlTable],
    score_bits: u32,
) -> Vec<i32> {
    assert_eq!(accs.len(), skips.len(), "one skip code per lane");
    accs.iter()
        .zip(skips)
        .map(|(&acc, &skip)| epilogue_lane(mode, acc, params, skip, tables, score_bits))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::program::default_gelu_table;

    fn params(bias: i32, mult: u32, shift: u32) -> EpilogueParams {
        EpilogueParams {
            bias,
            scale: Scale { mult, shift },
            residual_shift: 4,
            gelu_select: 0,
        }
    }

    #[test]
    fn modes_compose_the_encoder_primitives() {
        let tables = vec![default_gelu_table(4).unwrap_or_else(|| panic!("table"))];
        let p = params(3, 3, 2);
        let accs = [100, -100, 1 << 20, -(1 << 20)];
        let skips = [5, -5, 127, -128];
        // (acc + 3)·3 / 4, rounded half up: 77.25 → 77, −72.75 → −73, then saturated
        assert_eq!(
            epilogue_beat(EpilogueMode::Req8, &accs, &p, &skips, &tables, 16),
            vec![77, -73, 127, -128]
        );
        assert_eq!(
            epilogue_beat(EpilogueMode::Reqs, &accs, &p, &skips, &tables, 16),
            vec![77, -73, 32767, -32768]
        );
        // skip·16 + branch
        assert_eq!(
            epilogue_beat(EpilogueMode::Resid, &accs, &p, &skips, &tables, 16),
            vec![80 + 77, -80 - 73, 127 * 16 + 786_434, -128 * 16 - 786_430]
        );
        let gelu = epilogue_beat(EpilogueMode::Gelu, &accs, &p, &skips, &tables, 16);
        assert_eq!(
            gelu[0],
            i32::from(crate::encoder::ops::gelu(77, &tables[0]))
        );
        assert!(gelu[1] <= 0 && gelu[1] > -10, "GELU of a negative input");
    }

    #[test]
    fn modes_round_trip_their_codes() {
        for mode in EpilogueMode::ALL {
            assert_eq!(EpilogueMode::from_code(mode.code()), Some(mode));
        }
        assert_eq!(EpilogueMode::from_code(4), None);
        assert_eq!(EpilogueMode::Resid.to_string(), "RESID");
    }
}
