// A guard's hold lives exactly as long as the work it guards: killing the
// guard alone never frees the lock under a command that still runs (or under
// a process the command started), a kill of the agent's process group ends
// the command too, job control works at a terminal, and the audit says how
// each hold ended. Every scenario runs against both backends.
//
// The witness of mutual exclusion is the filesystem: the first holder's work
// owns the directory in-1 (mkdir is atomic) until it ends, and the next
// holder's command succeeds only if in-1 is gone when it runs.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <functional>

#include "tests/cli/support/lokt_fixture.hpp"
#include "tests/cli/support/test_backend.hpp"
#include "tests/support/polling.hpp"

using namespace lokt::cli_test;

namespace {

// The first holder's work. $1 "command": the command owns in-1 and ends when
// cmd.fifo is written. $1 "grandchild": the command starts a process that owns
// in-1 and outlives it, ending when gc.fifo is written.
constexpr const char* k_work_script = R"(#!/bin/sh
echo $$ > cmd.pid
mkdir in-1 || exit 9
if [ "$1" = grandchild ]; then
    ( read x < gc.fifo; rmdir in-1 ) &
    echo ready
    read x < cmd.fifo
else
    echo ready
    read x < cmd.fifo
    rmdir in-1
fi
)";

// The next holder's command: fails unless the first holder's work has ended.
const std::vector<std::string> k_witness{"sh", "-c", "[ ! -d in-1 ] && mkdir in-2"};

// Writes a line to a FIFO whose reader is waiting; fails the test instead of
// blocking when nobody reads it.
void poke(const fs::path& fifo) {
    int fd = -1;
    REQUIRE(wait_until(
        [&] {
            fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
            return fd >= 0;
        },
        k_wait_timeout, Millis(5)));
    REQUIRE(::write(fd, "go\n", 3) == 3);
    ::close(fd);
}

std::vector<std::string> guard_args(const std::string& name, std::vector<std::string> command,
                                    std::vector<std::string> flags = {}) {
    std::vector<std::string> args{"guard", name};
    args.insert(args.end(), flags.begin(), flags.end());
    args.emplace_back("--");
    args.insert(args.end(), command.begin(), command.end());
    return args;
}

// The `deny` lines of a waiting acquire.
std::size_t waiting_denials(const LoktFixture& f, std::string_view name) {
    std::size_t count = 0;
    for (const auto& event : f.audit_events("deny", name)) {
        if (event.contains("extra") && event["extra"].value("waiting", false)) ++count;
    }
    return count;
}

}  // namespace

TEST_SUITE("hold_lifetime") {
    TEST_CASE_FIXTURE(LoktFixture,
                      "kill -9 of a guard: its command keeps the hold until its last process exits" * not_on_etcd()) {
        write_text(repo() / "work.sh", k_work_script);
        ::chmod((repo() / "work.sh").c_str(), 0755);
        REQUIRE(::mkfifo((repo() / "cmd.fifo").c_str(), 0600) == 0);
        REQUIRE(::mkfifo((repo() / "gc.fifo").c_str(), 0600) == 0);

        std::string mode = "command";
        bool daemon_too = false;
        std::vector<std::string> flags;
        SUBCASE("the command itself") {}
        SUBCASE("with a TTL shorter than the work") { flags = {"--ttl", "1s"}; }
        SUBCASE("a grandchild that outlives the command") { mode = "grandchild"; }
        SUBCASE("and the daemon killed too") { daemon_too = true; }
        CAPTURE(mode);

        ChildProcess first = start_lokt(guard_args("build", {"./work.sh", mode}, flags), k_agent1);
        REQUIRE_MESSAGE(first.wait_for_stdout_containing("ready", k_wait_timeout), first.stderr_text());
        const auto command = static_cast<pid_t>(std::stoll(read_text(repo() / "cmd.pid")));
        const auto held = read_lock("build");
        REQUIRE(held);
        REQUIRE(held->contains("handle"));

        first.send_signal(SIGKILL);
        REQUIRE(finish(first).term_signal == SIGKILL);
        RunOptions agent2 = k_agent2;
        if (daemon_too && crash_daemon()) agent2.set("LOKT_DAEMON", "auto");

        // Not waiting: refused, naming what keeps the hold.
        const auto refused = lokt(guard_args("build", k_witness), agent2);
        CHECK_EXIT(refused, 2);
        CHECK_MESSAGE(refused.err.find("kept by its command") != std::string::npos, refused.describe());
        CHECK_EXIT(lokt({"exists", "build"}, agent2), 0);
        const auto status = parse_json(lokt({"status", "--json"}, agent2).out);
        REQUIRE(status);
        REQUIRE((*status)["locks"].size() == 1);
        CHECK((*status)["locks"][0]["kept_by"] == "command");

        // Waiting: queued (its deny says so) while the work runs.
        ChildProcess waiter = start_lokt(guard_args("build", k_witness, {"--wait", "--timeout", "60s"}), agent2);
        REQUIRE(wait_until([&] { return waiting_denials(*this, "build") == 1; }, k_wait_timeout));
        if (!flags.empty()) {
            // Past its TTL nobody can renew it (the daemon does while it lives); it holds all the same.
            REQUIRE(wait_until(
                [&] { return WallClock::now() > *parse_rfc3339((*held)["expires_at"].get<std::string>()) + Millis(500); },
                k_wait_timeout));
            CHECK_EXIT(lokt({"exists", "build"}, agent2), 0);
        }

        poke(repo() / "cmd.fifo");
        REQUIRE(wait_until([&] { return !process_alive(command); }, k_wait_timeout));
        if (mode == "grandchild") {
            // The command is gone; what it started still runs and still holds.
            CHECK_FALSE(waiter.has_exited());
            CHECK_EXIT(lokt({"exists", "build"}, agent2), 0);
            poke(repo() / "gc.fifo");
        }
        const auto entered = finish(waiter, Millis(60'000));
        CHECK_EXIT(entered, 0);
        CHECK(fs::is_directory(repo() / "in-2"));
        const auto breaks = audit_events("stale-break", "build");
        REQUIRE(breaks.size() == 1);
        CHECK(breaks[0]["lock_id"] == (*held)["lock_id"]);
        CHECK(breaks[0]["extra"]["reason"] == "guard and its command have exited");
        CHECK(directory_entries(root() / "live").empty());
    }

    TEST_CASE_FIXTURE(LoktFixture, "a kill of the agent's process group ends the guarded command too") {
        // The agent: a shell (the group's leader) that runs guard, or guard itself leading the group.
        bool guard_leads = false;
        SUBCASE("guard started by the agent's shell") {}
        SUBCASE("guard leading the group") { guard_leads = true; }
        CAPTURE(guard_leads);

        const std::string guard =
            LoktFixture::binary().string() + " guard build -- sh -c 'echo $$ > cmd.pid; echo ready; exec sleep 600'";
        ChildProcess agent = guard_leads ? start_sh("exec " + guard, k_agent1) : start_sh(guard + "; true", k_agent1);
        REQUIRE_MESSAGE(agent.wait_for_stdout_containing("ready", k_wait_timeout), agent.stderr_text());
        const auto command = static_cast<pid_t>(std::stoll(read_text(repo() / "cmd.pid")));
        REQUIRE(has_lock("build"));

        REQUIRE(::kill(-agent.pid(), SIGKILL) == 0);
        finish(agent);
        CHECK(wait_until([&] { return !process_alive(command); }, k_wait_timeout));
        // Nothing is left to hold it: the next guard runs at once.
        REQUIRE(wait_until([&] { return lokt({"exists", "build"}, k_agent2).status() == 3; }, k_wait_timeout));
        CHECK_EXIT(lokt(guard_args("build", {"true"}), k_agent2), 0);
        if (!guard_leads) {
            // guard stepped out of the agent's group, outlived the kill and released at once.
            const auto releases = audit_events("release", "build");
            REQUIRE(releases.size() == 2);
            CHECK(releases[0]["extra"]["exit_status"] == 128 + SIGKILL);
        }
    }

    TEST_CASE_FIXTURE(LoktFixture, "the audit tells how each hold ended, the same in both backends") {
        CHECK_EXIT(lokt(guard_args("build", {"true"}), k_agent1), 0);
        CHECK_EXIT(lokt(guard_args("build", {"sh", "-c", "exit 3"}), k_agent1), 3);
        const auto releases = audit_events("release", "build");
        REQUIRE(releases.size() == 2);
        CHECK(releases[0]["extra"]["exit_status"] == 0);
        CHECK(releases[1]["extra"]["exit_status"] == 3);
        for (const auto& release : releases) {
            REQUIRE(release["extra"].contains("held_ms"));
            CHECK(release["extra"]["held_ms"].get<long long>() >= 0);
            CHECK(release["extra"]["held_ms"].get<long long>() < 60'000);
        }

        // A refusal and a waiter's place in the queue are told apart.
        ChildProcess holder = start_holder("build", k_agent1);
        CHECK_EXIT(lokt(guard_args("build", {"true"}), k_agent2), 2);
        ChildProcess waiter = start_lokt(guard_args("build", {"true"}, {"--wait", "--timeout", "60s"}), k_agent2);
        REQUIRE(wait_until([&] { return waiting_denials(*this, "build") == 1; }, k_wait_timeout));
        const auto denials = audit_events("deny", "build");
        REQUIRE(denials.size() == 2);
        CHECK_FALSE(denials[0]["extra"].contains("waiting"));
        // What keeps a hold alive is told where there are liveness handles (not in etcd).
        if (!etcd_backend()) CHECK(denials[0]["extra"]["kept_by"] == "guard");
        release_holder(holder);
        CHECK_EXIT(finish(waiter), 0);
    }

    TEST_CASE_FIXTURE(LoktFixture, "at a terminal: ^Z stops the job and returns the prompt, fg resumes it, ^C ends it") {
        if (!have_program("tmux")) {
            MESSAGE("skipped: tmux is not installed");
            return;
        }
        // A private tmux server; the shell in it gets this test's environment.
        const std::string server = "lokt-test-" + std::to_string(::getpid());
        const std::string tmux = "tmux -L " + server + " -f /dev/null ";
        const auto pane = [&] {
            std::string text = sh(tmux + "capture-pane -p -t job").out;
            while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
            return text;
        };
        const auto send = [&](const std::string& keys) { REQUIRE_EXIT(sh(tmux + "send-keys -t job " + keys), 0); };
        REQUIRE_EXIT(sh(tmux + "new-session -d -s job -x 160 -y 40 'env PS1=prompt\\$\\  bash --norc --noprofile -i'"), 0);
        struct ServerGuard {
            std::function<void()> stop;
            ~ServerGuard() { stop(); }
        } stop_server{[&] { sh(tmux + "kill-server"); }};
        REQUIRE(wait_until([&] { return pane().find("prompt$") != std::string::npos; }, k_wait_timeout));

        send("'" + LoktFixture::binary().string() + " guard build -- sleep 600' Enter");
        REQUIRE(wait_until([&] { return has_lock("build"); }, k_wait_timeout));
        const auto held = read_lock("build");
        REQUIRE(held);

        send("C-z");
        REQUIRE_MESSAGE(wait_until([&] { return matches(pane(), "Stopped[^\n]*\n[^\n]*prompt\\$ *$"); }, k_wait_timeout), pane());
        // A stopped job keeps its lock, as flock(1) does.
        CHECK_EXIT(lokt({"exists", "build"}), 0);
        CHECK(process_state(static_cast<pid_t>((*held)["pid"].get<long long>())) == 'T');

        send("fg Enter");
        REQUIRE(wait_until([&] { return process_state(static_cast<pid_t>((*held)["pid"].get<long long>())) == 'S'; },
                           k_wait_timeout));
        send("C-c");
        REQUIRE_MESSAGE(wait_until([&] { return !has_lock("build"); }, k_wait_timeout), pane());
        REQUIRE(wait_until([&] { return matches(pane(), "(\n|\\^C)prompt\\$ *$"); }, k_wait_timeout));
        const auto releases = audit_events("release", "build");
        REQUIRE(releases.size() == 1);
        CHECK(releases[0]["extra"]["exit_status"] == 128 + SIGINT);
        send("'echo status=$?' Enter");
        CHECK(wait_until([&] { return pane().find("status=130") != std::string::npos; }, k_wait_timeout));
    }

}  // TEST_SUITE
