//! Checks `templates/sta_bits.h` against real Verilated ports: a tiny module with ports 1, 8, 33, 64, 65 and 1024
//! bits wide (CData, CData, QData, QData, VlWide<3>, VlWide<32>) computes `o = i + 1`, so a word-order or masking
//! mistake in either `set_bits` or `get_bits` shows up as a wrong sum (an echo would hide symmetric mistakes).
//! The same harness also exercises `templates/sta_tb.h` (hex text, the splitmix64 stream, number parsing, JSON
//! escaping), the helpers every harness shares.
//! Needs Verilator; set `STA_SKIP_VERILATOR_TESTS=1` to skip on machines without it.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::harness::{BITS_HEADER, TB_HEADER};
use crate::tool::find_verilator;

const WIDTHS: [u32; 6] = [1, 8, 33, 64, 65, 1024];

fn echo_module() -> String {
    let ports: Vec<String> = WIDTHS
        .iter()
        .flat_map(|w| {
            [
                format!("input wire [{}:0] i{w}", w - 1),
                format!("output wire [{}:0] o{w}", w - 1),
            ]
        })
        .chain(["output wire [1023:0] k1024".to_string()])
        .collect();
    let assigns: String = WIDTHS
        .iter()
        .map(|w| format!("  assign o{w} = i{w} + {w}'d1;\n"))
        .collect();
    format!(
        "module bits_echo (\n  {}\n);\n{assigns}  assign k1024 = {{1'b1, 1013'd0, 10'h3a5}};\nendmodule\n",
        ports.join(",\n  ")
    )
}

const MAIN: &str = r#"
#include "Vbits_echo.h"
#include "verilated.h"
#include "sta_bits.h"
#include "sta_tb.h"
#include <cstdio>
#include <vector>

static uint64_t rng_state = 12345;
static uint32_t rnd() {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(rng_state >> 32);
}

/// Reference: (words masked to bits) + 1, wrapped to bits.
static std::vector<uint32_t> plus_one(std::vector<uint32_t> w, int bits) {
    const int n = sta::words_for(bits);
    w.resize(n);
    w[n - 1] &= sta::top_mask(bits);
    for (int i = 0; i < n; ++i) if (++w[i] != 0) break;
    w[n - 1] &= sta::top_mask(bits);
    return w;
}

template <typename In, typename Out>
static int check(Vbits_echo* top, In& in, Out& out, int bits, int pattern) {
    const int n = sta::words_for(bits);
    std::vector<uint32_t> words(n + 1);  // one spare word of junk beyond the width
    for (auto& x : words) x = pattern == 0 ? 0xffffffffu : pattern == 1 ? 0u : rnd();
    sta::set_bits(in, words.data(), bits);
    top->eval();
    std::vector<uint32_t> got(n, 0xdeadbeefu), back(n, 0xdeadbeefu);
    sta::get_bits(out, got.data(), bits);
    sta::get_bits(in, back.data(), bits);
    const std::vector<uint32_t> want = plus_one(words, bits);
    std::vector<uint32_t> masked(words.begin(), words.begin() + n);
    masked[n - 1] &= sta::top_mask(bits);
    if (got == want && back == masked) return 0;
    std::printf("width %d pattern %d: mismatch\n", bits, pattern);
    return 1;
}

/// sta_tb.h: hex text round trips, width checks, the splitmix64 reference stream and JSON escaping.
static int check_tb_helpers() {
    int bad = 0;
    sta::Words w;
    const bool hex_ok = sta::parse_hex("1f", 5, w) && w == sta::Words{0x1fu} && !sta::parse_hex("3f", 5, w) &&
                        !sta::parse_hex("01f", 5, w) && sta::parse_hex("0", 0, w) &&
                        sta::parse_hex("1aBcdef012", 33 + 4, w) && sta::to_hex(w, 37) == "1abcdef012" &&
                        sta::to_hex(sta::Words{0x1u}, 1) == "1" && sta::hex_digits(0) == 1;
    if (!hex_ok) { std::printf("hex helpers wrong\n"); ++bad; }
    sta::Rng rng(0);
    sta::Words two(2);
    rng.fill(two);
    const bool rng_ok = two == sta::Words{0x7b1dcdafu, 0xa1b965f4u} && rng.next() == 0x06c45d188009454fULL &&
                        !rng.percent(0) && !rng.chance(0.0);
    if (!rng_ok) { std::printf("splitmix64 stream wrong\n"); ++bad; }
    uint64_t n = 0;
    const bool num_ok = sta::parse_u64("0x10", n) && n == 16 && !sta::parse_u64("12x", n) && !sta::parse_u64("", n);
    if (!num_ok) { std::printf("parse_u64 wrong\n"); ++bad; }
    if (sta::json_escape("a\"b\\c\n") != "a\\\"b\\\\c") { std::printf("json_escape wrong\n"); ++bad; }
    return bad;
}

int main(int argc, char** argv) {
    VerilatedContext ctx;
    ctx.commandArgs(argc, argv);
    Vbits_echo top{&ctx};
    int bad = 0;
    for (int p = 0; p < 20; ++p) {
        bad += check(&top, top.i1, top.o1, 1, p);
        bad += check(&top, top.i8, top.o8, 8, p);
        bad += check(&top, top.i33, top.o33, 33, p);
        bad += check(&top, top.i64, top.o64, 64, p);
        bad += check(&top, top.i65, top.o65, 65, p);
        bad += check(&top, top.i1024, top.o1024, 1024, p);
    }
    std::vector<uint32_t> k(32);
    sta::get_bits(top.k1024, k.data(), 1024);
    bool k_ok = k[0] == 0x3a5u && k[31] == 0x80000000u;
    for (int i = 1; i < 31; ++i) k_ok = k_ok && k[i] == 0;
    if (!k_ok) { std::printf("k1024 word order wrong\n"); ++bad; }
    bad += check_tb_helpers();
    std::printf(bad == 0 ? "bits ok\n" : "bits FAILED\n");
    top.final();
    return bad == 0 ? 0 : 1;
}
"#;

fn build_and_run(dir: &Path) -> (bool, String) {
    let write = |name: &str, text: &str| fs::write(dir.join(name), text).map(|_| ());
    let staged = write("bits_echo.v", &echo_module())
        .and(write("main.cpp", MAIN))
        .and(write("sta_bits.h", BITS_HEADER))
        .and(write("sta_tb.h", TB_HEADER));
    let Ok(tool) = find_verilator() else {
        return (false, "verilator missing".into());
    };
    if let Err(e) = staged {
        return (false, e.to_string());
    }
    let out = tool
        .command()
        .args(tool.make_args())
        .args([
            "--cc",
            "--exe",
            "--build",
            "-j",
            "2",
            "--top-module",
            "bits_echo",
            "-o",
            "bits_test",
            "-Mdir",
        ])
        .arg(dir.join("obj"))
        .arg(dir.join("bits_echo.v"))
        .arg(dir.join("main.cpp"))
        .output();
    let Ok(out) = out else {
        return (false, "cannot run verilator".into());
    };
    if !out.status.success() {
        return (false, String::from_utf8_lossy(&out.stderr).into_owned());
    }
    match Command::new(dir.join("obj").join("bits_test")).output() {
        Ok(run) => (
            run.status.success(),
            String::from_utf8_lossy(&run.stdout).into_owned(),
        ),
        Err(e) => (false, e.to_string()),
    }
}

#[test]
fn set_and_get_bits_round_trip_every_port_type() {
    if std::env::var_os("STA_SKIP_VERILATOR_TESTS").is_some() {
        eprintln!("skipped: STA_SKIP_VERILATOR_TESTS is set");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (ok, text) = build_and_run(dir.path());
    assert!(ok, "sta_bits.h check failed:\n{text}");
    assert!(text.contains("bits ok"), "{text}");
}
