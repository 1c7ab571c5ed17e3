// See since_time.hpp.
#include "client/since_time.hpp"

#include <cctype>
#include <ctime>
#include <optional>
#include <string>

#include "common/duration.hpp"

namespace lokt::client {
namespace {

// Reads exactly `digits` decimal digits at pos.
std::optional<int> read_number(std::string_view text, std::size_t& pos, std::size_t digits) {
    if (pos + digits > text.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = 0; i < digits; ++i) {
        const char c = text[pos + i];
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + (c - '0');
    }
    pos += digits;
    return value;
}

bool read_char(std::string_view text, std::size_t& pos, char expected) {
    if (pos >= text.size() || text[pos] != expected) return false;
    ++pos;
    return true;
}

// Local midnight `days_back` days before now's local date.
std::optional<WallTime> local_midnight(WallTime now, int days_back) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(std::chrono::time_point_cast<std::chrono::seconds>(now));
    std::tm local{};
    if (::localtime_r(&seconds, &local) == nullptr) return std::nullopt;
    local.tm_hour = local.tm_min = local.tm_sec = 0;
    local.tm_mday -= days_back;  // mktime normalizes across months and years
    local.tm_isdst = -1;
    const std::time_t midnight = std::mktime(&local);
    if (midnight == static_cast<std::time_t>(-1)) return std::nullopt;
    return WallTime(std::chrono::seconds(midnight));
}

// "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]" or with a 'T', in local time.
std::optional<WallTime> parse_local(std::string_view text) {
    std::size_t pos = 0;
    std::tm local{};
    const auto year = read_number(text, pos, 4);
    if (!year || !read_char(text, pos, '-')) return std::nullopt;
    const auto month = read_number(text, pos, 2);
    if (!month || !read_char(text, pos, '-')) return std::nullopt;
    const auto day = read_number(text, pos, 2);
    if (!day) return std::nullopt;
    int hour = 0, minute = 0, second = 0;
    if (pos < text.size()) {
        if (text[pos] != ' ' && text[pos] != 'T' && text[pos] != 't') return std::nullopt;
        ++pos;
        const auto h = read_number(text, pos, 2);
        if (!h || !read_char(text, pos, ':')) return std::nullopt;
        const auto m = read_number(text, pos, 2);
        if (!m) return std::nullopt;
        hour = *h;
        minute = *m;
        if (read_char(text, pos, ':')) {
            const auto s = read_number(text, pos, 2);
            if (!s) return std::nullopt;
            second = *s;
        }
        if (pos != text.size()) return std::nullopt;
    }
    if (*month < 1 || *month > 12 || *day < 1 || *day > 31 || hour > 23 || minute > 59 || second > 59) return std::nullopt;
    local.tm_year = *year - 1900;
    local.tm_mon = *month - 1;
    local.tm_mday = *day;
    local.tm_hour = hour;
    local.tm_min = minute;
    local.tm_sec = second;
    local.tm_isdst = -1;
    const std::tm asked = local;
    const std::time_t seconds = std::mktime(&local);
    if (seconds == static_cast<std::time_t>(-1)) return std::nullopt;
    // mktime moves 2026-02-30 to March: such a date does not exist.
    if (local.tm_mday != asked.tm_mday || local.tm_mon != asked.tm_mon) return std::nullopt;
    return WallTime(std::chrono::seconds(seconds));
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

Result<WallTime> parse_since(std::string_view text, WallTime now) {
    const std::string word = lower(text);
    if (word == "today" || word == "yesterday") {
        if (auto midnight = local_midnight(now, word == "today" ? 0 : 1)) return *midnight;
        return make_error(ErrorCode::usage, "--since: cannot tell the local date");
    }
    if (auto absolute = parse_rfc3339(text)) return *absolute;
    if (auto local = parse_local(text)) return *local;
    if (auto ago = parse_duration(text)) return now - *ago;
    return make_error(ErrorCode::usage, "--since: \"" + std::string(text) +
                                            "\" is not a time; use a duration (30m, 8h, 2d), a date (2026-12-02), a local time "
                                            "(\"2026-12-02 14:00\"), an RFC 3339 time, today or yesterday");
}

}  // namespace lokt::client
