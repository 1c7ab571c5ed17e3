// See substring_finder.hpp.
#include "common/substring_finder.hpp"

#include <cstdint>
#include <cstring>
#include <string_view>

namespace lokt {
SubstringFinder::SubstringFinder(std::string needle) : m_needle(std::move(needle)) {
    if (m_needle.size() >= 4) {
        m_first = 1;
        m_second = m_needle.size() - 2;
    } else if (!m_needle.empty()) {
        m_second = m_needle.size() - 1;
    }
}

namespace {

// The candidate starts in [from, last_start - width + 1) whose two compared
// bytes match, checked against the whole needle; returns the first match or
// the offset where the vector loop stopped (via at).
using Bytes16 = unsigned char __attribute__((vector_size(16)));
using Bytes32 = unsigned char __attribute__((vector_size(32)));

struct VectorScan {
    std::size_t found;    // the match, or npos
    std::size_t stopped;  // where the scalar tail goes on when there is none
};

template <class Bytes>
VectorScan find_vectorised(const char* base, std::size_t at, std::size_t last_start, std::string_view needle, std::size_t first,
                           std::size_t second) {
    constexpr int Width = sizeof(Bytes);
    const Bytes want_first = Bytes{} + static_cast<unsigned char>(needle[first]);
    const Bytes want_second = Bytes{} + static_cast<unsigned char>(needle[second]);
    while (at + (Width - 1) <= last_start) {
        Bytes a;
        Bytes b;
        std::memcpy(&a, base + at + first, sizeof a);
        std::memcpy(&b, base + at + second, sizeof b);
        const Bytes hits = (a == want_first) & (b == want_second);
        std::uint64_t words[Width / 8];
        std::memcpy(words, &hits, sizeof words);
        for (int word = 0; word < Width / 8; ++word) {
            std::uint64_t bits = words[word];
            while (bits != 0) {
                const unsigned lane = static_cast<unsigned>(__builtin_ctzll(bits)) >> 3;  // a match is a 0xff byte
                const std::size_t start = at + static_cast<std::size_t>(word) * 8 + lane;
                if (std::memcmp(base + start, needle.data(), needle.size()) == 0) return {start, at};
                bits &= ~(std::uint64_t{0xff} << (lane * 8));
            }
        }
        at += Width;
    }
    return {std::string_view::npos, at};
}

// Thirty-two bytes a step where the processor has AVX2 (chosen once, when the
// program is loaded), sixteen elsewhere.
__attribute__((target("avx2"))) VectorScan find_wide(const char* base, std::size_t at, std::size_t last_start,
                                                     std::string_view needle, std::size_t first, std::size_t second) {
    return find_vectorised<Bytes32>(base, at, last_start, needle, first, second);
}

VectorScan find_narrow(const char* base, std::size_t at, std::size_t last_start, std::string_view needle, std::size_t first,
                       std::size_t second) {
    return find_vectorised<Bytes16>(base, at, last_start, needle, first, second);
}

const bool k_has_avx2 = __builtin_cpu_supports("avx2");

}  // namespace

std::size_t SubstringFinder::find(std::string_view text, std::size_t from) const {
    const std::size_t n = m_needle.size();
    if (n == 0) return from <= text.size() ? from : std::string_view::npos;
    if (from >= text.size() || text.size() - from < n) return std::string_view::npos;
    const char* const base = text.data();
    const std::size_t last_start = text.size() - n;  // the last offset a match can start at
    const VectorScan scan = k_has_avx2 ? find_wide(base, from, last_start, m_needle, m_first, m_second)
                                       : find_narrow(base, from, last_start, m_needle, m_first, m_second);
    if (scan.found != std::string_view::npos) return scan.found;
    for (std::size_t at = scan.stopped; at <= last_start; ++at) {
        if (std::memcmp(base + at, m_needle.data(), n) == 0) return at;
    }
    return std::string_view::npos;
}

}  // namespace lokt
