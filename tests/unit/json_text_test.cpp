// Audit lines written by hand (common/json_text.hpp) are the very bytes the
// JSON library writes for the same object: checked against the library on
// plain and awkward text, and on extra objects in and out of compact form.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "common/audit_log.hpp"
#include "common/json_text.hpp"

namespace {

using Json = nlohmann::ordered_json;

// The audit line as a document, the way it was written before.
std::string library_line(const lokt::AuditEvent& e) {
    Json json;
    json["ts"] = lokt::format_rfc3339(e.ts);
    json["event"] = e.event;
    json["name"] = e.name;
    if (!e.lock_id.empty()) json["lock_id"] = e.lock_id;
    if (!e.owner.empty()) json["owner"] = e.owner;
    if (!e.host.empty()) json["host"] = e.host;
    if (e.pid != 0) json["pid"] = e.pid;
    if (!e.agent_id.empty()) json["agent_id"] = e.agent_id;
    if (e.ttl_sec != 0) json["ttl_sec"] = e.ttl_sec;
    if (!e.extra_json.empty()) {
        Json extra = Json::parse(e.extra_json, nullptr, false);
        if (extra.is_object() && !extra.empty()) json["extra"] = std::move(extra);
    }
    return json.dump(-1, ' ', false, nlohmann::detail::error_handler_t::replace);
}

const std::vector<std::string> k_texts = {
    "",
    "build",
    "agent-1@devbox",
    "quote \" and backslash \\",
    "tab\tnew\nline\rform\fback\b",
    std::string("nul\0byte", 8),
    "\x01\x1f\x7f",
    "caf\xc3\xa9",
    "bad \xff utf-8 \xc3",
    "/slash/ stays",
};

const std::vector<std::string> k_extras = {
    "",
    "{}",
    R"({"fence":42})",
    R"({"holder":"dev@box","holder_pid":12,"holder_lock_id":"035b9c0ac2e782764cda6a0e58b77cf8","kept_by":"guard","waiting":true})",
    R"({"exit_status":0,"held_ms":3})",
    R"({"cycle":[{"name":"a","holder":"x"},{"name":"b"}],"n":-5,"z":null,"t":false})",
    R"({"a": 1})",
    R"({"a":1.5})",
    R"({"a":1e3})",
    R"({"a":-0})",
    R"({"a":0012})",
    R"({"a":1,"a":2})",
    R"({"a":"\u0041"})",
    R"({"a":"\u001f\n\/"})",
    R"({"a":"\u001f\n"})",
    R"({"a":"caf\u00e9"})",
    R"({"a":123456789012345678901})",
    "[1,2]",
    "not json",
    R"({"a":{"b":{"c":[]}}})",
    "{\"a\":\"\xc3\xa9\"}",
};

}  // namespace

TEST_CASE("an audit line written by hand is the library's line, byte for byte") {
    lokt::AuditEvent e;
    e.ts = lokt::WallTime(std::chrono::nanoseconds(1'795'000'000'123'456'789));
    for (const auto& text : k_texts) {
        for (const auto& extra : k_extras) {
            e.event = "deny";
            e.name = text;
            e.lock_id = text.empty() ? "" : "035b9c0ac2e782764cda6a0e58b77cf8";
            e.owner = text;
            e.host = "devbox";
            e.pid = text.size() % 2 == 0 ? 4242 : -7;
            e.agent_id = text;
            e.ttl_sec = static_cast<std::int64_t>(text.size());
            e.extra_json = extra;
            CAPTURE(text);
            CAPTURE(extra);
            CHECK(lokt::serialize_audit_event(e) == library_line(e));
        }
    }
}

TEST_CASE("random text and extras give the library's line too") {
    std::mt19937 random(17);
    const std::string alphabet = std::string("ab\"\\/{}[]:,-0123456789.eE tfnul\x01\n\x7f\xc3\xa9\xff", 36);
    lokt::AuditEvent e;
    e.ts = lokt::WallTime(std::chrono::seconds(1'795'000'000));
    for (int round = 0; round < 20000; ++round) {
        std::string text;
        const int length = static_cast<int>(random() % 12);
        for (int i = 0; i < length; ++i) text.push_back(alphabet[random() % alphabet.size()]);
        e.event = "acquire";
        e.name = text;
        // An extra built around the text: sometimes compact JSON, sometimes not.
        e.extra_json = "{\"k\":" + text + "}";
        if (round % 3 == 0) e.extra_json = "{\"k\":\"" + text + "\"}";
        CAPTURE(e.extra_json);
        CHECK(lokt::serialize_audit_event(e) == library_line(e));
    }
}

TEST_CASE("an extra object is copied only in the library's compact form") {
    CHECK(lokt::is_compact_json_object(R"({"fence":42})"));
    CHECK(lokt::is_compact_json_object(R"({"a":{"b":[1,"x",true,null]}})"));
    CHECK_FALSE(lokt::is_compact_json_object("{}"));
    CHECK_FALSE(lokt::is_compact_json_object(R"({"a": 1})"));
    CHECK_FALSE(lokt::is_compact_json_object(R"({"a":1,"a":2})"));
    CHECK_FALSE(lokt::is_compact_json_object(R"({"a":"\u0041"})"));
    CHECK_FALSE(lokt::is_compact_json_object(R"({"a":1.0})"));
    CHECK_FALSE(lokt::is_compact_json_object(R"({"a":1})"
                                             "x"));
}
