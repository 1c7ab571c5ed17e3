// See wall_time.hpp. Calendar arithmetic uses C++20 <chrono>, no time zones.
#include "common/wall_time.hpp"

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

// Writes value as exactly `width` decimal digits (zero-padded) at out.
void put_digits(char* out, long long value, int width) {
    for (int i = width - 1; i >= 0; --i) {
        out[i] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
}

std::string format_impl(WallTime time, bool with_fraction) {
    // Split into whole seconds and the nanoseconds past them without leaving
    // 64 bits: flooring the extreme instants to days in nanoseconds overflows.
    const long long count = time.time_since_epoch().count();
    long long whole = count / 1'000'000'000;
    long long fraction = count % 1'000'000'000;
    if (fraction < 0) {
        fraction += 1'000'000'000;
        whole -= 1;
    }
    const sys_seconds instant{seconds{whole}};
    const auto day = floor<days>(instant);
    const year_month_day date{day};
    const hh_mm_ss clock{instant - day};
    // Nanoseconds in 64 bits span the years 1677..2262: always four digits.
    const int year_number = int(date.year());
    // "YYYY-MM-DDTHH:MM:SS" + ".fffffffff" + "Z": formatted by hand, status prints thousands.
    char buffer[32] = "0000-00-00T00:00:00";
    put_digits(buffer, year_number, 4);
    put_digits(buffer + 5, unsigned(date.month()), 2);
    put_digits(buffer + 8, unsigned(date.day()), 2);
    put_digits(buffer + 11, clock.hours().count(), 2);
    put_digits(buffer + 14, clock.minutes().count(), 2);
    put_digits(buffer + 17, clock.seconds().count(), 2);
    std::size_t length = 19;
    if (with_fraction && fraction != 0) {
        buffer[length++] = '.';
        put_digits(buffer + length, fraction, 9);
        length += 9;
        while (buffer[length - 1] == '0') --length;
    }
    buffer[length++] = 'Z';
    return std::string(buffer, length);
}

}  // namespace

WallTime wall_now() { return time_point_cast<nanoseconds>(system_clock::now()); }

std::string format_rfc3339(WallTime time) { return format_impl(time, true); }

std::string format_rfc3339_seconds(WallTime time) { return format_impl(time, false); }

std::optional<WallTime> parse_rfc3339(std::string_view text) {
    int y, mo, d, h, mi, s;
    if (!read_digits(text, 0, 4, y) || text.size() < 20 || text[4] != '-' || !read_digits(text, 5, 2, mo) || text[7] != '-' ||
        !read_digits(text, 8, 2, d) || (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !read_digits(text, 11, 2, h) ||
        text[13] != ':' || !read_digits(text, 14, 2, mi) || text[16] != ':' || !read_digits(text, 17, 2, s)) {
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

    // In whole seconds first: a four-digit year can lie outside what 64-bit
    // nanoseconds hold (1677..2262). Such times are clamped to the nearest end,
    // so a far-future expiry still means "not yet" and nothing overflows.
    const long long whole = sys_seconds{sys_days{date}}.time_since_epoch().count() + h * 3600LL + mi * 60LL + s - offset_seconds;
    constexpr long long k_max_whole = WallTime::max().time_since_epoch().count() / 1'000'000'000 - 1;
    constexpr long long k_min_whole = WallTime::min().time_since_epoch().count() / 1'000'000'000 + 1;
    if (whole > k_max_whole) return WallTime::max();
    if (whole < k_min_whole) return WallTime::min();
    return WallTime(nanoseconds{whole * 1'000'000'000LL + fraction});
}

}  // namespace lokt
