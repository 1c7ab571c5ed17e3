// The shared first-line deadline: connections still silent when their time
// comes are expired in the order they came, those that spoke are not, and the
// timer is armed only while someone is silent.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <vector>

#include "daemon/first_line_deadlines.hpp"

using namespace std::chrono_literals;

namespace {

struct FakeConnection {
    int id = 0;
    bool spoke = false;
    bool closed = false;
    std::vector<int>* expired = nullptr;

    bool awaiting_first_line() const { return !spoke && !closed; }
    void expire_first_line() {
        closed = true;
        expired->push_back(id);
    }
};

}  // namespace

TEST_CASE("silent connections expire in the order they came; those that spoke or closed do not") {
    asio::io_context io;
    lokt::daemon::FirstLineDeadlines<FakeConnection> deadlines(io.get_executor(), 30ms);
    std::vector<int> expired;
    std::vector<std::shared_ptr<FakeConnection>> connections;
    for (int i = 0; i < 5; ++i) {
        connections.push_back(std::make_shared<FakeConnection>(FakeConnection{i, false, false, &expired}));
        deadlines.watch(connections.back());
    }
    CHECK(deadlines.armed());
    connections[0]->spoke = true;  // the first speaks: the timer moves on to the second
    deadlines.settle();
    CHECK(deadlines.pending() == 4);
    connections[2]->closed = true;  // closed before its time
    connections[3].reset();         // gone altogether
    io.run();                       // returns once nothing is armed
    CHECK(expired == std::vector<int>{1, 4});
    CHECK(deadlines.pending() == 0);
    CHECK_FALSE(deadlines.armed());
}

TEST_CASE("once every connection has spoken nothing stays armed") {
    asio::io_context io;
    lokt::daemon::FirstLineDeadlines<FakeConnection> deadlines(io.get_executor(), 10s);
    std::vector<int> expired;
    auto a = std::make_shared<FakeConnection>(FakeConnection{1, false, false, &expired});
    auto b = std::make_shared<FakeConnection>(FakeConnection{2, false, false, &expired});
    deadlines.watch(a);
    deadlines.watch(b);
    b->spoke = true;
    deadlines.settle();  // b is not at the front: a still waits
    CHECK(deadlines.armed());
    a->spoke = true;
    deadlines.settle();
    CHECK_FALSE(deadlines.armed());
    CHECK(deadlines.pending() == 0);
    // Nothing is left for the loop to wait for (poll runs the cancelled wait's handler).
    io.poll();
    CHECK(io.stopped());
    CHECK(expired.empty());
}
