// The wait-for graph behind deadlock reports: which identities count as an
// agent, which cycles a request closes, and which it does not.
#include <doctest/doctest.h>

#include "common/wait_for_graph.hpp"

using namespace lokt;

namespace {

WaitAgent agent(const std::string& name) { return WaitAgent{name + "@h", name + "@h"}; }

WaitEdge edge(const std::string& waiter, const std::string& name, const std::string& holder) {
    return WaitEdge{agent(waiter), name, agent(holder), WallTime{}, WallTime{}};
}

WaitEdge request(const std::string& waiter, const std::string& name, const std::string& holder) {
    return WaitEdge{agent(waiter), name, agent(holder), WallTime{}, std::nullopt};
}

}  // namespace

TEST_SUITE("wait_for_graph") {
    TEST_CASE("an agent is its explicit owner, or the process a hold without TTL is bound to") {
        Identity who;
        who.owner = "alice";
        who.host = "h";
        who.pid = 42;
        CHECK_FALSE(wait_agent_of(who, Binding::ttl).has_value());
        CHECK_FALSE(wait_agent_of(who, Binding::guard).has_value());
        REQUIRE(wait_agent_of(who, Binding::process).has_value());
        CHECK(wait_agent_of(who, Binding::process)->label == "alice@h (pid 42)");
        who.owner_explicit = true;
        CHECK(wait_agent_of(who, Binding::ttl)->key == "alice@h");
        CHECK(wait_agent_of(who, Binding::guard)->key == "alice@h");

        LockRecord record;
        record.owner = "alice";
        record.host = "h";
        record.owner_explicit = true;
        record.bound_to = Binding::guard;
        CHECK_FALSE(holding_agent_of(record).has_value());  // a guard's hold ends with its command
        record.bound_to = Binding::ttl;
        CHECK(holding_agent_of(record)->key == "alice@h");
    }

    TEST_CASE("a request closes a 2-cycle and a 3-cycle, request first") {
        WaitForGraph two;
        two.add(edge("a1", "b", "a2"));
        auto cycle = two.cycle_closed_by(request("a2", "a", "a1"));
        REQUIRE(cycle.has_value());
        REQUIRE(cycle->size() == 2);
        CHECK((*cycle)[0].name == "a");
        CHECK((*cycle)[1].name == "b");

        WaitForGraph three;
        three.add(edge("a1", "b", "a2"));
        three.add(edge("a2", "c", "a3"));
        cycle = three.cycle_closed_by(request("a3", "a", "a1"));
        REQUIRE(cycle.has_value());
        CHECK(cycle->size() == 3);
        const std::string report = deadlock_message(*cycle, WallTime{});
        CHECK(report.find("a3@h waits for lock \"a\" (this request), held by a1@h") != std::string::npos);
        CHECK(report.find("a2@h waits for lock \"c\" since") != std::string::npos);
    }

    TEST_CASE("queues and chains close no cycle") {
        WaitForGraph graph;
        graph.add(edge("a2", "a", "a1"));
        graph.add(edge("a3", "a", "a1"));
        graph.add(edge("a4", "b", "a2"));
        CHECK_FALSE(graph.cycle_closed_by(request("a5", "a", "a1")).has_value());
        CHECK_FALSE(graph.cycle_closed_by(request("a4", "a", "a1")).has_value());
        // Waiting for one's own hold is not a cycle between agents.
        CHECK_FALSE(graph.cycle_closed_by(request("a1", "a", "a1")).has_value());
        // a1 waiting for c held by a4: a4 -> a2 -> a1 closes it.
        CHECK(graph.cycle_closed_by(request("a1", "c", "a4")).has_value());
    }
}
