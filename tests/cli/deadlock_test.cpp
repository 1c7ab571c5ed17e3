// Deadlock reports: agents that hold names with `lokt lock` and wait for each
// other's with `lokt lock --wait`. The request that closes a cycle is refused
// at once (exit 5) with every edge named and a `deadlock` audit line; the
// others keep waiting and are granted once a hold of the cycle is given up.
// A plain queue (several waiters behind one holder) is never reported.
#include <doctest/doctest.h>

#include "tests/cli/support/lokt_fixture.hpp"

using namespace lokt::cli_test;

namespace {

constexpr int k_deadlock_status = 5;
// "At once": far below the waits' own timeout, whatever the machine's load.
constexpr Millis k_at_once{10'000};

// `lokt lock NAME --wait` in the background, for agent `owner`.
ChildProcess start_waiter(LoktFixture& fx, const std::string& owner, const std::string& name) {
    return fx.start_lokt({"lock", name, "--ttl", "2m", "--wait", "--timeout", "60s"}, as_owner(owner));
}

// Returns once `count` waits for name have begun (each writes its `deny` line).
void wait_for_waiters(LoktFixture& fx, const std::string& name, std::size_t count) {
    REQUIRE(wait_until([&] { return fx.audit_events("deny", name).size() >= count; }, k_wait_timeout));
}

// The report names the edge "WAITER waits for lock NAME ..., held by HOLDER since".
void check_edge(const std::string& report, const std::string& waiter, const std::string& name, const std::string& holder,
                const std::string& host) {
    const std::string pattern = regex_escape(waiter + "@" + host + " waits for lock \"" + name + "\"") + " [^\n]*" +
                                regex_escape(", held by " + holder + "@" + host + " since ");
    CHECK_MESSAGE(matches(report, pattern), "no edge " << waiter << " -> " << name << " -> " << holder << " in:\n" << report);
}

}  // namespace

TEST_SUITE("deadlock") {
    TEST_CASE_FIXTURE(LoktFixture,
                      "a 2-cycle is reported at once to the request that closes it; the other waiter is granted later") {
        REQUIRE_EXIT(lokt({"lock", "a", "--ttl", "2m"}, k_agent1), 0);
        REQUIRE_EXIT(lokt({"lock", "b", "--ttl", "2m"}, k_agent2), 0);
        ChildProcess first = start_waiter(*this, "agent-1", "b");
        wait_for_waiters(*this, "b", 1);

        const auto closing =
            lokt({"lock", "a", "--ttl", "2m", "--wait", "--timeout", "60s"}, as_owner("agent-2").within(k_at_once));
        CHECK_EXIT(closing, k_deadlock_status);
        CHECK(contains(closing.err, "error: deadlock: waiting for lock \"a\" would never end"));
        check_edge(closing.err, "agent-2", "a", "agent-1", host());
        check_edge(closing.err, "agent-1", "b", "agent-2", host());
        const auto lines = audit_events("deadlock", "a");
        REQUIRE(lines.size() == 1);
        CHECK(lines[0]["owner"] == "agent-2");
        REQUIRE(lines[0]["extra"]["cycle"].size() == 2);
        CHECK(lines[0]["extra"]["cycle"][1]["waiter"] == "agent-1@" + host());
        CHECK(lines[0]["extra"]["cycle"][1]["name"] == "b");
        CHECK(lines[0]["extra"]["cycle"][1].contains("waiting_since"));

        // The other waiter still waits, and gets b once agent-2 gives it up.
        CHECK(process_alive(first.pid()));
        REQUIRE_EXIT(lokt({"unlock", "b"}, k_agent2), 0);
        CHECK_EXIT(finish(first), 0);
        CHECK(read_lock("b").value()["owner"] == "agent-1");
    }

    TEST_CASE_FIXTURE(LoktFixture, "a 3-cycle is reported with its three edges") {
        REQUIRE_EXIT(lokt({"lock", "a", "--ttl", "2m"}, k_agent1), 0);
        REQUIRE_EXIT(lokt({"lock", "b", "--ttl", "2m"}, k_agent2), 0);
        REQUIRE_EXIT(lokt({"lock", "c", "--ttl", "2m"}, as_owner("agent-3")), 0);
        ChildProcess one = start_waiter(*this, "agent-1", "b");
        wait_for_waiters(*this, "b", 1);
        ChildProcess two = start_waiter(*this, "agent-2", "c");
        wait_for_waiters(*this, "c", 1);

        const auto closing =
            lokt({"lock", "a", "--ttl", "2m", "--wait", "--timeout", "60s"}, as_owner("agent-3").within(k_at_once));
        CHECK_EXIT(closing, k_deadlock_status);
        check_edge(closing.err, "agent-3", "a", "agent-1", host());
        check_edge(closing.err, "agent-1", "b", "agent-2", host());
        check_edge(closing.err, "agent-2", "c", "agent-3", host());
        const auto lines = audit_events("deadlock", "a");
        REQUIRE(lines.size() == 1);
        CHECK(lines[0]["extra"]["cycle"].size() == 3);

        // agent-3 gives up c: agent-2 gets it; agent-2 then gives up b: agent-1 gets it.
        REQUIRE_EXIT(lokt({"unlock", "c"}, as_owner("agent-3")), 0);
        CHECK_EXIT(finish(two), 0);
        REQUIRE_EXIT(lokt({"unlock", "b"}, k_agent2), 0);
        CHECK_EXIT(finish(one), 0);
        CHECK(read_lock("b").value()["owner"] == "agent-1");
        CHECK(read_lock("c").value()["owner"] == "agent-2");
    }

    TEST_CASE_FIXTURE(LoktFixture, "a plain queue and a chain of waits are never reported") {
        REQUIRE_EXIT(lokt({"lock", "a", "--ttl", "2m"}, k_agent1), 0);
        REQUIRE_EXIT(lokt({"lock", "b", "--ttl", "2m"}, k_agent2), 0);
        // agent-2 (holding b) waits for a; agent-3 and agent-4 wait for a too;
        // agent-5 waits for b: a chain into agent-1, who waits for nothing.
        std::vector<ChildProcess> waiters;
        waiters.push_back(start_waiter(*this, "agent-2", "a"));
        wait_for_waiters(*this, "a", 1);
        waiters.push_back(start_waiter(*this, "agent-3", "a"));
        wait_for_waiters(*this, "a", 2);
        waiters.push_back(start_waiter(*this, "agent-4", "a"));
        wait_for_waiters(*this, "a", 3);
        ChildProcess on_b = start_waiter(*this, "agent-5", "b");
        wait_for_waiters(*this, "b", 1);
        // A guard of an agent that holds nothing waits as well.
        ChildProcess guard = start_lokt({"guard", "a", "--wait", "--timeout", "60s", "--", "true"}, as_owner("agent-6"));
        wait_for_waiters(*this, "a", 4);
        CHECK(audit_events("deadlock", "a").empty());
        CHECK(audit_events("deadlock", "b").empty());

        // Each waiter of a gets it once the one before lets go.
        REQUIRE_EXIT(lokt({"unlock", "a"}, k_agent1), 0);
        for (int granted = 0; granted < 3; ++granted) {
            std::string holder;
            REQUIRE(wait_until(
                [&] {
                    auto lock = read_lock("a");
                    // agent-6's guard releases on its own; the others are unlocked here.
                    if (!lock || (*lock)["owner"] == "agent-1" || (*lock)["owner"] == "agent-6") return false;
                    if ((*lock)["owner"].get<std::string>() == holder) return false;  // the one just unlocked
                    holder = (*lock)["owner"].get<std::string>();
                    return true;
                },
                k_wait_timeout));
            REQUIRE_EXIT(lokt({"unlock", "a"}, as_owner(holder)), 0);
        }
        for (auto& waiter : waiters) CHECK_EXIT(finish(waiter), 0);
        CHECK_EXIT(finish(guard), 0);
        REQUIRE_EXIT(lokt({"unlock", "b"}, k_agent2), 0);
        CHECK_EXIT(finish(on_b), 0);
        for (const auto& event : audit_events()) CHECK(event.value("event", "") != "deadlock");
    }

    TEST_CASE_FIXTURE(LoktFixture, "without LOKT_OWNER the shell a lock without TTL is bound to is the agent") {
        const fs::path w = scratch() / "sync";
        fs::create_directories(w);
        RunOptions options = RunOptions().set("W", w.string()).unset("LOKT_OWNER");
        // Two shells, each holding one name with `lokt lock` (bound to the shell) and waiting for the other's.
        ChildProcess first = start_sh(
            "lokt lock a > /dev/null; touch \"$W/a\"; until [ -e \"$W/b\" ]; do sleep 0.02; done\n"
            "lokt lock b --wait --timeout 60s > /dev/null; echo \"first $?\"\n",
            options);
        const auto second =
            sh("lokt lock b > /dev/null; until [ -e \"$W/a\" ]; do sleep 0.02; done; touch \"$W/b\"\n"
               "until lokt audit --name b | grep -q '\"waiting\":true'; do sleep 0.02; done\n"
               "lokt lock a --wait --timeout 60s 2>&1; echo \"second $?\"\n",
               RunOptions(options).within(k_at_once));
        CHECK(contains(second.out, "second 5"));
        CHECK(contains(second.out, "error: deadlock: waiting for lock \"a\" would never end"));
        CHECK(matches(second.out, "\\(pid [0-9]+\\) waits for lock \"b\""));
        // The second shell has exited, and its hold of b with it: the first gets b.
        const auto done = finish(first);
        CHECK(contains(done.out, "first 0"));
    }
}
