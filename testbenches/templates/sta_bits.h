// sta_bits.h -- move a little-endian array of 32-bit words in and out of a Verilated port of any width.
//
// Verilator picks the C++ type of a port from its width (<=8 CData, <=16 SData, <=32 IData, <=64 QData, wider
// VlWide<words>). The harness is rendered for arrays of every shape, so it never names those types: overload
// resolution on the port picks the right helper. Bits above `bits` are masked off in both directions so a
// stray high bit in the input words can never reach the model, and a caller can compare words directly.
#pragma once

#include "verilated.h"

#include <cstdint>

namespace sta {

/// Number of 32-bit words that hold `bits` bits (at least one, so a buffer is never empty).
inline int words_for(int bits) { return bits <= 32 ? 1 : (bits + 31) / 32; }

/// Mask of the valid bits in the most significant word of a `bits`-wide value.
inline uint32_t top_mask(int bits) {
    const int rem = bits % 32;
    return rem == 0 ? 0xffffffffu : ((1u << rem) - 1u);
}

/// Word `i` of a `bits`-wide value, masked when it is the top word and zero past it.
inline uint32_t word_at(const uint32_t* w, int i, int bits) {
    const int n = words_for(bits);
    if (i >= n) return 0;
    return i == n - 1 ? (w[i] & top_mask(bits)) : w[i];
}

inline void set_bits(CData& port, const uint32_t* w, int bits) { port = static_cast<CData>(word_at(w, 0, bits)); }
inline void set_bits(SData& port, const uint32_t* w, int bits) { port = static_cast<SData>(word_at(w, 0, bits)); }
inline void set_bits(IData& port, const uint32_t* w, int bits) { port = static_cast<IData>(word_at(w, 0, bits)); }
inline void set_bits(QData& port, const uint32_t* w, int bits) {
    port = static_cast<QData>(word_at(w, 0, bits)) | (static_cast<QData>(word_at(w, 1, bits)) << 32);
}
template <std::size_t N>
inline void set_bits(VlWide<N>& port, const uint32_t* w, int bits) {
    for (std::size_t i = 0; i < N; ++i) port.at(i) = word_at(w, static_cast<int>(i), bits);
}

/// Writes words_for(bits) words into `w`.
inline void get_bits(CData port, uint32_t* w, int bits) { w[0] = static_cast<uint32_t>(port) & top_mask(bits); }
inline void get_bits(SData port, uint32_t* w, int bits) { w[0] = static_cast<uint32_t>(port) & top_mask(bits); }
inline void get_bits(IData port, uint32_t* w, int bits) { w[0] = port & top_mask(bits); }
inline void get_bits(QData port, uint32_t* w, int bits) {
    const uint32_t lo = static_cast<uint32_t>(port);
    if (bits <= 32) {
        w[0] = lo & top_mask(bits);
        return;
    }
    w[0] = lo;
    w[1] = static_cast<uint32_t>(port >> 32) & top_mask(bits);
}
template <std::size_t N>
inline void get_bits(const VlWide<N>& port, uint32_t* w, int bits) {
    const int n = words_for(bits);
    for (int i = 0; i < n; ++i) {
        const uint32_t v = static_cast<std::size_t>(i) < N ? port.at(static_cast<std::size_t>(i)) : 0u;
        w[i] = i == n - 1 ? (v & top_mask(bits)) : v;
    }
}

}  // namespace sta
