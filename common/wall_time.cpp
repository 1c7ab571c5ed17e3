// See wall_time.hpp. Calendar arithmetic uses C++20 <chrono>, no time zones.
#include "wall_time.hpp"

#include <cstdio>

namespace lokt {
namespace {

using namespace std::chrono;

bool read_digits(std::string_view text, std::size_t pos, std::size_t count, int& out) {
    if (pos + count > text.size()) return false;
    int value = 0;
    for (std::size_t i = 0; i < count; ++i) {
        const char c = text[pos + i];
        if (c < '0' || c > '9') return false;
        value = value * 10 + (c - '0');
    }
    out = value;
    return true;
}

std::string format_impl(WallTime time, bool with_fraction) {
    const auto day = floor<days>(time);
    const year_month_day date{day};
    const hh_mm_ss clock{floor<nanoseconds>(time - day)};
    char buffer[64];
    int length = std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d", int(date.year()),
                               unsigned(date.month()), unsigned(date.day()), int(clock.hours().count()),
                               int(clock.minutes().count()), int(clock.seconds().count()));
    std::string out(buffer, static_cast<std::size_t>(length));
    const long long fraction = clock.subseconds().count();
    if (with_fraction && fraction != 0) {
        char digits[16];
        std::snprintf(digits, sizeof digits, "%09lld", fraction);
        std::string_view trimmed(digits, 9);
        while (!trimmed.empty() && trimmed.back() == '0') trimmed.remove_suffix(1);
        out.push_back('.');
        out.append(trimmed);
    }
    out.push_back('Z');
    return out;
}

}  // namespace

WallTime wall_now() { return time_point_cast<nanoseconds>(system_clock::now()); }

std::string format_rfc3339(WallTime time) { return format_impl(time, true); }

std::string format_rfc3339_seconds(WallTime time) { return format_impl(floor<seconds>(time), false); }

std::optional<WallTime> parse_rfc3339(std::string_view text) {
    int y, mo, d, h, mi, s;
    if (!read_digits(text, 0, 4, y) || text.size() < 20 || text[4] != '-' || !read_digits(text, 5, 2, mo) ||
        text[7] != '-' || !read_digits(text, 8, 2, d) || (text[10] != 'T' && text[10] != 't' && text[10] != ' ') ||
        !read_digits(text, 11, 2, h) || text[13] != ':' || !read_digits(text, 14, 2, mi) || text[16] != ':' ||
        !read_digits(text, 17, 2, s)) {
        return std::nullopt;
    }
    const year_month_day date{year{y}, month{unsigned(mo)}, day{unsigned(d)}};
    if (!date.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;

    std::size_t pos = 19;
    long long fraction = 0;
    if (pos < text.size() && text[pos] == '.') {
        ++pos;
        int digits = 0;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
            if (digits < 9) {
                fraction = fraction * 10 + (text[pos] - '0');
                ++digits;
            }
            ++pos;
        }
        if (digits == 0) return std::nullopt;
        for (int i = digits; i < 9; ++i) fraction *= 10;
    }
    if (pos >= text.size()) return std::nullopt;
    long long offset_seconds = 0;
    if (text[pos] == 'Z' || text[pos] == 'z') {
        ++pos;
    } else if (text[pos] == '+' || text[pos] == '-') {
        int oh, om;
        if (!read_digits(text, pos + 1, 2, oh) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
            !read_digits(text, pos + 4, 2, om) || oh > 23 || om > 59) {
            return std::nullopt;
        }
        offset_seconds = (oh * 3600LL + om * 60LL) * (text[pos] == '-' ? -1 : 1);
        pos += 6;
    } else {
        return std::nullopt;
    }
    if (pos != text.size()) return std::nullopt;

    WallTime result = sys_days{date} + hours{h} + minutes{mi} + seconds{s} + nanoseconds{fraction};
    return result - seconds{offset_seconds};
}

}  // namespace lokt
