// The on-disk lock record: exact bytes (shared with other lokt tools) and
// corruption detection.
#include <doctest/doctest.h>

#include "common/lock_record.hpp"

using namespace std::chrono;
using lokt::LockRecord;

namespace {

LockRecord example() {
    LockRecord r;
    r.name = "build";
    r.lock_id = "035b9c0ac2e782764cda6a0e58b77cf8";
    r.owner = "agent-1";
    r.host = "devbox";
    r.pid = 7271;
    r.pid_start = 21454;
    r.agent_id = "agent-e2fb";
    r.acquired = *lokt::parse_rfc3339("2026-11-22T12:50:13.468669729Z");
    r.ttl_sec = 300;
    r.expires_at = *lokt::parse_rfc3339("2026-11-22T12:55:13.468669729Z");
    return r;
}

}  // namespace

TEST_CASE("a record serializes to SPEC.md's exact text") {
    const std::string expected =
        "{\n"
        "  \"version\": 1,\n"
        "  \"name\": \"build\",\n"
        "  \"lock_id\": \"035b9c0ac2e782764cda6a0e58b77cf8\",\n"
        "  \"owner\": \"agent-1\",\n"
        "  \"host\": \"devbox\",\n"
        "  \"pid\": 7271,\n"
        "  \"pid_start_ns\": 21454,\n"
        "  \"agent_id\": \"agent-e2fb\",\n"
        "  \"acquired_ts\": \"2026-11-22T12:50:13.468669729Z\",\n"
        "  \"ttl_sec\": 300,\n"
        "  \"expires_at\": \"2026-11-22T12:55:13.468669729Z\"\n"
        "}\n";
    CHECK(lokt::serialize_lock_record(example()) == expected);
}

TEST_CASE("empty optional fields are omitted and our additions come last") {
    LockRecord r = example();
    r.lock_id.clear();
    r.pid_start.reset();
    r.agent_id.clear();
    r.ttl_sec = 0;
    r.expires_at.reset();
    r.bound_to = lokt::Binding::process;
    r.owner_explicit = true;
    const std::string text = lokt::serialize_lock_record(r);
    CHECK(text.find("lock_id") == std::string::npos);
    CHECK(text.find("pid_start_ns") == std::string::npos);
    CHECK(text.find("ttl_sec") == std::string::npos);
    CHECK(text.find("expires_at") == std::string::npos);
    CHECK(text.find("\"acquired_ts\"") < text.find("\"bound_to\": \"process\""));
    CHECK(text.find("\"owner_set\": true") != std::string::npos);
}

TEST_CASE("parse(serialize(r)) gives r back") {
    LockRecord r = example();
    r.bound_to = lokt::Binding::ttl;
    r.owner_explicit = true;
    r.boot_id = "dd45abc2-16f3-417b-abc9-b2756e1bc481";
    r.fence = 42;
    auto parsed = lokt::parse_lock_record(lokt::serialize_lock_record(r));
    REQUIRE(parsed.ok());
    CHECK(parsed->name == r.name);
    CHECK(parsed->lock_id == r.lock_id);
    CHECK(parsed->pid == r.pid);
    CHECK(parsed->pid_start == r.pid_start);
    CHECK(parsed->acquired == r.acquired);
    CHECK(parsed->expires_at == r.expires_at);
    CHECK(parsed->bound_to == r.bound_to);
    CHECK(parsed->owner_explicit);
    CHECK(parsed->boot_id == r.boot_id);
    CHECK(parsed->fence == r.fence);
}

TEST_CASE("records written by other tools: missing version is 0, unknown keys ignored, any RFC 3339 time") {
    auto parsed = lokt::parse_lock_record(
        R"({"name":"x","owner":"o","host":"h","pid":5,"acquired_ts":"2026-01-01T01:00:00+01:00","future":[1,2]})");
    REQUIRE(parsed.ok());
    CHECK(parsed->version == 0);
    CHECK(lokt::format_rfc3339(parsed->acquired) == "2026-01-01T00:00:00Z");
    CHECK_FALSE(parsed->expiry().has_value());
}

TEST_CASE("expiry: expires_at wins over ttl_sec arithmetic") {
    LockRecord r = example();
    r.expires_at = r.acquired + 10s;
    CHECK(*r.expiry() == r.acquired + 10s);
    r.expires_at.reset();
    CHECK(*r.expiry() == r.acquired + 300s);
}

TEST_CASE("corrupt records are reported, never thrown") {
    for (const char* bad :
         {"", "{", "null", "[]", "{}", "42", R"({"name":"x"})", R"({"name":5,"owner":"o","acquired_ts":"2026-01-01T00:00:00Z"})",
          R"({"name":"x","owner":"o","acquired_ts":"not a time"})",
          R"({"name":"x","owner":"o","acquired_ts":"2026-01-01T00:00:00Z","pid":"12"})",
          R"({"name":"x","owner":"o","acquired_ts":"2026-01-01T00:00:00Z","ttl_sec":1.5})"}) {
        INFO(bad);
        auto parsed = lokt::parse_lock_record(bad);
        REQUIRE_FALSE(parsed.ok());
        CHECK(parsed.error().code == lokt::ErrorCode::corrupt);
    }
}

TEST_CASE("a ttl_sec of zero or less means no TTL, and a record with one survives a round trip") {
    const std::string text =
        R"({"name":"x","owner":"o","acquired_ts":"2026-01-01T00:00:00Z","ttl_sec":-300,"expires_at":"4052-01-01T00:00:00Z"})";
    auto parsed = lokt::parse_lock_record(text);
    REQUIRE(parsed.ok());
    CHECK(parsed->ttl_sec == 0);
    CHECK(*parsed->expiry() == lokt::WallTime::max());  // beyond 2262: clamped, still "not yet"
    auto again = lokt::parse_lock_record(lokt::serialize_lock_record(*parsed));
    REQUIRE(again.ok());
    CHECK(again->ttl_sec == parsed->ttl_sec);
    CHECK(again->expires_at == parsed->expires_at);
    CHECK(lokt::serialize_lock_record(*again) == lokt::serialize_lock_record(*parsed));
}

TEST_CASE("the flat-record fast path and the general parser agree") {
    const std::string full = lokt::serialize_lock_record(example());
    const std::string cases[] = {
        full,
        R"({"name":"x","owner":"o","acquired_ts":"2026-01-01T00:00:00Z"})",
        R"(  {"name" : "x" ,"owner":"o","acquired_ts":"2026-01-01T00:00:00Z","pid":-0,"owner_set":false,"z":null}  )",
        R"({"name":"x","owner":"o","acquired_ts":"2026-01-01T00:00:00Z","pid":123456789012345678})",
        R"({"name":"x","owner":"o","acquired_ts":"2026-01-01T00:00:00Z","pid":1234567890123456789})",
        R"({"name":"x","owner":"o","acquired_ts":"2026-01-01T00:00:00Z","pid":01})",
        R"({"name":"x","owner":"o","acquired_ts":"2026-01-01T00:00:00Z","ttl_sec":1e3})",
        R"({"name":"x","owner":"o","acquired_ts":"2026-01-01T00:00:00Z","pid":12x})",
        R"({"name":"x\u0041","owner":"Ã©","acquired_ts":"2026-01-01T00:00:00Z"})",
        R"({"name":"x","owner":"o","acquired_ts":"2026-01-01T00:00:00Z","extra":{"a":[1,{"b":2}]}})",
        R"({"name":"x","owner":"o","acquired_ts":"2026-01-01T00:00:00Z"} trailing)",
        R"({"name":"x","owner":"o","acquired_ts":"2026-01-01T00:00:00Z",})",
        R"({"name":"x","owner":"o","owner_set":"yes","acquired_ts":"2026-01-01T00:00:00Z"})",
        R"({"pid_start_ns":-4,"name":"x"})",
        R"({"name":"x" "owner":"o"})",
        R"({"name":tru})",
        "\xef\xbb\xbf{\"name\":\"x\",\"owner\":\"o\",\"acquired_ts\":\"2026-01-01T00:00:00Z\"}",
        "{}",
        "{",
        "",
        "   ",
        "[]",
        "null",
        "{\"name\":\"x\"}\n\n",
        full.substr(0, full.size() / 2),
    };
    for (const std::string& text : cases) {
        INFO(text);
        auto fast = lokt::parse_lock_record(text);
        auto general = lokt::parse_lock_record_with_library(text);
        REQUIRE(fast.ok() == general.ok());
        if (fast.ok()) {
            CHECK(lokt::serialize_lock_record(*fast) == lokt::serialize_lock_record(*general));
            CHECK(fast->owner_explicit == general->owner_explicit);
        } else {
            CHECK(fast.error().message == general.error().message);
        }
    }
}

TEST_CASE("lock ids are 32 lowercase hex digits and differ") {
    const std::string a = lokt::new_lock_id();
    const std::string b = lokt::new_lock_id();
    CHECK(a.size() == 32);
    CHECK(a.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(a != b);
}
