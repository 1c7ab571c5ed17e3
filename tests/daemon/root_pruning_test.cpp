// loktd forgets a lock root once nothing in it is held, awaited or followed
// (its watches, timer and files go with it), and opens it again, watches
// included, on the next request that needs it. A status creates no root, and
// a root opened for one request only is closed once it is answered.
#include <nlohmann/json.hpp>

#include "tests/daemon/daemon_fixture.hpp"

namespace lokt::daemon_test {
namespace {

// How many roots daemon_status lists, or -1 when it does not answer.
long long roots_served(DaemonFixture& f) {
    const auto line = request_line(f.daemon().socket(), R"({"id":2,"op":"daemon_status"})", Millis(10'000));
    const auto reply = nlohmann::json::parse(line, nullptr, false);
    if (reply.is_discarded() || !reply.contains("roots")) return -1;
    return static_cast<long long>(reply["roots"].size());
}

// How many descriptors the daemon has open on something in the root.
std::size_t daemon_files_in(DaemonFixture& f) {
    std::size_t count = 0;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator("/proc/" + std::to_string(f.daemon().pid()) + "/fd", error)) {
        std::error_code unreadable;
        const auto target = fs::read_symlink(entry.path(), unreadable).string();
        if (!unreadable && target.rfind(f.root().string(), 0) == 0) ++count;
    }
    return count;
}

}  // namespace

TEST_SUITE("daemon_roots") {
    TEST_CASE("a root with nothing left is closed, and opens again with its watches on the next request") {
        DaemonFixture f;
        REQUIRE(run_process(f.lokt({"guard", "first", "--", "true"}), Millis(20'000)).status() == 0);
        CHECK(DaemonFixture::eventually([&] { return roots_served(f) == 0; }));

        // A manual TTL lock keeps the root open: the daemon has to let it lapse.
        REQUIRE(run_process(f.lokt({"lock", "db", "--ttl", "10m"}), Millis(20'000)).status() == 0);
        CHECK(roots_served(f) == 1);
        REQUIRE(run_process(f.lokt({"unlock", "db"}), Millis(20'000)).status() == 0);
        CHECK(DaemonFixture::eventually([&] { return roots_served(f) == 0; }));

        // Held in file mode with a TTL, by nobody the daemon can watch by pid: only
        // the root's inotify watch, started again, can tell the waiter it is free.
        ProcessSpec outside_lock = f.lokt({"lock", "ext", "--ttl", "10m"});
        outside_lock.env = f.files_env();
        REQUIRE(run_process(outside_lock, Millis(20'000)).status() == 0);
        ChildProcess waiter(f.lokt({"guard", "ext", "--wait", "--timeout", "60s", "--", "true"}));
        REQUIRE(f.daemon_counts_reach(0, 1));
        CHECK(roots_served(f) == 1);
        ProcessSpec outside_unlock = f.lokt({"unlock", "ext"});
        outside_unlock.env = f.files_env();
        REQUIRE(run_process(outside_unlock, Millis(20'000)).status() == 0);
        CHECK(waiter.wait_status(Millis(30'000)) == 0);
        CHECK(DaemonFixture::eventually([&] { return roots_served(f) == 0; }));
    }

    TEST_CASE("a status creates no root, and a root opened for a status or an unlock alone is closed") {
        DaemonFixture f;
        REQUIRE(run_process(f.lokt({"status"}), Millis(20'000)).status() == 0);
        REQUIRE(run_process(f.lokt({"status", "build", "--json"}), Millis(20'000)).status() == 3);
        CHECK_FALSE(fs::exists(f.root()));
        CHECK(DaemonFixture::eventually([&] { return roots_served(f) == 0; }));

        // An unlock writes, so it makes the root, as in file mode; then nothing is left to serve.
        CHECK(run_process(f.lokt({"unlock", "build"}), Millis(20'000)).status() == 3);
        CHECK(fs::is_directory(f.root() / "locks"));
        CHECK(DaemonFixture::eventually([&] { return roots_served(f) == 0; }));
        REQUIRE(run_process(f.lokt({"status"}), Millis(20'000)).status() == 0);
        CHECK(DaemonFixture::eventually([&] { return roots_served(f) == 0; }));
        CHECK(daemon_files_in(f) == 0);

        // While something is held the root's files stay open; once it is not, they are closed.
        REQUIRE(run_process(f.lokt({"lock", "db", "--ttl", "10m"}), Millis(20'000)).status() == 0);
        CHECK(daemon_files_in(f) > 0);
        REQUIRE(run_process(f.lokt({"unlock", "db"}), Millis(20'000)).status() == 0);
        CHECK(daemon_files_in(f) == 0);
    }

}  // TEST_SUITE

}  // namespace lokt::daemon_test
