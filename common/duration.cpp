// See duration.hpp.
#include "common/duration.hpp"

#include <array>
#include <cmath>
#include <limits>

namespace lokt {
namespace {

struct Unit {
    std::string_view suffix;
    long double nanoseconds;
};

// Longest suffixes first so "ms" is not read as "m" followed by "s".
constexpr std::array k_units{
    Unit{"ns", 1.0L}, Unit{"us", 1e3L}, Unit{"\xC2\xB5s", 1e3L}, Unit{"\xCE\xBCs", 1e3L}, Unit{"ms", 1e6L},
    Unit{"s", 1e9L},  Unit{"m", 60e9L}, Unit{"h", 3600e9L},      Unit{"d", 86400e9L},
};

Error bad_duration(std::string_view text, std::string_view why) {
    return make_error(ErrorCode::usage, "invalid duration \"" + std::string(text) + "\": " + std::string(why));
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Result<Nanoseconds> parse_duration(std::string_view text) {
    if (text.empty()) return bad_duration(text, "it is empty");
    if (text.front() == '-') return bad_duration(text, "it must not be negative");
    if (text.front() == '+') return bad_duration(text, "expected a number such as 30s, 5m, 1h30m or 2d");

    bool all_digits = true;
    for (char c : text) all_digits = all_digits && is_digit(c);
    if (all_digits) {
        if (text.size() > 12) return bad_duration(text, "it is too large");
        long double seconds = 0;
        for (char c : text) seconds = seconds * 10 + (c - '0');
        return Nanoseconds(static_cast<long long>(seconds * 1e9L));
    }

    long double total = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t number_start = pos;
        long double value = 0;
        bool saw_digit = false;
        while (pos < text.size() && is_digit(text[pos])) {
            value = value * 10 + (text[pos] - '0');
            saw_digit = true;
            ++pos;
        }
        if (pos < text.size() && text[pos] == '.') {
            ++pos;
            long double scale = 0.1L;
            while (pos < text.size() && is_digit(text[pos])) {
                value += (text[pos] - '0') * scale;
                scale /= 10;
                saw_digit = true;
                ++pos;
            }
        }
        if (!saw_digit) return bad_duration(text, "expected a number such as 30s, 5m, 1h30m or 2d");
        const Unit* unit = nullptr;
        for (const auto& candidate : k_units) {
            if (text.substr(pos, candidate.suffix.size()) == candidate.suffix) {
                unit = &candidate;
                break;
            }
        }
        if (unit == nullptr) {
            const std::string_view number = text.substr(number_start, pos - number_start);
            return bad_duration(text,
                                "missing or unknown unit after \"" + std::string(number) + "\" (use ns, us, ms, s, m, h or d)");
        }
        pos += unit->suffix.size();
        total += value * unit->nanoseconds;
        if (total > static_cast<long double>(std::numeric_limits<long long>::max()) / 2) {
            return bad_duration(text, "it is too large");
        }
    }
    return Nanoseconds(static_cast<long long>(std::llround(total)));
}

Result<void> check_duration_range(std::string_view flag, Nanoseconds value, Nanoseconds min) {
    static_assert(k_max_duration == std::chrono::hours(8760), "the message below names the limit");
    if (value > k_max_duration) return make_error(ErrorCode::usage, std::string(flag) + ": at most 8760h (one year)");
    if (value < min) return make_error(ErrorCode::usage, std::string(flag) + ": at least " + format_duration(min));
    return {};
}

std::string format_duration_seconds(Nanoseconds duration) {
    const auto whole = std::chrono::floor<std::chrono::seconds>(duration);
    return whole.count() <= 0 ? std::string("0s") : format_duration(whole);
}

std::string format_duration(Nanoseconds duration) {
    using namespace std::chrono;
    if (duration < Nanoseconds::zero()) duration = Nanoseconds::zero();
    if (duration < 1s) {
        return std::to_string(duration_cast<milliseconds>(duration).count()) + "ms";
    }
    long long total = duration_cast<seconds>(duration).count();
    const long long hours = total / 3600;
    const long long minutes = (total % 3600) / 60;
    const long long secs = total % 60;
    std::string out;
    if (hours > 0) out += std::to_string(hours) + "h";
    if (hours > 0 || minutes > 0) out += std::to_string(minutes) + "m";
    out += std::to_string(secs) + "s";
    return out;
}

}  // namespace lokt
