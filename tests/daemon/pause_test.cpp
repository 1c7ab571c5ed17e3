// A daemon that stops answering: stopped with SIGSTOP for longer than a
// client waits for it (and, with a short TTL, for longer than the TTL), or
// killed between granting a lock and replying. The guards give up on it and
// carry on with the files; the daemon, when it resumes, must act on nothing it
// believed before the pause. The witness is a log of `enter` and `leave`
// lines appended with O_APPEND by every guarded section: two `enter` lines
// without a `leave` between them are an overlap.
#include <signal.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/daemon/daemon_fixture.hpp"

namespace lokt::daemon_test {
namespace {

using namespace std::chrono_literals;

// A guarded section that leaves its marks in `witness`.
std::string witnessed_section(const std::string& hold_for) {
    return "echo \"enter $$\" >> witness; sleep " + hold_for + "; echo \"leave $$\" >> witness";
}

std::vector<std::string> witness_lines(const fs::path& path) {
    std::vector<std::string> lines;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// Overlaps in the witness: an `enter` while another section is inside.
int overlap_count(const fs::path& witness) {
    int inside = 0;
    int found = 0;
    for (const auto& line : witness_lines(witness)) {
        if (line.rfind("enter ", 0) == 0) {
            if (inside > 0) ++found;
            ++inside;
        } else if (line.rfind("leave ", 0) == 0) {
            --inside;
        }
    }
    return found;
}

std::size_t lines_starting(const fs::path& witness, const std::string& prefix) {
    std::size_t n = 0;
    for (const auto& line : witness_lines(witness)) {
        if (line.rfind(prefix, 0) == 0) ++n;
    }
    return n;
}

// Every audit line is one JSON object; returns the first that is not.
std::string first_bad_audit_line(const fs::path& log) {
    for (const auto& line : witness_lines(log)) {
        const auto json = nlohmann::json::parse(line, nullptr, false);
        if (!json.is_object()) return line.empty() ? "(an empty line)" : line;
    }
    return "";
}

std::size_t audit_event_count(const fs::path& log, const std::string& event, const std::string& name) {
    std::size_t n = 0;
    for (const auto& line : witness_lines(log)) {
        const auto json = nlohmann::json::parse(line, nullptr, false);
        if (json.is_object() && json.value("event", "") == event && json.value("name", "") == name) ++n;
    }
    return n;
}

// Stops the daemon until destroyed (or resume()): an early REQUIRE never leaves it stopped.
class Paused {
public:
    explicit Paused(pid_t pid) : m_pid(pid) { ::kill(m_pid, SIGSTOP); }
    ~Paused() { resume(); }
    void resume() {
        if (m_pid > 0) ::kill(m_pid, SIGCONT);
        m_pid = -1;
    }

private:
    pid_t m_pid;
};

// strace on the daemon that does `action` on entry to its n-th call of
// `syscalls` (kills it, or holds the call back), with nothing else changed.
class InjectAtCall {
public:
    InjectAtCall(DaemonFixture& f, const std::string& syscalls, int nth, const std::string& action)
        : m_log(f.scratch() / ("strace-" + syscalls + "-" + std::to_string(nth) + ".log")) {
        ProcessSpec spec;
        spec.argv = {find_program("strace"),
                     "-f",
                     "-p",
                     std::to_string(f.daemon().pid()),
                     "-e",
                     "trace=" + syscalls,
                     "-e",
                     "inject=" + syscalls + ":" + action + ":when=" + std::to_string(nth)};
        spec.env = lokt::test::Environment::inherited();
        spec.cwd = f.scratch();
        spec.output_file = m_log;
        m_strace.emplace(spec);
        // Attached once it says so; only then may the request go out.
        REQUIRE_MESSAGE(
            DaemonFixture::eventually([&] { return read_text(m_log).find("attached") != std::string::npos; }, Millis(10'000)),
            read_text(m_log));
    }
    ~InjectAtCall() { finish(); }
    // What strace saw, once it is done (or the daemon it traced is gone).
    std::string finish() {
        if (m_strace) m_strace->finish(Millis(5'000));
        m_strace.reset();
        return read_text(m_log);
    }
    // Detaches at once (SIGTERM): the daemon goes on untraced.
    void detach() {
        if (m_strace) m_strace->stop();
        m_strace.reset();
    }

private:
    fs::path m_log;
    std::optional<ChildProcess> m_strace;
};

class KillAtCall : public InjectAtCall {
public:
    KillAtCall(DaemonFixture& f, const std::string& syscalls, int nth) : InjectAtCall(f, syscalls, nth, "signal=SIGKILL") {}
};

// Holds the daemon's n-th reply back for `stall` before it goes out: the
// daemon has done all the request asked, and neither answers nor does
// anything else meanwhile (it serves from one thread), as when stopped.
class StallAtReply : public InjectAtCall {
public:
    StallAtReply(DaemonFixture& f, int nth, std::chrono::microseconds stall)
        : InjectAtCall(f, "sendmsg,writev,sendto", nth, "delay_enter=" + std::to_string(stall.count())) {}
};

// Kills the daemon at its n-th reply (the sendmsg that carries it): it does
// everything a request asks and dies before the client hears of it.
class KillAtReply : public KillAtCall {
public:
    KillAtReply(DaemonFixture& f, int nth) : KillAtCall(f, "sendmsg,writev,sendto", nth) {}
};

// Kills the daemon at its first unlinkat: in a release, once the `release`
// line is in the log and before the lock file is removed.
class KillAtUnlink : public KillAtCall {
public:
    explicit KillAtUnlink(DaemonFixture& f) : KillAtCall(f, "unlinkat,unlink", 1) {}
};

// lokt with the daemon if it answers, else the files (LOKT_DAEMON=auto).
ProcessSpec auto_lokt(const DaemonFixture& f, std::vector<std::string> args) {
    ProcessSpec spec = f.lokt(std::move(args));
    spec.env.set("LOKT_DAEMON", "auto");
    return spec;
}

// `lokt unlock --all --json` (LOKT_DAEMON=auto) once "first" and "second"
// are held; its answer goes to unlock-all.out.
ProcessSpec unlock_all_of_two(DaemonFixture& f) {
    for (const char* name : {"first", "second"}) {
        REQUIRE(run_process(f.lokt({"lock", name, "--ttl", "1m"}), Millis(20'000)).status() == 0);
    }
    ProcessSpec unlock = f.lokt({"unlock", "--all", "--json"});
    unlock.env.set("LOKT_DAEMON", "auto");
    unlock.output_file = f.scratch() / "unlock-all.out";
    return unlock;
}

// Both names released once, and the answer says both.
void check_both_released(DaemonFixture& f) {
    for (const char* name : {"first", "second"}) {
        CHECK_FALSE(fs::exists(f.root() / "locks" / (std::string(name) + ".json")));
        CHECK(audit_event_count(f.root() / "audit.log", "release", name) == 1u);
    }
    std::string out = read_text(f.scratch() / "unlock-all.out");
    std::erase_if(out, [](char c) { return c == ' ' || c == '\n'; });
    CHECK_MESSAGE(out.find(R"("released":["first","second"])") != std::string::npos, out);
}

}  // namespace

TEST_SUITE("daemon_pause") {
    TEST_CASE("a daemon stopped and resumed 20 times under a guard with waiters: no overlap, every guard finishes") {
        DaemonFixture f;
        const fs::path witness = f.scratch() / "witness";
        for (int round = 0; round < 20; ++round) {
            CAPTURE(round);
            const std::string marker = "held." + std::to_string(round);
            // The holder: through the daemon, with a TTL the daemon renews.
            ChildProcess holder(auto_lokt(f, {"guard", "paused", "--ttl", "1s", "--wait", "--timeout", "30s", "--", "sh", "-c",
                                              "touch " + marker + "; " + witnessed_section("0.5")}));
            REQUIRE(DaemonFixture::eventually([&] { return fs::exists(f.scratch() / marker); }));
            std::vector<ChildProcess> waiters;
            for (int i = 0; i < 2; ++i) {
                waiters.emplace_back(auto_lokt(f, {"guard", "paused", "--ttl", "1s", "--wait", "--timeout", "30s", "--", "sh",
                                                   "-c", witnessed_section("0.01")}));
            }
            ProcessSpec on_files = f.lokt(
                {"guard", "paused", "--ttl", "1s", "--wait", "--timeout", "30s", "--", "sh", "-c", witnessed_section("0.01")});
            on_files.env = f.files_env();
            waiters.emplace_back(on_files);
            REQUIRE(f.daemon_counts_reach(1, 2));
            {
                // Longer than a client waits for a silent daemon (and than the
                // second it used to wait); every other round longer than the
                // holder's TTL and its command, so that it takes the renewing
                // over, and ends and releases on the files while the daemon is
                // stopped.
                Paused paused(f.daemon().pid());
                waiters.emplace_back(auto_lokt(f, {"guard", "paused", "--ttl", "1s", "--wait", "--timeout", "30s", "--", "sh",
                                                   "-c", witnessed_section("0.01")}));
                std::this_thread::sleep_for(round % 2 == 0 ? 1200ms : 400ms);
            }
            CHECK_MESSAGE(holder.wait_status(Millis(30'000)) == 0, holder.output());
            for (auto& waiter : waiters) CHECK_MESSAGE(waiter.wait_status(Millis(30'000)) == 0, waiter.output());
            REQUIRE(lines_starting(witness, "enter ") == 5u * static_cast<std::size_t>(round + 1));
            REQUIRE(overlap_count(witness) == 0);
        }
        CHECK(lines_starting(witness, "leave ") == 100u);
        CHECK(first_bad_audit_line(f.root() / "audit.log") == "");
        CHECK(audit_event_count(f.root() / "audit.log", "lost", "paused") == 0u);
        // Nothing is left held, and the daemon agrees.
        CHECK_FALSE(fs::exists(f.root() / "locks" / "paused.json"));
        CHECK(f.daemon_counts_reach(0, 0));
    }

    TEST_CASE("a TTL of 1s and a daemon stopped for 2.5s: the guard renews in time, nobody breaks its hold") {
        DaemonFixture f;
        const fs::path witness = f.scratch() / "witness";
        for (int round = 0; round < 3; ++round) {
            CAPTURE(round);
            const std::string marker = "held." + std::to_string(round);
            ChildProcess holder(auto_lokt(f, {"guard", "short", "--ttl", "1s", "--wait", "--timeout", "30s", "--", "sh", "-c",
                                              "touch " + marker + "; " + witnessed_section("2.5")}));
            REQUIRE(DaemonFixture::eventually([&] { return fs::exists(f.scratch() / marker); }));
            std::vector<ChildProcess> others;
            {
                Paused paused(f.daemon().pid());
                // Waiters on the files break a hold the moment its TTL lapses.
                for (int i = 0; i < 3; ++i) {
                    ProcessSpec spec = f.lokt({"guard", "short", "--ttl", "1s", "--wait", "--timeout", "30s", "--", "sh", "-c",
                                               witnessed_section("0.01")});
                    spec.env = f.files_env();
                    others.emplace_back(spec);
                }
                std::this_thread::sleep_for(2500ms);
            }
            CHECK_MESSAGE(holder.wait_status(Millis(30'000)) == 0, holder.output());
            for (auto& other : others) CHECK_MESSAGE(other.wait_status(Millis(30'000)) == 0, other.output());
            REQUIRE(overlap_count(witness) == 0);
        }
        CHECK(audit_event_count(f.root() / "audit.log", "lost", "short") == 0u);
        CHECK(audit_event_count(f.root() / "audit.log", "stale-break", "short") == 0u);
        CHECK(first_bad_audit_line(f.root() / "audit.log") == "");
    }

    TEST_CASE("loktd killed after granting, before replying: the guard carries on with its own hold") {
        DaemonFixture f;
        {
            KillAtReply kill_at(f, 1);
            ProcessSpec guard = f.lokt({"guard", "granted", "--", "sh", "-c", "echo ran > ran"});
            guard.env.set("LOKT_DAEMON", "auto");
            const auto result = run_process(guard, Millis(20'000));
            CHECK_MESSAGE(result.status() == 0, result.describe());
        }
        CHECK_FALSE(f.daemon().running());
        CHECK(read_text(f.scratch() / "ran") == "ran\n");
        CHECK_FALSE(fs::exists(f.root() / "locks" / "granted.json"));
        CHECK(audit_event_count(f.root() / "audit.log", "acquire", "granted") == 1u);
        CHECK(audit_event_count(f.root() / "audit.log", "release", "granted") == 1u);
    }

    TEST_CASE("loktd stalled between granting and answering beyond the TTL: no command starts on the lapsed hold") {
        DaemonFixture f;
        const fs::path witness = f.scratch() / "witness";
        const fs::path log = f.root() / "audit.log";
        ProcessSpec first = f.lokt({"lock", "late", "--ttl", "1m"});
        first.env = f.files_env();
        REQUIRE(run_process(first, Millis(20'000)).status() == 0);
        // Waits in loktd's queue; its hello is long answered.
        ChildProcess late(auto_lokt(
            f, {"guard", "late", "--ttl", "1s", "--wait", "--timeout", "30s", "--", "sh", "-c", witnessed_section("0.3")}));
        REQUIRE(DaemonFixture::eventually([&] { return audit_event_count(log, "deny", "late") == 1u; }));
        {
            // The grant's answer goes out 2.5 s after the grant: the hold's
            // 1 s TTL has long run out by then.
            StallAtReply stall(f, 1, 2'500ms);
            ProcessSpec unlock = f.lokt({"unlock", "late"});
            unlock.env = f.files_env();
            REQUIRE(run_process(unlock, Millis(20'000)).status() == 0);
            REQUIRE(DaemonFixture::eventually([&] { return audit_event_count(log, "acquire", "late") == 2u; }));
            // On the files: breaks the hold the moment it lapses, and is still
            // inside its section when the late answer arrives.
            ProcessSpec on_files =
                f.lokt({"guard", "late", "--ttl", "1s", "--wait", "--timeout", "30s", "--", "sh", "-c", witnessed_section("2")});
            on_files.env = f.files_env();
            ChildProcess breaker(on_files);
            CHECK_MESSAGE(breaker.wait_status(Millis(30'000)) == 0, breaker.output());
            stall.detach();
        }
        // The late guard learns that its hold is gone before its command
        // starts, and waits its turn again.
        CHECK_MESSAGE(late.wait_status(Millis(30'000)) == 0, late.output());
        CHECK(overlap_count(witness) == 0);
        CHECK(lines_starting(witness, "enter ") == 2u);
        CHECK(audit_event_count(log, "stale-break", "late") == 1u);
        CHECK(audit_event_count(log, "lost", "late") == 1u);
        CHECK(audit_event_count(log, "acquire", "late") == 4u);
        CHECK(audit_event_count(log, "release", "late") == 3u);
        CHECK(first_bad_audit_line(log) == "");
        CHECK_FALSE(fs::exists(f.root() / "locks" / "late.json"));
        CHECK(f.daemon_counts_reach(0, 0));
    }

    TEST_CASE("loktd stalled between granting and answering: `lock --ttl` renews a hold that reaches it half spent") {
        DaemonFixture f;
        const fs::path log = f.root() / "audit.log";
        ProcessSpec first = f.lokt({"lock", "spent", "--ttl", "1m"});
        first.env = f.files_env();
        REQUIRE(run_process(first, Millis(20'000)).status() == 0);
        ChildProcess late(auto_lokt(f, {"lock", "spent", "--ttl", "2s", "--wait", "--timeout", "30s"}));
        REQUIRE(DaemonFixture::eventually([&] { return audit_event_count(log, "deny", "spent") == 1u; }));
        {
            // 1.5 s of the 2 s TTL gone before the answer: less than half is left.
            StallAtReply stall(f, 1, 1'500ms);
            ProcessSpec unlock = f.lokt({"unlock", "spent"});
            unlock.env = f.files_env();
            REQUIRE(run_process(unlock, Millis(20'000)).status() == 0);
            CHECK_MESSAGE(late.wait_status(Millis(30'000)) == 0, late.output());
            stall.detach();
        }
        CHECK(audit_event_count(log, "acquire", "spent") == 2u);
        CHECK(audit_event_count(log, "renew", "spent") == 1u);
        CHECK(audit_event_count(log, "lost", "spent") == 0u);
        CHECK(first_bad_audit_line(log) == "");
    }

    TEST_CASE("loktd killed after releasing, before replying: guard and unlock report the truth") {
        DaemonFixture f;
        SUBCASE("a guard's release") {
            {
                KillAtReply kill_at(f, 2);  // the first reply is the acquire's
                ProcessSpec guard = f.lokt({"guard", "released", "--ttl", "30s", "--", "true"});
                guard.env.set("LOKT_DAEMON", "auto");
                const auto result = run_process(guard, Millis(20'000));
                CHECK_MESSAGE(result.status() == 0, result.describe());
            }
            CHECK_FALSE(f.daemon().running());
            CHECK_FALSE(fs::exists(f.root() / "locks" / "released.json"));
            CHECK(audit_event_count(f.root() / "audit.log", "release", "released") == 1u);
            CHECK(audit_event_count(f.root() / "audit.log", "lost", "released") == 0u);
        }
        SUBCASE("unlock") {
            REQUIRE(run_process(f.lokt({"lock", "unlocked", "--ttl", "1m"}), Millis(20'000)).status() == 0);
            {
                KillAtReply kill_at(f, 2);  // the first reply is the hello's
                ProcessSpec unlock = f.lokt({"unlock", "unlocked"});
                unlock.env.set("LOKT_DAEMON", "auto");
                const auto result = run_process(unlock, Millis(20'000));
                CHECK_MESSAGE(result.status() == 0, result.describe());
            }
            CHECK_FALSE(f.daemon().running());
            CHECK_FALSE(fs::exists(f.root() / "locks" / "unlocked.json"));
            CHECK(audit_event_count(f.root() / "audit.log", "release", "unlocked") == 1u);
        }
        SUBCASE("unlock --all") {
            ProcessSpec unlock = unlock_all_of_two(f);
            {
                KillAtReply kill_at(f, 2);  // the first reply is the hello's
                const auto result = run_process(unlock, Millis(20'000));
                CHECK_MESSAGE(result.status() == 0, result.describe());
            }
            CHECK_FALSE(f.daemon().running());
            // Both released, by the daemon before it went: the answer says so.
            check_both_released(f);
        }
    }

    TEST_CASE("loktd killed between a release's audit line and the removal of the lock file: one release line") {
        DaemonFixture f;
        // The daemon wrote `release` for the lock_id and died at the unlink;
        // the client, finding the file still there, ends the hold on the
        // files, and must not audit that release a second time.
        auto killed_at_unlink = [&](const std::string& trace, const std::string& name) {
            CHECK_MESSAGE(trace.find("unlinkat(") != std::string::npos, trace);
            CHECK_MESSAGE(trace.find(name + ".json") != std::string::npos, trace);
            CHECK_MESSAGE(trace.find("+++ killed by SIGKILL") != std::string::npos, trace);
        };
        SUBCASE("a guard's release") {
            ProcessSpec spec =
                f.lokt({"guard", "released", "--", "sh", "-c", "touch started; while [ ! -f go ]; do sleep 0.01; done"});
            spec.env.set("LOKT_DAEMON", "auto");
            ChildProcess guard(spec);
            REQUIRE(DaemonFixture::eventually([&] { return fs::exists(f.scratch() / "started"); }));
            KillAtUnlink kill_at(f);
            std::ofstream(f.scratch() / "go").put('\n');
            CHECK_MESSAGE(guard.wait_status(Millis(20'000)) == 0, guard.output());
            killed_at_unlink(kill_at.finish(), "released");
            CHECK_FALSE(f.daemon().running());
            CHECK_FALSE(fs::exists(f.root() / "locks" / "released.json"));
            CHECK(audit_event_count(f.root() / "audit.log", "release", "released") == 1u);
            CHECK(audit_event_count(f.root() / "audit.log", "lost", "released") == 0u);
        }
        SUBCASE("unlock") {
            REQUIRE(run_process(f.lokt({"lock", "unlocked", "--ttl", "1m"}), Millis(20'000)).status() == 0);
            KillAtUnlink kill_at(f);
            ProcessSpec unlock = f.lokt({"unlock", "unlocked"});
            unlock.env.set("LOKT_DAEMON", "auto");
            const auto result = run_process(unlock, Millis(20'000));
            CHECK_MESSAGE(result.status() == 0, result.describe());
            killed_at_unlink(kill_at.finish(), "unlocked");
            CHECK_FALSE(f.daemon().running());
            CHECK_FALSE(fs::exists(f.root() / "locks" / "unlocked.json"));
            CHECK(audit_event_count(f.root() / "audit.log", "release", "unlocked") == 1u);
        }
        SUBCASE("unlock --all") {
            ProcessSpec unlock = unlock_all_of_two(f);
            KillAtUnlink kill_at(f);
            const auto result = run_process(unlock, Millis(20'000));
            CHECK_MESSAGE(result.status() == 0, result.describe());
            killed_at_unlink(kill_at.finish(), "first");
            CHECK_FALSE(f.daemon().running());
            check_both_released(f);
        }
        CHECK(first_bad_audit_line(f.root() / "audit.log") == "");
    }

    TEST_CASE("LOKT_DAEMON=require: a daemon that goes away after hello is an error, not a silent switch to the files") {
        DaemonFixture f;
        const fs::path witness = f.scratch() / "witness";
        // The command outlives its 1s TTL after the daemon is gone: the guard must
        // keep renewing on the files, and say so, while a waiter on the files waits.
        ProcessSpec spec = f.lokt({"guard", "required", "--ttl", "1s", "--", "sh", "-c",
                                   "touch started; while [ ! -f go ]; do sleep 0.01; done; " + witnessed_section("1.5")});
        spec.output_file = f.scratch() / "required.out";
        ChildProcess guard(spec);
        REQUIRE(DaemonFixture::eventually([&] { return fs::exists(f.scratch() / "started"); }));
        f.daemon().crash();
        ProcessSpec waiter_spec =
            f.lokt({"guard", "required", "--wait", "--timeout", "30s", "--", "sh", "-c", witnessed_section("0.01")});
        waiter_spec.env = f.files_env();
        ChildProcess waiter(waiter_spec);
        std::ofstream(f.scratch() / "go").put('\n');
        CHECK(guard.wait_status(Millis(20'000)) == 1);
        CHECK(waiter.wait_status(Millis(20'000)) == 0);
        CHECK(overlap_count(witness) == 0);
        CHECK(lines_starting(witness, "enter ") == 2u);
        const std::string out = read_text(f.scratch() / "required.out");
        CHECK_MESSAGE(out.find("LOKT_DAEMON=require") != std::string::npos, out);
        CHECK_MESSAGE(out.find("stopped answering") != std::string::npos, out);
        CHECK_MESSAGE(out.find("renewing lock \"required\" on the files") != std::string::npos, out);
        CHECK(audit_event_count(f.root() / "audit.log", "lost", "required") == 0u);
        // Nothing is left held by a guard that has exited.
        CHECK_FALSE(fs::exists(f.root() / "locks" / "required.json"));

        // A new command in require mode fails too.
        auto lock = run_process(f.lokt({"lock", "required", "--ttl", "1m"}), Millis(20'000));
        CHECK(lock.status() == 1);
        CHECK_FALSE(fs::exists(f.root() / "locks" / "required.json"));
    }

}  // TEST_SUITE

}  // namespace lokt::daemon_test
