// Handoff through the daemon with real processes: FIFO order among waiting
// guards, the next waiter running as soon as a holder is killed or the lock
// is unlocked or unfrozen through the daemon, holds left valid when the
// daemon stops, and the idle exit.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "tests/daemon/daemon_fixture.hpp"

namespace lokt::daemon_test {
namespace {

std::vector<std::string> lines_of(const fs::path& path) {
    std::vector<std::string> lines;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// The audit lines of one event for one name, in file order, as their `ts` in
// seconds since the epoch.
std::vector<double> audit_times(const fs::path& log, const std::string& event, const std::string& name) {
    std::vector<double> times;
    for (const auto& line : lines_of(log)) {
        const auto json = nlohmann::json::parse(line, nullptr, false);
        if (!json.is_object() || json.value("event", "") != event || json.value("name", "") != name) continue;
        std::tm tm{};
        double seconds = 0;
        REQUIRE(std::sscanf(json.value("ts", "").c_str(), "%d-%d-%dT%d:%d:%lf", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                            &tm.tm_min, &seconds) == 6);
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        times.push_back(static_cast<double>(::timegm(&tm)) + seconds);
    }
    return times;
}

long long now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

TEST_SUITE("daemon_handoff") {
    TEST_CASE("eight waiting guards are granted in the order they arrived") {
        DaemonFixture f;
        ChildProcess holder(f.holding_guard("queue"));
        REQUIRE(f.daemon_counts_reach(1, 0));

        std::vector<ChildProcess> waiters;
        for (int i = 0; i < 8; ++i) {
            waiters.emplace_back(f.lokt(
                {"guard", "queue", "--wait", "--timeout", "60s", "--", "sh", "-c", "echo " + std::to_string(i) + " >> order"}));
            // The next one starts only once this one is queued: arrival order is known.
            REQUIRE_MESSAGE(f.daemon_counts_reach(1, i + 1), "waiter " << i << " did not queue");
        }
        holder.close_stdin();
        REQUIRE(holder.wait_status(Millis(20'000)) == 0);
        for (auto& waiter : waiters) CHECK(waiter.wait_status(Millis(30'000)) == 0);
        CHECK(lines_of(f.scratch() / "order") == std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7"});
    }

    TEST_CASE("kill -9 of a guard: its command keeps the lock, and the next waiter runs the moment it exits") {
        DaemonFixture f;
        ChildProcess holder(f.lokt({"guard", "k9", "--", "sh", "-c", "echo $$ > holder.pid; exec sleep 60"}));
        REQUIRE(DaemonFixture::eventually([&] { return !lines_of(f.scratch() / "holder.pid").empty(); }));
        const pid_t command = std::stoi(lines_of(f.scratch() / "holder.pid")[0]);
        ChildProcess waiter(f.lokt({"guard", "k9", "--wait", "--timeout", "60s", "--", "sh", "-c", "date +%s%N > ran"}));
        REQUIRE(f.daemon_counts_reach(1, 1));

        holder.send_signal(SIGKILL);
        CHECK(holder.wait_status(Millis(10'000)) == 128 + SIGKILL);
        // The guard's connection is gone; its command is not: the hold stays.
        REQUIRE(f.daemon_counts_reach(1, 1));
        CHECK(::kill(command, 0) == 0);
        CHECK(fs::exists(f.root() / "locks" / "k9.json"));
        CHECK_FALSE(fs::exists(f.scratch() / "ran"));

        const long long killed_at = now_ns();
        ::kill(command, SIGKILL);
        CHECK(waiter.wait_status(Millis(30'000)) == 0);
        const auto ran = lines_of(f.scratch() / "ran");
        REQUIRE(ran.size() == 1);
        const double latency_ms = static_cast<double>(std::stoll(ran[0]) - killed_at) / 1e6;
        MESSAGE("handoff after kill -9 of the holder's command: " << latency_ms << " ms (until the waiter's command ran)");
        const std::string audit = read_text(f.root() / "audit.log");
        CHECK(audit.find("\"event\":\"stale-break\"") != std::string::npos);
        CHECK(audit.find("guard and its command have exited") != std::string::npos);
    }

    TEST_CASE("an unlock or an unfreeze through the daemon hands the lock to the waiter") {
        DaemonFixture f;
        REQUIRE(run_process(f.lokt({"lock", "db", "--ttl", "10m"}), Millis(20'000)).status() == 0);
        ChildProcess waiter(f.lokt({"guard", "db", "--wait", "--timeout", "60s", "--", "true"}));
        REQUIRE(f.daemon_counts_reach(1, 1));
        REQUIRE(run_process(f.lokt({"unlock", "db", "--force"}), Millis(20'000)).status() == 0);
        CHECK(waiter.wait_status(Millis(30'000)) == 0);

        REQUIRE(run_process(f.lokt({"freeze", "deploy", "--ttl", "10m"}), Millis(20'000)).status() == 0);
        ChildProcess frozen_out(f.lokt({"guard", "deploy", "--wait", "--timeout", "60s", "--", "true"}));
        REQUIRE(f.daemon_counts_reach(0, 1));
        REQUIRE(run_process(f.lokt({"unfreeze", "deploy"}), Millis(20'000)).status() == 0);
        CHECK(frozen_out.wait_status(Millis(30'000)) == 0);
        CHECK(f.daemon_counts_reach(0, 0));
        const std::string audit = read_text(f.root() / "audit.log");
        CHECK(audit.find("\"event\":\"force-break\"") != std::string::npos);
        CHECK(audit.find("\"event\":\"unfreeze\"") != std::string::npos);
    }

    TEST_CASE("a holder outside the daemon: its release (inotify) and its command's end (handle) wake the waiter") {
        DaemonFixture f;
        // Released normally by a file-mode client: the daemon sees the file go.
        ProcessSpec outsider = f.holding_guard("ext");
        outsider.env = f.files_env();
        ChildProcess holder(outsider);
        REQUIRE(DaemonFixture::eventually([&] { return fs::exists(f.root() / "locks" / "ext.json"); }));
        ChildProcess first(f.lokt({"guard", "ext", "--wait", "--timeout", "60s", "--", "true"}));
        REQUIRE(f.daemon_counts_reach(0, 1));
        holder.close_stdin();
        CHECK(first.wait_status(Millis(30'000)) == 0);

        // Killed: the file stays and names a dead pid; its command runs on and
        // keeps the hold until the daemon hears its handle close.
        ProcessSpec doomed_spec = f.lokt({"guard", "ext", "--", "sh", "-c", "echo $$ > doomed.pid; exec sleep 60"});
        doomed_spec.env = f.files_env();
        ChildProcess doomed(doomed_spec);
        REQUIRE(DaemonFixture::eventually([&] { return !lines_of(f.scratch() / "doomed.pid").empty(); }));
        const pid_t command = std::stoi(lines_of(f.scratch() / "doomed.pid")[0]);
        ChildProcess second(f.lokt({"guard", "ext", "--wait", "--timeout", "60s", "--", "true"}));
        REQUIRE(f.daemon_counts_reach(0, 1));
        doomed.send_signal(SIGKILL);
        CHECK(doomed.wait_status(Millis(10'000)) == 128 + SIGKILL);  // its parent reaps it, as a shell would
        CHECK(fs::exists(f.root() / "locks" / "ext.json"));
        CHECK(f.daemon_counts_reach(0, 1));  // still waiting
        const auto killed_at = std::chrono::steady_clock::now();
        ::kill(command, SIGKILL);
        CHECK(second.wait_status(Millis(30'000)) == 0);
        MESSAGE("waiter done " << std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - killed_at).count()
                               << " ms after kill -9 of a file-mode holder's command");
        const std::string audit = read_text(f.root() / "audit.log");
        CHECK(audit.find("\"event\":\"stale-break\"") != std::string::npos);
    }

    TEST_CASE("stopping the daemon leaves a guard's hold valid, and the guard releases it itself") {
        DaemonFixture f;
        // LOKT_DAEMON=auto: with require, a daemon that goes away is an error (daemon_pause).
        ProcessSpec spec = f.holding_guard("keep", {"--ttl", "4s"});
        spec.env.set("LOKT_DAEMON", "auto");
        ChildProcess holder(spec);
        REQUIRE(f.daemon_counts_reach(1, 0));
        f.daemon().stop();
        CHECK(fs::exists(f.root() / "locks" / "keep.json"));
        // The guard carries on in file mode past the TTL (it renews), then releases.
        std::this_thread::sleep_for(Millis(5000));
        CHECK(fs::exists(f.root() / "locks" / "keep.json"));
        holder.close_stdin();
        CHECK(holder.wait_status(Millis(20'000)) == 0);
        CHECK_FALSE(fs::exists(f.root() / "locks" / "keep.json"));
        const std::string audit = read_text(f.root() / "audit.log");
        CHECK(audit.find("\"event\":\"release\"") != std::string::npos);
        CHECK(audit.find("\"event\":\"lost\"") == std::string::npos);
    }

    TEST_CASE("the daemon alone renews a guard's hold while its connection is open: one renew line per TTL/2") {
        DaemonFixture f;
        const auto r = run_process(f.lokt({"guard", "beat", "--ttl", "2s", "--", "sleep", "5"}), Millis(30'000));
        REQUIRE(r.status() == 0);
        const fs::path log = f.root() / "audit.log";
        const auto acquired = audit_times(log, "acquire", "beat");
        const auto released = audit_times(log, "release", "beat");
        const auto renewed = audit_times(log, "renew", "beat");
        REQUIRE(acquired.size() == 1);
        REQUIRE(released.size() == 1);
        CHECK(audit_times(log, "lost", "beat").empty());
        // Every TTL/2 (1 s) of the ~5 s hold, one line: not one from the daemon
        // and another from the guard's heartbeat.
        const double held = released[0] - acquired[0];
        MESSAGE(renewed.size() << " renew lines in a hold of " << held << " s");
        CHECK(static_cast<double>(renewed.size()) <= held + 1);
        CHECK(static_cast<double>(renewed.size()) >= held - 2);
        double previous = acquired[0];
        for (double at : renewed) {
            CHECK_MESSAGE(at - previous >= 0.5, "two renewals " << at - previous << " s apart");
            previous = at;
        }
        // The guard asked for none (the daemon logs every request at debug level).
        CHECK_FALSE(std::regex_search(f.daemon().log(), std::regex(": [0-9]+ renew ")));
    }

    TEST_CASE("a manual lock with a TTL names the daemon and outlives the command") {
        DaemonFixture f;
        REQUIRE(run_process(f.lokt({"lock", "db", "--ttl", "10m"}), Millis(20'000)).status() == 0);
        const std::string file = read_text(f.root() / "locks" / "db.json");
        CHECK(file.find("\"pid\": " + std::to_string(f.daemon().pid())) != std::string::npos);
        CHECK(file.find("\"bound_to\": \"ttl\"") != std::string::npos);
        CHECK(run_process(f.lokt({"guard", "db", "--", "true"}), Millis(20'000)).status() == 2);
        CHECK(run_process(f.lokt({"unlock", "db"}), Millis(20'000)).status() == 0);
        CHECK(run_process(f.lokt({"guard", "db", "--", "true"}), Millis(20'000)).status() == 0);
    }

    TEST_CASE("a lock root removed or an audit.log rotated while loktd runs: the next operations use what is there now") {
        DaemonFixture f;
        REQUIRE(run_process(f.lokt({"guard", "files", "--", "true"}), Millis(20'000)).status() == 0);
        REQUIRE(fs::exists(f.root() / "audit.log"));

        // Rotated: the old log keeps its lines, the next ones go to a new audit.log.
        fs::rename(f.root() / "audit.log", f.scratch() / "audit.log.1");
        REQUIRE(run_process(f.lokt({"lock", "after-rotation", "--ttl", "10m"}), Millis(20'000)).status() == 0);
        const std::string rotated = read_text(f.scratch() / "audit.log.1");
        CHECK(rotated.find("after-rotation") == std::string::npos);
        CHECK(read_text(f.root() / "audit.log").find("\"name\":\"after-rotation\"") != std::string::npos);
        REQUIRE(run_process(f.lokt({"unlock", "after-rotation"}), Millis(20'000)).status() == 0);

        // Removed: the root is made again and the lock is taken where everyone looks.
        fs::remove_all(f.root());
        ChildProcess holder(f.holding_guard("files"));
        REQUIRE(DaemonFixture::eventually([&] { return fs::exists(f.root() / "locks" / "files.json"); }));
        // A file-mode client sees the daemon's hold.
        ProcessSpec files_client = f.lokt({"guard", "files", "--", "true"});
        files_client.env = f.files_env();
        CHECK(run_process(files_client, Millis(20'000)).status() == 2);
        holder.close_stdin();
        CHECK(holder.wait_status(Millis(20'000)) == 0);
        CHECK_FALSE(fs::exists(f.root() / "locks" / "files.json"));
        CHECK(read_text(f.root() / "audit.log").find("\"event\":\"release\",\"name\":\"files\"") != std::string::npos);

        // With nothing held or awaited the daemon keeps none of the root's files
        // open (so the filesystem can be unmounted or remounted read-only). The
        // inotify watch is not a file descriptor of the root.
        const auto open_in_root = [&] {
            std::vector<std::string> found;
            const fs::path fds = fs::path("/proc") / std::to_string(f.daemon().pid()) / "fd";
            for (const auto& entry : fs::directory_iterator(fds)) {
                std::error_code ignored;
                const std::string target = fs::read_symlink(entry.path(), ignored).string();
                if (target.rfind(f.root().string(), 0) == 0) found.push_back(target);
            }
            return found;
        };
        CHECK_MESSAGE(open_in_root().empty(), "loktd still has open: " << open_in_root().size() << " files of the root");
    }

    TEST_CASE("idle exit waits until nothing is held") {
        DaemonFixture f;
        f.daemon().stop();
        DaemonInstance idle(f.scratch() / "idle", {"--idle-exit", "300ms"});
        ProcessSpec holder_spec = f.holding_guard("idle");
        holder_spec.env = f.daemon_env(idle);
        ChildProcess holder(holder_spec);
        REQUIRE(DaemonFixture::eventually([&] {
            auto counts = daemon_counts(idle.socket());
            return counts && counts->holds == 1;
        }));
        std::this_thread::sleep_for(Millis(1000));
        CHECK(idle.running());
        holder.close_stdin();
        CHECK(holder.wait_status(Millis(20'000)) == 0);
        CHECK(DaemonFixture::eventually([&] { return !idle.running(); }, Millis(10'000)));
    }

}  // TEST_SUITE

}  // namespace lokt::daemon_test
