// Mutual exclusion across hosts through etcd: three "hosts", each its own UTS
// and PID namespace (unshare --uts --pid --fork) with its own host name, four
// workers each looping `lokt guard --wait` around a fenced witness
// (fenced_witness.py), while a nemesis kills (-9) and pauses (SIGSTOP) members
// of a three-member cluster, the leader included, and pauses a holding guard
// together with its command past its lease. Afterwards: no overlap among
// admitted sections, every holder overtaken while paused refused by the
// fence, every worker ended, and an audit `acquire` for every section that ran.
// Hosts 0 and 1 run a loktd of their own (LOKT_DAEMON=auto: their guards hold
// on its lease), host 2 none; the nemesis also kills host 0's loktd (-9) and
// pauses host 1's past the guards' lease.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "tests/support/etcd_cluster.hpp"
#include "tests/support/process.hpp"
#include "tests/support/scratch_dir.hpp"
#include "tests/support/test_main.hpp"
#include "tests/support/text_file.hpp"

namespace {

using namespace lokt::test;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int k_hosts = 3;
constexpr int k_workers = 4;
constexpr int k_hosts_with_loktd = 2;
// How long the workers loop and the nemesis acts (CI keeps it short).
seconds run_time() { return seconds(std::stoi(test_switch("LOKT_TEST_CROSS_HOST_SECONDS").value_or("15"))); }

const bool g_registered = add_run_hooks({[] { return etcd_hosts_available(); }, {}});

// Every process of the host whose worker is inside the witness now (the
// holder), as seen from outside its namespaces; empty when nobody is inside.
std::vector<pid_t> holding_host(std::vector<ChildProcess>& hosts) {
    for (auto& host : hosts) {
        std::vector<pid_t> tree = process_descendants(host.pid());
        for (pid_t pid : tree) {
            const std::string cmdline = read_text("/proc/" + std::to_string(pid) + "/cmdline");
            if (cmdline.find("fenced_witness.py") != std::string::npos) {
                tree.push_back(host.pid());
                return tree;
            }
        }
    }
    return {};
}

// The loktd of a host (its pid seen from outside), or 0.
pid_t loktd_of(ChildProcess& host) {
    for (pid_t pid : process_descendants(host.pid())) {
        // Its program, argv[0]: the host's shells name loktd in their scripts.
        const std::string cmdline = read_text("/proc/" + std::to_string(pid) + "/cmdline");
        const std::string program = cmdline.substr(0, cmdline.find('\0'));
        if (program == LOKTD_BINARY) return pid;
    }
    return 0;
}

}  // namespace

TEST_SUITE("cross_host") {
    TEST_CASE("3 hosts x 4 workers: no overlap while etcd members and holders are killed and paused") {
        ScratchDir dir("lokt-cross-host");
        EtcdCluster cluster(dir / "etcd", 3);
        const auto state = dir / "witness.json";
        write_text(state, R"({"highest":0,"inside":{},"overlaps":[],"overtaken":[],"refused":[],"admitted":0})");

        std::vector<ChildProcess> hosts;
        for (int h = 0; h < k_hosts; ++h) {
            // Each worker loops until the run is over; each guard waits at most 10 s.
            std::string script = "hostname host" + std::to_string(h) + " || exit 1\n";
            if (h < k_hosts_with_loktd) {
                // The host's loktd, on a socket of its own; gone with the host's PID namespace.
                const auto state_dir = dir / ("loktd" + std::to_string(h));
                std::filesystem::create_directory(state_dir);
                std::filesystem::permissions(state_dir, std::filesystem::perms::owner_all);
                const std::string sock = (state_dir / "loktd.sock").string();
                script += "\"$LOKTD\" --socket '" + sock + "' 2>>\"$OUT.loktd" + std::to_string(h) + "\" &\n" + "until [ -S '" +
                          sock + "' ]; do sleep 0.05; done\n" + "export LOKT_SOCKET='" + sock + "' LOKT_DAEMON=auto\n";
            }
            std::string workers;
            for (int w = 0; w < k_workers; ++w) {
                script += "( end=$(( $(date +%s) + " + std::to_string(run_time().count()) +
                          " )); n=0; while [ $(date +%s) -lt $end ]; do "
                          "\"$LOKT\" -q guard m --wait --timeout 10s --ttl 2s -- \"$PYTHON\" -I \"$WITNESS\" \"$STATE\" "
                          "2>>\"$OUT.err\"; "
                          "echo \"$? $(hostname)\" >> \"$OUT\"; done ) &\n";
                script += "w" + std::to_string(w) + "=$!\n";
                workers += " $w" + std::to_string(w);
            }
            script += "wait" + workers + "\n";
            ProcessSpec spec;
            // Its own host name, pids and /proc: nothing host-local is shared.
            spec.argv = {"unshare", "--uts", "--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c", script};
            spec.env = Environment::inherited();
            spec.env.set("LOKT", LOKT_BINARY);
            spec.env.set("LOKTD", LOKTD_BINARY);
            spec.env.set("WITNESS", WITNESS_SCRIPT);
            // The system's interpreter, started with -I: a version manager's
            // shim on PATH can cost a second per start.
            spec.env.set("PYTHON", std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3");
            spec.env.set("STATE", state.string());
            spec.env.set("OUT", (dir / "statuses").string());
            spec.env.set("LOKT_BACKEND", "etcd");
            spec.env.set("LOKT_DAEMON", "off");  // hosts 0 and 1 say auto: their own loktd
            spec.env.set("LOKT_ETCD_ENDPOINTS", cluster.endpoints());
            spec.env.set("LOKT_ETCD_PREFIX", "test/cross-host");
            spec.env.set("LOKT_OWNER", "worker-h" + std::to_string(h));
            spec.cwd = dir.path();
            hosts.emplace_back(spec);
        }

        // The nemesis: one fault at a time, each undone before the next.
        std::mt19937 random{std::random_device{}()};
        std::vector<std::string> faults;
        const auto end = std::chrono::steady_clock::now() + run_time() - seconds(2);
        int round = 0;
        const bool nemesis = test_switch("LOKT_TEST_CROSS_HOST_NEMESIS").value_or("1") != "0";
        while (nemesis && std::chrono::steady_clock::now() < end) {
            std::this_thread::sleep_for(milliseconds(700));
            const int leader = cluster.leader();
            const int victim = leader >= 0 && round % 2 == 0 ? leader : static_cast<int>(random() % 3);
            switch (round++ % 5) {
                case 0:
                    faults.push_back("kill -9 member " + std::to_string(victim) + (victim == leader ? " (leader)" : ""));
                    cluster.kill(victim);
                    std::this_thread::sleep_for(milliseconds(800));
                    cluster.restart(victim);
                    break;
                case 1:
                    faults.push_back("SIGSTOP member " + std::to_string(victim) + (victim == leader ? " (leader)" : ""));
                    cluster.pause(victim);
                    std::this_thread::sleep_for(milliseconds(1200));
                    cluster.resume(victim);
                    break;
                case 2: {
                    // The holder's whole host frozen past its 2 s lease (a paused
                    // VM): guard, command and waiters alike. etcd expires the
                    // lease; another host takes over; the thawed command's next
                    // write must be refused by the fence.
                    const auto tree = holding_host(hosts);
                    if (tree.empty()) break;
                    faults.push_back("SIGSTOP the holder's host (" + std::to_string(tree.size()) + " processes) for 4 s");
                    for (pid_t pid : tree) ::kill(pid, SIGSTOP);
                    std::this_thread::sleep_for(milliseconds(4000));
                    for (pid_t pid : tree) ::kill(pid, SIGCONT);
                    break;
                }
                case 3: {
                    // Host 0's loktd killed: its guards keep holding (they keep
                    // its lease alive themselves); new ones use leases of their own.
                    const pid_t loktd = loktd_of(hosts[0]);
                    if (loktd == 0) break;
                    faults.push_back("kill -9 host0's loktd");
                    ::kill(loktd, SIGKILL);
                    break;
                }
                case 4: {
                    // Host 1's loktd paused past the guards' 2 s lease: its
                    // guards keep the lease alive; a guard asking it meanwhile waits.
                    const pid_t loktd = loktd_of(hosts[1]);
                    if (loktd == 0) break;
                    faults.push_back("SIGSTOP host1's loktd for 3 s");
                    ::kill(loktd, SIGSTOP);
                    std::this_thread::sleep_for(milliseconds(3000));
                    ::kill(loktd, SIGCONT);
                    break;
                }
            }
        }
        for (auto& host : hosts) {
            // Every guard ends: the loops stop at run_time(), each wait within 10 s.
            const auto result = host.finish(milliseconds(30000));
            CHECK_MESSAGE(!result.timed_out, "a host's workers did not end:\n" << result.describe());
        }
        REQUIRE(cluster.wait_writable(seconds(10)));

        const auto witness = nlohmann::json::parse(read_text(state));
        std::string faults_text;
        for (const auto& f : faults) faults_text += f + "\n";
        INFO("faults:\n" << faults_text << "witness: " << witness.dump());
        CHECK(witness["overlaps"].empty());
        // Every holder overtaken while paused was turned away at its next write.
        for (const auto& overtaken : witness["overtaken"]) {
            bool refused = false;
            for (const auto& r : witness["refused"]) refused = refused || r == overtaken;
            CHECK_MESSAGE(refused, "overtaken holder " << overtaken << " was never refused");
        }
        const long admitted = witness["admitted"].get<long>();
        CHECK(admitted > 0);

        // The audit has an acquire for every admitted section (and more: those
        // refused by the fence at entry were granted too).
        ProcessSpec audit;
        audit.argv = {LOKT_BINARY, "audit", "--json", "--name", "m"};
        audit.env = Environment::inherited();
        audit.env.set("LOKT_BACKEND", "etcd");
        audit.env.set("LOKT_DAEMON", "off");  // each process its own lease, whatever loktd runs here
        audit.env.set("LOKT_ETCD_ENDPOINTS", cluster.endpoints());
        audit.env.set("LOKT_ETCD_PREFIX", "test/cross-host");
        audit.cwd = dir.path();
        const auto read = run_process(audit, milliseconds(20000));
        REQUIRE(read.status() == 0);
        long acquires = 0;
        std::size_t pos = 0;
        while ((pos = read.out.find("\"event\":\"acquire\"", pos)) != std::string::npos) {
            ++acquires;
            ++pos;
        }
        CHECK(acquires >= admitted);
        MESSAGE("admitted " << admitted << " sections, " << witness["refused"].size() << " refused by the fence, "
                            << witness["overtaken"].size() << " overtaken while paused, " << acquires << " acquires; "
                            << faults.size() << " faults");
    }
}
