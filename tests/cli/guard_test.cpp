// guard is the primary interface: its exit status is CMD's, it forwards the
// stop signals to CMD's process group and still releases, it tells CMD which
// hold it runs under, and it stops CMD when the lock is taken away. Also the
// re-entry rules that decide when a second acquire is "the same holder".
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>

#include "tests/cli/support/lokt_fixture.hpp"
#include "tests/support/polling.hpp"

using namespace lokt::cli_test;

namespace {

// agent-XXXX: the low 16 bits of 32-bit FNV-1a of "PID-STARTTIME" (SPEC.md section 5).
std::string derived_agent_id(long long pid, unsigned long long start_ticks) {
    const std::string text = std::to_string(pid) + "-" + std::to_string(start_ticks);
    std::uint32_t hash = 2166136261u;
    for (unsigned char c : text) {
        hash ^= c;
        hash *= 16777619u;
    }
    char buffer[16];
    std::snprintf(buffer, sizeof buffer, "agent-%04x", hash & 0xffffu);
    return buffer;
}

long long read_pid_file(const fs::path& path) {
    const std::string text = read_text(path);
    return text.empty() ? -1 : std::stoll(text);
}

}  // namespace

TEST_SUITE("guard") {
    TEST_CASE_FIXTURE(LoktFixture, "guard exits with CMD's exit status and releases") {
        for (int code : {0, 1, 7}) {
            CAPTURE(code);
            const auto r = lokt({"guard", "build", "--", "sh", "-c", "exit " + std::to_string(code)});
            CHECK_EXIT(r, code);
            CHECK_FALSE(has_lock("build"));
        }
        CHECK(audit_events("acquire", "build").size() == 3);
        CHECK(audit_events("release", "build").size() == 3);

        const auto r = lokt({"guard", "build", "--", "/nonexistent/command"});
        CHECK(r.status() != 0);
        CHECK(r.err.find("/nonexistent/command") != std::string::npos);
        CHECK_FALSE(has_lock("build"));
    }

    TEST_CASE_FIXTURE(LoktFixture, "a command that cannot be started: 127 when not found, 126 otherwise; released either way") {
        const fs::path bin = scratch() / "bin";
        const fs::path later = scratch() / "later";
        fs::create_directories(bin);
        fs::create_directories(later);
        write_text(bin / "not-executable", "#!/bin/sh\nexit 0\n");
        fs::permissions(bin / "not-executable", fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
        write_text(bin / "no-interpreter-line", "exit 0\n");
        fs::permissions(bin / "no-interpreter-line", fs::perms::owner_all, fs::perm_options::replace);
        // The same name, not executable early in PATH and executable later: the later one runs.
        write_text(bin / "shadowed", "#!/bin/sh\nexit 3\n");
        fs::permissions(bin / "shadowed", fs::perms::owner_read, fs::perm_options::replace);
        write_text(later / "shadowed", "#!/bin/sh\necho ran-later > ran\nexit 4\n");
        fs::permissions(later / "shadowed", fs::perms::owner_all, fs::perm_options::replace);
        const std::string path = bin.string() + ":" + later.string() + ":/usr/bin:/bin";
        const RunOptions with_path = RunOptions().set("PATH", path);

        struct Case {
            std::string command;
            int status;
            std::string message;
        };
        for (const auto& c : std::vector<Case>{
                 {"no-such-command-anywhere", 127, "error: cannot run \"no-such-command-anywhere\": No such file or directory\n"},
                 {(bin / "missing").string(), 127,
                  "error: cannot run \"" + (bin / "missing").string() + "\": No such file or directory\n"},
                 {"not-executable", 126, "error: cannot run \"not-executable\": Permission denied\n"},
                 {(bin / "not-executable").string(), 126,
                  "error: cannot run \"" + (bin / "not-executable").string() + "\": Permission denied\n"},
                 {(bin / "no-interpreter-line").string(), 126,
                  "error: cannot run \"" + (bin / "no-interpreter-line").string() + "\": Exec format error\n"},
             }) {
            CAPTURE(c.command);
            const auto r = lokt({"guard", "build", "--", c.command}, with_path);
            CHECK_EXIT(r, c.status);
            CHECK_MESSAGE(r.err == c.message, r.describe());
            CHECK_FALSE(has_lock("build"));
        }
        CHECK(audit_events("acquire", "build").size() == 5);
        CHECK(audit_events("release", "build").size() == 5);

        const auto r = lokt({"guard", "build", "--", "shadowed"}, with_path);
        CHECK_EXIT(r, 4);
        CHECK(read_text(repo() / "ran") == "ran-later\n");
    }

    TEST_CASE_FIXTURE(LoktFixture, "guard exits 128+N when CMD is killed by signal N, and releases") {
        for (const auto& [name, number] : std::vector<std::pair<std::string, int>>{
                 {"TERM", SIGTERM}, {"KILL", SIGKILL}, {"INT", SIGINT}, {"SEGV", SIGSEGV}, {"USR1", SIGUSR1}}) {
            CAPTURE(name);
            const auto r = lokt({"guard", "build", "--", "sh", "-c", "kill -" + name + " $$"});
            CHECK_EXIT(r, 128 + number);
            CHECK_FALSE(has_lock("build"));
        }
    }

    TEST_CASE_FIXTURE(LoktFixture, "INT, TERM, HUP and QUIT sent to guard reach CMD's process group; the lock is released") {
        write_text(repo() / "trapper.sh", R"(#!/bin/sh
# $1: the signal to trap; $2: where to write that we got it; $3: the same for a child.
sig=$1
echo $$ > cmd.pid
case $sig in
TERM|HUP)
    # A second process in the group (INT and QUIT are ignored by background jobs of sh).
    ( trap 'echo "child $sig" > "$3"; exit 0' "$sig"; echo child-ready; while :; do sleep 1; done ) &
    ;;
*)
    echo child-ready
    ;;
esac
trap 'echo "$sig" > "$2"; exit 42' "$sig"
echo ready
while :; do sleep 1; done
)");
        ::chmod((repo() / "trapper.sh").c_str(), 0755);

        for (const auto& [name, number] :
             std::vector<std::pair<std::string, int>>{{"INT", SIGINT}, {"TERM", SIGTERM}, {"HUP", SIGHUP}, {"QUIT", SIGQUIT}}) {
            CAPTURE(name);
            const fs::path marker = repo() / ("got-" + name);
            const fs::path child_marker = repo() / ("child-got-" + name);
            ChildProcess guard = start_lokt({"guard", "build", "--ttl", "1m", "--", "./trapper.sh", name, marker, child_marker});
            REQUIRE_MESSAGE(
                guard.wait_for_stdout(
                    [](const std::string& out) { return matches(out, "(^|\n)child-ready\n") && matches(out, "(^|\n)ready\n"); },
                    k_wait_timeout),
                "CMD never started: " << guard.stderr_text());
            const auto cmd_pid = static_cast<pid_t>(read_pid_file(repo() / "cmd.pid"));
            REQUIRE(has_lock("build"));

            guard.send_signal(number);
            const auto r = finish(guard);
            CHECK_EXIT(r, 42);
            CHECK(read_text(marker) == name + "\n");
            CHECK_FALSE(has_lock("build"));
            if (name == "TERM" || name == "HUP") {
                CHECK_MESSAGE(wait_until([&] { return fs::exists(child_marker); }, k_wait_timeout),
                              "the signal did not reach the rest of CMD's process group");
            }
            CHECK(wait_until([&] { return process_group_members(cmd_pid).empty(); }, k_wait_timeout));
        }
        CHECK(audit_events("release", "build").size() == 4);
    }

    TEST_CASE_FIXTURE(LoktFixture, "CMD sees LOKT_LOCK_NAME and LOKT_LOCK_ID; the file names the guard process") {
        const auto r = lokt({"guard", "build", "--ttl", "5m", "--", "sh", "-c",
                             "echo \"$LOKT_LOCK_NAME $LOKT_LOCK_ID\" > env.txt; eval \"$0\" > held.json; echo $PPID > guard.pid",
                             lock_snapshot_command("build")});
        REQUIRE_EXIT(r, 0);
        const auto held = parse_json(read_text(repo() / "held.json"));
        REQUIRE(held);
        CHECK(read_text(repo() / "env.txt") == "build " + (*held)["lock_id"].get<std::string>() + "\n");
        const long long guard_pid = read_pid_file(repo() / "guard.pid");
        CHECK((*held)["pid"] == guard_pid);
        CHECK((*held)["owner"].is_string());
        // The guard is gone now, so its start time is compared with what the audit says of it.
        const auto acquires = audit_events("acquire", "build");
        REQUIRE(acquires.size() == 1);
        CHECK(acquires[0]["pid"] == guard_pid);
        CHECK(acquires[0]["lock_id"] == (*held)["lock_id"]);
        if (held->contains("pid_start_ns")) {
            CHECK((*held)["agent_id"] == derived_agent_id(guard_pid, (*held)["pid_start_ns"].get<unsigned long long>()));
        }
    }

    TEST_CASE_FIXTURE(LoktFixture, "the guard's file records its pid and start time while it runs") {
        ChildProcess holder = start_holder("build", k_agent1, {"--ttl", "5m"});
        const auto record = read_lock("build");
        REQUIRE(record);
        CHECK((*record)["pid"] == holder.pid());
        REQUIRE(record->contains("pid_start_ns"));
        CHECK((*record)["pid_start_ns"].get<unsigned long long>() == process_start_ticks(holder.pid()));
        CHECK(release_holder(holder).status() == 0);
    }

    TEST_CASE_FIXTURE(LoktFixture, "a nested guard of the same name runs inside the outer hold") {
        const std::string script = R"(
lokt guard build -- sh -c 'echo "$LOKT_LOCK_ID" > inner-id; exit 5'
echo "inner=$?" > inner-status
eval "$0" > after-inner.json
lokt exists build
echo "exists=$?" >> inner-status
lokt lock build --ttl 1m
echo "lock=$?" >> inner-status
eval "$0" > after-lock.json
echo "$LOKT_LOCK_ID" > outer-id
)";
        const auto r = lokt({"guard", "build", "--", "sh", "-c", script, lock_snapshot_command("build")}, k_agent1);
        CHECK_EXIT(r, 0);
        CHECK(read_text(repo() / "inner-status") == "inner=5\nexists=0\nlock=0\n");
        CHECK(read_text(repo() / "inner-id") == read_text(repo() / "outer-id"));
        const auto after_inner = parse_json(read_text(repo() / "after-inner.json"));
        REQUIRE(after_inner);
        CHECK((*after_inner)["lock_id"].get<std::string>() + "\n" == read_text(repo() / "outer-id"));
        // The nested lock did not take the outer hold over: the outer release still finds it.
        const auto after_lock = parse_json(read_text(repo() / "after-lock.json"));
        REQUIRE(after_lock);
        CHECK((*after_lock)["lock_id"] == (*after_inner)["lock_id"]);
        CHECK((*after_lock)["pid"] == (*after_inner)["pid"]);
        CHECK_FALSE(has_lock("build"));
        CHECK(audit_events("acquire", "build").size() == 1);
        CHECK(audit_events("release", "build").size() == 1);
        CHECK(audit_events("deny", "build").empty());
        CHECK(audit_events("lost", "build").empty());
    }

    TEST_CASE_FIXTURE(LoktFixture, "a guard's hold is never shared with another process, whatever the owner") {
        ChildProcess holder = start_holder("build", k_agent1, {"--ttl", "5m"});
        const auto record = read_lock("build");
        REQUIRE(record);
        const std::string expected = held_message_pattern_any_duration("build", "agent-1", host(), holder.pid());

        SUBCASE("guard with the same LOKT_OWNER") {
            const auto r = lokt({"guard", "build", "--", "touch", "ran"}, k_agent1);
            CHECK_EXIT(r, 2);
            CHECK_MESSAGE(matches(r.err, expected), "expected " << expected << "\n" << r.describe());
            CHECK_FALSE(fs::exists(repo() / "ran"));
        }
        SUBCASE("lock with the same LOKT_OWNER") {
            const auto r = lokt({"lock", "build", "--ttl", "1m"}, k_agent1);
            CHECK_EXIT(r, 2);
        }
        SUBCASE("a made-up LOKT_LOCK_ID") {
            const auto r =
                lokt({"guard", "build", "--", "touch", "ran"},
                     as_owner("agent-1").set("LOKT_LOCK_NAME", "build").set("LOKT_LOCK_ID", "0123456789abcdef0123456789abcdef"));
            CHECK_EXIT(r, 2);
            CHECK_FALSE(fs::exists(repo() / "ran"));
        }
        CHECK(read_lock("build") == record);
        CHECK_EXIT(release_holder(holder), 0);
    }

    TEST_CASE_FIXTURE(LoktFixture, "lock re-entry: only the same explicit LOKT_OWNER refreshes") {
        SUBCASE("same LOKT_OWNER: same lock_id, new expiry") {
            REQUIRE_EXIT(sh("lokt lock build --ttl 1m", k_agent1), 0);
            const auto first = read_lock("build");
            REQUIRE(first);
            const auto r = sh("lokt lock build --ttl 5m", k_agent1);
            CHECK_EXIT(r, 0);
            const auto second = read_lock("build");
            REQUIRE(second);
            CHECK((*second)["lock_id"] == (*first)["lock_id"]);
            CHECK((*second)["ttl_sec"] == 300);
            const auto first_expiry = parse_rfc3339((*first)["expires_at"].get<std::string>());
            const auto second_expiry = parse_rfc3339((*second)["expires_at"].get<std::string>());
            REQUIRE(first_expiry);
            REQUIRE(second_expiry);
            CHECK(*second_expiry > *first_expiry);
            CHECK(audit_events("acquire", "build").size() == 1);
            CHECK(audit_events("renew", "build").size() == 1);
        }
        SUBCASE("no LOKT_OWNER: a second process of the same user is refused") {
            REQUIRE_EXIT(sh("lokt lock build --ttl 1m"), 0);
            const auto first = read_lock("build");
            const auto r = sh("lokt lock build --ttl 1m");
            CHECK_EXIT(r, 2);
            CHECK(r.err.rfind("error: lock \"build\" held by ", 0) == 0);
            CHECK(read_lock("build") == first);
        }
        SUBCASE("another LOKT_OWNER is refused") {
            REQUIRE_EXIT(sh("lokt lock build --ttl 1m", k_agent1), 0);
            CHECK_EXIT(sh("lokt lock build --ttl 1m", k_agent2), 2);
        }
    }

    TEST_CASE_FIXTURE(LoktFixture, "with --ttl the heartbeat renews the lock while CMD runs" * files_only()) {
        // CMD ends once the lock file's expiry has moved on: no fixed sleep.
        const std::string script = R"SH(
first=$(grep expires_at "$0")
while [ "$(grep expires_at "$0")" = "$first" ]; do sleep 0.1; done
)SH";
        const auto r = lokt({"guard", "build", "--ttl", "2s", "--", "sh", "-c", script, lock_path("build")});
        CHECK_EXIT(r, 0);
        CHECK_FALSE(audit_events("renew", "build").empty());
        CHECK(audit_events("lost", "build").empty());
    }

    TEST_CASE_FIXTURE(LoktFixture, "a guard whose lock is taken away says so, records `lost` and stops CMD" * files_only()) {
        ChildProcess guard = start_lokt(
            {"guard", "build", "--ttl", "2s", "--", "sh", "-c", "echo $$ > cmd.pid; echo ready; exec sleep 600"}, k_agent1);
        REQUIRE_MESSAGE(guard.wait_for_stdout_containing("ready", k_wait_timeout), guard.stderr_text());
        const auto cmd_pid = static_cast<pid_t>(read_pid_file(repo() / "cmd.pid"));
        const auto ours = read_lock("build");
        REQUIRE(ours);

        std::optional<Json> theirs;
        SUBCASE("broken with --force and taken by another agent") {
            REQUIRE_EXIT(lokt({"unlock", "build", "--force"}, k_agent2), 0);
            REQUIRE_EXIT(lokt({"lock", "build", "--ttl", "1m"}, k_agent2), 0);
            theirs = read_lock("build");
        }
        SUBCASE("the file replaced by another holder's") {
            Json other = foreign_record("build", ::getpid(), process_start_ticks(::getpid()));
            other["ttl_sec"] = 60;
            other["expires_at"] = format_rfc3339(WallClock::now() + std::chrono::minutes(1));
            // A foreign writer does not take lokt's per-name mutex, so a heartbeat that
            // read the file just before our rename may write over it: then write again.
            for (int attempt = 0; attempt < 5 && !guard.has_exited(); ++attempt) {
                write_lock_file("build", other.dump(2) + "\n");
                wait_until([&] { return guard.has_exited() || read_lock("build") != other; }, k_wait_timeout);
            }
            theirs = other;
        }
        REQUIRE(theirs);
        REQUIRE((*theirs)["lock_id"] != (*ours)["lock_id"]);

        const auto exited = guard.wait_exit(k_wait_timeout);
        REQUIRE_MESSAGE(exited, "guard kept running after its lock was taken; stderr so far:\n" << guard.stderr_text());
        const auto r = finish(guard);
        CHECK_EXIT(r, 6);  // a status of its own: the command was stopped
        CHECK_MESSAGE(matches(r.err, "error: [^\\n]*\"build\"[^\\n]*lost"), r.describe());
        CHECK_MESSAGE(wait_until([&] { return !process_alive(cmd_pid); }, k_wait_timeout), "CMD was left running");

        const auto lost = audit_events("lost", "build");
        REQUIRE(lost.size() == 1);
        CHECK(lost[0]["lock_id"] == (*ours)["lock_id"]);
        // The new holder's lock is untouched.
        const auto now = read_lock("build");
        REQUIRE(now);
        CHECK((*now)["lock_id"] == (*theirs)["lock_id"]);
        CHECK(audit_events("release", "build").empty());
    }

    TEST_CASE_FIXTURE(LoktFixture,
                      "a guard whose lock was taken while CMD ran reports it lost at release and leaves the new lock") {
        // No TTL: no heartbeat notices the loss first; the release does.
        ChildProcess guard =
            start_lokt({"guard", "build", "--", "sh", "-c", "echo ready; while [ ! -e go ]; do sleep 0.05; done"}, k_agent1);
        REQUIRE_MESSAGE(guard.wait_for_stdout_containing("ready", k_wait_timeout), guard.stderr_text());
        const auto ours = read_lock("build");
        REQUIRE(ours);
        REQUIRE_EXIT(lokt({"unlock", "build", "--force"}, k_agent2), 0);
        REQUIRE_EXIT(lokt({"lock", "build", "--ttl", "1m"}, k_agent2), 0);
        const auto theirs = read_lock("build");
        REQUIRE(theirs);
        REQUIRE((*theirs)["lock_id"] != (*ours)["lock_id"]);
        write_text(repo() / "go", "");

        const auto exited = guard.wait_exit(k_wait_timeout);
        REQUIRE_MESSAGE(exited, guard.stderr_text());
        const auto r = finish(guard);
        CHECK_EXIT(r, 6);
        CHECK_MESSAGE(matches(r.err, "error: lock \"build\" was lost before release: now held by agent-2@"), r.describe());
        const auto lost = audit_events("lost", "build");
        REQUIRE(lost.size() == 1);
        CHECK(lost[0]["lock_id"] == (*ours)["lock_id"]);
        CHECK(audit_events("release", "build").empty());
        const auto now = read_lock("build");
        REQUIRE(now);
        CHECK((*now)["lock_id"] == (*theirs)["lock_id"]);
    }

    TEST_CASE_FIXTURE(LoktFixture, "with --on-lost warn a lost lock lets CMD finish; guard exits 6 unless CMD failed") {
        std::string code;
        int expected = 0;
        SUBCASE("CMD succeeds: 6 says the lock was lost") {
            code = "0";
            expected = 6;
        }
        SUBCASE("CMD fails: its own status") {
            code = "3";
            expected = 3;
        }
        ChildProcess guard = start_lokt({"guard", "build", "--ttl", "2s", "--on-lost", "warn", "--", "sh", "-c",
                                         "echo ready; while [ ! -e go ]; do sleep 0.05; done; exit " + code},
                                        k_agent1);
        REQUIRE_MESSAGE(guard.wait_for_stdout_containing("ready", k_wait_timeout), guard.stderr_text());
        REQUIRE_EXIT(lokt({"unlock", "build", "--force"}, k_agent2), 0);
        REQUIRE_EXIT(lokt({"lock", "build", "--ttl", "1m"}, k_agent2), 0);
        // The heartbeat notices the loss; the command runs on.
        REQUIRE_MESSAGE(wait_until([&] { return audit_events("lost", "build").size() == 1; }, k_wait_timeout),
                        guard.stderr_text());
        CHECK_FALSE(guard.has_exited());
        write_text(repo() / "go", "");
        const auto exited = guard.wait_exit(k_wait_timeout);
        REQUIRE_MESSAGE(exited, guard.stderr_text());
        const auto r = finish(guard);
        CHECK_EXIT(r, expected);
        CHECK(audit_events("lost", "build").size() == 1);
        CHECK(audit_events("release", "build").empty());
    }

}  // TEST_SUITE
