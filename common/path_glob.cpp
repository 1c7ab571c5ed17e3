// See path_glob.hpp. Both matching and overlap are reachability questions on
// a small grid: positions in the glob (and in the path, or in the other glob),
// joined by the moves a `**`, a `*` or a byte set allows. Each grid point is
// visited once, so a pair of globs costs the product of their sizes at worst.
#include "common/path_glob.hpp"

#include <cstddef>
#include <utility>

namespace lokt {
namespace {

// Every byte a path segment may hold: anything but NUL and '/'.
std::bitset<256> segment_bytes() {
    std::bitset<256> bytes;
    bytes.set();
    bytes.reset(0);
    bytes.reset(static_cast<unsigned char>('/'));
    return bytes;
}

Error glob_error(std::string_view glob, const std::string& what) {
    return make_error(ErrorCode::usage, "glob \"" + std::string(glob) + "\": " + what);
}

// Splits at '/', dropping empty and "." segments.
std::vector<std::string_view> split_segments(std::string_view text) {
    std::vector<std::string_view> segments;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t slash = text.find('/', start);
        if (slash == std::string_view::npos) slash = text.size();
        const std::string_view segment = text.substr(start, slash - start);
        if (!segment.empty() && segment != ".") segments.push_back(segment);
        start = slash + 1;
    }
    return segments;
}

// Reachability over a (rows x columns) grid from (0, 0) to the far corner;
// next(i, j, push) calls push for every point one move away.
template <class Next>
bool corner_reachable(std::size_t rows, std::size_t columns, Next next) {
    std::vector<char> seen((rows + 1) * (columns + 1), 0);
    std::vector<std::pair<std::size_t, std::size_t>> todo{{0, 0}};
    seen[0] = 1;
    auto push = [&](std::size_t i, std::size_t j) {
        char& mark = seen[i * (columns + 1) + j];
        if (mark == 0) {
            mark = 1;
            todo.emplace_back(i, j);
        }
    };
    while (!todo.empty()) {
        const auto [i, j] = todo.back();
        todo.pop_back();
        if (i == rows && j == columns) return true;
        next(i, j, push);
    }
    return false;
}

}  // namespace

Result<PathGlob> PathGlob::parse(std::string_view text) {
    if (text.find('\0') != std::string_view::npos) return glob_error(text, "holds a NUL byte");
    const std::vector<std::string_view> raw = split_segments(text);
    if (raw.empty()) return glob_error(text, "names no path (empty)");
    const std::bitset<256> any = segment_bytes();

    PathGlob glob;
    bool last_wild = false;
    for (const std::string_view segment : raw) {
        if (segment == "..") return glob_error(text, "\"..\" is not allowed: globs are relative to the top of the work tree");
        if (!glob.m_text.empty()) glob.m_text += '/';
        glob.m_text += segment;
        const bool repeated = !glob.m_segments.empty() && glob.m_segments.back().globstar;
        if (segment == "**") {
            if (!repeated) {
                glob.m_segments.push_back(Segment{true, {}});
                glob.m_canonical += glob.m_canonical.empty() ? "**" : "/**";
            }
            last_wild = true;
            continue;
        }
        glob.m_canonical += glob.m_canonical.empty() ? "" : "/";
        glob.m_canonical += segment;
        last_wild = false;
        Segment parsed;
        for (std::size_t i = 0; i < segment.size(); ++i) {
            const char c = segment[i];
            if (c == '*') {
                last_wild = true;
                if (parsed.tokens.empty() || !parsed.tokens.back().star) parsed.tokens.push_back(Token{true, {}});
                continue;
            }
            Token token;
            if (c == '?') {
                last_wild = true;
                token.bytes = any;
            } else if (c == '\\') {
                if (++i == segment.size()) return glob_error(text, "ends with a backslash");
                token.bytes.set(static_cast<unsigned char>(segment[i]));
            } else if (c == '[') {
                last_wild = true;
                std::size_t j = i + 1;
                const bool negated = j < segment.size() && (segment[j] == '!' || segment[j] == '^');
                if (negated) ++j;
                std::bitset<256> members;
                bool closed = false;
                for (bool first = true; j < segment.size(); first = false) {
                    unsigned char low = static_cast<unsigned char>(segment[j]);
                    if (low == ']' && !first) {
                        closed = true;
                        break;
                    }
                    if (low == '\\') {
                        if (++j == segment.size()) break;
                        low = static_cast<unsigned char>(segment[j]);
                    }
                    ++j;
                    unsigned char high = low;
                    if (j + 1 < segment.size() && segment[j] == '-' && segment[j + 1] != ']') {
                        j += 1;
                        if (segment[j] == '\\') {
                            if (++j == segment.size()) break;
                        }
                        high = static_cast<unsigned char>(segment[j]);
                        ++j;
                        if (high < low) {
                            return glob_error(text, std::string("the range ") + char(low) + "-" + char(high) + " is reversed");
                        }
                    }
                    for (unsigned value = low; value <= high; ++value) members.set(value);
                }
                if (!closed) return glob_error(text, "a character class is not closed with ']' (a class cannot hold '/')");
                token.bytes = (negated ? ~members : members) & any;
                i = j;
            } else {
                token.bytes.set(static_cast<unsigned char>(c));
            }
            parsed.tokens.push_back(std::move(token));
        }
        glob.m_segments.push_back(std::move(parsed));
    }
    // A plain last name may be a directory, and a trailing '/' says it is one:
    // then the glob covers what is under its matches (an implicit "/**").
    const bool marked_directory = text.back() == '/';
    if (marked_directory && last_wild && !glob.m_segments.back().globstar) glob.m_text += '/';
    if ((marked_directory || !last_wild) && !glob.m_segments.back().globstar) {
        glob.m_segments.push_back(Segment{true, {}});
        glob.m_canonical += "/**";
    }
    return glob;
}

bool PathGlob::segment_matches(const Segment& segment, std::string_view text) {
    const auto& tokens = segment.tokens;
    return corner_reachable(tokens.size(), text.size(), [&](std::size_t p, std::size_t c, auto push) {
        if (p == tokens.size()) return;
        if (tokens[p].star) {
            push(p + 1, c);
            if (c < text.size()) push(p, c + 1);  // text never holds '/'
        } else if (c < text.size() && tokens[p].bytes.test(static_cast<unsigned char>(text[c]))) {
            push(p + 1, c + 1);
        }
    });
}

bool PathGlob::segments_intersect(const Segment& a, const Segment& b) {
    const auto& x = a.tokens;
    const auto& y = b.tokens;
    // Reaching the corner by the empty string means both are all stars, and
    // then one byte is a common, non-empty segment too.
    return corner_reachable(x.size(), y.size(), [&](std::size_t p, std::size_t q, auto push) {
        const bool x_more = p < x.size(), y_more = q < y.size();
        if (x_more && x[p].star) push(p + 1, q);
        if (y_more && y[q].star) push(p, q + 1);
        if (!x_more || !y_more) return;
        // One byte, taken by each side's current token.
        if (!x[p].star && !y[q].star) {
            if ((x[p].bytes & y[q].bytes).any()) push(p + 1, q + 1);
        } else if (!x[p].star) {
            if (x[p].bytes.any()) push(p + 1, q);
        } else if (!y[q].star) {
            if (y[q].bytes.any()) push(p, q + 1);
        }
    });
}

bool PathGlob::matches(std::string_view path) const {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t slash = path.find('/', start);
        if (slash == std::string_view::npos) slash = path.size();
        parts.push_back(path.substr(start, slash - start));
        start = slash + 1;
    }
    const auto& glob = m_segments;
    return corner_reachable(glob.size(), parts.size(), [&](std::size_t i, std::size_t k, auto push) {
        if (i == glob.size()) return;
        if (glob[i].globstar) {
            push(i + 1, k);
            if (k < parts.size()) push(i, k + 1);
        } else if (k < parts.size() && segment_matches(glob[i], parts[k])) {
            push(i + 1, k + 1);
        }
    });
}

bool globs_overlap(const PathGlob& a, const PathGlob& b) {
    const auto& x = a.m_segments;
    const auto& y = b.m_segments;
    static const PathGlob::Segment k_any_segment{false, {PathGlob::Token{true, {}}}};
    // Both end in "**", so a common path of zero segments extends to one
    // segment that both trailing "**" take: the search need not count them.
    return corner_reachable(x.size(), y.size(), [&](std::size_t i, std::size_t j, auto push) {
        const bool x_more = i < x.size(), y_more = j < y.size();
        if (x_more && x[i].globstar) push(i + 1, j);
        if (y_more && y[j].globstar) push(i, j + 1);
        if (!x_more || !y_more) return;
        // One segment, taken by each side's current segment pattern.
        if (!x[i].globstar && !y[j].globstar) {
            if (PathGlob::segments_intersect(x[i], y[j])) push(i + 1, j + 1);
        } else if (!x[i].globstar) {
            if (PathGlob::segments_intersect(x[i], k_any_segment)) push(i + 1, j);
        } else if (!y[j].globstar) {
            if (PathGlob::segments_intersect(k_any_segment, y[j])) push(i, j + 1);
        }
    });
}

Result<std::string> normalize_repo_path(std::string_view path) {
    if (path.find('\0') != std::string_view::npos) return make_error(ErrorCode::usage, "a path holds a NUL byte");
    std::string normal;
    for (const std::string_view segment : split_segments(path)) {
        if (segment == "..") {
            return make_error(ErrorCode::usage, "path \"" + std::string(path) + "\": \"..\" is not allowed in a repository path");
        }
        if (!normal.empty()) normal += '/';
        normal += segment;
    }
    if (normal.empty()) return make_error(ErrorCode::usage, "path \"" + std::string(path) + "\" names no file");
    return normal;
}

}  // namespace lokt
