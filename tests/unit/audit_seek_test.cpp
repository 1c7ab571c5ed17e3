// Reading big audit logs fast without losing lines: the --since seek under
// clocks that disagree, the fast line parser against the full one, the name
// search against std::string_view::find, and reads across chunk boundaries.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "common/audit_line_scan.hpp"
#include "common/audit_log.hpp"
#include "common/audit_seek.hpp"
#include "common/substring_finder.hpp"
#include "tests/support/scratch_dir.hpp"

using namespace std::chrono;
namespace fs = std::filesystem;

namespace {

const lokt::WallTime k_start = sys_days{2026y / 1 / 1};

std::string line_at_time(lokt::WallTime t, const std::string& name) {
    lokt::AuditEvent e;
    e.ts = t;
    e.event = "acquire";
    e.name = name;
    e.owner = "agent";
    e.pid = 42;
    return lokt::serialize_audit_event(e) + "\n";
}

struct Log {
    std::string text;
    std::vector<std::pair<std::size_t, lokt::WallTime>> lines;  // offset, time
};

// Lines a second apart on the writers' shared clock, each stamped by one of
// several writers whose clocks are off by up to `skew`; now and then a line
// from a writer far behind (`outlier_behind`) and garbage.
Log make_log(std::mt19937& random, int count, seconds skew, hours outlier_behind) {
    Log log;
    for (int i = 0; i < count; ++i) {
        lokt::WallTime t = k_start + seconds(i);
        if (skew.count() > 0) t += seconds(static_cast<int>(random() % (2 * skew.count() + 1)) - skew.count());
        if (outlier_behind.count() > 0 && random() % 50 == 0) t -= outlier_behind;
        log.lines.emplace_back(log.text.size(), t);
        log.text += line_at_time(t, "n" + std::to_string(random() % 1000));
        if (random() % 20 == 0) log.text += "garbage line\n";
    }
    return log;
}

}  // namespace

TEST_CASE("the --since seek never skips a line at or after since while clocks disagree within the tolerance") {
    std::mt19937 random(12345);
    const seconds skew = duration_cast<seconds>(lokt::k_audit_clock_tolerance) / 2;
    for (int round = 0; round < 200; ++round) {
        const int count = static_cast<int>(random() % 3000);
        const Log log = make_log(random, count, skew, hours(0));
        const lokt::WallTime since = k_start + seconds(random() % (count + 2));
        const std::size_t offset = lokt::audit_seek_offset(log.text, since);
        INFO("round " << round << ", " << count << " lines, offset " << offset);
        for (const auto& [at, t] : log.lines) {
            if (at < offset) REQUIRE(t < since);
        }
        // And it seeks: at most the tolerance (plus the skew) of lines before since are read.
        const std::size_t reread = static_cast<std::size_t>(std::count_if(
            log.lines.begin(), log.lines.end(), [&](const auto& line) { return line.first >= offset && line.second < since; }));
        CHECK(reread <= static_cast<std::size_t>(duration_cast<seconds>(lokt::k_audit_clock_tolerance + 2 * skew).count() +
                                                 3 * lokt::k_audit_seek_lines));
    }
}

TEST_CASE("the --since seek is not misled by lines from a clock hours behind") {
    std::mt19937 random(777);
    for (int round = 0; round < 200; ++round) {
        const int count = static_cast<int>(random() % 3000);
        const Log log = make_log(random, count, seconds(3), hours(2));
        const lokt::WallTime since = k_start + seconds(random() % (count + 2));
        const std::size_t offset = lokt::audit_seek_offset(log.text, since);
        INFO("round " << round);
        for (const auto& [at, t] : log.lines) {
            if (at < offset) REQUIRE(t < since);
        }
    }
}

TEST_CASE("a log ending in lines from a clock behind still gives every recent line") {
    // The case a single-line bisection gets wrong: the newest lines were written
    // by a slow clock, so the last probe concludes that everything is old.
    std::string text;
    for (int i = 0; i < 1000; ++i) text += line_at_time(k_start + seconds(i), "a");
    for (int i = 0; i < 3; ++i) text += line_at_time(k_start - hours(2), "slow");
    const lokt::WallTime since = k_start + seconds(990);
    const std::size_t offset = lokt::audit_seek_offset(text, since);
    const std::size_t tenth_last = text.find(lokt::format_rfc3339(since));
    REQUIRE(tenth_last != std::string::npos);
    CHECK(offset <= tenth_last);
}

TEST_CASE("reading a file by chunks gives what reading it whole gives, long lines and a torn tail included") {
    lokt::test::ScratchDir dir("audit-chunks");
    const fs::path path = dir.path() / "audit.log";
    std::mt19937 random(99);
    std::string text;
    std::vector<std::string> names;
    for (int i = 0; i < 40000; ++i) {
        // Some lines far longer than a read chunk.
        const std::string name = i % 5000 == 17 ? std::string(300000, 'x') : "n" + std::to_string(random() % 50);
        names.push_back(name);
        text += line_at_time(k_start + seconds(i), name);
    }
    text += "{\"ts\":\"2026-01-01T";  // a line still being written
    std::ofstream(path, std::ios::binary) << text;

    std::size_t all = 0;
    REQUIRE(lokt::read_audit(path, {}, [&](std::string_view line, const lokt::AuditEvent& e) {
                CHECK(e.name == names[all]);
                CHECK(line.find(e.name) != std::string_view::npos);
                ++all;
            }).ok());
    CHECK(all == names.size());

    lokt::AuditQuery query;
    query.name = "n7";
    std::size_t matched = 0;
    REQUIRE(lokt::read_audit(path, query, [&](std::string_view, const lokt::AuditEvent& e) {
                CHECK(e.name == "n7");
                ++matched;
            }).ok());
    CHECK(matched == static_cast<std::size_t>(std::count(names.begin(), names.end(), "n7")));

    // The offset reached is the start of the torn line, for a follower to go on from.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    auto reached = lokt::read_audit_prefix(fd, path.string(), text.size(), {}, [](std::string_view, const lokt::AuditEvent&) {});
    ::close(fd);
    REQUIRE(reached.ok());
    CHECK(*reached == text.rfind('\n') + 1);
}

TEST_CASE("the fast line parser agrees with the full parser or declines") {
    const std::vector<std::string> lines = {
        R"({"ts":"2026-01-01T00:00:00Z","event":"acquire","name":"a","lock_id":"x","owner":"o","host":"h","pid":7,"agent_id":"g","ttl_sec":30})",
        R"({"ts":"2026-01-01T00:00:00.123456789Z","event":"release","name":"a","extra":{"held_ms":5,"exit_status":0,"nested":{"k":[1,2,{"z":null}]}}})",
        R"({"ts":"2026-01-01T00:00:00Z","event":"deny","name":"a","extra":{"reason":"held by \"b\""}})",
        R"({"ts": "2026-01-01T00:00:00Z", "event": "acquire", "name": "a"})",
        R"({"ts":"2026-01-01T00:00:00Z","event":"acquire","name":"a","pid":1.5})",
        R"({"ts":"2026-01-01T00:00:00Z","event":"acquire","name":"a","pid":"7"})",
        R"({"ts":"2026-01-01T00:00:00Z","event":7,"name":"a"})",
        R"({"ts":"2026-01-01T00:00:00Z","name":"a"})",
        R"({"ts":"yesterday","event":"acquire"})",
        R"({"ts":"2026-01-01T00:00:00Z","event":"acquire","extra":[1]})",
        R"({"ts":"2026-01-01T00:00:00Z","event":"acquire"} trailing)",
        R"({"ts":"2026-01-01T00:00:00Z","event":"acquire")",
        R"([1,2])",
        "",
    };
    for (const auto& line : lines) {
        INFO(line);
        lokt::AuditEvent fast;
        const auto full = lokt::parse_audit_line(line);
        if (lokt::scan_audit_event(line, fast)) {
            REQUIRE(full.has_value());
            CHECK(fast.ts == full->ts);
            CHECK(fast.event == full->event);
            CHECK(fast.name == full->name);
            CHECK(fast.lock_id == full->lock_id);
            CHECK(fast.owner == full->owner);
            CHECK(fast.host == full->host);
            CHECK(fast.pid == full->pid);
            CHECK(fast.agent_id == full->agent_id);
            CHECK(fast.ttl_sec == full->ttl_sec);
            CHECK(fast.extra_json == full->extra_json);
        }
    }
    lokt::AuditEvent ours;
    CHECK(lokt::scan_audit_event(lines[0], ours));  // and lines as lokt writes them take the fast path
    CHECK(lokt::scan_audit_event(lines[1], ours));
}

TEST_CASE("the name search finds what std::string_view::find finds") {
    std::mt19937 random(4242);
    const std::string alphabet = "\"ab:,{}x";
    for (int round = 0; round < 3000; ++round) {
        std::string text(random() % 300, ' ');
        for (auto& c : text) c = alphabet[random() % alphabet.size()];
        std::string needle(1 + random() % 7, ' ');
        for (auto& c : needle) c = alphabet[random() % alphabet.size()];
        const lokt::SubstringFinder finder(needle);
        const std::size_t from = text.empty() ? 0 : random() % (text.size() + 1);
        INFO("text " << text << " needle " << needle << " from " << from);
        CHECK(finder.find(text, from) == std::string_view(text).find(needle, from));
    }
}
