// The fast path of the analysis' log reader: lines as lokt writes them are
// read field by field with the same result as the full parser; anything
// else is handed back to it.
#include <doctest/doctest.h>

#include <fstream>

#include "client/audit_scan.hpp"
#include "tests/support/scratch_dir.hpp"

using namespace lokt;
using namespace lokt::client;

TEST_SUITE("audit_analysis") {
    TEST_CASE("a line as lokt writes it is read like the full parser reads it") {
        AuditEvent written = make_audit_event("deny", "build", current_identity());
        written.lock_id = "0123456789abcdef0123456789abcdef";
        written.ttl_sec = 300;
        written.extra_json =
            R"({"holder":"agent-1@h","holder_pid":10,"kept_by":"guard","waiting":true,"reason":"r","n":null,"f":false})";
        const std::string line = serialize_audit_event(written);
        AuditEvent event;
        AuditExtra extra;
        REQUIRE(scan_audit_line(line, event, extra));
        const auto full = parse_audit_line(line);
        REQUIRE(full.has_value());
        CHECK(event.ts == full->ts);
        CHECK(event.event == "deny");
        CHECK(event.name == "build");
        CHECK(event.lock_id == full->lock_id);
        CHECK(event.owner == full->owner);
        CHECK(event.host == full->host);
        CHECK(event.pid == full->pid);
        CHECK(event.agent_id == full->agent_id);
        CHECK(event.ttl_sec == 300);
        CHECK(extra.waiting);
        CHECK(extra.holder == "agent-1@h");
        CHECK(extra.reason == "r");
        const AuditExtra again = read_audit_extra(full->extra_json);
        CHECK(again.waiting == extra.waiting);
        CHECK(again.holder == extra.holder);
    }

    TEST_CASE("lines in another form are left to the full parser") {
        AuditEvent event;
        AuditExtra extra;
        CHECK_FALSE(scan_audit_line(R"({"ts":"2026-02-07T10:00:00Z","event":"acquire","name":"a\"b"})", event, extra));
        CHECK_FALSE(scan_audit_line(R"({"ts":"2026-02-07T10:00:00Z","event":"acquire","pid":1.5})", event, extra));
        CHECK_FALSE(scan_audit_line(R"({"ts":"2026-02-07T10:00:00Z","event":"acquire")", event, extra));
        CHECK_FALSE(scan_audit_line(R"({"event":"acquire","name":"x"})", event, extra));
        CHECK_FALSE(scan_audit_line("not json", event, extra));
        // Whitespace is not how lokt writes: such lines are left to the full parser too.
        CHECK_FALSE(scan_audit_line(R"( { "ts" : "2026-02-07T10:00:00Z" , "event" : "acquire" , "name" : "x" } )", event, extra));
        // Values of any shape that no field needs are stepped over in place.
        CHECK(scan_audit_line(R"({"ts":"2026-02-07T10:00:00Z","event":"acquire","name":"x","tags":[1,{"a":null}]})", event, extra));
    }

    TEST_CASE("the reader feeds matching lines, parsing the unusual ones fully and skipping garbage") {
        lokt::test::ScratchDir dir;
        const auto log = dir / "audit.log";
        {
            std::ofstream out(log);
            out << R"({"ts":"2026-02-07T09:00:00Z","event":"acquire","name":"old","lock_id":"o","owner":"a","host":"h"})"
                   "\n"
                << R"({"ts":"2026-02-07T10:00:00Z","event":"acquire","name":"a\u0062c","lock_id":"x","owner":"a","host":"h"})"
                   "\n"
                << "garbage\n"
                << R"({"ts":"2026-02-07T10:00:05Z","event":"release","name":"abc","lock_id":"x","owner":"a","host":"h"})"
                   "\n"
                << R"({"ts":"2026-02-07T10:00:06Z","event":"acquire","name":"other","lock_id":"y","owner":"a","host":"h"})"
                   "\n"
                << R"({"ts":"2026-02-07T10:00:07Z","event":"release","name":"other")";  // still being written
        }
        AuditQuery query;
        query.since = *parse_rfc3339("2026-02-07T09:30:00Z");
        query.name = "abc";
        AuditAnalyzer analyzer(query.since);
        REQUIRE(scan_audit_into(log, query, analyzer).ok());
        const auto a = analyzer.finish(*parse_rfc3339("2026-02-07T11:00:00Z"));
        CHECK(a.events == 2);
        REQUIRE(a.holds.size() == 1);
        CHECK(a.names[a.holds[0].name] == "abc");
        CHECK(a.holds[0].how == HoldEnd::released);
        CHECK(millis_between(a.holds[0].start, a.holds[0].end) == 5000);

        AuditAnalyzer none;
        REQUIRE(scan_audit_into(dir / "missing.log", {}, none).ok());
        CHECK(none.finish(wall_now()).events == 0);
    }

}  // TEST_SUITE
