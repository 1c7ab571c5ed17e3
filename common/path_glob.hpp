// Globs over repository-relative paths, for path reservations: whether a path
// is covered by a glob, and whether two globs cover a common path. The second
// question is answered exactly (a search of the product of the two patterns),
// never by comparing prefixes, because two agents' reservations must conflict
// precisely when some file could be edited under both.
//
// The rules (docs/agents.md repeats them for users):
// - A glob is matched against the whole path from the top of the work tree
//   ("src/*.c" does not match "lib/src/a.c"); a leading "/" or "./" is dropped.
// - `*` matches any run of characters within one path segment, `?` one
//   character (a byte) other than '/', `[abc]`, `[a-z]`, `[!a-z]` (or `[^a-z]`)
//   one byte of (or not of) the class; a class never matches '/'. A backslash
//   makes the next character literal.
// - `**` as a whole segment matches zero or more whole segments, at the start,
//   in the middle or at the end. Elsewhere ("a**b") it is a plain `*`.
// - A glob ending in '/', or whose last segment is a plain name (no `*`, `?`
//   or `[`), also covers everything under what it matches: `src/auth`,
//   `src/auth/` and `src/auth/**` all cover `src/auth/x.c` (a plain name may
//   be a directory). A last segment with a wildcard matches as written:
//   `docs/*` covers `docs/a.md` and `docs/sub` but not `docs/sub/b.md`
//   (write `docs/**` for the whole tree), and `**/*.c` never meets `**/*.h`.
// - Matching is case-sensitive and byte-wise.
#pragma once

#include <bitset>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace lokt {

class PathGlob {
public:
    // A usage error naming what is wrong: empty, a "." or ".." segment, an
    // unterminated class, a trailing backslash, a NUL.
    static Result<PathGlob> parse(std::string_view text);

    // The glob as given, with "./" and a leading '/' dropped and repeated
    // slashes merged; a trailing slash is kept only after a wildcard segment,
    // where it changes the meaning. What lokt stores and shows.
    const std::string& text() const { return m_text; }
    // The glob with what it covers made explicit: "/**" appended when it
    // covers what is under its matches ("src/auth" -> "src/auth/**"),
    // repeated "**" segments merged. Globs with one canonical text cover the
    // same paths; unreserve compares these.
    const std::string& canonical() const { return m_canonical; }

    // Whether the glob covers path, a repository-relative path in the form
    // normalize_repo_path returns (no "./", "..", empty or trailing segment).
    bool matches(std::string_view path) const;

    // Whether some path is covered by both globs. Exact, by the rules above.
    friend bool globs_overlap(const PathGlob& a, const PathGlob& b);

private:
    // One byte from a set, or `*` (any run of bytes other than '/').
    struct Token {
        bool star = false;
        std::bitset<256> bytes;
    };
    // A whole `**`, or a sequence of tokens matching exactly one segment.
    struct Segment {
        bool globstar = false;
        std::vector<Token> tokens;
    };

    static bool segment_matches(const Segment& segment, std::string_view text);
    static bool segments_intersect(const Segment& a, const Segment& b);

    std::string m_text;
    std::string m_canonical;
    std::vector<Segment> m_segments;  // ends with a globstar when the glob covers what is under its matches
};

bool globs_overlap(const PathGlob& a, const PathGlob& b);

// A path as globs are matched against: "./" segments and repeated or trailing
// slashes dropped, a leading '/' dropped. A usage error when empty after that,
// when a segment is "..", or when it holds a NUL.
Result<std::string> normalize_repo_path(std::string_view path);

}  // namespace lokt
