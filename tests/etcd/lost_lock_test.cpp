// A guard that loses its lock through etcd (its key broken with --force, or
// its lease run out while the guard was paused) stops its command, audits
// `lost` and exits 6, the status of its own that the files and the daemon
// give too (tests/cli/guard_test.cpp). Also the views that name the etcd
// queue, and the audit analyses read from etcd.
#include <doctest/doctest.h>
#include <signal.h>

#include <cstdio>

#include "tests/support/etcd_cluster.hpp"
#include "tests/support/polling.hpp"
#include "tests/support/process.hpp"
#include "tests/support/scratch_dir.hpp"
#include "tests/support/test_main.hpp"
#include "tests/support/text_file.hpp"

namespace {

using namespace lokt::test;
using std::chrono::milliseconds;
namespace fs = std::filesystem;

const bool g_registered = add_run_hooks({[] {
                                             if (!etcd_available()) {
                                                 std::fprintf(stderr, "etcd is not installed: skipped\n");
                                                 return 77;
                                             }
                                             return 0;
                                         },
                                         {}});

const milliseconds k_timeout{20000};

ProcessSpec lokt_spec(const fs::path& cwd, const std::string& endpoints, const std::string& owner,
                      const std::vector<std::string>& args) {
    ProcessSpec spec;
    spec.argv = {LOKT_BINARY};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.env = Environment::inherited();
    spec.env.set("LOKT_BACKEND", "etcd");
    spec.env.set("LOKT_DAEMON", "off");  // each process its own lease, whatever loktd runs here
    spec.env.set("LOKT_ETCD_ENDPOINTS", endpoints);
    spec.env.set("LOKT_ETCD_PREFIX", "test/lost");
    spec.env.set("LOKT_OWNER", owner);
    spec.cwd = cwd;
    return spec;
}

}  // namespace

TEST_SUITE("etcd_lost_lock") {
    TEST_CASE("a guard that loses its lock stops the command, audits `lost` and exits 6") {
        ScratchDir dir("lokt-etcd-lost");
        EtcdCluster cluster(dir / "etcd", 1);
        const fs::path cwd = dir.path();
        const auto run = [&](const std::string& owner, const std::vector<std::string>& args) {
            return run_process(lokt_spec(cwd, cluster.endpoints(), owner, args), k_timeout);
        };
        ChildProcess guard(
            lokt_spec(cwd, cluster.endpoints(), "agent-1",
                      {"guard", "build", "--ttl", "2s", "--", "sh", "-c", "echo $$ > cmd.pid; echo ready; exec sleep 600"}));
        REQUIRE_MESSAGE(guard.wait_for_stdout_containing("ready", k_timeout), guard.stderr_text());
        const pid_t cmd_pid = static_cast<pid_t>(std::stol(read_text(cwd / "cmd.pid")));

        std::string cause;
        SUBCASE("its key broken with unlock --force") {
            const auto broke = run("agent-2", {"unlock", "build", "--force"});
            REQUIRE_MESSAGE(broke.status() == 0, broke.describe());
            cause = "its key in etcd is gone";
        }
        SUBCASE("its lease run out while guard was paused, and the lock taken meanwhile") {
            ::kill(guard.pid(), SIGSTOP);
            // Granted only once etcd has let the paused guard's lease expire.
            const auto taken = run("agent-2", {"lock", "build", "--ttl", "1m", "--wait", "--timeout", "15s"});
            ::kill(guard.pid(), SIGCONT);
            REQUIRE_MESSAGE(taken.status() == 0, taken.describe());
            cause = "lease";
        }

        const auto exited = guard.wait_exit(k_timeout);
        REQUIRE_MESSAGE(exited, "guard kept running after its lock was lost:\n" << guard.stderr_text());
        const auto r = guard.finish(k_timeout);
        CHECK_MESSAGE(r.status() == 6, r.describe());
        CHECK_MESSAGE(r.err.find("lock \"build\" was lost") != std::string::npos, r.describe());
        CHECK_MESSAGE(r.err.find(cause) != std::string::npos, r.describe());
        CHECK_MESSAGE(wait_until([&] { return !process_alive(cmd_pid); }, k_timeout), "the command was left running");

        const auto audit = run("agent-1", {"audit", "--json", "--name", "build"});
        REQUIRE_MESSAGE(audit.status() == 0, audit.describe());
        CHECK_MESSAGE(count_of(audit.out, "\"event\":\"lost\"") == 1, audit.out);
        CHECK_MESSAGE(count_of(audit.out, "\"event\":\"release\"") == 0, audit.out);
    }
}

TEST_SUITE("etcd_views") {
    TEST_CASE("why and status speak of the etcd queue; audit --stats and --timeline read etcd's events") {
        ScratchDir dir("lokt-etcd-views");
        EtcdCluster cluster(dir / "etcd", 1);
        const fs::path cwd = dir.path();
        const auto run = [&](const std::string& owner, const std::vector<std::string>& args) {
            return run_process(lokt_spec(cwd, cluster.endpoints(), owner, args), k_timeout);
        };
        const auto held = run("agent-1", {"lock", "build", "--ttl", "1m"});
        REQUIRE_MESSAGE(held.status() == 0, held.describe());
        ChildProcess waiter(
            lokt_spec(cwd, cluster.endpoints(), "agent-2", {"guard", "build", "--wait", "--timeout", "20s", "--", "true"}));
        std::string why;
        REQUIRE_MESSAGE(wait_until(
                            [&] {
                                why = run("agent-3", {"why", "build"}).out;
                                return why.find("1 acquire waits in the etcd queue") != std::string::npos;
                            },
                            k_timeout, milliseconds(100)),
                        why);
        CHECK(why.find("daemon") == std::string::npos);
        const auto status = run("agent-3", {"status", "build"});
        CHECK_MESSAGE(status.out.find("waiting:   1 in the etcd queue") != std::string::npos, status.describe());

        const auto released = run("agent-1", {"unlock", "build"});
        REQUIRE_MESSAGE(released.status() == 0, released.describe());
        const auto waited = waiter.finish(k_timeout);
        REQUIRE_MESSAGE(waited.status() == 0, waited.describe());

        const auto stats = run("agent-3", {"audit", "--stats", "--json"});
        REQUIRE_MESSAGE(stats.status() == 0, stats.describe());
        CHECK_MESSAGE(stats.out.find("\"build\"") != std::string::npos, stats.out);
        const auto timeline = run("agent-3", {"audit", "--name", "build", "--timeline", "incident.html"});
        REQUIRE_MESSAGE(timeline.status() == 0, timeline.describe());
        CHECK(read_text(cwd / "incident.html").find("build") != std::string::npos);
    }
}
