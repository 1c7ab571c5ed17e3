// The seed quickstart's commands, run exactly as written there through /bin/sh
// in a repository, because users and agents copy them verbatim. `make build`
// is a real Makefile target that records who held the lock while it ran.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>

#include "tests/cli/support/lokt_fixture.hpp"
#include "tests/support/polling.hpp"

using namespace lokt::cli_test;

namespace {

// The repository the quickstart assumes: a Makefile with a build target and a
// migration script.
struct QuickstartRepo : LoktFixture {
    QuickstartRepo() {
        write_text(repo() / "Makefile",
                   "build:\n"
                   "\tlokt status \"$$LOKT_LOCK_NAME\" > build-status.txt\n"
                   "\techo \"$$LOKT_LOCK_NAME\" >> built\n");
        fs::create_directories(repo() / "scripts");
        write_text(repo() / "scripts" / "migrate.sh",
                   "#!/bin/sh\n"
                   "# Runs between `lokt lock db-migrate` and `lokt unlock db-migrate`, in its own shell.\n"
                   "lokt exists db-migrate\n"
                   "echo \"exists=$?\" > migrated\n");
        ::chmod((repo() / "scripts" / "migrate.sh").c_str(), 0755);
    }

    // Makes a TTL-bound lock and waits (by asking lokt, not by sleeping) until it expired.
    void make_expired_lock(const std::string& name) {
        REQUIRE_EXIT(sh("lokt lock " + name + " --ttl 1s"), 0);
        REQUIRE(wait_until([&] { return lokt({"exists", name}).status() == 3; }, k_wait_timeout, Millis(100)));
        REQUIRE(has_lock(name));
    }
};

}  // namespace

TEST_SUITE("quickstart") {
    TEST_CASE_FIXTURE(QuickstartRepo, "wrap your first command") {
        const auto r = sh("lokt guard build --ttl 5m -- make build");
        CHECK_EXIT(r, 0);
        CHECK(read_text(repo() / "built") == "build\n");
        CHECK(read_text(repo() / "build-status.txt").find("build") != std::string::npos);
        CHECK_FALSE(has_lock("build"));
        CHECK(audit_events("acquire", "build").size() == 1);
        CHECK(audit_events("release", "build").size() == 1);
    }

    TEST_CASE_FIXTURE(QuickstartRepo, "agents collide: exit 2 and who holds it") {
        ChildProcess holder = start_holder("build", k_agent1, {"--ttl", "5m"});
        const auto r = sh("lokt guard build --ttl 5m -- make build", k_agent2);
        CHECK_EXIT(r, 2);
        // The exact duration form ("for 12s") is checked in commands_test.cpp.
        const std::string expected = held_message_pattern_any_duration("build", "agent-1", host(), holder.pid());
        CHECK_MESSAGE(matches(r.err, expected), "expected " << expected << "\n" << r.describe());
        CHECK_FALSE(fs::exists(repo() / "built"));
        CHECK_EXIT(release_holder(holder), 0);
    }

    TEST_CASE_FIXTURE(QuickstartRepo, "wait instead of failing") {
        ChildProcess holder = start_holder("build", k_agent1, {"--ttl", "5m"});
        ChildProcess waiter = start_sh("lokt guard build --ttl 5m --wait --timeout 10m -- make build", k_agent2);
        auto denials_by_agent2 = [&] {
            std::size_t count = 0;
            for (const auto& event : audit_events("deny", "build")) count += event.value("owner", "") == "agent-2";
            return count;
        };
        REQUIRE_MESSAGE(wait_until([&] { return denials_by_agent2() > 0; }, k_wait_timeout),
                        "the waiter never recorded that it started waiting");
        CHECK_FALSE(waiter.has_exited());
        CHECK_FALSE(fs::exists(repo() / "built"));

        CHECK_EXIT(release_holder(holder), 0);
        const auto r = finish(waiter);
        CHECK_EXIT(r, 0);
        CHECK(r.err.empty());  // off a terminal, a waiter prints nothing while waiting
        CHECK(read_text(repo() / "built") == "build\n");
        CHECK(read_text(repo() / "build-status.txt").find("agent-2@" + host()) != std::string::npos);
        CHECK(denials_by_agent2() == 1);  // one deny when it started waiting, not one per look
    }

    TEST_CASE_FIXTURE(QuickstartRepo, "agent crashed: dead holder, --break-stale, --force, --prune-expired") {
        SUBCASE("a dead holder is removed by the next acquire") {
            // Without a TTL the lock is bound to the shell that ran lokt; that shell is gone at once.
            REQUIRE_EXIT(sh("lokt lock build"), 0);
            REQUIRE(has_lock("build"));
            const auto r = sh("lokt guard build --ttl 5m -- make build", k_agent2);
            CHECK_EXIT(r, 0);
            CHECK(fs::exists(repo() / "built"));
            CHECK(audit_events("stale-break", "build").size() == 1);
        }
        SUBCASE("lokt unlock build --break-stale") {
            make_expired_lock("build");
            const auto r = sh("lokt unlock build --break-stale", k_agent2);
            CHECK_EXIT(r, 0);
            CHECK_FALSE(has_lock("build"));
            CHECK(audit_events("stale-break", "build").size() == 1);
        }
        SUBCASE("lokt unlock build --force") {
            ChildProcess holder = start_holder("build", k_agent1, {"--ttl", "5m"});
            const auto r = sh("lokt unlock build --force", k_agent2);
            CHECK_EXIT(r, 0);
            CHECK_FALSE(has_lock("build"));
            CHECK(audit_events("force-break", "build").size() == 1);
            release_holder(holder);
        }
        SUBCASE("lokt status --prune-expired") {
            make_expired_lock("build");
            const auto r = sh("lokt status --prune-expired");
            CHECK_EXIT(r, 0);
            CHECK_FALSE(has_lock("build"));
            CHECK(audit_events("auto-prune", "build").size() == 1);
        }
    }

    TEST_CASE_FIXTURE(QuickstartRepo, "manual lock and unlock from separate shells") {
        RunOptions me;
        RunOptions other;
        SUBCASE("with LOKT_OWNER") {
            me = k_agent1;
            other = k_agent2;
        }
        SUBCASE("without LOKT_OWNER") {}

        REQUIRE_EXIT(sh("# Agent acquires the lock\nlokt lock db-migrate --ttl 10m", me), 0);
        CHECK_EXIT(sh("# Do work...\n./scripts/migrate.sh", me), 0);
        CHECK(read_text(repo() / "migrated") == "exists=0\n");  // still held from another shell
        CHECK_EXIT(sh("lokt lock db-migrate --ttl 10m", other), 2);
        CHECK_EXIT(sh("lokt guard db-migrate -- true", other), 2);
        const auto r = sh("# Release\nlokt unlock db-migrate", me);
        CHECK_EXIT(r, 0);
        CHECK_FALSE(has_lock("db-migrate"));
        CHECK(audit_events("release", "db-migrate").size() == 1);
    }

    TEST_CASE_FIXTURE(QuickstartRepo, "freeze: a human override with a TTL") {
        REQUIRE_EXIT(sh("# Block all guard commands for \"deploy\" for 30 minutes\nlokt freeze deploy --ttl 30m", k_ops), 0);
        const auto freeze = read_freeze("deploy");
        REQUIRE(freeze);
        const auto r = sh("lokt guard deploy -- make build", k_agent1);
        CHECK_EXIT(r, 2);
        const std::string expected = frozen_message_pattern("deploy", "ops", host(), (*freeze)["expires_at"].get<std::string>());
        CHECK_MESSAGE(matches(r.err, expected), "expected " << expected << "\n" << r.describe());
        CHECK_FALSE(fs::exists(repo() / "built"));

        CHECK_EXIT(sh("# Resume when ready\nlokt unfreeze deploy", k_ops), 0);
        CHECK_EXIT(sh("lokt guard deploy -- make build", k_agent1), 0);
        CHECK(fs::exists(repo() / "built"));
    }

    TEST_CASE_FIXTURE(QuickstartRepo, "audit: what happened overnight") {
        REQUIRE_EXIT(sh("lokt guard build --ttl 5m -- make build", k_agent1), 0);
        REQUIRE_EXIT(sh("lokt guard test --ttl 5m -- true", k_agent1), 0);

        auto r = sh("# What happened in the last 8 hours?\nlokt audit --since 8h");
        CHECK_EXIT(r, 0);
        CHECK(split_lines(r.out).size() == 4);
        r = sh("# Filter by lock name\nlokt audit --name build --since 1h");
        CHECK_EXIT(r, 0);
        CHECK(split_lines(r.out).size() == 2);
        CHECK(r.out.find("test") == std::string::npos);

        ChildProcess tail = start_sh("# Follow in real-time\nexec lokt audit --tail");
        REQUIRE(wait_until_tail_follows(tail.pid()));
        REQUIRE_EXIT(sh("lokt guard deploy -- true", k_agent2), 0);
        CHECK(tail.wait_for_stdout([](const std::string& out) { return matches(out, "release[^\\n]*deploy"); }, k_wait_timeout));
        tail.send_signal(SIGTERM);
        finish(tail);
    }

    TEST_CASE_FIXTURE(QuickstartRepo, "lock status and diagnostics") {
        ChildProcess holder = start_holder("build", k_agent1, {"--ttl", "5m"});
        auto r = sh("# List all held locks\nlokt status");
        CHECK_EXIT(r, 0);
        CHECK(r.out.find("agent-1@" + host()) != std::string::npos);
        r = sh("# Single lock details\nlokt status build");
        CHECK_EXIT(r, 0);
        CHECK(r.out.find("agent-1@" + host()) != std::string::npos);
        r = sh("# Machine-readable\nlokt status --json");
        CHECK_EXIT(r, 0);
        CHECK_MESSAGE(parse_json(r.out), r.describe());
        r = sh("# Explain why a lock can't be acquired\nlokt why build");
        CHECK_EXIT(r, 2);
        CHECK(r.out.find("agent-1@" + host()) != std::string::npos);
        r = sh("# Validate setup (directory, filesystem, clock)\nlokt doctor");
        CHECK_EXIT(r, 0);
        CHECK_EXIT(release_holder(holder), 0);
        CHECK_EXIT(sh("lokt why build"), 0);
    }

    TEST_CASE_FIXTURE(QuickstartRepo, "agent identity: LOKT_OWNER shows as owner@host") {
        const auto r =
            sh("export LOKT_OWNER=\"agent-1\"\nlokt guard build --ttl 5m -- make build\n# Lock shows: agent-1@macbook");
        CHECK_EXIT(r, 0);
        CHECK(read_text(repo() / "build-status.txt").find("agent-1@" + host()) != std::string::npos);
        const auto acquires = audit_events("acquire", "build");
        REQUIRE(acquires.size() == 1);
        CHECK(acquires[0]["owner"] == "agent-1");
        CHECK(acquires[0]["host"] == host());
    }

    TEST_CASE_FIXTURE(QuickstartRepo, "where locks are stored" * files_only()) {
        SUBCASE("the git common dir, from anywhere in the repository") {
            fs::create_directories(repo() / "src" / "deep");
            CHECK_EXIT(sh("lokt lock build --ttl 5m", RunOptions().in(repo() / "src" / "deep")), 0);
            CHECK(fs::exists(repo() / ".git" / "lokt" / "locks" / "build.json"));
        }
        SUBCASE("worktrees share the common dir") {
            const fs::path git_dir = repo() / ".git" / "worktrees" / "wt";
            fs::create_directories(git_dir);
            write_text(git_dir / "commondir", "../..\n");
            write_text(git_dir / "HEAD", "ref: refs/heads/wt\n");
            const fs::path worktree = scratch() / "wt";
            fs::create_directories(worktree);
            write_text(worktree / ".git", "gitdir: " + git_dir.string() + "\n");
            CHECK_EXIT(sh("lokt lock build --ttl 5m", RunOptions().in(worktree)), 0);
            CHECK(fs::exists(repo() / ".git" / "lokt" / "locks" / "build.json"));
            CHECK_EXIT(sh("lokt exists build"), 0);  // seen from the main checkout
        }
        SUBCASE("$LOKT_ROOT first") {
            const fs::path elsewhere = scratch() / "elsewhere";
            CHECK_EXIT(sh("lokt lock build --ttl 5m", RunOptions().set("LOKT_ROOT", elsewhere.string())), 0);
            CHECK(fs::exists(elsewhere / "locks" / "build.json"));
            CHECK_FALSE(has_lock("build"));
        }
        SUBCASE(".lokt in the current directory outside a repository") {
            const fs::path plain = scratch() / "plain";
            fs::create_directories(plain);
            CHECK_EXIT(sh("lokt lock build --ttl 5m", RunOptions().in(plain)), 0);
            CHECK(fs::exists(plain / ".lokt" / "locks" / "build.json"));
        }
    }

    TEST_CASE_FIXTURE(QuickstartRepo, "exit codes for scripting") {
        const std::string script = R"(lokt lock build --ttl 5m
case $? in
    0) echo "Lock acquired, proceeding..." ;;
    2) echo "Build already running, skipping"; exit 0 ;;
    *) echo "Unexpected error"; exit 1 ;;
esac
)";
        auto last_line = [](const ProcessResult& result) {
            const auto lines = split_lines(result.out);
            return lines.empty() ? std::string() : lines.back();
        };
        auto r = sh(script);
        CHECK_EXIT(r, 0);
        CHECK(last_line(r) == "Lock acquired, proceeding...");
        r = sh(script);  // another shell, no LOKT_OWNER: someone else's hold
        CHECK_EXIT(r, 0);
        CHECK(last_line(r) == "Build already running, skipping");
        // A root that cannot be made, or with etcd an endpoint nobody answers.
        const RunOptions broken = etcd_backend() ? RunOptions().set("LOKT_ETCD_ENDPOINTS", "http://127.0.0.1:1")
                                                 : RunOptions().set("LOKT_ROOT", "/dev/null/lokt");
        r = sh(script, broken);
        CHECK_EXIT(r, 1);
        CHECK(last_line(r) == "Unexpected error");
    }

}  // TEST_SUITE
