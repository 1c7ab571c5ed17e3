// Several names at once (`lokt guard a,b`, `lokt lock a,b`): all or none. A
// witness per resource (an atomic mkdir marker and an enter/exit log) shows
// that nobody else is ever inside a resource while a holder of the pair is,
// and agents asking for `a,b` and `b,a` with --wait in a loop always finish.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <chrono>
#include <map>

#include "tests/cli/support/lokt_fixture.hpp"

using namespace lokt::cli_test;

namespace {

constexpr Millis k_loop_timeout{120'000};

// section.sh W R...: enters every resource R, then leaves them. Entering one
// that someone else is inside is logged as an overlap.
constexpr const char* k_section = R"(#!/bin/sh
W=$1; shift
for r in "$@"; do mkdir "$W/$r.in" 2>/dev/null || echo "overlap $r $$" >> "$W/overlaps"; done
for r in "$@"; do echo "enter $$" >> "$W/log.$r"; done
for r in "$@"; do echo "exit $$" >> "$W/log.$r"; done
for r in "$@"; do rmdir "$W/$r.in" 2>/dev/null; done
)";

struct ResourceWitness {
    fs::path dir;

    explicit ResourceWitness(const fs::path& where) : dir(where) {
        fs::create_directories(dir);
        write_text(dir / "section.sh", k_section);
        ::chmod((dir / "section.sh").c_str(), 0755);
    }

    // Nobody overlapped, nothing failed, and resource r saw `sections` whole sections, one at a time.
    void check(const std::string& resource, int sections) const {
        CHECK_MESSAGE(!fs::exists(dir / "overlaps"), "two holders were inside at once:\n" << read_text(dir / "overlaps"));
        CHECK_MESSAGE(!fs::exists(dir / "failures"), "some guards failed:\n" << read_text(dir / "failures"));
        const auto lines = split_lines(read_text(dir / ("log." + resource)));
        CHECK(lines.size() == static_cast<std::size_t>(2 * sections));
        for (std::size_t i = 0; i + 1 < lines.size(); i += 2) {
            const bool paired = lines[i].rfind("enter ", 0) == 0 && lines[i + 1] == "exit " + lines[i].substr(6);
            if (!paired) {
                FAIL_CHECK("interleaved sections on " << resource << " at line " << i + 1);
                break;
            }
        }
    }
};

// A shell loop of `rounds` guards of `names`, each running the section on `resources`.
std::string guard_loop(const std::string& names, const std::string& resources, int rounds) {
    return "i=0\nwhile [ $i -lt " + std::to_string(rounds) + " ]; do\n  lokt guard " + names +
           " --wait --timeout 100s -- \"$W/section.sh\" \"$W\" " + resources + " || echo \"guard " + names +
           " exit $? in $$\" >> \"$W/failures\"\n  i=$((i + 1))\ndone\n";
}

// On the files nobody renews a guard's first holds while it waits for the
// later ones (through loktd the daemon does): a scenario for that alone.
doctest::skip files_backend_only() {
    const char* backend = std::getenv("LOKT_TEST_BACKEND");
    return doctest::skip(backend != nullptr && std::string_view(backend) != "files");
}

}  // namespace

TEST_SUITE("multi_lock") {
    TEST_CASE_FIXTURE(
        LoktFixture,
        "a first hold that lapsed while the guard waited for the second is never run on: it waits again" * files_backend_only()) {
        const ResourceWitness w(scratch() / "w");
        REQUIRE_EXIT(lokt({"lock", "b", "--ttl", "1m"}, k_ops), 0);
        // Takes a, then waits for b longer than a's TTL.
        ChildProcess pair = start_lokt({"guard", "a,b", "--ttl", "1s", "--wait", "--timeout", "60s", "--",
                                        (w.dir / "section.sh").string(), w.dir.string(), "a", "b"},
                                       k_agent1);
        REQUIRE(wait_until([&] { return audit_events("acquire", "a").size() == 1; }, k_command_timeout));
        // Breaks a once it lapses and stays inside it until told.
        const fs::path inside = scratch() / "breaker.inside";
        const fs::path go = scratch() / "breaker.go";
        ChildProcess breaker = start_lokt({"guard", "a", "--ttl", "1s", "--wait", "--timeout", "60s", "--", "sh", "-c",
                                           "mkdir \"$0/a.in\" || echo \"overlap a $$\" >> \"$0/overlaps\"; touch \"$1\"; "
                                           "while [ ! -e \"$2\" ]; do sleep 0.05; done; rmdir \"$0/a.in\"",
                                           w.dir.string(), inside.string(), go.string()},
                                          k_agent2);
        REQUIRE(wait_until([&] { return fs::exists(inside); }, k_command_timeout));
        // b is free: the pair has both names, one of them broken under it.
        REQUIRE_EXIT(lokt({"unlock", "b"}, k_ops), 0);
        REQUIRE(wait_until([&] { return audit_events("lost", "a").size() == 1; }, k_command_timeout));
        write_text(go, "");
        REQUIRE_EXIT(finish(breaker), 0);
        const auto ran = finish(pair);
        CHECK_EXIT(ran, 0);
        CHECK(contains(ran.err, "waiting again"));
        w.check("a", 1);  // the pair's section, once, and nobody inside a with it
        w.check("b", 1);
        CHECK(audit_events("stale-break", "a").size() == 1);
        CHECK(audit_events("acquire", "a").size() == 3);
        CHECK_FALSE(has_lock("a"));
        CHECK_FALSE(has_lock("b"));
    }

    TEST_CASE_FIXTURE(LoktFixture,
                      "`lock a,b --ttl` renews a first hold that its wait for the second half spent" * files_backend_only()) {
        REQUIRE_EXIT(lokt({"lock", "b", "--ttl", "1m"}, k_ops), 0);
        ChildProcess pair = start_lokt({"lock", "a,b", "--ttl", "2s", "--wait", "--timeout", "60s"}, k_agent1);
        REQUIRE(wait_until([&] { return audit_events("acquire", "a").size() == 1; }, k_command_timeout));
        // More than half of a's 2 s gone (counted from when its grant was seen) before b comes free.
        const auto seen = std::chrono::steady_clock::now();
        REQUIRE(wait_until([&] { return std::chrono::steady_clock::now() - seen > std::chrono::milliseconds(1'100); },
                           k_command_timeout));
        REQUIRE_EXIT(lokt({"unlock", "b"}, k_ops), 0);
        CHECK_EXIT(finish(pair), 0);
        CHECK(audit_events("renew", "a").size() == 1);
        CHECK(audit_events("renew", "b").empty());
        CHECK(audit_events("lost", "a").empty());
        CHECK(has_lock("a"));
        CHECK(has_lock("b"));
    }

    TEST_CASE_FIXTURE(LoktFixture, "a,b and b,a with --wait in a loop never deadlock, and hold both or neither") {
        constexpr int k_rounds = 15;
        const ResourceWitness witness(scratch() / "witness");
        std::vector<ChildProcess> agents;
        const auto env = [&](const std::string& owner) { return as_owner(owner).set("W", witness.dir.string()); };
        agents.push_back(start_sh(guard_loop("a,b", "a b", k_rounds), env("agent-1")));
        agents.push_back(start_sh(guard_loop("b,a", "b a", k_rounds), env("agent-2")));
        // Holders of one name alone: inside the pair's section they would meet its markers.
        agents.push_back(start_sh(guard_loop("a", "a", k_rounds), env("agent-3")));
        agents.push_back(start_sh(guard_loop("b", "b", k_rounds), env("agent-4")));
        for (auto& agent : agents) CHECK_EXIT(finish(agent, k_loop_timeout), 0);
        witness.check("a", 3 * k_rounds);
        witness.check("b", 3 * k_rounds);
        CHECK_FALSE(has_lock("a"));
        CHECK_FALSE(has_lock("b"));
        // Each pair's two acquire lines share a group id, and so do its releases.
        std::map<std::string, int> groups;
        for (const auto& event : audit_events()) {
            if (event.value("event", "") != "acquire" || !event.contains("extra") || !event["extra"].contains("group")) continue;
            ++groups[event["extra"]["group"].get<std::string>()];
        }
        CHECK(groups.size() == static_cast<std::size_t>(2 * k_rounds));
        for (const auto& [group, count] : groups) CHECK_MESSAGE(count == 2, "group " << group);
    }

    TEST_CASE_FIXTURE(LoktFixture, "lock a,b / unlock a,b in a loop from two agents asking in opposite orders") {
        constexpr int k_rounds = 10;
        const ResourceWitness witness(scratch() / "witness");
        const auto loop = [&](const std::string& names, const std::string& resources) {
            return "i=0\nwhile [ $i -lt " + std::to_string(k_rounds) + " ]; do\n  if lokt lock " + names +
                   " --ttl 60s --wait --timeout 100s > /dev/null; then\n    \"$W/section.sh\" \"$W\" " + resources +
                   "\n    lokt unlock " + names + " > /dev/null || echo \"unlock exit $?\" >> \"$W/failures\"\n" +
                   "  else echo \"lock exit $?\" >> \"$W/failures\"; fi\n  i=$((i + 1))\ndone\n";
        };
        ChildProcess one = start_sh(loop("a,b", "a b"), as_owner("agent-1").set("W", witness.dir.string()));
        ChildProcess two = start_sh(loop("b,a", "b a"), as_owner("agent-2").set("W", witness.dir.string()));
        CHECK_EXIT(finish(one, k_loop_timeout), 0);
        CHECK_EXIT(finish(two, k_loop_timeout), 0);
        witness.check("a", 2 * k_rounds);
        witness.check("b", 2 * k_rounds);
    }

    TEST_CASE_FIXTURE(LoktFixture, "without --wait: every name or none, and every holder in the way named") {
        REQUIRE_EXIT(lokt({"lock", "b", "--ttl", "60s"}, k_agent1), 0);
        REQUIRE_EXIT(lokt({"lock", "d", "--ttl", "60s"}, k_agent2), 0);
        const auto refused = lokt({"guard", "a,b,c,d", "--", "true"}, as_owner("agent-3"));
        CHECK_EXIT(refused, 2);
        CHECK(contains(refused.err, "lock \"b\" held by agent-1@" + host()));
        CHECK(contains(refused.err, "lock \"d\" held by agent-2@" + host()));
        // What was free was taken and given back: nothing of agent-3's is left.
        CHECK_FALSE(has_lock("a"));
        CHECK_FALSE(has_lock("c"));
        CHECK(read_lock("b").value()["owner"] == "agent-1");

        // -E applies as for one name; a list in lock --json is an error object too.
        CHECK_EXIT(lokt({"lock", "c,b", "-E", "75"}, as_owner("agent-3")), 75);
        const auto json = lokt({"lock", "c,b", "--json"}, as_owner("agent-3"));
        CHECK_EXIT(json, 2);
        REQUIRE(parse_json(json.out).has_value());
        CHECK_FALSE(has_lock("c"));

        // Free now: both held, then both released by one unlock.
        REQUIRE_EXIT(lokt({"unlock", "b"}, k_agent1), 0);
        const auto held = lokt({"lock", "c,b", "--ttl", "60s", "--json"}, as_owner("agent-3"));
        REQUIRE_EXIT(held, 0);
        const auto doc = parse_json(held.out);
        REQUIRE(doc.has_value());
        REQUIRE((*doc)["locks"].size() == 2);
        CHECK((*doc)["locks"][0]["name"] == "c");
        CHECK((*doc)["locks"][1]["name"] == "b");
        CHECK(read_lock("b").value()["owner"] == "agent-3");
        CHECK(read_lock("c").value()["owner"] == "agent-3");
        CHECK_EXIT(lokt({"unlock", "c,b"}, as_owner("agent-3")), 0);
        CHECK_FALSE(has_lock("b"));
        CHECK_FALSE(has_lock("c"));
    }

    TEST_CASE_FIXTURE(LoktFixture, "the command sees every name and id, and a nested guard of one of them just runs") {
        const auto run = lokt({"guard", "db,cache", "--", "sh", "-c",
                               "echo \"$LOKT_LOCK_NAME $LOKT_LOCK_ID $LOKT_FENCE\"; lokt guard cache -- echo nested-ran"},
                              k_agent1);
        REQUIRE_EXIT(run, 0);
        const auto lines = split_lines(run.out);
        REQUIRE(lines.size() == 2);
        CHECK(matches(lines[0], "^db,cache [0-9a-f]{32},[0-9a-f]{32} [0-9]+,[0-9]+$"));
        CHECK(lines[1] == "nested-ran");
        const auto acquires = audit_events("acquire", "db");
        REQUIRE(acquires.size() == 1);
        CHECK(contains(lines[0], acquires[0]["lock_id"].get<std::string>()));
        // Each name's fencing token, in the order given, as its acquire line has it.
        const auto cache_acquires = audit_events("acquire", "cache");
        REQUIRE(cache_acquires.size() == 1);
        CHECK(lines[0].substr(lines[0].rfind(' ') + 1) ==
              std::to_string(acquires[0]["extra"]["fence"].get<std::uint64_t>()) + "," +
                  std::to_string(cache_acquires[0]["extra"]["fence"].get<std::uint64_t>()));
        CHECK(audit_events("acquire", "cache").size() == 1);  // the nested guard took nothing
        CHECK(audit_events("release", "db").size() == 1);
        CHECK(audit_events("release", "cache").size() == 1);
    }

    TEST_CASE_FIXTURE(LoktFixture, "a list that repeats a name or has an empty item is a usage error") {
        CHECK_EXIT(lokt({"guard", "a,a", "--", "true"}), 64);
        CHECK_EXIT(lokt({"lock", "a,,b"}), 64);
        CHECK_EXIT(lokt({"lock", "a,b/c"}), 64);
        CHECK_EXIT(lokt({"lock", "a,b", "--slots", "2"}), 64);  // a pool is one name
        CHECK_FALSE(has_lock("a"));
    }
}
