// `lokt audit --stats` and `--timeline` over an audit written by real lokt
// commands: two agents contend for "build" (a refusal, then a --wait that
// waits), a human force-unlocks "test", "deploy" is frozen and refuses an
// agent, and "lint" is still held when the report is made.
#include <doctest/doctest.h>
#include <unistd.h>

#include <thread>

#include "tests/cli/support/lokt_fixture.hpp"
#include "tests/support/polling.hpp"

using namespace lokt::cli_test;

namespace {

// Plays the scenario; the summary numbers below follow from it.
void play_scenario(LoktFixture& f) {
    REQUIRE_EXIT(f.lokt({"lock", "build", "--ttl", "5m"}, k_agent1), 0);
    CHECK_EXIT(f.lokt({"lock", "build", "--ttl", "5m"}, k_agent2), 2);  // a refusal

    ChildProcess waiter =
        f.start_lokt({"guard", "build", "--ttl", "5m", "--wait", "--timeout", "1m", "--", "sleep", "0.2"}, k_agent2);
    REQUIRE_MESSAGE(wait_until([&] { return f.audit_events("deny", "build").size() == 2; }, k_wait_timeout, Millis(20)),
                    "the waiter never queued");
    std::this_thread::sleep_for(Millis(300));  // a wait long enough to measure
    REQUIRE_EXIT(f.lokt({"unlock", "build"}, k_agent1), 0);
    REQUIRE_EXIT(f.finish(waiter), 0);

    REQUIRE_EXIT(f.lokt({"lock", "test", "--ttl", "5m"}, k_agent1), 0);
    REQUIRE_EXIT(f.lokt({"unlock", "test", "--force"}, k_ops), 0);

    REQUIRE_EXIT(f.lokt({"freeze", "deploy", "--ttl", "10m"}, k_ops), 0);
    CHECK_EXIT(f.lokt({"lock", "deploy", "--ttl", "1m"}, k_agent1), 2);  // refused by the freeze
    REQUIRE_EXIT(f.lokt({"unfreeze", "deploy"}, k_ops), 0);

    REQUIRE_EXIT(f.lokt({"lock", "lint", "--ttl", "5m"}, k_agent2), 0);  // still held at the end
}

const Json* find_row(const Json& rows, const char* key, const std::string& value) {
    for (const auto& row : rows) {
        if (row.value(key, "") == value) return &row;
    }
    return nullptr;
}

}  // namespace

TEST_SUITE("audit_timeline") {
    TEST_CASE_FIXTURE(LoktFixture, "audit --stats --json counts the holds, waits, refusals, breaks and freezes of a scenario") {
        play_scenario(*this);
        const auto r = lokt({"audit", "--stats", "--json"});
        REQUIRE_EXIT(r, 0);
        const auto stats = parse_json(r.out);
        REQUIRE_MESSAGE(stats.has_value(), r.out);
        const Json& totals = (*stats)["totals"];
        CHECK(totals["holds"] == 4);
        CHECK(totals["open"] == 1);
        CHECK(totals["refusals"] == 2);
        CHECK(totals["waits"] == 1);
        CHECK(totals["waits_granted"] == 1);
        CHECK(totals["wait_ms"].get<long long>() >= 300);
        CHECK(totals["breaks"] == 1);
        CHECK(totals["freezes"] == 1);
        CHECK(totals["lost"] == 0);
        CHECK(totals["names"] == 4);
        CHECK((*stats)["window"]["events"].get<long long>() == static_cast<long long>(audit_events().size()));

        const Json& names = (*stats)["names"];
        REQUIRE(names.size() == 4);
        CHECK(names[0]["name"] == "build");  // two holds: the busiest
        CHECK(names[0]["holds"] == 2);
        CHECK(names[0]["refusals"] == 1);
        CHECK(names[0]["waits"] == 1);
        const Json* deploy = find_row(names, "name", "deploy");
        REQUIRE(deploy != nullptr);
        CHECK((*deploy)["freezes"] == 1);
        CHECK((*deploy)["refusals"] == 1);
        CHECK((*deploy)["holds"] == 0);

        const Json& agents = (*stats)["agents"];
        const Json* agent2 = find_row(agents, "agent", "agent-2@" + host());
        const Json* agent1 = find_row(agents, "agent", "agent-1@" + host());
        const Json* ops = find_row(agents, "agent", "ops@" + host());
        REQUIRE(agent1 != nullptr);
        REQUIRE(agent2 != nullptr);
        REQUIRE(ops != nullptr);
        CHECK(agents[0]["agent"] == "agent-2@" + host());  // a refusal and a wait
        CHECK((*agent2)["acquisitions"] == 2);
        CHECK((*agent2)["refusals"] == 1);
        CHECK((*agent2)["waits"] == 1);
        CHECK((*agent1)["acquisitions"] == 2);
        CHECK((*agent1)["refusals"] == 1);
        CHECK((*agent1)["broken"] == 1);
        CHECK((*ops)["breaks"] == 1);

        REQUIRE((*stats)["longest_waits"].size() == 1);
        CHECK((*stats)["longest_waits"][0]["name"] == "build");

        // --name narrows the window to one lock.
        const auto named = lokt({"audit", "--stats", "--json", "--name", "build"});
        REQUIRE_EXIT(named, 0);
        const auto build = parse_json(named.out);
        REQUIRE(build.has_value());
        CHECK((*build)["totals"]["holds"] == 2);
        CHECK((*build)["totals"]["freezes"] == 0);

        // For people: the same numbers as tables.
        const auto text = lokt({"audit", "--stats", "--since", "1h"});
        REQUIRE_EXIT(text, 0);
        CHECK(matches(text.out, "holds 4 \\(1 open\\)"));
        CHECK(matches(text.out, "Busiest names"));
        CHECK(matches(text.out, "\nbuild +2 "));
        CHECK(matches(text.out, "Contention per agent"));
    }

    TEST_CASE_FIXTURE(LoktFixture, "audit --timeline writes one self-contained page, atomically") {
        play_scenario(*this);
        const fs::path page = scratch() / "incident.html";
        REQUIRE_EXIT(lokt({"audit", "--since", "1h", "--timeline", page.string()}), 0);
        const std::string html = read_text(page);
        CHECK(html.starts_with("<!DOCTYPE html>"));
        CHECK(matches(html, "<script type=\"application/json\" id=\"audit-data\">"));
        CHECK(matches(html, "<dd data-total=\"holds\">4</dd>"));
        CHECK(matches(html, "<dd data-total=\"refusals\">2</dd>"));
        CHECK_FALSE(matches(html, "<script[^>]* src="));
        CHECK_FALSE(matches(html, "<link"));

        // To stdout with "-".
        const auto out = lokt({"audit", "--timeline", "-"});
        REQUIRE_EXIT(out, 0);
        CHECK(out.out.starts_with("<!DOCTYPE html>"));

        // A file that cannot be written: exit 1, and no temporary file left behind.
        const fs::path missing = scratch() / "no-such-dir" / "x.html";
        const auto failed = lokt({"audit", "--timeline", missing.string()});
        CHECK_EXIT(failed, 1);
        CHECK(matches(failed.err, "cannot write"));
        fs::create_directory(scratch() / "ro");
        fs::permissions(scratch() / "ro", fs::perms::owner_read | fs::perms::owner_exec);
        const auto denied = lokt({"audit", "--timeline", (scratch() / "ro" / "x.html").string()});
        if (::geteuid() != 0) {
            CHECK_EXIT(denied, 1);
            CHECK(directory_entries(scratch() / "ro").empty());
        }
        fs::permissions(scratch() / "ro", fs::perms::owner_all);
        for (const auto& entry : directory_entries(scratch())) CHECK_FALSE(entry.starts_with(".incident.html"));
    }

    TEST_CASE_FIXTURE(LoktFixture, "audit --timeline and --stats refuse --tail") {
        const auto timeline = lokt({"audit", "--tail", "--timeline", (scratch() / "t.html").string()});
        CHECK_EXIT(timeline, 64);
        CHECK(matches(timeline.err, "--timeline .*--tail"));
        CHECK_FALSE(fs::exists(scratch() / "t.html"));
        const auto stats = lokt({"audit", "--tail", "--stats"});
        CHECK_EXIT(stats, 64);
        CHECK_EXIT(lokt({"audit", "--stats", "--timeline", "-"}), 64);
    }

    TEST_CASE_FIXTURE(LoktFixture, "audit --stats on an empty log is all zeros") {
        const auto r = lokt({"audit", "--stats", "--json"});
        REQUIRE_EXIT(r, 0);
        const auto stats = parse_json(r.out);
        REQUIRE(stats.has_value());
        CHECK((*stats)["totals"]["holds"] == 0);
        CHECK((*stats)["names"].empty());
    }

}  // TEST_SUITE
