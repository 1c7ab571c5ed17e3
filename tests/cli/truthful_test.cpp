// What the people watching the agents read must be true: a frozen name shows
// as frozen (status table, `status NAME`, --json), `status NAME` and `why
// NAME` say who waits and where a newcomer would stand (known only through
// the daemon; file mode says so), refusals leave --force to a human, `doctor`
// catches the setups that make every command fail or slow (a bad
// LOKT_DAEMON, a socket that never answers, a root it cannot create, a root
// outside git), and the live waiting line ticks, on a terminal that can
// redraw it only.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "tests/cli/support/lokt_fixture.hpp"
#include "tests/support/polling.hpp"

using namespace lokt::cli_test;

namespace {

// A Unix socket that accepts connections (the kernel's backlog does) but never
// answers a byte: a hung daemon, or some other program on the socket path.
class SilentSocket {
public:
    explicit SilentSocket(const fs::path& path) {
        fs::create_directories(path.parent_path());
        fs::permissions(path.parent_path(), fs::perms::owner_all, fs::perm_options::replace);
        m_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(m_fd >= 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
        REQUIRE(::bind(m_fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
        REQUIRE(::listen(m_fd, 64) == 0);
    }
    ~SilentSocket() { ::close(m_fd); }
    SilentSocket(const SilentSocket&) = delete;
    SilentSocket& operator=(const SilentSocket&) = delete;

private:
    int m_fd = -1;
};

// The doctor line of one check ("warn  root   ..."), or "" when it has none.
std::string doctor_line(const std::string& out, const std::string& check) {
    for (const auto& line : split_lines(out)) {
        if (matches(line, "^(ok|warn|fail) +" + regex_escape(check) + " ")) return line;
    }
    return {};
}

// Runs a lokt command line under a pseudo-terminal (script(1)), TERM as given;
// what the terminal received is the result's stdout.
ProcessResult under_pty(LoktFixture& t, const std::string& command, const std::string& term, const RunOptions& base) {
    RunOptions options = base;
    options.set("TERM", term);
    return t.run({"script", "-qec", command, "/dev/null"}, options);
}

}  // namespace

TEST_SUITE("truthful") {
    TEST_CASE_FIXTURE(LoktFixture, "a frozen name nobody holds shows as frozen, not free") {
        REQUIRE_EXIT(lokt({"freeze", "deploy", "--ttl", "30m"}, k_ops), 0);

        auto r = lokt({"status", "deploy"}, k_agent1);
        CHECK_EXIT(r, 0);
        CHECK_MESSAGE(contains(r.out, "lock \"deploy\": frozen\n"), r.out);
        CHECK_MESSAGE(!contains(r.out, "free"), r.out);
        CHECK_MESSAGE(contains(r.out, "frozen:    by ops@" + host()), r.out);

        r = lokt({"status", "deploy", "--json"}, k_agent1);
        CHECK_EXIT(r, 0);
        auto json = parse_json(r.out);
        REQUIRE_MESSAGE(json, r.out);
        CHECK((*json)["state"] == "frozen");
        REQUIRE((*json)["frozen"].is_object());
        CHECK((*json)["frozen"]["owner"] == "ops");
        CHECK((*json)["frozen"]["expires_at"].is_string());

        // The table has a row for it.
        r = lokt({"status"}, k_agent1);
        CHECK_EXIT(r, 0);
        CHECK_MESSAGE(matches(r.out, "(^|\n)deploy +- +- +- +- +frozen\n"), r.out);
        CHECK_MESSAGE(!contains(r.out, "no locks held"), r.out);

        r = lokt({"why", "deploy"}, k_agent1);
        CHECK_EXIT(r, 2);
        CHECK_MESSAGE(contains(r.out, "lock \"deploy\" is frozen until "), r.out);
    }

    TEST_CASE_FIXTURE(LoktFixture, "a held name that is also frozen says both") {
        auto holder = start_holder("build", k_agent1);
        REQUIRE_EXIT(lokt({"freeze", "build", "--ttl", "10m"}, k_ops), 0);

        auto r = lokt({"status"}, k_agent2);
        CHECK_EXIT(r, 0);
        CHECK_MESSAGE(matches(r.out, "(^|\n)build +agent-1@.* held, frozen\n"), r.out);

        r = lokt({"status", "build"}, k_agent2);
        CHECK_MESSAGE(contains(r.out, "lock \"build\": held, frozen\n"), r.out);

        r = lokt({"status", "--json"}, k_agent2);
        auto json = parse_json(r.out);
        REQUIRE_MESSAGE(json, r.out);
        REQUIRE((*json)["locks"].size() == 1);
        CHECK((*json)["locks"][0]["state"] == "held");
        CHECK((*json)["locks"][0]["frozen"]["owner"] == "ops");
        CHECK((*json)["freezes"][0]["name"] == "build");

        release_holder(holder);
    }

    TEST_CASE_FIXTURE(LoktFixture, "status NAME and why NAME say who waits, or that the queue is not known") {
        auto holder = start_holder("build", k_agent1);
        if (!daemon_backend() && !etcd_backend()) {  // etcd keeps its queue too
            auto r = lokt({"status", "build"}, k_agent2);
            CHECK_EXIT(r, 0);
            CHECK_MESSAGE(contains(r.out, "waiting:   not known (no daemon"), r.out);
            r = lokt({"status", "build", "--json"}, k_agent2);
            auto json = parse_json(r.out);
            REQUIRE_MESSAGE(json, r.out);
            CHECK((*json)["queue_known"] == false);
            CHECK((*json)["waiters"].empty());
            r = lokt({"why", "build"}, k_agent2);
            CHECK_EXIT(r, 2);
            CHECK_MESSAGE(contains(r.out, "because the queue is not known: without a daemon"), r.out);
            // Nobody keeps a queue, but who waits now is seen in waits/.
            auto waiter = start_lokt({"guard", "build", "--wait", "--timeout", "60s", "--", "true"}, k_agent2);
            std::optional<Json> seen;
            const bool waiting = wait_until(
                [&] {
                    seen = parse_json(lokt({"status", "build", "--json"}, k_ops).out);
                    return seen && (*seen)["waiters"].size() == 1;
                },
                k_wait_timeout);
            REQUIRE_MESSAGE(waiting, (seen ? seen->dump() : std::string("no JSON")));
            CHECK((*seen)["queue_known"] == false);
            CHECK((*seen)["waiters"][0]["owner"] == "agent-2");
            CHECK((*seen)["waiters"][0]["mode"] == "exclusive");
            r = lokt({"status", "build"}, k_ops);
            CHECK_MESSAGE(contains(r.out, "waiting:   1 seen in waits/, oldest first (no daemon"), r.out);
            r = lokt({"why", "build"}, k_ops);
            CHECK_MESSAGE(contains(r.out, "1 acquire waits (seen in waits/, oldest first; first: agent-2@"), r.out);
            release_holder(holder);
            CHECK_EXIT(finish(waiter), 0);
            return;
        }
        const std::string queue = etcd_backend() ? "the etcd queue" : "the daemon's queue";
        auto r = lokt({"status", "build"}, k_agent2);
        CHECK_MESSAGE(contains(r.out, "waiting:   nobody\n"), r.out);
        r = lokt({"why", "build"}, k_agent2);
        CHECK_MESSAGE(contains(r.out, "nobody waits in " + queue + ": a waiter would be next (position 1)"), r.out);

        auto waiter = start_lokt({"guard", "build", "--wait", "--timeout", "60s", "--", "true"}, k_agent2);
        std::optional<Json> seen;
        const bool queued = wait_until(
            [&] {
                seen = parse_json(lokt({"status", "build", "--json"}, k_ops).out);
                return seen && (*seen)["waiters"].size() == 1;
            },
            k_wait_timeout);
        REQUIRE_MESSAGE(queued, (seen ? seen->dump() : std::string("no JSON")));
        CHECK((*seen)["queue_known"] == true);
        CHECK((*seen)["waiters"][0]["position"] == 1);
        CHECK((*seen)["waiters"][0]["owner"] == "agent-2");
        CHECK((*seen)["waiters"][0]["pid"] == waiter.pid());
        if (daemon_backend()) CHECK((*seen)["waiters"][0]["mode"] == "exclusive");

        r = lokt({"status", "build"}, k_ops);
        CHECK_MESSAGE(contains(r.out, "waiting:   1 in " + queue + "\n"), r.out);
        CHECK_MESSAGE(matches(r.out, "\n    1\\. agent-2@" + regex_escape(host()) + " \\(pid " + std::to_string(waiter.pid())),
                      r.out);
        r = lokt({"why", "build"}, k_ops);
        CHECK_MESSAGE(contains(r.out, "1 acquire waits in " + queue + " (first: agent-2@"), r.out);
        CHECK_MESSAGE(contains(r.out, "a new waiter would be number 2"), r.out);
        r = lokt({"why", "build", "--json"}, k_ops);
        auto why = parse_json(r.out);
        REQUIRE_MESSAGE(why, r.out);
        CHECK((*why)["waiters"].size() == 1);

        release_holder(holder);
        CHECK_EXIT(finish(waiter), 0);
    }

    TEST_CASE_FIXTURE(LoktFixture, "refusals leave --force to a human") {
        REQUIRE_EXIT(lokt({"lock", "db", "--ttl", "5m"}, k_agent1), 0);
        auto r = lokt({"unlock", "db"}, k_agent2);
        CHECK_EXIT(r, 4);
        CHECK_MESSAGE(contains(r.err, "a human may break it with --force"), r.err);
        CHECK_MESSAGE(!contains(r.err, "use --force"), r.err);

        r = lokt({"unlock", "db", "--break-stale"}, k_agent2);
        CHECK_EXIT(r, 2);
        CHECK_MESSAGE(contains(r.err, "a human may break it anyway with --force"), r.err);

        REQUIRE_EXIT(lokt({"freeze", "deploy", "--ttl", "5m"}, k_ops), 0);
        r = lokt({"unfreeze", "deploy"}, k_agent2);
        CHECK_EXIT(r, 4);
        CHECK_MESSAGE(contains(r.err, "a human may lift it with 'lokt unfreeze deploy --force'"), r.err);
        CHECK_MESSAGE(!contains(r.err, "use "), r.err);
    }

    TEST_CASE_FIXTURE(LoktFixture, "doctor fails on a LOKT_DAEMON value that makes every command fail") {
        const auto r = lokt({"doctor"}, RunOptions(k_agent1).set("LOKT_DAEMON", "yes"));
        CHECK_EXIT(r, 1);
        const std::string line = doctor_line(r.out, "daemon");
        CHECK_MESSAGE(matches(line, "^fail +daemon +LOKT_DAEMON must be auto, off or require, not \"yes\""), r.out);
        CHECK_EXIT(lokt({"status"}, RunOptions(k_agent1).set("LOKT_DAEMON", "yes")), 64);
    }

    TEST_CASE_FIXTURE(LoktFixture, "a socket that accepts but never answers: commands wait 200ms and say so, doctor measures it" *
                                       not_on_etcd()) {
        const fs::path socket = scratch() / "silent" / "loktd.sock";
        SilentSocket silent(socket);
        RunOptions options = RunOptions(k_agent1).set("LOKT_SOCKET", socket.string()).set("LOKT_DAEMON", "auto");

        // Every command that changes locks pays the hello's timeout, then uses
        // the files, and says why on stderr.
        const auto started = std::chrono::steady_clock::now();
        const auto guarded = lokt({"guard", "build", "--", "true"}, options);
        CHECK_EXIT(guarded, 0);
        const auto took = std::chrono::steady_clock::now() - started;
        CHECK_MESSAGE(took < std::chrono::milliseconds(800),
                      "lokt guard took " << std::chrono::duration_cast<Millis>(took).count() << "ms");
        CHECK_MESSAGE(matches(guarded.err,
                              "warning: loktd at .*loktd\\.sock accepted the connection but did not answer in "
                              "200ms; using the files"),
                      guarded.err);
        // -q silences it, as every warning.
        CHECK(lokt({"-q", "guard", "build", "--", "true"}, options).err.empty());

        auto r = lokt({"doctor"}, options);
        CHECK_EXIT(r, 0);  // a warning: commands still work
        std::string line = doctor_line(r.out, "daemon");
        CHECK_MESSAGE(matches(line,
                              "^warn +daemon +something accepts connections at .*loktd\\.sock but did not answer in "
                              "[0-9]+ms; every command waits 200ms for it and then uses the files"),
                      r.out);

        r = lokt({"doctor", "--json"}, RunOptions(options).set("LOKT_DAEMON", "require"));
        CHECK_EXIT(r, 1);
        auto json = parse_json(r.out);
        REQUIRE_MESSAGE(json, r.out);
        bool found = false;
        for (const auto& check : (*json)["checks"]) {
            if (check["name"] != "daemon") continue;
            found = true;
            CHECK(check["status"] == "fail");
            CHECK_MESSAGE(contains(check["detail"].get<std::string>(), "every command waits 5000ms and then fails"),
                          check.dump());
        }
        CHECK(found);
    }

    TEST_CASE_FIXTURE(LoktFixture, "doctor fails when the lock root cannot be created or written") {
        SUBCASE("under a directory nobody may create in") {
            // /proc refuses new directories to everyone, root included.
            const auto r = lokt({"doctor"}, RunOptions(k_agent1).set("LOKT_ROOT", "/proc/lokt-doctor/root"));
            CHECK_EXIT(r, 1);
            CHECK_MESSAGE(matches(doctor_line(r.out, "permissions"),
                                  "^fail +permissions +the root does not exist and cannot be created: cannot create a "
                                  "directory in /proc: "),
                          r.out);
        }
        SUBCASE("a read-only root") {
            if (::geteuid() == 0) {
                MESSAGE("skipped: root writes through directory modes");
                return;
            }
            const fs::path root = scratch() / "read-only";
            fs::create_directories(root);
            fs::permissions(root, fs::perms::owner_read | fs::perms::owner_exec, fs::perm_options::replace);
            const auto r = lokt({"doctor"}, RunOptions(k_agent1).set("LOKT_ROOT", root.string()));
            fs::permissions(root, fs::perms::owner_all, fs::perm_options::replace);
            CHECK_EXIT(r, 1);
            CHECK_MESSAGE(matches(doctor_line(r.out, "permissions"), "^fail +permissions +cannot write to "), r.out);
        }
    }

    TEST_CASE_FIXTURE(LoktFixture, "outside git, doctor warns and -v says which root is used and why") {
        const fs::path plain = scratch() / "not-a-repo";
        fs::create_directories(plain);
        RunOptions options = RunOptions(k_agent1).in(plain);
        auto r = lokt({"doctor"}, options);
        const std::string line = doctor_line(r.out, "root");
        CHECK_MESSAGE(matches(line, "^warn +root +" + regex_escape((plain / ".lokt").string()) +
                                        " \\(from the working directory: not inside a git repository"),
                      r.out);
        CHECK_MESSAGE(contains(line, "set LOKT_ROOT, or work inside a git repository"), r.out);

        r = lokt({"-v", "status"}, options);
        CHECK_EXIT(r, 0);
        CHECK_MESSAGE(contains(r.err, "lokt: root " + (plain / ".lokt").string() + " (from working directory)"), r.err);
        CHECK_MESSAGE(contains(r.err, "not inside a git repository and LOKT_ROOT is not set"), r.err);

        // Inside the repository, no warning.
        r = lokt({"doctor"}, k_agent1);
        CHECK_MESSAGE(matches(doctor_line(r.out, "root"), "^ok +root +.* \\(from git\\)$"), r.out);
    }

    TEST_CASE_FIXTURE(LoktFixture, "the live waiting line ticks on a terminal, and is plain on a dumb one") {
        if (!have_program("script")) {
            MESSAGE("skipped: script(1) is not installed");
            return;
        }
        auto holder = start_holder("build", k_agent1);
        const std::string wait = LoktFixture::binary().string() + " guard build --wait --timeout 3500ms -- true";

        // A terminal that redraws: the line says 1s, then 2s, then 3s while the holder keeps it.
        auto r = under_pty(*this, wait, "xterm", k_agent2);
        CHECK_MESSAGE(contains(r.out, "\r\033[Kwaiting 1s: lock \"build\" held by agent-1@"), r.out);
        CHECK_MESSAGE(contains(r.out, "\r\033[Kwaiting 2s: "), r.out);
        CHECK_MESSAGE(contains(r.out, "\r\033[Kwaiting 3s: "), r.out);
        CHECK_MESSAGE(contains(r.out, "error: timed out after "), r.out);

        // TERM=dumb: no escape codes, one plain line.
        r = under_pty(*this, wait, "dumb", k_agent2);
        CHECK_MESSAGE(!contains(r.out, "\033["), r.out);
        CHECK_MESSAGE(contains(r.out, "waiting: lock \"build\" held by agent-1@"), r.out);
        CHECK_MESSAGE(!contains(r.out, "waiting 1s"), r.out);

        // Not a terminal: nothing while waiting.
        r = lokt({"guard", "build", "--wait", "--timeout", "1500ms", "--", "true"}, k_agent2);
        CHECK_EXIT(r, 2);
        CHECK_MESSAGE(!contains(r.err, "\r"), r.err);
        CHECK_MESSAGE(split_lines(r.err).size() == 1, r.err);  // the error alone
        CHECK_MESSAGE(r.err.starts_with("error: timed out after "), r.err);

        release_holder(holder);
    }

}  // TEST_SUITE
