// Guards on etcd through a local loktd: their holds go on loktd's one lease
// (per cluster, namespace and TTL) instead of one lease per process, and a
// guard killed with -9 is released by loktd at once, so that a waiter on
// another host (its own UTS and PID namespace) gets the lock long before the
// lease could run out. Without a loktd, lokt keeps its own lease (the CLI
// suites run that way, LOKT_DAEMON=off); with LOKT_DAEMON=require and none,
// a guard fails and nothing is taken.
#include <doctest/doctest.h>
#include <signal.h>

#include <cstdio>
#include <thread>

#include "tests/daemon/support/daemon_instance.hpp"
#include "tests/support/etcd_cluster.hpp"
#include "tests/support/polling.hpp"
#include "tests/support/process.hpp"
#include "tests/support/scratch_dir.hpp"
#include "tests/support/test_main.hpp"
#include "tests/support/text_file.hpp"

namespace {

using namespace lokt::test;
using lokt::daemon_test::DaemonInstance;
using std::chrono::milliseconds;
namespace fs = std::filesystem;

const bool g_registered = add_run_hooks({[] { return etcd_hosts_available(); }, {}});

const milliseconds k_timeout{20000};

Environment etcd_env(const std::string& endpoints, const std::string& owner) {
    Environment env = Environment::inherited();
    env.set("LOKT_BACKEND", "etcd");
    env.set("LOKT_ETCD_ENDPOINTS", endpoints);
    env.set("LOKT_ETCD_PREFIX", "test/daemon-lease");
    env.set("LOKT_OWNER", owner);
    return env;
}

// lokt on this host, through the daemon (LOKT_DAEMON=require).
ProcessSpec on_host_a(const DaemonInstance& daemon, const fs::path& cwd, const std::string& endpoints, const std::string& owner,
                      const std::vector<std::string>& args) {
    ProcessSpec spec;
    spec.argv = {LOKT_BINARY};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.env = etcd_env(endpoints, owner);
    for (const auto& [name, value] : daemon.env_for_clients()) spec.env.set(name, value);
    spec.cwd = cwd;
    return spec;
}

// lokt on another host: its own host name and pids, no daemon.
ProcessSpec on_host_b(const fs::path& cwd, const std::string& endpoints, const std::string& owner,
                      const std::vector<std::string>& args) {
    std::string command = "hostname host-b || exit 99; exec \"$LOKT\"";
    for (const auto& arg : args) command += " '" + arg + "'";
    ProcessSpec spec;
    spec.argv = {"unshare", "--uts", "--pid", "--fork", "--kill-child", "sh", "-c", command};
    spec.env = etcd_env(endpoints, owner);
    spec.env.set("LOKT", LOKT_BINARY);
    spec.env.set("LOKT_DAEMON", "off");
    spec.cwd = cwd;
    return spec;
}

// etcd's own list of leases (etcdctl), as "found N leases".
std::string lease_list(const std::string& endpoints) {
    ProcessSpec spec;
    spec.argv = {"etcdctl", "--endpoints", endpoints, "lease", "list"};
    spec.env = Environment::inherited();
    spec.env.set("ETCDCTL_API", "3");
    return run_process(spec, k_timeout).out;
}

}  // namespace

// A one-member cluster and a private loktd in a scratch directory, which is
// also where the lokt processes run.
struct EtcdAndDaemon {
    ScratchDir dir{"lokt-etcd-daemon"};
    EtcdCluster cluster{dir / "etcd", 1};
    DaemonInstance daemon{dir / "loktd"};
    const fs::path cwd = dir.path();
    const std::string endpoints = cluster.endpoints();
};

TEST_SUITE("etcd_daemon_lease") {
    TEST_CASE_FIXTURE(EtcdAndDaemon, "guards share loktd's lease; a guard killed -9 is released by loktd at once") {
        // Two guards on host A, on two names.
        ChildProcess first(on_host_a(daemon, cwd, endpoints, "agent-1",
                                     {"guard", "build", "--", "sh", "-c", "echo $$ > cmd.pid; echo ready; exec sleep 600"}));
        REQUIRE_MESSAGE(first.wait_for_stdout_containing("ready", k_timeout), first.stderr_text() << daemon.log());
        const pid_t cmd_pid = static_cast<pid_t>(std::stol(read_text(cwd / "cmd.pid")));
        ChildProcess second(
            on_host_a(daemon, cwd, endpoints, "agent-2", {"guard", "deploy", "--", "sh", "-c", "echo ready; exec sleep 600"}));
        REQUIRE_MESSAGE(second.wait_for_stdout_containing("ready", k_timeout), second.stderr_text() << daemon.log());

        // One lease in etcd for both: loktd's.
        const std::string leases = lease_list(endpoints);
        CHECK_MESSAGE(leases.find("found 1 leases") != std::string::npos, leases);

        // Host B queues for build; then host A's guard of it is killed -9.
        ChildProcess waiter(on_host_b(cwd, endpoints, "agent-b",
                                      {"guard", "build", "--wait", "--timeout", "10s", "--", "sh", "-c", "echo got it"}));
        const auto queued = [&] {
            const auto why = lokt::test::run_process(on_host_a(daemon, cwd, endpoints, "agent-3", {"why", "build"}), k_timeout);
            return why.out.find("1 acquire waits in the etcd queue") != std::string::npos;
        };
        REQUIRE_MESSAGE(wait_until(queued, k_timeout, milliseconds(50)), waiter.stderr_text());
        ::kill(first.pid(), SIGKILL);
        (void)first.wait_exit(k_timeout);

        // The lease (15 s) is kept alive by loktd: only loktd's release lets
        // the waiter in within its 10 s.
        const auto got = waiter.finish(k_timeout);
        CHECK_MESSAGE(got.status() == 0, got.describe() << daemon.log());
        CHECK_MESSAGE(got.out.find("got it") != std::string::npos, got.describe());

        const auto audit = lokt::test::run_process(
            on_host_a(daemon, cwd, endpoints, "agent-3", {"audit", "--json", "--name", "build"}), k_timeout);
        REQUIRE_MESSAGE(audit.status() == 0, audit.describe());
        CHECK_MESSAGE(count_of(audit.out, "\"event\":\"stale-break\"") == 1, audit.out);
        CHECK_MESSAGE(audit.out.find("its guard's connection to loktd closed") != std::string::npos, audit.out);
        CHECK_MESSAGE(count_of(audit.out, "\"event\":\"acquire\"") == 2, audit.out);

        // The other guard on the same lease is untouched, and ends as usual.
        CHECK(second.running());
        const auto held = lokt::test::run_process(on_host_a(daemon, cwd, endpoints, "agent-3", {"exists", "deploy"}), k_timeout);
        CHECK_MESSAGE(held.status() == 0, held.describe());
        second.send_signal(SIGTERM);
        const auto ended = second.finish(k_timeout);
        CHECK_MESSAGE(ended.status() == 143, ended.describe());
        const auto gone = lokt::test::run_process(on_host_a(daemon, cwd, endpoints, "agent-3", {"exists", "deploy"}), k_timeout);
        CHECK_MESSAGE(gone.status() != 0, gone.describe());
        ::kill(cmd_pid, SIGKILL);
    }

    TEST_CASE_FIXTURE(EtcdAndDaemon, "a loktd killed -9 leaves its guards' holds alone: the guards keep its lease alive") {
        // A lease of 2 s: gone within 2 s unless somebody keeps it alive.
        ChildProcess guard(on_host_a(
            daemon, cwd, endpoints, "agent-1",
            {"guard", "build", "--ttl", "2s", "--", "sh", "-c", "echo ready; while [ ! -e done ]; do sleep 0.05; done"}));
        REQUIRE_MESSAGE(guard.wait_for_stdout_containing("ready", k_timeout), guard.stderr_text() << daemon.log());
        daemon.crash();

        // Three TTLs later the hold is still there, seen from another host.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(6);
        while (std::chrono::steady_clock::now() < deadline) {
            const auto held = run_process(on_host_b(cwd, endpoints, "agent-b", {"exists", "build"}), k_timeout);
            REQUIRE_MESSAGE(held.status() == 0, held.describe() << guard.stderr_text());
            REQUIRE(guard.running());
            std::this_thread::sleep_for(milliseconds(500));
        }
        write_text(cwd / "done", "");
        const auto ended = guard.finish(k_timeout);
        CHECK_MESSAGE(ended.status() == 0, ended.describe());
        CHECK(run_process(on_host_b(cwd, endpoints, "agent-b", {"exists", "build"}), k_timeout).status() != 0);
    }

    TEST_CASE("LOKT_DAEMON=require with no loktd: the guard fails and takes nothing") {
        ScratchDir dir("lokt-etcd-daemon-none");
        EtcdCluster cluster(dir / "etcd", 1);
        const fs::path cwd = dir.path();
        ProcessSpec spec;
        spec.argv = {LOKT_BINARY, "guard", "build", "--", "true"};
        spec.env = etcd_env(cluster.endpoints(), "agent-1");
        spec.env.set("LOKT_DAEMON", "require");
        spec.env.set("LOKT_SOCKET", (dir / "nobody.sock").string());
        spec.cwd = cwd;
        const auto refused = run_process(spec, k_timeout);
        CHECK_MESSAGE(refused.status() != 0, refused.describe());
        CHECK_MESSAGE(refused.err.find("LOKT_DAEMON=require") != std::string::npos, refused.describe());
        spec.argv = {LOKT_BINARY, "exists", "build"};
        spec.env.set("LOKT_DAEMON", "off");
        CHECK(run_process(spec, k_timeout).status() != 0);
    }

    TEST_CASE("LOKT_DAEMON=require, loktd running, etcd not: the refusal names etcd, not a missing loktd") {
        ScratchDir dir("lokt-etcd-daemon-no-etcd");
        DaemonInstance daemon(dir / "loktd");
        // Nothing listens on port 1 of the loopback address.
        ProcessSpec spec = on_host_a(daemon, dir.path(), "http://127.0.0.1:1", "agent-1", {"guard", "build", "--", "true"});
        spec.env.set("LOKT_DAEMON", "require");
        const auto refused = run_process(spec, k_timeout);
        CHECK_MESSAGE(refused.status() == 1, refused.describe());
        CHECK_MESSAGE(refused.err.find("loktd could not keep a lease") != std::string::npos, refused.describe());
        CHECK_MESSAGE(refused.err.find("is etcd running there?") != std::string::npos, refused.describe());
        CHECK_MESSAGE(refused.err.find("lokt daemon start") == std::string::npos, refused.describe());
    }
}
