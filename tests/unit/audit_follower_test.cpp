// Following the audit log: only whole lines are handed over, a line written in
// two pieces arrives once it is whole, and a truncated or replaced log is read
// again from the top.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/audit_follower.hpp"
#include "tests/support/scratch_dir.hpp"

namespace fs = std::filesystem;

namespace {

// One audit line as lokt writes it, with a newline.
std::string follower_line(const char* event, const char* name) {
    lokt::AuditEvent e;
    e.ts = *lokt::parse_rfc3339("2026-03-01T10:00:00Z");
    e.event = event;
    e.name = name;
    return lokt::serialize_audit_event(e) + "\n";
}

void append_raw(const fs::path& log, const std::string& text) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    ::close(fd);
}

// The events of the lines handed over by one read, as "event name".
std::vector<std::string> read_new_events(lokt::AuditFollower& follower, const lokt::AuditQuery& query = {}) {
    std::vector<std::string> seen;
    follower.read_new(query, [&](std::string_view line, const lokt::AuditEvent& e) {
        CHECK(line.find('\n') == std::string_view::npos);
        seen.push_back(e.event + " " + e.name);
    });
    return seen;
}

using Seen = std::vector<std::string>;

}  // namespace

TEST_CASE("a follower started at the end hands over only lines written later, each once") {
    lokt::test::ScratchDir dir;
    const fs::path log = dir / "audit.log";
    append_raw(log, follower_line("acquire", "old"));
    lokt::AuditFollower follower(dir.path());
    follower.start_at_end();
    CHECK(read_new_events(follower).empty());
    append_raw(log, follower_line("acquire", "a") + follower_line("release", "a"));
    CHECK(read_new_events(follower) == Seen{"acquire a", "release a"});
    CHECK(read_new_events(follower).empty());
}

TEST_CASE("a follower started with history visits the matching lines there, then goes on after them") {
    lokt::test::ScratchDir dir;
    const fs::path log = dir / "audit.log";
    append_raw(log, follower_line("acquire", "a") + follower_line("acquire", "b"));
    lokt::AuditFollower follower(dir.path());
    Seen history;
    lokt::AuditQuery only_b{std::nullopt, "b"};
    REQUIRE(follower
                .start_with_history(
                    only_b, [&](std::string_view, const lokt::AuditEvent& e) { history.push_back(e.event + " " + e.name); })
                .ok());
    CHECK(history == Seen{"acquire b"});
    append_raw(log, follower_line("release", "a") + follower_line("release", "b"));
    CHECK(read_new_events(follower, only_b) == Seen{"release b"});
}

TEST_CASE("a partial trailing line waits until it is whole; a line in two writes arrives once") {
    lokt::test::ScratchDir dir;
    const fs::path log = dir / "audit.log";
    lokt::AuditFollower follower(dir.path());
    follower.start_at_end();  // no log yet: it is read from its first byte
    const std::string line = follower_line("acquire", "split");
    append_raw(log, follower_line("deny", "whole") + line.substr(0, 20));
    CHECK(read_new_events(follower) == Seen{"deny whole"});
    CHECK(read_new_events(follower).empty());  // still unfinished
    append_raw(log, line.substr(20, 10));
    CHECK(read_new_events(follower).empty());
    append_raw(log, line.substr(30));
    CHECK(read_new_events(follower) == Seen{"acquire split"});
    CHECK(read_new_events(follower).empty());
}

TEST_CASE("a truncated log is read again from the top") {
    lokt::test::ScratchDir dir;
    const fs::path log = dir / "audit.log";
    lokt::AuditFollower follower(dir.path());
    follower.start_at_end();
    append_raw(log, follower_line("acquire", "a") + follower_line("release", "a"));
    CHECK(read_new_events(follower) == Seen{"acquire a", "release a"});
    REQUIRE(::truncate(log.c_str(), 0) == 0);
    append_raw(log, follower_line("acquire", "b"));
    CHECK(read_new_events(follower) == Seen{"acquire b"});
}

TEST_CASE("a line a writer takes back is not a truncated log: reading goes on from there") {
    lokt::test::ScratchDir dir;
    const fs::path log = dir / "audit.log";
    lokt::AuditFollower follower(dir.path());
    follower.start_at_end();
    const std::string first = follower_line("acquire", "a") + follower_line("release", "a");
    append_raw(log, first);
    CHECK(read_new_events(follower) == Seen{"acquire a", "release a"});
    // The release line is taken back (its unlink failed), then the next line comes.
    REQUIRE(::truncate(log.c_str(), static_cast<off_t>(follower_line("acquire", "a").size())) == 0);
    append_raw(log, follower_line("acquire", "b"));
    CHECK(read_new_events(follower) == Seen{"acquire b"});
    // A line cut short and truncated away is never handed on.
    const std::string whole = follower_line("release", "b");
    append_raw(log, whole.substr(0, 10));
    CHECK(read_new_events(follower).empty());
    REQUIRE(::truncate(log.c_str(), static_cast<off_t>(fs::file_size(log) - 10)) == 0);
    append_raw(log, whole);
    CHECK(read_new_events(follower) == Seen{"release b"});
}

TEST_CASE("a log replaced under its name is read from the top; a missing log has nothing yet") {
    lokt::test::ScratchDir dir;
    const fs::path log = dir / "audit.log";
    append_raw(log, follower_line("acquire", "a"));
    lokt::AuditFollower follower(dir.path());
    follower.start_at_end();
    // Rotated: the new file is already longer than what was read of the old one.
    const fs::path next = dir / "audit.log.new";
    append_raw(next, follower_line("acquire", "b") + follower_line("release", "b"));
    fs::rename(log, dir / "audit.log.1");
    CHECK(read_new_events(follower).empty());
    fs::rename(next, log);
    CHECK(read_new_events(follower) == Seen{"acquire b", "release b"});
}

TEST_CASE("restart reads the file under the name from the top") {
    lokt::test::ScratchDir dir;
    const fs::path log = dir / "audit.log";
    append_raw(log, follower_line("acquire", "a"));
    lokt::AuditFollower follower(dir.path());
    follower.start_at_end();
    follower.restart();
    CHECK(read_new_events(follower) == Seen{"acquire a"});
}

TEST_CASE("an unfinished line longer than the limit is dropped, and so is its end") {
    lokt::test::ScratchDir dir;
    const fs::path log = dir / "audit.log";
    lokt::AuditFollower follower(dir.path(), 64);
    follower.start_at_end();
    append_raw(log, follower_line("acquire", "a") + R"({"ts":"2026-03-01T10:00:00Z","event":"acquire","name":")" +
                        std::string(100, 'x'));
    CHECK(read_new_events(follower) == Seen{"acquire a"});
    append_raw(log, "\"}\n" + follower_line("release", "a"));
    CHECK(read_new_events(follower) == Seen{"release a"});
}

TEST_CASE("wait returns once the watched log has news") {
    lokt::test::ScratchDir dir;
    const fs::path log = dir / "audit.log";
    lokt::AuditFollower follower(dir.path());
    REQUIRE(follower.watch().ok());
    follower.start_at_end();
    append_raw(log, follower_line("acquire", "a"));  // the event is queued before wait() looks
    REQUIRE(follower.wait().ok());
    CHECK(read_new_events(follower) == Seen{"acquire a"});
}

TEST_CASE("watching a root that does not exist fails and says which") {
    lokt::test::ScratchDir dir;
    lokt::AuditFollower follower(dir / "missing");
    auto watched = follower.watch();
    REQUIRE_FALSE(watched.ok());
    CHECK(watched.error().message.find("cannot watch " + (dir / "missing").string()) == 0);
}
