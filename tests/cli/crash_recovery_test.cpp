// A crashed holder must never wedge a name: a guard killed with -9 leaves a
// lock whose pid is dead, and a lock whose pid is alive but belongs to another
// process (a recycled pid, told apart by its start time) is just as dead.
#include <doctest/doctest.h>
#include <signal.h>

#include "tests/cli/support/lokt_fixture.hpp"
#include "tests/cli/support/test_backend.hpp"
#include "tests/support/polling.hpp"

using namespace lokt::cli_test;

namespace {}  // namespace

TEST_SUITE("crash_recovery") {
    TEST_CASE_FIXTURE(LoktFixture, "after kill -9 of a guard and its command the next guard takes the lock over") {
        std::vector<std::string> flags;
        SUBCASE("without a TTL") {}
        SUBCASE("with a TTL that has not run out") { flags = {"--ttl", "10m"}; }

        std::vector<std::string> args{"guard", "build"};
        args.insert(args.end(), flags.begin(), flags.end());
        args.insert(args.end(), {"--", "sh", "-c", "echo $$ > cmd.pid; echo ready; exec sleep 600"});
        ChildProcess guard = start_lokt(args, k_agent1);
        REQUIRE_MESSAGE(guard.wait_for_stdout_containing("ready", k_wait_timeout), guard.stderr_text());
        const auto held = read_lock("build");
        REQUIRE(held);
        REQUIRE((*held)["pid"] == guard.pid());
        const auto cmd_pid = static_cast<pid_t>(std::stoll(read_text(repo() / "cmd.pid")));

        // The whole agent crashes: the guard, then its command.
        guard.send_signal(SIGKILL);
        REQUIRE(finish(guard).term_signal == SIGKILL);
        ::kill(cmd_pid, SIGKILL);
        REQUIRE(wait_until([&] { return !process_alive(cmd_pid); }, k_wait_timeout));

        if (backend_name() == "daemon" || etcd_through_loktd()) {
            // The daemon heard the command's handle close (on etcd: the
            // guard's connection): it ends the hold at once.
            REQUIRE(wait_until([&] { return !has_lock("build"); }, k_wait_timeout));
        } else {
            REQUIRE(has_lock("build"));  // nobody released it
            CHECK_EXIT(lokt({"exists", "build"}), 3);
        }
        CHECK_EXIT(lokt({"guard", "build", "--", "true"}, k_agent2), 0);
        // Never a plain release: the holder died, and the audit says so in both backends.
        const auto breaks = audit_events("stale-break", "build");
        REQUIRE(breaks.size() == 1);
        CHECK(breaks[0]["lock_id"] == (*held)["lock_id"]);
        // etcd's holds carry no liveness handle: only the guard's pid is judged
        // there, or its connection to loktd when it has one.
        CHECK(breaks[0]["extra"]["reason"] == (etcd_through_loktd() ? "its guard's connection to loktd closed"
                                               : etcd_backend()     ? "holder process is dead"
                                                                    : "guard and its command have exited"));
        CHECK(breaks[0].dump().find(std::to_string(guard.pid())) != std::string::npos);  // names the dead holder
        for (const auto& release : audit_events("release", "build")) CHECK(release["lock_id"] != (*held)["lock_id"]);
        CHECK_FALSE(has_lock("build"));
        CHECK(directory_entries(root() / "live").empty());  // no liveness handle left behind
    }

    TEST_CASE_FIXTURE(LoktFixture, "a live pid with another start time is a recycled pid: the holder is dead" * files_only()) {
        const pid_t live = ::getpid();
        const auto real_start = process_start_ticks(live);
        REQUIRE(real_start);

        SUBCASE("control: the right start time is a live holder") {
            write_lock_file("build", foreign_record("build", live, *real_start).dump(2) + "\n");
            CHECK_EXIT(lokt({"exists", "build"}), 0);
            CHECK_EXIT(lokt({"guard", "build", "--", "true"}, k_agent2), 2);
            CHECK(has_lock("build"));
        }
        SUBCASE("this test's pid") {
            const Json record = foreign_record("build", live, *real_start + 12345);
            write_lock_file("build", record.dump(2) + "\n");
            CHECK_EXIT(lokt({"exists", "build"}), 3);
            const auto why = lokt({"why", "build"});
            CHECK_EXIT(why, 0);
            CHECK_EXIT(lokt({"guard", "build", "--", "true"}, k_agent2), 0);
            const auto breaks = audit_events("stale-break", "build");
            REQUIRE(breaks.size() == 1);
            CHECK(breaks[0]["lock_id"] == record["lock_id"]);
        }
        SUBCASE("pid 1") {
            const auto init_start = process_start_ticks(1);
            REQUIRE(init_start);
            const Json record = foreign_record("build", 1, *init_start + 1);
            write_lock_file("build", record.dump(2) + "\n");
            CHECK_EXIT(lokt({"exists", "build"}), 3);
            CHECK_EXIT(lokt({"lock", "build", "--ttl", "1m"}, k_agent2), 0);
            const auto now = read_lock("build");
            REQUIRE(now);
            CHECK((*now)["owner"] == "agent-2");
            CHECK(audit_events("stale-break", "build").size() == 1);
        }
    }

    TEST_CASE_FIXTURE(LoktFixture, "a lock bound to a shell that is gone is taken over") {
        // `lokt lock` without a TTL lasts as long as the process that ran it.
        REQUIRE_EXIT(sh("lokt lock build"), 0);
        const auto held = read_lock("build");
        REQUIRE(held);
        CHECK(wait_until([&] { return !process_alive(static_cast<pid_t>((*held)["pid"].get<long long>())); }, k_wait_timeout));
        CHECK_EXIT(lokt({"exists", "build"}), 3);
        CHECK_EXIT(lokt({"guard", "build", "--", "true"}, k_agent2), 0);
        CHECK(audit_events("stale-break", "build").size() == 1);
    }

}  // TEST_SUITE
