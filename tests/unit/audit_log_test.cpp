// The audit log: exact line format, torn-line recovery, and --since by seeking.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/file.h>

#include <fstream>
#include <random>
#include <sstream>

#include "common/audit_log.hpp"
#include "common/unique_fd.hpp"
#include "tests/support/scratch_dir.hpp"

using namespace std::chrono;
namespace fs = std::filesystem;

namespace {

std::vector<lokt::AuditEvent> read_all(const fs::path& log, const lokt::AuditQuery& query = {}) {
    std::vector<lokt::AuditEvent> events;
    auto read = lokt::read_audit(log, query, [&](std::string_view, const lokt::AuditEvent& e) { events.push_back(e); });
    REQUIRE(read.ok());
    return events;
}

std::string slurp(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// A writer kept open across appends, as loktd keeps one.
struct KeptWriter {
    lokt::test::ScratchDir dir;
    fs::path log = dir / "audit.log";
    lokt::AuditWriter writer{log};
    lokt::Identity me = lokt::current_identity();

    void append(const char* event, const char* name) { REQUIRE(writer.append(lokt::make_audit_event(event, name, me)).ok()); }
};

}  // namespace

TEST_CASE("a line has SPEC.md's keys in order, optional ones omitted") {
    lokt::AuditEvent e;
    e.ts = *lokt::parse_rfc3339("2026-11-22T12:50:13.5Z");
    e.event = "acquire";
    e.name = "build";
    e.lock_id = "abc";
    e.owner = "agent-1";
    e.host = "devbox";
    e.pid = 42;
    e.agent_id = "agent-e2fb";
    e.ttl_sec = 300;
    e.extra_json = R"({"fence":7})";
    CHECK(lokt::serialize_audit_event(e) ==
          R"({"ts":"2026-11-22T12:50:13.5Z","event":"acquire","name":"build","lock_id":"abc","owner":"agent-1",)"
          R"("host":"devbox","pid":42,"agent_id":"agent-e2fb","ttl_sec":300,"extra":{"fence":7}})");
    lokt::AuditEvent bare;
    bare.ts = e.ts;
    bare.event = "deny";
    bare.name = "x";
    CHECK(lokt::serialize_audit_event(bare) == R"({"ts":"2026-11-22T12:50:13.5Z","event":"deny","name":"x"})");
}

TEST_CASE("appending after a torn line starts a fresh line; readers skip the torn one") {
    lokt::test::ScratchDir dir;
    const fs::path log = dir / "audit.log";
    std::ofstream(log) << R"({"ts":"2026-01-01T00:00:00Z","event":"acquire","name":"a"})"
                          "\n"
                          R"({"ts":"2026-01-01T00:0)";
    lokt::AuditWriter writer(log);
    lokt::Identity me = lokt::current_identity();
    REQUIRE(writer.append(lokt::make_audit_event("release", "a", me)).ok());
    const std::string text = slurp(log);
    CHECK(text.find("{\"ts\":\"2026-01-01T00:0\n{\"ts\"") != std::string::npos);
    auto events = read_all(log);
    REQUIRE(events.size() == 2);
    CHECK(events[0].event == "acquire");
    CHECK(events[1].event == "release");
    CHECK(events[1].owner == me.owner);
}

TEST_CASE_FIXTURE(KeptWriter, "a writer kept open still closes off a line another writer tore after its own") {
    append("acquire", "a");
    append("release", "a");                                            // ours was last: no look needed
    std::ofstream(log, std::ios::app) << R"({"ts":"2026-01-01T00:0)";  // another process, killed mid-line
    append("acquire", "b");
    std::ofstream(log, std::ios::app) << R"({"ts":"2026-01-01T00:00:00Z","event":"deny","name":"b"})"
                                         "\n";
    append("release", "b");
    CHECK(slurp(log).find("{\"ts\":\"2026-01-01T00:0\n{\"ts\"") != std::string::npos);
    auto events = read_all(log);
    REQUIRE(events.size() == 5);
    CHECK(events[2].event == "acquire");
    CHECK(events[2].name == "b");
    CHECK(events[3].event == "deny");
    CHECK(events[4].event == "release");
}

TEST_CASE("a writer that may not wait ends a torn last line only when nobody holds the log's lock") {
    lokt::test::ScratchDir dir;
    const fs::path log = dir / "audit.log";
    const std::string whole = R"({"ts":"2026-01-01T00:00:00Z","event":"acquire","name":"a"})"
                              "\n";
    const std::string first_page_of_a_line = R"({"ts":"2026-01-01T00:00:01Z","event":"acq)";
    std::ofstream(log) << whole << first_page_of_a_line;
    lokt::Identity me = lokt::current_identity();

    // Another writer holds the lock: the unfinished line is its line in the
    // making (its rest lands before anything we append, O_APPEND orders
    // writes), so ending it with a newline would leave an empty line behind.
    {
        lokt::UniqueFd holder(::open(log.c_str(), O_RDONLY | O_CLOEXEC));
        REQUIRE(holder.get() >= 0);
        REQUIRE(::flock(holder.get(), LOCK_EX | LOCK_NB) == 0);
        lokt::AuditWriter daemon_like(log);
        daemon_like.never_wait_for_lock();
        REQUIRE(daemon_like.append(lokt::make_audit_event("deny", "a", me)).ok());
        CHECK(slurp(log) == whole + first_page_of_a_line + slurp(log).substr(whole.size() + first_page_of_a_line.size()));
        CHECK(slurp(log).find(first_page_of_a_line + "{\"ts\"") != std::string::npos);
    }

    // Nobody holds it: the unfinished line was torn by a writer that died, and
    // is ended so that ours stays whole.
    std::ofstream(log, std::ios::trunc) << whole << first_page_of_a_line;
    lokt::AuditWriter daemon_like(log);
    daemon_like.never_wait_for_lock();
    REQUIRE(daemon_like.append(lokt::make_audit_event("deny", "a", me)).ok());
    CHECK(slurp(log).find(first_page_of_a_line + "\n{\"ts\"") != std::string::npos);
    auto events = read_all(log);
    REQUIRE(events.size() == 2);
    CHECK(events[1].event == "deny");
}

TEST_CASE("queries filter by time and name; a missing log is empty") {
    lokt::test::ScratchDir dir;
    const fs::path log = dir / "audit.log";
    CHECK(read_all(log).empty());
    lokt::AuditWriter writer(log);
    lokt::Identity me = lokt::current_identity();
    for (const char* name : {"a", "b", "a"}) REQUIRE(writer.append(lokt::make_audit_event("acquire", name, me)).ok());
    lokt::AuditQuery by_name;
    by_name.name = "a";
    CHECK(read_all(log, by_name).size() == 2);
    lokt::AuditQuery future;
    future.since = lokt::wall_now() + hours(1);
    CHECK(read_all(log, future).empty());
    lokt::AuditQuery past;
    past.since = lokt::wall_now() - hours(1);
    CHECK(read_all(log, past).size() == 3);
}

TEST_CASE_FIXTURE(KeptWriter, "a writer kept open follows a rotated or removed log to the file now at the path") {
    append("acquire", "a");

    // Nothing replaced: the same file keeps growing.
    writer.reopen_if_replaced();
    append("release", "a");
    CHECK(read_all(log).size() == 2);

    // Rotated: the old file keeps its lines, the new one gets the next.
    fs::rename(log, dir / "audit.log.1");
    writer.reopen_if_replaced();
    append("acquire", "b");
    CHECK(read_all(dir / "audit.log.1").size() == 2);
    auto fresh = read_all(log);
    REQUIRE(fresh.size() == 1);
    CHECK(fresh[0].name == "b");

    // Removed: a new log is created.
    fs::remove(log);
    writer.reopen_if_replaced();
    append("release", "b");
    fresh = read_all(log);
    REQUIRE(fresh.size() == 1);
    CHECK(fresh[0].event == "release");
}
