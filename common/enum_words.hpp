// An enum's words as one table that both directions read: from value to word
// when writing JSON, from word to value when reading it, and the list of every
// word for an error message. The lock file and the wire keep their enums'
// words in such tables, so a word is never spelled twice.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace lokt {

template <class E>
struct Word {
    E value;
    std::string_view word;
};

// The word of `value`; nullopt when the table has none for it.
template <class E, std::size_t N>
constexpr std::optional<std::string_view> word_of(const std::array<Word<E>, N>& table, E value) {
    for (const auto& entry : table) {
        if (entry.value == value) return entry.word;
    }
    return std::nullopt;
}

template <class E, std::size_t N>
constexpr std::optional<E> value_of(const std::array<Word<E>, N>& table, std::string_view word) {
    for (const auto& entry : table) {
        if (entry.word == word) return entry.value;
    }
    return std::nullopt;
}

// `"a", "b" or "c"`, for error messages.
template <class E, std::size_t N>
std::string word_list(const std::array<Word<E>, N>& table) {
    std::string out;
    for (std::size_t i = 0; i < N; ++i) {
        if (i > 0) out += (i + 1 == N) ? " or " : ", ";
        out += '"';
        out += table[i].word;
        out += '"';
    }
    return out;
}

}  // namespace lokt
