// Path reservations through the real lokt: reserve, unreserve, the check and
// status; agents racing for overlapping globs (exactly one wins); stale
// reservations; and their enforcement: Claude Code's PreToolUse hook fed
// recorded payloads, and the git pre-commit guard in a real repository.
#include <sys/stat.h>

#include <sstream>

#include "tests/cli/support/lokt_fixture.hpp"

namespace lokt::cli_test {
namespace {

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
    return text;
}

// PreToolUse payloads as Claude Code sends them on the hook's stdin, kept in
// claude_payloads/; @REPO@ stands for the repository.
constexpr const char* k_edit_payload = "edit.json";
constexpr const char* k_write_payload = "write.json";
constexpr const char* k_multiedit_payload = "multiedit.json";
constexpr const char* k_notebook_payload = "notebookedit.json";
constexpr const char* k_bash_payload = "bash.json";
constexpr const char* k_outside_payload = "write_outside.json";

class ReservationFixture : public LoktFixture {
public:
    // Runs `lokt hook claude-pretooluse` with a recorded payload (or, when
    // payload names no file there, that text) on stdin.
    ProcessResult hook(const char* payload, const RunOptions& options) {
        const fs::path recorded = fs::path(LOKT_TEST_CLAUDE_PAYLOADS) / payload;
        const std::string text = fs::exists(recorded) ? read_text(recorded) : std::string(payload);
        const fs::path file = scratch() / "payload.json";
        write_text(file, replace_all(text, "@REPO@", repo().string()));
        return sh("exec lokt hook claude-pretooluse < '" + file.string() + "'", options);
    }

    static std::optional<Json> decision(const ProcessResult& r) {
        if (r.out.empty()) return std::nullopt;
        return Json::parse(r.out);
    }

    void corrupt_table() {
        fs::create_directories(root() / "reservations");
        write_text(root() / "reservations" / "table.json", "{ not json");
    }
};

}  // namespace

TEST_SUITE("reservations") {
    TEST_CASE_FIXTURE(ReservationFixture,
                      "reserve, refuse, share, renew and unreserve, with exit codes, status and audit lines") {
        CHECK(lokt({"reserve", "src/auth/**", "--ttl", "10m"}, k_agent1).exit_code == 0);
        // Overlapping, another owner: refused, naming the holder.
        auto refused = lokt({"reserve", "src/**/*.c", "--ttl", "10m"}, k_agent2);
        CHECK(refused.exit_code == 2);
        CHECK_MESSAGE(contains(refused.err, "agent-1@"), refused.err);
        CHECK_MESSAGE(contains(refused.err, "src/auth/**"), refused.err);
        // Not overlapping: granted. Shared with shared: granted.
        CHECK(lokt({"reserve", "lib/**/*.h", "--ttl", "10m"}, k_agent2).exit_code == 0);
        CHECK(lokt({"reserve", "docs/**", "--shared", "--ttl", "10m"}, k_agent1).exit_code == 0);
        CHECK(lokt({"reserve", "docs/api", "--shared", "--ttl", "10m"}, k_agent2).exit_code == 0);
        CHECK(lokt({"reserve", "docs/api/x.md", "--ttl", "10m"}, as_owner("agent-3")).exit_code == 2);
        // The same owner again: renewed in place, same id.
        auto first = Json::parse(lokt({"status", "--json"}).out);
        REQUIRE(first["reservations"].size() == 4);
        const std::string id = first["reservations"][0]["id"];
        CHECK(lokt({"reserve", "src/auth/**", "--ttl", "20m"}, k_agent1).exit_code == 0);
        auto second = Json::parse(lokt({"status", "--json"}).out);
        REQUIRE(second["reservations"].size() == 4);
        bool renewed = false;
        for (const auto& r : second["reservations"]) renewed = renewed || (r["id"] == id && r["ttl_sec"] == 1200);
        CHECK(renewed);
        CHECK(contains(lokt({"status"}).out, "reserved: src/auth/** (exclusive) by agent-1@"));

        // All or nothing: one conflicting glob leaves the others unreserved too.
        CHECK(lokt({"reserve", "tools/**", "src/auth/x.c", "--ttl", "10m"}, k_agent2).exit_code == 2);
        CHECK(lokt({"reserve", "--check", "tools/a.c"}, k_agent1).exit_code == 0);

        // Unreserve: another's is exit 4, an unknown glob exit 3, one's own 0.
        CHECK(lokt({"unreserve", "src/auth/**"}, k_agent2).exit_code == 4);
        CHECK(lokt({"unreserve", "nothing/here"}, k_agent2).exit_code == 3);
        CHECK(lokt({"unreserve", "src/auth/"}, k_agent1).exit_code == 0);  // the same glob, written otherwise
        CHECK(lokt({"reserve", "src/**/*.c", "--ttl", "10m"}, k_agent2).exit_code == 0);
        CHECK(lokt({"unreserve", "--all"}, k_agent2).exit_code == 0);
        CHECK(lokt({"unreserve", "docs/**"}, k_ops).exit_code == 4);
        CHECK(lokt({"unreserve", "docs/**", "--force"}, k_ops).exit_code == 0);

        CHECK(audit_events("reserve", "src/auth/**").size() == 2);
        CHECK(audit_events("reserve-deny", "src/**/*.c").size() == 1);
        CHECK(audit_events("unreserve", "src/auth/**").size() == 1);
        CHECK(audit_events("force-unreserve", "docs/**").size() == 1);
        // Bad globs are usage errors.
        CHECK(lokt({"reserve", "../x", "--ttl", "1m"}, k_agent1).exit_code == 64);
        CHECK(lokt({"reserve", "src/[ab", "--ttl", "1m"}, k_agent1).exit_code == 64);
    }

    TEST_CASE_FIXTURE(ReservationFixture, "audit --name takes a reservation glob and lists that reservation's events") {
        CHECK(lokt({"reserve", "src/auth/**", "--ttl", "10m"}, k_agent1).exit_code == 0);
        CHECK(lokt({"reserve", "src/**/*.c", "--ttl", "10m"}, k_agent2).exit_code == 2);
        CHECK(lokt({"reserve", "docs/**", "--ttl", "10m"}, k_agent2).exit_code == 0);
        CHECK(lokt({"unreserve", "src/auth/**"}, k_agent1).exit_code == 0);
        auto events = [&](const std::string& name) {
            const auto r = lokt({"audit", "--name", name, "--json"});
            CHECK_MESSAGE(r.exit_code == 0, r.err);
            std::vector<std::string> seen;
            std::istringstream lines(r.out);
            for (std::string line; std::getline(lines, line);) {
                const Json event = Json::parse(line);
                CHECK(event["name"] == name);
                seen.push_back(event["event"]);
            }
            return seen;
        };
        CHECK(events("src/auth/**") == std::vector<std::string>{"reserve", "unreserve"});
        CHECK(events("src/**/*.c") == std::vector<std::string>{"reserve-deny"});
        CHECK(events("docs/**") == std::vector<std::string>{"reserve"});
        // Neither a lock name nor a glob: a usage error naming both readings.
        const auto bad = lokt({"audit", "--name", "../x"});
        CHECK(bad.exit_code == 64);
        CHECK_MESSAGE(contains(bad.err, "neither a lock name nor a reservation glob"), bad.err);
    }

    TEST_CASE_FIXTURE(ReservationFixture, "the check answers in stable JSON, naming the holder") {
        REQUIRE(lokt({"reserve", "src/auth/**", "--ttl", "10m"}, k_agent1).exit_code == 0);
        auto blocked = lokt({"reserve", "--check", "src/auth/login.c", "README.md", "--json"}, k_agent2);
        CHECK(blocked.exit_code == 2);
        const Json answer = Json::parse(blocked.out);
        CHECK(answer["owner"] == "agent-2");
        CHECK(answer["allowed"] == false);
        REQUIRE(answer["paths"].size() == 2);
        CHECK(answer["paths"][0]["path"] == "src/auth/login.c");
        CHECK(answer["paths"][0]["allowed"] == false);
        CHECK(answer["paths"][0]["blockers"][0]["owner"] == "agent-1");
        CHECK(answer["paths"][0]["blockers"][0]["glob"] == "src/auth/**");
        CHECK(answer["paths"][0]["blockers"][0]["mode"] == "exclusive");
        CHECK(answer["paths"][1]["allowed"] == true);
        // The owner itself may write; --owner asks for someone else.
        CHECK(lokt({"reserve", "--check", "src/auth/login.c"}, k_agent1).exit_code == 0);
        CHECK(lokt({"reserve", "--check", "src/auth/login.c", "--owner", "agent-1"}, k_agent2).exit_code == 0);
        // From a subdirectory, and by absolute path: the same repository path.
        fs::create_directories(repo() / "src");
        CHECK(lokt({"reserve", "--check", "auth/login.c"}, RunOptions(k_agent2).in(repo() / "src")).exit_code == 2);
        CHECK(lokt({"reserve", "--check", (repo() / "src/auth/login.c").string()}, k_agent2).exit_code == 2);
    }

    TEST_CASE_FIXTURE(ReservationFixture, "agents racing for overlapping globs: exactly one wins") {
        // Every pair of these shares src/a/b.c.
        const std::vector<std::string> globs = {"src/**",    "src/a/**", "src/a/b.c", "**/b.c",
                                                "src/*/b.c", "src/a",    "*/a/b.c",   "src/[a]/**"};
        std::vector<ChildProcess> racers;
        for (std::size_t i = 0; i < globs.size(); ++i) {
            racers.push_back(start_lokt({"reserve", globs[i], "--ttl", "10m"}, as_owner("racer-" + std::to_string(i))));
        }
        int won = 0, refused = 0;
        for (auto& racer : racers) {
            const auto r = finish(racer);
            won += r.exit_code == 0 ? 1 : 0;
            refused += r.exit_code == 2 ? 1 : 0;
        }
        CHECK(won == 1);
        CHECK(refused == static_cast<int>(globs.size()) - 1);
        CHECK(Json::parse(lokt({"status", "--json"}).out)["reservations"].size() == 1);
    }

    TEST_CASE_FIXTURE(ReservationFixture, "a reservation without TTL ends with the shell that made it; a waiter gets it") {
        // Bound to the shell that ran lokt: gone once it exits, pruned (and audited) by the next change.
        REQUIRE(sh("lokt reserve 'src/**'; true", k_agent1).exit_code == 0);
        CHECK(lokt({"reserve", "--check", "src/x.c"}, k_agent2).exit_code == 0);
        CHECK(lokt({"reserve", "src/x.c", "--ttl", "10m"}, k_agent2).exit_code == 0);
        const auto pruned = audit_events("unreserve", "src/**");
        REQUIRE(pruned.size() == 1);
        CHECK(pruned[0]["extra"]["pruned"] == true);

        // A waiter is granted when the holder unreserves.
        auto waiter = start_lokt({"reserve", "src/**", "--ttl", "10m", "--wait", "--timeout", "20s"}, k_agent1);
        REQUIRE(wait_until([&] { return audit_events("reserve-deny", "src/**").size() == 1; }, k_wait_timeout));
        CHECK(lokt({"unreserve", "src/x.c"}, k_agent2).exit_code == 0);
        CHECK(finish(waiter).exit_code == 0);
        CHECK(lokt({"reserve", "--check", "src/y.c"}, k_agent2).exit_code == 2);
    }

    TEST_CASE_FIXTURE(ReservationFixture, "the PreToolUse hook denies an edit of another owner's path, and nothing else") {
        REQUIRE(lokt({"reserve", "src/auth/**", "--ttl", "10m"}, k_agent1).exit_code == 0);
        for (const char* payload : {k_edit_payload, k_multiedit_payload, k_notebook_payload}) {
            const auto r = hook(payload, k_agent2);
            CHECK(r.exit_code == 0);
            const auto answer = decision(r);
            REQUIRE_MESSAGE(answer, r.describe());
            const auto& out = (*answer)["hookSpecificOutput"];
            CHECK(out["hookEventName"] == "PreToolUse");
            CHECK(out["permissionDecision"] == "deny");
            const std::string reason = out["permissionDecisionReason"];
            CHECK_MESSAGE(contains(reason, "agent-1@"), reason);
            CHECK_MESSAGE(contains(reason, "src/auth/**"), reason);
        }
        CHECK(audit_events("edit-deny", "src/auth/login.c").size() == 1);
        // The holder itself, a free path, a tool that writes no file, a file
        // outside the repository: no answer at all (Claude Code decides as usual).
        for (const auto& [payload, options] : {std::pair{k_edit_payload, k_agent1}, std::pair{k_write_payload, k_agent2},
                                               std::pair{k_bash_payload, k_agent2}, std::pair{k_outside_payload, k_agent2}}) {
            const auto r = hook(payload, options);
            CHECK(r.exit_code == 0);
            CHECK_MESSAGE(r.out.empty(), r.describe());
        }
    }

    TEST_CASE_FIXTURE(ReservationFixture, "when lokt cannot check, the hook allows or denies as LOKT_HOOK_ON_ERROR says") {
        corrupt_table();
        auto open = hook(k_edit_payload, k_agent2);
        CHECK(open.exit_code == 0);
        CHECK(open.out.empty());
        CHECK_MESSAGE(contains(open.err, "allowing"), open.err);
        auto closed = hook(k_edit_payload, RunOptions(k_agent2).set("LOKT_HOOK_ON_ERROR", "deny"));
        CHECK(closed.exit_code == 0);
        const auto answer = decision(closed);
        REQUIRE_MESSAGE(answer, closed.describe());
        CHECK((*answer)["hookSpecificOutput"]["permissionDecision"] == "deny");
        CHECK(contains((*answer)["hookSpecificOutput"]["permissionDecisionReason"].get<std::string>(), "could not check"));
        // A root that cannot exist (under a regular file), and a payload that is not one.
        auto unusable =
            hook(k_edit_payload, RunOptions(k_agent2).set("LOKT_ROOT", "/dev/null/lokt").set("LOKT_HOOK_ON_ERROR", "deny"));
        REQUIRE(decision(unusable));
        CHECK((*decision(unusable))["hookSpecificOutput"]["permissionDecision"] == "deny");
        auto garbage = hook("this is not json", RunOptions(k_agent2).set("LOKT_HOOK_ON_ERROR", "deny"));
        REQUIRE(decision(garbage));
        CHECK((*decision(garbage))["hookSpecificOutput"]["permissionDecision"] == "deny");
        CHECK(hook("this is not json", k_agent2).out.empty());
    }

    TEST_CASE_FIXTURE(ReservationFixture, "the git pre-commit guard refuses a commit touching another owner's reservation") {
        if (!have_program("git")) return;
        const fs::path real = scratch() / "real";
        fs::create_directories(real / "src" / "auth");
        const RunOptions here = RunOptions().in(real);
        auto git = [&](const std::string& args, const RunOptions& who) {
            return sh("git -c user.name=t -c user.email=t@example.com " + args, RunOptions(who).in(real));
        };
        REQUIRE(git("init -q .", here).exit_code == 0);
        write_text(real / "src" / "auth" / "login.c", "int login;\n");
        write_text(real / "src" / "main.c", "int main;\n");
        // An existing hook of someone else's is never replaced.
        write_text(real / ".git" / "hooks" / "pre-commit", "#!/bin/sh\nexit 0\n");
        CHECK(lokt({"hook", "git-pre-commit", "--install"}, here).exit_code == 1);
        CHECK(read_text(real / ".git" / "hooks" / "pre-commit") == "#!/bin/sh\nexit 0\n");
        fs::remove(real / ".git" / "hooks" / "pre-commit");
        REQUIRE(lokt({"hook", "git-pre-commit", "--install"}, here).exit_code == 0);
        CHECK(contains(lokt({"hook", "git-pre-commit", "--install"}, here).out, "already"));

        REQUIRE(lokt({"reserve", "src/auth/**", "--ttl", "10m"}, RunOptions(k_agent1).in(real)).exit_code == 0);
        REQUIRE(git("add -A", here).exit_code == 0);
        auto refused = git("commit -q -m 'touches auth'", k_agent2);
        CHECK(refused.exit_code != 0);
        CHECK_MESSAGE(contains(refused.err, "src/auth/login.c"), refused.err);
        CHECK_MESSAGE(contains(refused.err, "agent-1@"), refused.err);
        // Without the reserved path the commit goes through; the holder commits its own.
        REQUIRE(git("reset -q src/auth", here).exit_code == 0);
        CHECK(git("commit -q -m main", k_agent2).exit_code == 0);
        REQUIRE(git("add -A", here).exit_code == 0);
        CHECK(git("commit -q -m auth", k_agent1).exit_code == 0);

        // lokt failing: committing anyway by default, refused with deny.
        write_text(real / "src" / "main.c", "int main2;\n");
        REQUIRE(git("add -A", here).exit_code == 0);
        fs::create_directories(real / ".git" / "lokt" / "reservations");
        write_text(real / ".git" / "lokt" / "reservations" / "table.json", "{ not json");
        CHECK(git("commit -q -m strict", RunOptions(k_agent2).set("LOKT_HOOK_ON_ERROR", "deny")).exit_code != 0);
        CHECK(git("commit -q -m lenient", k_agent2).exit_code == 0);
    }
}

}  // namespace lokt::cli_test
