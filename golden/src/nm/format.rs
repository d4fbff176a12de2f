//! The compressed N:M file format, version 1 (`docs/compressed-format.md`): magic, version, a JSON header, the slot
//! values as raw INT8, then the slot indices bit-packed. Reading validates everything, so every accepted file is the
//! canonical serialisation of its matrix and `from_bytes(b)?.to_bytes() == b`.

use serde::{Deserialize, Serialize};

use super::{canonical_slots, Compressed, NmPattern};
use crate::FormatError;

const MAGIC: &[u8; 6] = b"STANM\0";
const VERSION: u16 = 1;
/// Magic (6) + version (2) + header length (4).
const PREAMBLE: usize = 12;

/// The JSON header; field order is the serialisation order, so it is part of the format.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    n: usize,
    m: usize,
    rows: usize,
    cols: usize,
    groups: usize,
    index_bits: u32,
    value_bytes: usize,
    index_bytes: usize,
}

impl Compressed {
    /// Serialises into format version 1.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&self.header()).unwrap_or_default();
        let packed = pack_bits(&self.indices, self.pattern.index_bits());
        let mut out =
            Vec::with_capacity(PREAMBLE + header.len() + self.values.len() + packed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend(self.values.iter().map(|&v| v as u8));
        out.extend_from_slice(&packed);
        out
    }

    /// Parses and validates a version-1 file: magic, version, canonical header, lengths, indices < m, zero padding
    /// bits and the canonical slot order of every group.
    pub fn from_bytes(bytes: &[u8]) -> Result<Compressed, FormatError> {
        let header_len = read_preamble(bytes)?;
        let header_end = PREAMBLE
            .checked_add(header_len)
            .ok_or(FormatError::SizeOverflow)?;
        let header_bytes = bytes.get(PREAMBLE..header_end).ok_or(FormatError::Length {
            len: bytes.len(),
            expected: header_end,
        })?;
        let header = parse_header(header_bytes)?;
        let pattern = NmPattern::new(header.n, header.m)?;
        let slots = check_header(&header, pattern)?;
        let expected = header_end
            .checked_add(header.value_bytes)
            .and_then(|v| v.checked_add(header.index_bytes))
            .ok_or(FormatError::SizeOverflow)?;
        if bytes.len() != expected {
            return Err(FormatError::Length {
                len: bytes.len(),
                expected,
            });
        }
        let (values, packed) = bytes[header_end..].split_at(header.value_bytes);
        let c = Compressed {
            pattern,
            rows: header.rows,
            groups: header.groups,
            values: values.iter().map(|&b| b as i8).collect(),
            indices: unpack_bits(packed, pattern.index_bits(), slots)?,
        };
        c.check_canonical()?;
        Ok(c)
    }

    fn header(&self) -> Header {
        let slots = self.values.len();
        let index_bits = self.pattern.index_bits();
        Header {
            n: self.pattern.n,
            m: self.pattern.m,
            rows: self.rows,
            cols: self.cols(),
            groups: self.groups,
            index_bits,
            value_bytes: slots,
            index_bytes: packed_len(slots, index_bits),
        }
    }

    /// Every group must hold indices < m (always true for log2(M)-bit fields, checked so that no future field width
    /// can index out of range) and be exactly what [`canonical_slots`] makes of its dense expansion.
    fn check_canonical(&self) -> Result<(), FormatError> {
        let (n, m) = (self.pattern.n, self.pattern.m);
        for row in 0..self.rows {
            for group in 0..self.groups {
                let mut dense = vec![0i8; m];
                for (slot, (value, index)) in self.group_slots(row, group).enumerate() {
                    let cell = dense.get_mut(usize::from(index));
                    let cell = cell.ok_or(FormatError::IndexOutOfRange {
                        row,
                        group,
                        slot,
                        index,
                        m,
                    })?;
                    *cell = value;
                }
                let expected: Vec<u8> = canonical_slots(&dense, n)
                    .into_iter()
                    .map(|(i, _)| i)
                    .collect();
                let found: Vec<u8> = self.group_slots(row, group).map(|(_, i)| i).collect();
                if found != expected {
                    return Err(FormatError::NotCanonical {
                        row,
                        group,
                        found,
                        expected,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Checks magic and version; returns the header length.
fn read_preamble(bytes: &[u8]) -> Result<usize, FormatError> {
    let preamble = bytes
        .get(..PREAMBLE)
        .ok_or(FormatError::TooShort { len: bytes.len() })?;
    if &preamble[..6] != MAGIC {
        return Err(FormatError::BadMagic {
            found: preamble[..6].to_vec(),
        });
    }
    let version = u16::from_le_bytes([preamble[6], preamble[7]]);
    if version != VERSION {
        return Err(FormatError::Version { version });
    }
    let header_len = u32::from_le_bytes([preamble[8], preamble[9], preamble[10], preamble[11]]);
    usize::try_from(header_len).map_err(|_| FormatError::SizeOverflow)
}

/// Parses the JSON header and insists on its canonical spelling, so accepted files compare byte for byte.
fn parse_header(bytes: &[u8]) -> Result<Header, FormatError> {
    let header: Header = serde_json::from_slice(bytes).map_err(|e| FormatError::Header {
        reason: e.to_string(),
    })?;
    if serde_json::to_vec(&header).ok().as_deref() != Some(bytes) {
        return Err(FormatError::Header {
            reason: "not in canonical form (compact JSON, fields in the documented order)"
                .to_string(),
        });
    }
    Ok(header)
}

/// Cross-checks the derived header fields; returns the slot count rows · groups · n.
fn check_header(h: &Header, p: NmPattern) -> Result<usize, FormatError> {
    let consistent = |field, value, expected| {
        (value == expected)
            .then_some(())
            .ok_or(FormatError::HeaderField {
                field,
                value,
                expected,
            })
    };
    let cols = h.groups.checked_mul(p.m).ok_or(FormatError::SizeOverflow)?;
    consistent("cols", h.cols, cols)?;
    consistent("index_bits", h.index_bits as usize, p.index_bits() as usize)?;
    let slots = h
        .rows
        .checked_mul(h.groups)
        .and_then(|g| g.checked_mul(p.n))
        .ok_or(FormatError::SizeOverflow)?;
    consistent("value_bytes", h.value_bytes, slots)?;
    let index_bits = slots
        .checked_mul(p.index_bits() as usize)
        .ok_or(FormatError::SizeOverflow)?;
    consistent("index_bytes", h.index_bytes, index_bits.div_ceil(8))?;
    Ok(slots)
}

fn packed_len(count: usize, bits: u32) -> usize {
    (count * bits as usize).div_ceil(8)
}

/// Packs `bits`-wide fields LSB-first: field i occupies stream bits [i·bits, (i+1)·bits), stream bit j being bit
/// j mod 8 of byte j / 8. Unused high bits of the last byte are zero.
fn pack_bits(fields: &[u8], bits: u32) -> Vec<u8> {
    let mut out = vec![0u8; packed_len(fields.len(), bits)];
    for (i, &field) in fields.iter().enumerate() {
        for b in 0..bits as usize {
            let pos = i * bits as usize + b;
            out[pos / 8] |= ((field >> b) & 1) << (pos % 8);
        }
    }
    out
}

/// Inverse of [`pack_bits`] for `count` fields; rejects set padding bits (they would break byte comparability).
fn unpack_bits(packed: &[u8], bits: u32, count: usize) -> Result<Vec<u8>, FormatError> {
    let bit = |pos: usize| (packed[pos / 8] >> (pos % 8)) & 1;
    let fields = (0..count)
        .map(|i| (0..bits as usize).fold(0u8, |f, b| f | (bit(i * bits as usize + b) << b)))
        .collect();
    let used = count * bits as usize;
    let padding = packed.last().map_or(0, |&last| {
        if used.is_multiple_of(8) {
            0
        } else {
            last >> (used % 8)
        }
    });
    if padding != 0 {
        return Err(FormatError::PaddingBits { bits: padding });
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nm::compress;
    use crate::Matrix;

    /// The worked example of docs/compressed-format.md.
    fn example() -> Compressed {
        let w = Matrix::new(
            2,
            8,
            vec![0, 5, 0, -3, 0, 0, 0, 0, -128, 0, 0, 127, 0, 0, 7, 0],
        )
        .expect("shape");
        compress(&w, NmPattern::new(2, 4).expect("pattern")).expect("legal 2:4")
    }

    const EXAMPLE_HEADER: &str = r#"{"n":2,"m":4,"rows":2,"cols":8,"groups":2,"index_bits":2,"value_bytes":8,"index_bytes":2}"#;

    fn example_bytes() -> Vec<u8> {
        let mut b = b"STANM\0".to_vec();
        b.extend_from_slice(&[0x01, 0x00]);
        b.extend_from_slice(&(EXAMPLE_HEADER.len() as u32).to_le_bytes());
        b.extend_from_slice(EXAMPLE_HEADER.as_bytes());
        b.extend_from_slice(&[0x05, 0xFD, 0x00, 0x00, 0x80, 0x7F, 0x00, 0x07]);
        b.extend_from_slice(&[0x4D, 0x8C]);
        b
    }

    #[test]
    fn worked_example_is_byte_exact() {
        assert_eq!(EXAMPLE_HEADER.len(), 89);
        assert_eq!(example().to_bytes(), example_bytes());
        assert_eq!(Compressed::from_bytes(&example_bytes()), Ok(example()));
    }

    #[test]
    fn bit_packing_round_trips_at_every_width() {
        for bits in 1..=4u32 {
            let fields: Vec<u8> = (0..13).map(|i| (i * 7 % (1 << bits)) as u8).collect();
            let packed = pack_bits(&fields, bits);
            assert_eq!(packed.len(), (13 * bits as usize).div_ceil(8));
            assert_eq!(unpack_bits(&packed, bits, 13), Ok(fields));
        }
        assert_eq!(pack_bits(&[1, 3, 0, 1, 0, 3, 0, 2], 2), vec![0x4D, 0x8C]);
    }

    fn corrupt(at: usize, byte: u8) -> Result<Compressed, FormatError> {
        let mut b = example_bytes();
        b[at] = byte;
        Compressed::from_bytes(&b)
    }

    fn with_header(header: &str) -> Result<Compressed, FormatError> {
        let mut b = example_bytes();
        b.splice(
            8..VALUES,
            (header.len() as u32)
                .to_le_bytes()
                .into_iter()
                .chain(header.bytes()),
        );
        Compressed::from_bytes(&b)
    }

    const VALUES: usize = PREAMBLE + 89;
    const INDICES: usize = VALUES + 8;

    #[test]
    fn rejects_bad_preamble() {
        assert_eq!(
            Compressed::from_bytes(b"STANM"),
            Err(FormatError::TooShort { len: 5 })
        );
        assert!(matches!(
            corrupt(0, b'X'),
            Err(FormatError::BadMagic { .. })
        ));
        assert_eq!(corrupt(6, 2), Err(FormatError::Version { version: 2 }));
        assert!(matches!(corrupt(8, 200), Err(FormatError::Length { .. })));
    }

    #[test]
    fn rejects_bad_headers() {
        let at =
            |pat: &str| PREAMBLE + EXAMPLE_HEADER.find(pat).expect("in header") + pat.len() - 1;
        assert!(matches!(
            corrupt(at(r#""n":2"#), b'5'),
            Err(FormatError::Param(_))
        ));
        assert!(matches!(
            corrupt(at(r#""cols":8"#), b'9'),
            Err(FormatError::HeaderField { field: "cols", .. })
        ));
        assert!(matches!(
            corrupt(at(r#""index_bits":2"#), b'3'),
            Err(FormatError::HeaderField { .. })
        ));
        assert!(matches!(
            corrupt(at(r#""value_bytes":8"#), b'7'),
            Err(FormatError::HeaderField { .. })
        ));
        assert!(matches!(
            corrupt(PREAMBLE, b'['),
            Err(FormatError::Header { .. })
        ));
        let spaced = EXAMPLE_HEADER.replace(",", ", ");
        assert!(matches!(
            with_header(&spaced),
            Err(FormatError::Header { .. })
        ));
        let extra = EXAMPLE_HEADER.replace("}", r#","crc":0}"#);
        assert!(matches!(
            with_header(&extra),
            Err(FormatError::Header { .. })
        ));
        let reordered = EXAMPLE_HEADER.replace(r#""n":2,"m":4"#, r#""m":4,"n":2"#);
        assert!(matches!(
            with_header(&reordered),
            Err(FormatError::Header { .. })
        ));
        assert!(with_header(EXAMPLE_HEADER).is_ok());
    }

    #[test]
    fn rejects_bad_lengths() {
        let mut long = example_bytes();
        long.push(0);
        assert_eq!(
            Compressed::from_bytes(&long),
            Err(FormatError::Length {
                len: 112,
                expected: 111
            })
        );
        let short = &example_bytes()[..110];
        assert_eq!(
            Compressed::from_bytes(short),
            Err(FormatError::Length {
                len: 110,
                expected: 111
            })
        );
    }

    #[test]
    fn rejects_non_canonical_slots() {
        // Row 0, group 1 is all zero: slots must use indices 0 and 1, not 1 and 0 (order) or 0 and 2 (padding).
        assert!(matches!(
            corrupt(INDICES, (0x4D & !0x40) | 0x10),
            Err(FormatError::NotCanonical { .. })
        ));
        // Row 1, group 1: moving the 7 from index 2 to index 1 keeps the padding at 0, which is canonical again.
        assert!(corrupt(INDICES + 1, 0x4C).is_ok());
        // Row 1, group 0: a duplicate index (0, 0) loses a value.
        assert!(matches!(
            corrupt(INDICES + 1, 0x80),
            Err(FormatError::NotCanonical {
                row: 1,
                group: 0,
                ..
            })
        ));
        // A zero value where the canonical form has a non-zero: row 0 group 0 becomes (1: 0, 3: -3), padding must be 0.
        assert!(matches!(
            corrupt(VALUES, 0),
            Err(FormatError::NotCanonical {
                row: 0,
                group: 0,
                ..
            })
        ));
    }

    #[test]
    fn rejects_set_padding_bits() {
        let w = Matrix::new(1, 2, vec![0, 3]).expect("shape");
        let mut b = compress(&w, NmPattern::new(1, 2).expect("pattern"))
            .expect("legal")
            .to_bytes();
        let last = b.len() - 1;
        assert_eq!(b[last], 0x01);
        b[last] = 0x03;
        assert_eq!(
            Compressed::from_bytes(&b),
            Err(FormatError::PaddingBits { bits: 0x01 })
        );
    }
}
