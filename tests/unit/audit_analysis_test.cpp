// The audit analysis behind `lokt audit --stats` and `--timeline`: hand-written
// audit lines paired into holds, waits, freezes and markers, the summary
// numbers drawn from them, and the page's escaping of what the log says.
#include <doctest/doctest.h>

#include <algorithm>

#include "client/audit_analysis.hpp"
#include "client/audit_stats_format.hpp"
#include "client/json_writer.hpp"
#include "client/timeline_html.hpp"

using namespace lokt;
using namespace lokt::client;
using namespace std::chrono;

namespace {

WallTime at(const char* hms) { return *parse_rfc3339(std::string("2026-02-07T") + hms + "Z"); }

std::vector<AuditEvent> events(std::initializer_list<const char*> lines) {
    std::vector<AuditEvent> out;
    for (const char* line : lines) {
        auto event = parse_audit_line(line);
        REQUIRE_MESSAGE(event.has_value(), line);
        out.push_back(*event);
    }
    return out;
}

std::int64_t ms_of(const Hold& h) { return millis_between(h.start, h.end); }

// Two agents contend for "build", a human breaks one hold, "deploy" is frozen
// for ten seconds, and "test" is still held when the window ends.
const std::vector<AuditEvent>& scenario() {
    static const auto lines = events({
        R"({"ts":"2026-02-07T10:00:00Z","event":"acquire","name":"build","lock_id":"aaa","owner":"agent-1","host":"h","pid":10,"ttl_sec":300})",
        R"({"ts":"2026-02-07T10:00:05Z","event":"deny","name":"build","owner":"agent-2","host":"h","pid":20,"extra":{"holder":"agent-1@h","holder_pid":10}})",
        R"({"ts":"2026-02-07T10:00:06Z","event":"deny","name":"build","owner":"agent-2","host":"h","pid":21,"extra":{"holder":"agent-1@h","waiting":true}})",
        R"({"ts":"2026-02-07T10:00:10Z","event":"renew","name":"build","lock_id":"aaa","owner":"agent-1","host":"h","pid":10,"ttl_sec":300})",
        R"({"ts":"2026-02-07T10:00:20Z","event":"release","name":"build","lock_id":"aaa","owner":"agent-1","host":"h","pid":10,"extra":{"exit_status":0,"held_ms":20000}})",
        R"({"ts":"2026-02-07T10:00:21Z","event":"acquire","name":"build","lock_id":"bbb","owner":"agent-2","host":"h","pid":21,"ttl_sec":300})",
        R"({"ts":"2026-02-07T10:00:30Z","event":"force-break","name":"build","lock_id":"bbb","owner":"ops","host":"h","pid":30,"extra":{"reason":"unlock --force","holder":"agent-2@h","holder_pid":21}})",
        R"({"ts":"2026-02-07T10:00:31Z","event":"lost","name":"build","lock_id":"bbb","owner":"agent-2","host":"h","pid":21,"extra":{"reason":"lock file removed"}})",
        R"({"ts":"2026-02-07T10:00:40Z","event":"freeze","name":"deploy","lock_id":"fff","owner":"ops","host":"h","pid":30,"ttl_sec":60})",
        R"({"ts":"2026-02-07T10:00:45Z","event":"freeze-deny","name":"deploy","owner":"agent-1","host":"h","pid":11,"extra":{"frozen_by":"ops@h"}})",
        R"({"ts":"2026-02-07T10:00:50Z","event":"unfreeze","name":"deploy","lock_id":"fff","owner":"ops","host":"h","pid":30})",
        R"({"ts":"2026-02-07T10:01:00Z","event":"acquire","name":"test","lock_id":"ccc","owner":"agent-1","host":"h","pid":12})",
    });
    return lines;
}

std::size_t count_marks(const AuditAnalysis& a, MarkKind kind) {
    return static_cast<std::size_t>(std::count_if(a.marks.begin(), a.marks.end(), [&](const Mark& m) { return m.kind == kind; }));
}

}  // namespace

TEST_SUITE("audit_analysis") {
    TEST_CASE("holds pair an acquire with its release, break or the window's end") {
        const auto a = analyze_audit(scenario(), std::nullopt, at("10:02:00"));
        CHECK(a.window_start == at("10:00:00"));
        CHECK(a.window_end == at("10:02:00"));
        CHECK(a.events == 12);
        REQUIRE(a.names == std::vector<std::string>{"build", "deploy", "test"});
        REQUIRE(a.agents == std::vector<std::string>{"agent-1@h", "agent-2@h", "ops@h"});
        REQUIRE(a.holds.size() == 3);

        CHECK(a.names[a.holds[0].name] == "build");
        CHECK(a.agents[a.holds[0].agent] == "agent-1@h");
        CHECK(a.holds[0].how == HoldEnd::released);
        CHECK(ms_of(a.holds[0]) == 20000);

        CHECK(a.agents[a.holds[1].agent] == "agent-2@h");
        CHECK(a.holds[1].how == HoldEnd::force_break);  // the break ended it; the later `lost` is only a marker
        CHECK(a.holds[1].start == at("10:00:21"));
        CHECK(a.holds[1].end == at("10:00:30"));

        CHECK(a.names[a.holds[2].name] == "test");
        CHECK(a.holds[2].how == HoldEnd::open);
        CHECK(a.holds[2].end == at("10:02:00"));
    }

    TEST_CASE("a waiter's deny opens a wait that its grant closes; a plain deny is a refusal") {
        const auto a = analyze_audit(scenario(), std::nullopt, at("10:02:00"));
        REQUIRE(a.waits.size() == 1);
        CHECK(a.waits[0].granted);
        CHECK(a.agents[a.waits[0].agent] == "agent-2@h");
        CHECK(millis_between(a.waits[0].start, a.waits[0].end) == 15000);
        CHECK(count_marks(a, MarkKind::refusal) == 2);  // the deny and the freeze-deny
        CHECK(count_marks(a, MarkKind::break_) == 1);
        CHECK(count_marks(a, MarkKind::lost) == 1);
        CHECK(count_marks(a, MarkKind::expired) == 0);
        REQUIRE(a.freezes.size() == 1);
        CHECK(a.freezes[0].how == FreezeEnd::unfrozen);
        CHECK(millis_between(a.freezes[0].start, a.freezes[0].end) == 10000);
    }

    TEST_CASE("the summary counts per name and per agent") {
        const auto s = summarize(analyze_audit(scenario(), std::nullopt, at("10:02:00")));
        CHECK(s.holds == 3);
        CHECK(s.open == 1);
        CHECK(s.held_ms == 20000 + 9000 + 60000);
        CHECK(s.refusals == 2);
        CHECK(s.waits == 1);
        CHECK(s.waits_granted == 1);
        CHECK(s.wait_ms == 15000);
        CHECK(s.breaks == 1);
        CHECK(s.lost == 1);
        CHECK(s.freezes == 1);

        REQUIRE(s.names.size() == 3);
        CHECK(s.names[0].name == "build");  // two holds: the busiest
        CHECK(s.names[0].holds == 2);
        CHECK(s.names[0].held_ms == 29000);
        CHECK(s.names[0].longest_hold_ms == 20000);
        CHECK(s.names[0].refusals == 1);
        CHECK(s.names[0].waits == 1);
        CHECK(s.names[0].breaks == 1);
        CHECK(s.names[1].name == "test");
        CHECK(s.names[2].name == "deploy");
        CHECK(s.names[2].freezes == 1);

        REQUIRE(s.longest_waits.size() == 1);
        CHECK(s.longest_waits[0].wait_ms == 15000);

        REQUIRE(s.agents.size() == 3);
        CHECK(s.agents[0].agent == "agent-2@h");  // a refusal and a wait: the most contended
        CHECK(s.agents[0].refusals == 1);
        CHECK(s.agents[0].waits == 1);
        CHECK(s.agents[0].acquisitions == 1);
        CHECK(s.agents[0].broken == 1);
        CHECK(s.agents[0].lost == 1);
        CHECK(s.agents[1].agent == "agent-1@h");
        CHECK(s.agents[1].acquisitions == 2);
        CHECK(s.agents[1].held_ms == 80000);
        CHECK(s.agents[2].agent == "ops@h");
        CHECK(s.agents[2].breaks == 1);

        const std::string json = format_summary_json(s);
        CHECK(json.find("\"waits_granted\": 1") != std::string::npos);
        const std::string text = format_summary_text(s);
        CHECK(text.find("Busiest names") != std::string::npos);
        CHECK(text.find("agent-2@h") != std::string::npos);
    }

    TEST_CASE("an expired hold ends when its TTL ran out, not when it was broken") {
        const auto a = analyze_audit(
            events({
                R"({"ts":"2026-02-07T10:00:00Z","event":"acquire","name":"build","lock_id":"aaa","owner":"agent-1","host":"h","pid":10,"ttl_sec":1})",
                R"({"ts":"2026-02-07T10:00:05Z","event":"stale-break","name":"build","lock_id":"aaa","owner":"agent-2","host":"h","pid":20,"extra":{"reason":"expired","holder":"agent-1@h"}})",
                R"({"ts":"2026-02-07T10:00:05Z","event":"acquire","name":"build","lock_id":"bbb","owner":"agent-2","host":"h","pid":20,"ttl_sec":2})",
            }),
            std::nullopt, at("10:01:00"));
        REQUIRE(a.holds.size() == 2);
        CHECK(a.holds[0].how == HoldEnd::expired);
        CHECK(a.holds[0].end == at("10:00:01"));
        // Nobody renewed or released the second one: it expired before the window ended.
        CHECK(a.holds[1].how == HoldEnd::expired);
        CHECK(a.holds[1].end == at("10:00:07"));
        CHECK(count_marks(a, MarkKind::expired) == 2);
        CHECK(count_marks(a, MarkKind::break_) == 1);
    }

    TEST_CASE("holds and freezes that began before the window start at its start") {
        const auto since = at("10:00:00");
        const auto a = analyze_audit(
            events({
                R"({"ts":"2026-02-07T10:00:10Z","event":"release","name":"build","lock_id":"aaa","owner":"agent-1","host":"h","pid":10,"extra":{"held_ms":60000}})",
                R"({"ts":"2026-02-07T10:00:20Z","event":"release","name":"lint","lock_id":"ddd","owner":"agent-1","host":"h","pid":10,"extra":{"held_ms":5000}})",
                R"({"ts":"2026-02-07T10:00:30Z","event":"renew","name":"test","lock_id":"eee","owner":"agent-2","host":"h","pid":20,"ttl_sec":600})",
                R"({"ts":"2026-02-07T10:00:40Z","event":"unfreeze","name":"deploy","owner":"ops","host":"h","pid":30})",
                R"({"ts":"2026-02-07T10:00:50Z","event":"lost","name":"other","lock_id":"fff","owner":"agent-2","host":"h","pid":20})",
            }),
            since, at("10:01:00"));
        REQUIRE(a.holds.size() == 3);
        CHECK(a.names[a.holds[0].name] == "build");
        CHECK(a.holds[0].began_before_window);
        CHECK(a.holds[0].start == since);
        CHECK(a.holds[1].start == since);  // the open "test" hold, seen by its renewal
        CHECK(a.names[a.holds[1].name] == "test");
        CHECK(a.holds[1].how == HoldEnd::open);
        CHECK(a.names[a.holds[2].name] == "lint");
        CHECK_FALSE(a.holds[2].began_before_window);  // held_ms places its start inside the window
        CHECK(a.holds[2].start == at("10:00:15"));
        REQUIRE(a.freezes.size() == 1);
        CHECK(a.freezes[0].start == since);
        const auto s = summarize(a);
        CHECK(s.agents.size() == 3);
        CHECK(s.lost == 1);
        // Holds from before the window are not acquisitions in it.
        for (const auto& agent : s.agents) {
            if (agent.agent == "agent-1@h") CHECK(agent.acquisitions == 1);
        }
    }

    TEST_CASE("a freeze extended by its owner is one span; an ungranted wait stays a wait") {
        const auto a = analyze_audit(
            events({
                R"({"ts":"2026-02-07T10:00:00Z","event":"freeze","name":"deploy","lock_id":"f1","owner":"ops","host":"h","pid":30,"ttl_sec":10})",
                R"({"ts":"2026-02-07T10:00:05Z","event":"freeze","name":"deploy","lock_id":"f1","owner":"ops","host":"h","pid":31,"ttl_sec":20})",
                R"({"ts":"2026-02-07T10:00:06Z","event":"freeze-deny","name":"deploy","owner":"agent-1","host":"h","pid":11,"extra":{"frozen_by":"ops@h","waiting":true}})",
                R"({"ts":"2026-02-07T10:00:07Z","event":"force-freeze","name":"deploy","lock_id":"f2","owner":"boss","host":"h","pid":40,"ttl_sec":3})",
            }),
            std::nullopt, at("10:01:00"));
        REQUIRE(a.freezes.size() == 2);
        CHECK(a.freezes[0].how == FreezeEnd::replaced);
        CHECK(a.freezes[0].end == at("10:00:07"));
        CHECK(a.freezes[1].how == FreezeEnd::expired);
        CHECK(a.freezes[1].end == at("10:00:10"));
        REQUIRE(a.waits.size() == 1);
        CHECK_FALSE(a.waits[0].granted);
        const auto s = summarize(a);
        CHECK(s.waits == 1);
        CHECK(s.waits_granted == 0);
        CHECK(s.longest_waits.empty());
    }

    TEST_CASE("an empty window is empty") {
        const auto s = summarize(analyze_audit({}, at("10:00:00"), at("11:00:00")));
        CHECK(s.holds == 0);
        CHECK(s.events == 0);
        CHECK(format_summary_text(s).find("(no wait ended in a grant)") != std::string::npos);
    }

    TEST_CASE("nothing from the log can break out of the page's JSON block or its tables") {
        std::string out;
        append_script_safe_json_string(out, "</script><b>&\xE2\x80\xA8\n\"\\");
        CHECK(out == R"("\u003c/script\u003e\u003cb\u003e\u0026\u2028\n\"\\")");
        out.clear();  // other characters that start with E2 pass as they are; U+2029, DEL and controls do not
        append_script_safe_json_string(out, "a\xE2\x82\xAC\xE2\x80\xA9\x7F\x01z");
        CHECK(out == "\"a\xE2\x82\xAC\\u2029\\u007f\\u0001z\"");
        out.clear();  // in a plain JSON document the same text keeps what is safe there
        append_json_string(out, "<&>\xE2\x80\xA8");
        CHECK(out == "\"<&>\xE2\x80\xA8\"");
        CHECK(html_escape(R"X(<img src=x onerror="a('b')">&)X") == "&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;");

        const auto a = analyze_audit(
            events({
                R"({"ts":"2026-02-07T10:00:00Z","event":"acquire","name":"</script><script>alert(1)</script>","lock_id":"a","owner":"<b>x</b>","host":"h"})",
            }),
            std::nullopt, at("10:01:00"));
        const auto s = summarize(a);
        const std::string page = render_timeline_html(TimelinePage{a, s, "--name </script>"});
        std::size_t scripts = 0;
        for (std::size_t pos = 0; (pos = page.find("</script", pos)) != std::string::npos; ++pos) ++scripts;
        CHECK(scripts == 2);  // the JSON block's end and the drawing script's end, nothing else
        CHECK(page.find("<b>x</b>") == std::string::npos);
        CHECK(page.find("&lt;b&gt;x&lt;/b&gt;@h") != std::string::npos);
        CHECK(page.find("http://") == page.find("http://www.w3.org/2000/svg"));  // no other address: nothing to fetch
        CHECK(page.find("https://") == std::string::npos);
    }

}  // TEST_SUITE
