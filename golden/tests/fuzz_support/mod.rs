//! Shared by the parser fuzz tests (golden/tests/fuzz_formats.rs, golden/tests/fuzz_isa.rs,
//! compiler/tests/fuzz_program.rs, generators/tests/fuzz_parsers.rs; the other crates include this file with
//! `#[path]`): a counting global allocator that measures the peak heap a parser takes, the case-count convention, and
//! structure-aware mutations of valid inputs (bytes flipped, inserted, removed; JSON and TOML values replaced).
//!
//! Case counts: each test's default is small (all fuzz tests together well under a minute in `cargo test --release`);
//! the standard `PROPTEST_CASES` environment variable overrides it, e.g.
//! `PROPTEST_CASES=100000 cargo test --release -p sta-golden --test fuzz_formats` (`make fuzz` runs them all long).
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::*;
use proptest::test_runner::Config;

/// The system allocator, counting the live bytes of each thread (a block freed by another thread counts there).
pub struct CountingAlloc;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn record(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            record(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            record(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        record(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            record(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Runs `f` and returns its result with the most heap it held at once beyond what was live before (bytes).
pub fn peak_heap<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    let peak = PEAK.with(Cell::get);
    (out, (peak - base).max(0) as usize)
}

/// The heap a parser may take for an input of `len` bytes: a fixed allowance (error messages, small tables, the
/// parser's own state) plus a constant factor of the input. A header that claims more data than the input holds and
/// is believed overshoots this at once (the tests' huge claims ask for 2^40 elements).
pub fn heap_allowance(len: usize) -> usize {
    (1 << 20) + 64 * len
}

/// Asserts `f` (a parse of `len` input bytes) stays within [`heap_allowance`]; returns its result.
pub fn within_allowance<T>(what: &str, len: usize, f: impl FnOnce() -> T) -> T {
    let (out, peak) = peak_heap(f);
    assert!(
        peak <= heap_allowance(len),
        "{what}: {peak} bytes of heap for {len} bytes of input (allowed {})",
        heap_allowance(len)
    );
    out
}

/// `default` cases unless `PROPTEST_CASES` is set; no failure files (a failure found is added to the test file as
/// a regression case instead).
pub fn cases(default: u32) -> Config {
    let mut config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default;
    }
    config
}

/// Arbitrary bytes, mostly short, sometimes up to 4 KiB.
pub fn arbitrary_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..64),
        1 => proptest::collection::vec(any::<u8>(), 0..4096),
    ]
}

/// One edit of a byte string; positions are taken modulo the length at the time of the edit.
#[derive(Debug, Clone)]
pub enum ByteEdit {
    Flip {
        at: usize,
        bit: u8,
    },
    Set {
        at: usize,
        value: u8,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    Remove {
        at: usize,
        count: usize,
    },
    Truncate {
        at: usize,
    },
    /// Copies `len` bytes from `from` over `to` (moves fields around, duplicates structure).
    Splice {
        from: usize,
        to: usize,
        len: usize,
    },
}

pub fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| ByteEdit::Flip { at, bit }),
        3 => (any::<usize>(), interesting_byte()).prop_map(|(at, value)| ByteEdit::Set { at, value }),
        2 => (any::<usize>(), proptest::collection::vec(interesting_byte(), 1..9))
            .prop_map(|(at, bytes)| ByteEdit::Insert { at, bytes }),
        2 => (any::<usize>(), 1usize..16).prop_map(|(at, count)| ByteEdit::Remove { at, count }),
        1 => any::<usize>().prop_map(|at| ByteEdit::Truncate { at }),
        1 => (any::<usize>(), any::<usize>(), 1usize..32)
            .prop_map(|(from, to, len)| ByteEdit::Splice { from, to, len }),
    ]
}

/// 1 to 8 edits.
pub fn byte_edits() -> impl Strategy<Value = Vec<ByteEdit>> {
    proptest::collection::vec(byte_edit(), 1..9)
}

fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(0u8),
        Just(0xff),
        Just(0x7f),
        Just(0x80),
        Just(b'9'),
        Just(b'-'),
        Just(b'"'),
        Just(b'{'),
        Just(b'['),
        Just(b','),
        Just(b'\n'),
        any::<u8>()
    ]
}

/// `valid` with `edits` applied in order.
pub fn apply_edits(valid: &[u8], edits: &[ByteEdit]) -> Vec<u8> {
    let mut b = valid.to_vec();
    for e in edits {
        let n = b.len();
        match e {
            ByteEdit::Flip { at, bit } if n > 0 => b[at % n] ^= 1 << bit,
            ByteEdit::Set { at, value } if n > 0 => b[at % n] = *value,
            ByteEdit::Insert { at, bytes } => {
                let at = at % (n + 1);
                b.splice(at..at, bytes.iter().copied());
            }
            ByteEdit::Remove { at, count } if n > 0 => {
                let at = at % n;
                b.drain(at..(at + count).min(n));
            }
            ByteEdit::Truncate { at } => b.truncate(at % (n + 1)),
            ByteEdit::Splice { from, to, len } if n > 0 => {
                let (from, to) = (from % n, to % n);
                let len = (*len).min(n - from).min(n - to);
                let chunk = b[from..from + len].to_vec();
                b[to..to + len].copy_from_slice(&chunk);
            }
            _ => {}
        }
    }
    b
}

/// Numbers a header or parameter field should be refused for (or survive): zero, ±1, type limits, the 2^40 of a
/// huge claimed shape, fractions, non-finite-looking magnitudes; plus any i64.
pub fn interesting_number() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        Just(json!(0)),
        Just(json!(1)),
        Just(json!(-1)),
        Just(json!(2)),
        Just(json!(7)),
        Just(json!(8)),
        Just(json!(16)),
        Just(json!(127)),
        Just(json!(-128)),
        Just(json!(255)),
        Just(json!(4096)),
        Just(json!(65536)),
        Just(json!(1u64 << 31)),
        Just(json!(1u64 << 32)),
        Just(json!(1u64 << 40)),
        Just(json!(i64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(u64::MAX)),
        Just(json!(0.5)),
        Just(json!(-0.0)),
        Just(json!(1e300)),
        Just(json!(-1e300)),
        Just(json!(f64::MIN_POSITIVE)),
        any::<i64>().prop_map(|v| json!(v)),
        any::<i8>().prop_map(|v| json!(v)),
    ]
}

/// A replacement for one JSON node: a number above, or another kind of value.
pub fn json_replacement() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        6 => interesting_number(),
        1 => Just(json!(null)),
        1 => Just(json!(true)),
        1 => Just(json!("")),
        1 => "[a-z0-9:._-]{0,12}".prop_map(|s| json!(s)),
        1 => Just(json!([])),
        1 => Just(json!({})),
        1 => proptest::collection::vec(interesting_number(), 0..8).prop_map(serde_json::Value::Array),
    ]
}

/// One structure-aware edit of a JSON document: node `node` (pre-order index, modulo the node count) is replaced,
/// removed (from its object or array), or duplicated (in its array).
#[derive(Debug, Clone)]
pub enum JsonEdit {
    Replace {
        node: usize,
        with: serde_json::Value,
    },
    Remove {
        node: usize,
    },
    Duplicate {
        node: usize,
    },
}

pub fn json_edit() -> impl Strategy<Value = JsonEdit> {
    prop_oneof![
        6 => (any::<usize>(), json_replacement()).prop_map(|(node, with)| JsonEdit::Replace { node, with }),
        1 => any::<usize>().prop_map(|node| JsonEdit::Remove { node }),
        1 => any::<usize>().prop_map(|node| JsonEdit::Duplicate { node }),
    ]
}

pub fn json_edits() -> impl Strategy<Value = Vec<JsonEdit>> {
    proptest::collection::vec(json_edit(), 1..5)
}

fn count_nodes(v: &serde_json::Value) -> usize {
    1 + match v {
        serde_json::Value::Array(a) => a.iter().map(count_nodes).sum(),
        serde_json::Value::Object(o) => o.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Applies `edit` to the node with pre-order index `target` below `v` (`*seen` counts the nodes visited so far).
/// Returns true once done.
fn edit_node(v: &mut serde_json::Value, target: usize, seen: &mut usize, edit: &JsonEdit) -> bool {
    use serde_json::Value;
    *seen += 1;
    match v {
        Value::Array(a) => {
            for i in 0..a.len() {
                if *seen == target {
                    match edit {
                        JsonEdit::Replace { with, .. } => a[i] = with.clone(),
                        JsonEdit::Remove { .. } => {
                            a.remove(i);
                        }
                        JsonEdit::Duplicate { .. } => {
                            let copy = a[i].clone();
                            a.insert(i, copy);
                        }
                    }
                    return true;
                }
                if edit_node(&mut a[i], target, seen, edit) {
                    return true;
                }
            }
            false
        }
        Value::Object(o) => {
            let keys: Vec<String> = o.keys().cloned().collect();
            for k in keys {
                if *seen == target {
                    match edit {
                        JsonEdit::Replace { with, .. } => {
                            o.insert(k, with.clone());
                        }
                        JsonEdit::Remove { .. } => {
                            o.remove(&k);
                        }
                        JsonEdit::Duplicate { .. } => {
                            // an object cannot hold a key twice: wrap the value in an array instead
                            let copy = o[&k].clone();
                            o.insert(k, Value::Array(vec![copy.clone(), copy]));
                        }
                    }
                    return true;
                }
                if edit_node(o.get_mut(&k).expect("key"), target, seen, edit) {
                    return true;
                }
            }
            false
        }
        _ => false,
    }
}

/// `valid` with the structure-aware `edits` applied (the root itself is never replaced).
pub fn apply_json_edits(valid: &serde_json::Value, edits: &[JsonEdit]) -> serde_json::Value {
    let mut v = valid.clone();
    for e in edits {
        let nodes = count_nodes(&v);
        if nodes < 2 {
            break;
        }
        let node = match e {
            JsonEdit::Replace { node, .. }
            | JsonEdit::Remove { node }
            | JsonEdit::Duplicate { node } => 1 + node % (nodes - 1),
        };
        let mut seen = 0;
        edit_node(&mut v, node, &mut seen, e);
    }
    v
}

/// Every prefix of `valid` (the truncations a crash mid-write leaves), each passed to `check`.
pub fn every_truncation(valid: &[u8], mut check: impl FnMut(&[u8])) {
    for len in 0..valid.len() {
        check(&valid[..len]);
    }
}
