// sta_tb.h -- small helpers shared by every harness: hex text <-> little-endian 32-bit words, the splitmix64
// random stream, plusarg parsing, JSON string escaping and the fatal-error exit.
//
// Staged next to every harness together with sta_bits.h, and hashed into the build-cache key like it.
#pragma once

#include "sta_bits.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace sta {

/// A little-endian array of 32-bit words holding one value (word 0 = bits 31..0).
using Words = std::vector<uint32_t>;

/// splitmix64: tiny, seedable, identical on every platform, so a seed reproduces a run exactly.
class Rng {
  public:
    explicit Rng(uint64_t seed) : s_(seed) {}
    uint64_t next() {
        uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    /// Uniform in [0, 1) from the top 53 bits of one draw.
    double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
    /// True with probability `p`; draws nothing when `p` is 0.
    bool chance(double p) { return p > 0.0 && uniform() < p; }
    /// True `pct` percent of the time; draws nothing when `pct` is 0.
    bool percent(uint64_t pct) { return pct > 0 && next() % 100 < pct; }
    /// One draw per word, low 32 bits each.
    void fill(Words& w) {
        for (auto& x : w) x = static_cast<uint32_t>(next());
    }

  private:
    uint64_t s_;
};

/// Hex digits of a `bits`-wide value (at least one).
inline int hex_digits(int bits) { return bits <= 4 ? 1 : (bits + 3) / 4; }

inline int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// MSB-first hex of exactly hex_digits(bits) digits into little-endian words; rejects bits above the width.
/// A zero-width value is the single digit `0`.
inline bool parse_hex(const std::string& s, int bits, Words& out) {
    if (bits <= 0) return out.assign(1, 0u), s == "0";
    if (static_cast<int>(s.size()) != hex_digits(bits)) return false;
    out.assign(static_cast<std::size_t>(words_for(bits)), 0u);
    for (std::size_t i = 0; i < s.size(); ++i) {
        const int v = hex_value(s[s.size() - 1 - i]);
        if (v < 0) return false;
        out[i / 8] |= static_cast<uint32_t>(v) << (4 * (i % 8));
    }
    return (out.back() & ~top_mask(bits)) == 0;
}

/// Lower-case MSB-first hex of exactly hex_digits(bits) digits.
inline std::string to_hex(const Words& w, int bits) {
    static const char* digits = "0123456789abcdef";
    const int n = hex_digits(bits);
    std::string s(static_cast<std::size_t>(n), '0');
    for (int i = 0; i < n; ++i) {
        const int bit = i * 4;
        const uint32_t v = (w[static_cast<std::size_t>(bit / 32)] >> (bit % 32)) & 0xfu;
        s[static_cast<std::size_t>(n - 1 - i)] = digits[v];
    }
    return s;
}

/// A whole string as an unsigned number (decimal, 0x hex or 0 octal, as std::stoull with base 0).
inline bool parse_u64(const std::string& s, uint64_t& out) {
    try {
        std::size_t used = 0;
        out = std::stoull(s, &used, 0);
        return used == s.size();
    } catch (...) {
        return false;
    }
}

/// Hands every `+key=value` argument to `apply(key, value)`, which returns false for a bad value and true for keys it
/// does not know (Verilator's own `+verilator+...` among them). On the first rejection `err` names the argument.
template <typename Apply>
inline bool parse_plusargs(int argc, char** argv, Apply apply, std::string& err) {
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const std::size_t eq = arg.find('=');
        if (arg.size() < 2 || arg[0] != '+' || eq == std::string::npos) continue;
        if (!apply(arg.substr(1, eq - 1), arg.substr(eq + 1))) {
            err = "bad plusarg " + arg;
            return false;
        }
    }
    return true;
}

/// Escapes `"` and `\` and drops control characters, for a JSON string literal.
inline std::string json_escape(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (c == '"' || c == '\\') o += '\\';
        if (static_cast<unsigned char>(c) >= 0x20) o += c;
    }
    return o;
}

/// Reports `msg` on stderr as the harness's and returns the exit status of a harness error.
inline int fatal(const std::string& msg) {
    std::fprintf(stderr, "harness: %s\n", msg.c_str());
    return 1;
}

}  // namespace sta
