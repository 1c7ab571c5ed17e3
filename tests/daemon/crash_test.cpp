// Mutual exclusion when things go wrong: the daemon killed in the middle of a
// 16-process contention run, and daemon clients, file-mode clients and a
// second daemon sharing one root. The witness is an atomic mkdir: a process
// that finds the directory already there records an overlap.
#include <thread>

#include <sstream>

#include "tests/daemon/daemon_fixture.hpp"

namespace lokt::daemon_test {
namespace {

const std::string k_critical_section =
    "mkdir wit 2>/dev/null || echo overlap >> overlaps; sleep 0.03; rmdir wit 2>/dev/null || echo overlap >> overlaps";

// The daemon is killed under these clients: they use it while it answers and
// the files after (LOKT_DAEMON=auto; with require its loss is an error, see daemon_pause).
ProcessSpec with_fallback(ProcessSpec spec) {
    spec.env.set("LOKT_DAEMON", "auto");
    return spec;
}

}  // namespace

TEST_SUITE("daemon_crash") {
    TEST_CASE("kill -9 of the daemon during contention: no overlap, every guard finishes, a new daemon serves") {
        DaemonFixture f;
        // A gate holds the lock until all 16 guards are queued in the daemon, so
        // every one of them is a daemon client when the crash comes.
        ChildProcess gate(f.holding_guard("contended"));
        REQUIRE(f.daemon_counts_reach(1, 0));
        std::vector<ChildProcess> guards;
        for (int i = 0; i < 16; ++i) {
            ProcessSpec spec = with_fallback(f.lokt(
                {"guard", "contended", "--ttl", "10s", "--wait", "--timeout", "120s", "--", "sh", "-c", k_critical_section}));
            spec.output_file = f.scratch() / ("guard-" + std::to_string(i) + ".out");
            guards.emplace_back(spec);
        }
        REQUIRE(f.daemon_counts_reach(1, 16));
        gate.close_stdin();
        REQUIRE(gate.wait_status(Millis(20'000)) == 0);
        // Crash in the middle of the handoffs.
        REQUIRE(DaemonFixture::eventually([&] {
            auto counts = daemon_counts(f.daemon().socket());
            return counts && counts->waiters <= 12;
        }));
        f.daemon().crash();
        int finished = 0;
        for (auto& guard : guards) {
            const auto status = guard.wait_status(Millis(120'000));
            CHECK_MESSAGE(status == 0, "exit " << status.value_or(-1) << ": " << guard.output());
            if (status == 0) ++finished;
        }
        CHECK(finished == 16);
        CHECK_FALSE(fs::exists(f.scratch() / "overlaps"));
        CHECK_FALSE(fs::exists(f.root() / "locks" / "contended.json"));

        // The stale socket is replaced and the new daemon serves.
        f.daemon().start();
        CHECK(run_process(f.lokt({"guard", "contended", "--", "true"}), Millis(20'000)).status() == 0);
    }

    TEST_CASE("kill -9 of the daemon during a wait: the wait goes on with the files, with one deny line") {
        DaemonFixture f;
        ChildProcess holder(with_fallback(f.holding_guard("waited")));
        REQUIRE(f.daemon_counts_reach(1, 0));
        ProcessSpec waiter_spec =
            with_fallback(f.lokt({"guard", "waited", "--wait", "--timeout", "60s", "--", "sh", "-c", "echo $PPID > waiter.pid"}));
        waiter_spec.output_file = f.scratch() / "waiter.out";
        ChildProcess waiter(waiter_spec);
        REQUIRE(f.daemon_counts_reach(1, 1));
        f.daemon().crash();
        holder.close_stdin();
        REQUIRE(holder.wait_status(Millis(20'000)) == 0);
        REQUIRE(waiter.wait_status(Millis(60'000)) == 0);
        const std::string waiter_pid = read_text(f.scratch() / "waiter.pid");
        REQUIRE_FALSE(waiter_pid.empty());
        const std::string pid_field = "\"pid\":" + waiter_pid.substr(0, waiter_pid.find('\n')) + ",";
        int denies = 0;
        int acquires = 0;
        std::istringstream audit(read_text(f.root() / "audit.log"));
        for (std::string line; std::getline(audit, line);) {
            if (line.find(pid_field) == std::string::npos) continue;
            if (line.find("\"event\":\"deny\"") != std::string::npos) ++denies;
            if (line.find("\"event\":\"acquire\"") != std::string::npos) ++acquires;
        }
        CHECK(denies == 1);
        CHECK(acquires == 1);
    }

    TEST_CASE("daemon clients, file-mode clients and a second daemon never grant one lock twice") {
        DaemonFixture f;
        DaemonInstance& other = f.second_daemon();
        const std::string loop = "for i in 1 2 3 4 5; do lokt guard shared --wait --timeout 120s -- sh -c '" +
                                 k_critical_section + "' || exit 1; done";
        std::vector<ChildProcess> clients;
        for (int i = 0; i < 15; ++i) {
            ProcessSpec spec = f.sh(loop);
            if (i % 3 == 1) spec.env = f.daemon_env(other);
            if (i % 3 == 2) spec.env = f.files_env();
            clients.emplace_back(spec);
        }
        for (auto& client : clients) CHECK(client.wait_status(Millis(180'000)) == 0);
        CHECK_FALSE(fs::exists(f.scratch() / "overlaps"));
        const std::string audit = read_text(f.root() / "audit.log");
        std::size_t acquires = 0;
        for (std::size_t at = 0; (at = audit.find("\"event\":\"acquire\"", at)) != std::string::npos; ++at) ++acquires;
        CHECK(acquires == 75);
    }

}  // TEST_SUITE

}  // namespace lokt::daemon_test
