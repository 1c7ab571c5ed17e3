// Globs for path reservations: parsing, matching, and the exact overlap test,
// by a table of pairs and by brute force over a generated tree of paths (an
// overlap must come with a path both globs match, and only then).
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "common/path_glob.hpp"

using lokt::PathGlob;

namespace {

PathGlob glob_of(const std::string& text) {
    auto parsed = PathGlob::parse(text);
    if (!parsed) FAIL_CHECK("cannot parse " << text << ": " << parsed.error().message);
    REQUIRE(parsed.ok());
    return parsed.value();
}

bool overlap(const std::string& a, const std::string& b) { return globs_overlap(glob_of(a), glob_of(b)); }

}  // namespace

TEST_CASE("the table of glob pairs") {
    struct Pair {
        const char* a;
        const char* b;
        bool overlaps;
    };
    const Pair pairs[] = {
        {"src/**", "src/a.c", true},
        {"src/**", "lib/a.c", false},
        {"*.md", "docs/x.md", false},  // anchored at the top
        {"**/*.md", "docs/x.md", true},
        {"*.md", "README.md", true},
        {"*.md", "*.txt", false},
        {"*.md", "*", true},
        {"src/*.c", "src/*.h", false},
        {"src/*.c", "src/a*", true},
        {"src", "src/auth/x.c", true},  // a plain name covers what is under it
        {"src/", "src/x", true},
        {"src/auth", "src/authz", false},
        {"src/auth/**", "src/auth", true},
        {"**", "anything/at/all", true},
        {"**/test", "src/**", true},
        {"**/a", "b/**", true},
        {"a/**/b", "a/b", true},  // ** as zero segments
        {"a/**/b", "a/x/y/b", true},
        {"a/**/b", "a/c", true},  // a/c/b
        {"a/*/b", "a/c", true},
        {"a/*/b", "a/c/d", false},
        {"[abc].txt", "b.txt", true},
        {"[abc].txt", "d.txt", false},
        {"[!abc].txt", "d.txt", true},
        {"[!abc].txt", "a.txt", false},
        {"[^a]", "a", false},
        {"[a-c]*", "[d-f]*", false},
        {"[a-d]*", "[d-f]*", true},
        {"[a-c][a-c]", "c?", true},
        {"[!a-z]*", "[A-Z]*", true},
        {"?", "ab", false},
        {"??", "ab", true},
        {"?.c", "*.h", false},
        {"*", ".hidden", true},  // no special case for dot files
        {"a*b", "a*c", false},
        {"a*", "*b", true},
        {"*a*", "*b*", true},
        {"x*y*z", "*q*", true},
        {"src/**/*.c", "src/lib/**/*.h", false},
        {"src/**/*.c", "src/lib", true},
        {"docs/*", "docs/sub/x.md", false},  // a wildcard last segment matches as written
        {"docs/*/", "docs/sub/x.md", true},  // ... unless a '/' marks it a directory
        {"docs/*", "docs/sub", true},
        {"**/*.c", "**/*.h", false},
        {"**/test/**", "**/*.py", true},
        {"*.c", "src", false},
        {"a.c", "a.c/b", true},
        {"*", "src/a", false},
        {"**", "*", true},
        {"a\\*b", "axb", false},
        {"a\\*b", "a*", true},
        {"[*]", "\\*", true},
        {"src/[!.]*", "src/.git", false},
        {"**/*", "x", true},
        {"a/**", "a", true},
        {"a/**/**/b", "a/b", true},
        {"**/b/**", "a/**/c", true},
        {"?/b", "*/c", false},
        {"Src/**", "src/**", false},  // case matters
        {"./src//auth/", "src/auth/**", true},
    };
    static_assert(sizeof pairs / sizeof pairs[0] >= 40);
    for (const auto& pair : pairs) {
        INFO(pair.a << "  vs  " << pair.b);
        CHECK(overlap(pair.a, pair.b) == pair.overlaps);
        CHECK(overlap(pair.b, pair.a) == pair.overlaps);
    }
}

TEST_CASE("matching paths") {
    struct Case {
        const char* glob;
        const char* path;
        bool matches;
    };
    const Case cases[] = {
        {"src/**", "src/a.c", true},
        {"src/**", "src", true},
        {"src/**", "srcx/a", false},
        {"src", "src/deep/er/x", true},
        {"src/*.c", "src/a.c", true},
        {"src/*.c", "src/sub/a.c", false},
        {"src/*.c", "src/a.c/x", false},
        {"**/*.md", "README.md", true},
        {"**/*.md", "a/b/c.md", true},
        {"a/**/b", "a/b", true},
        {"a/**/b", "a/x/y/b/z", true},
        {"a/**/b", "a/x/y/c", false},
        {"[a-c]?", "b9", true},
        {"[a-c]?", "d9", false},
        {"[!a-c]?", "d9", true},
        {"a\\?", "a?", true},
        {"a\\?", "ab", false},
        {"*", "x/y", false},
        {"docs/*/", "docs/a/b", true},
        {"docs/*", "docs/a/b", false},
        {"**", "x", true},
    };
    for (const auto& c : cases) {
        INFO(c.glob << " on " << c.path);
        CHECK(glob_of(c.glob).matches(c.path) == c.matches);
    }
}

TEST_CASE("normal forms: the text kept, the canonical text compared") {
    CHECK(glob_of("./src//auth/").text() == "src/auth");
    CHECK(glob_of("/src/auth").text() == "src/auth");
    CHECK(glob_of("src/auth").canonical() == "src/auth/**");
    CHECK(glob_of("src/auth/**").canonical() == "src/auth/**");
    CHECK(glob_of("src/auth/**/**").canonical() == "src/auth/**");
    CHECK(glob_of("**").canonical() == "**");
    CHECK(glob_of("*.md").canonical() == "*.md");
    CHECK(glob_of("docs/*/").text() == "docs/*/");
    CHECK(glob_of("docs/*/").canonical() == "docs/*/**");
    CHECK(lokt::normalize_repo_path("./a//b/").value() == "a/b");
}

TEST_CASE("bad globs and paths are usage errors") {
    for (const char* bad : {"", "/", "./", "a/../b", "[abc", "a\\", "[z-a]", "a/[b/c]"}) {
        INFO(bad);
        auto parsed = PathGlob::parse(bad);
        REQUIRE_FALSE(parsed.ok());
        CHECK(parsed.error().code == lokt::ErrorCode::usage);
    }
    CHECK_FALSE(lokt::normalize_repo_path("../x").ok());
    CHECK_FALSE(lokt::normalize_repo_path("./").ok());
}

namespace {

// The same rules, written again as a regular expression over PATH + "/":
// a segment pattern and its '/', "**" as any number of "SEGMENT/", and the
// same again at the end when the glob covers what is under its matches.
// Only the syntax the generator below uses (a b c ? * [..] [!..] **).
std::regex regex_of(const std::string& glob) {
    std::vector<std::string> segments;
    std::string segment;
    for (char c : glob) {
        if (c == '/') {
            if (!segment.empty()) segments.push_back(segment);
            segment.clear();
        } else {
            segment += c;
        }
    }
    if (!segment.empty()) segments.push_back(segment);
    const std::string any_segments = "(?:[^/]+/)*";
    std::string re;
    for (const auto& s : segments) {
        if (s == "**") {
            re += any_segments;
            continue;
        }
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (s[i] == '?') {
                re += "[^/]";
            } else if (s[i] == '*') {
                re += "[^/]*";
            } else if (s[i] == '[') {
                const std::size_t end = s.find(']', i + 2);
                std::string body = s.substr(i + 1, end - i - 1);
                re += body[0] == '!' || body[0] == '^' ? "[^/" + body.substr(1) + "]" : "[" + body + "]";
                i = end;
            } else {
                re += s[i];
            }
        }
        re += "/";
    }
    const std::string& last = segments.back();
    if (last == "**" || glob.back() == '/' || last.find_first_of("*?[") == std::string::npos) re += any_segments;
    return std::regex(re);
}

// Every path of 1 to 4 segments, each segment 1 or 2 of the letters a b c:
// enough for a witness of any two globs the generator makes (at most two
// pattern segments each and two tokens per segment, so a common path needs
// at most four segments of at most two letters).
std::vector<std::string> path_universe() {
    std::vector<std::string> segments;
    for (char x : std::string("abc")) {
        segments.emplace_back(1, x);
        for (char y : std::string("abc")) segments.push_back(std::string{x, y});
    }
    std::vector<std::string> paths, level{""};
    for (int depth = 1; depth <= 4; ++depth) {
        std::vector<std::string> next;
        for (const auto& prefix : level) {
            for (const auto& s : segments) next.push_back(prefix.empty() ? s : prefix + "/" + s);
        }
        paths.insert(paths.end(), next.begin(), next.end());
        level = std::move(next);
    }
    return paths;
}

std::string random_glob(std::mt19937& rng) {
    static const char* const tokens[] = {"a", "b", "?", "*", "[ab]", "[!a]", "[b-c]", "[^b]"};
    auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
    std::string glob;
    const std::size_t segment_count = 1 + pick(2);
    for (std::size_t s = 0; s < segment_count; ++s) {
        if (s > 0) glob += '/';
        if (pick(5) == 0) {
            glob += "**";
            continue;
        }
        const std::size_t token_count = 1 + pick(2);
        std::string segment;
        for (std::size_t t = 0; t < token_count; ++t) {
            std::string token = tokens[pick(std::size(tokens))];
            if (token == "*" && !segment.empty() && segment.back() == '*') token = "a";  // "**" would be a globstar
            segment += token;
        }
        glob += segment;
    }
    if (pick(4) == 0) glob += '/';
    return glob;
}

}  // namespace

TEST_CASE("overlap agrees with brute force over a generated tree of paths") {
    const std::vector<std::string> universe = path_universe();
    REQUIRE(universe.size() == 12 + 144 + 1728 + 20736);
    std::size_t overlapping = 0, apart = 0;
    for (const std::uint32_t seed : {1u, 2u, 3u}) {
        std::mt19937 rng(seed);
        std::vector<std::string> pool;
        for (int i = 0; i < 40; ++i) pool.push_back(random_glob(rng));
        // Which paths each glob matches, by lokt and by the regular expression.
        std::vector<std::vector<bool>> matched;
        for (const auto& text : pool) {
            const PathGlob glob = glob_of(text);
            const std::regex re = regex_of(text);
            std::vector<bool> bits(universe.size());
            std::size_t disagreements = 0;
            for (std::size_t p = 0; p < universe.size(); ++p) {
                bits[p] = glob.matches(universe[p]);
                if (bits[p] != std::regex_match(universe[p] + "/", re)) {
                    if (disagreements++ == 0) FAIL_CHECK(text << " on " << universe[p] << ": lokt says " << bits[p]);
                }
            }
            CHECK(disagreements == 0);
            matched.push_back(std::move(bits));
        }
        for (std::size_t i = 0; i < pool.size(); ++i) {
            for (std::size_t j = i; j < pool.size(); ++j) {
                bool witness = false;
                for (std::size_t p = 0; p < universe.size() && !witness; ++p) witness = matched[i][p] && matched[j][p];
                INFO(pool[i] << "  vs  " << pool[j]);
                CHECK(globs_overlap(glob_of(pool[i]), glob_of(pool[j])) == witness);
                ++(witness ? overlapping : apart);
            }
        }
    }
    // Both answers are common, so neither is right by default.
    MESSAGE(overlapping << " overlapping pairs, " << apart << " apart");
    CHECK(overlapping > 500);
    CHECK(apart > 500);
}
