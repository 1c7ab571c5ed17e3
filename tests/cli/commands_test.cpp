// Every command of SPEC.md section 1 (except daemon and prime) run as a user
// runs it: exit codes, the exact text of the messages users and scripts read,
// what is left on disk and what the audit log says happened.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/cli/support/lokt_fixture.hpp"
#include "tests/support/polling.hpp"

using namespace lokt::cli_test;

namespace {

std::vector<std::string> keys_of(const Json& object) {
    std::vector<std::string> keys;
    for (const auto& item : object.items()) keys.push_back(item.key());
    return keys;
}

// The keys of `object` that appear in `order`, in the order they appear in the object.
std::vector<std::string> known_keys_in_order(const Json& object, const std::vector<std::string>& order) {
    std::vector<std::string> known;
    for (const auto& key : keys_of(object)) {
        if (std::find(order.begin(), order.end(), key) != order.end()) known.push_back(key);
    }
    return known;
}

// An expired record: acquired two hours ago with a one-minute TTL.
Json expired_record(const LoktFixture& t, std::string_view name) {
    Json record = t.foreign_record(name, ::getpid(), process_start_ticks(::getpid()));
    const auto acquired = WallClock::now() - std::chrono::hours(2);
    record["acquired_ts"] = format_rfc3339(acquired);
    record["ttl_sec"] = 60;
    record["expires_at"] = format_rfc3339(acquired + std::chrono::seconds(60));
    return record;
}

}  // namespace

TEST_SUITE("commands") {
    TEST_CASE_FIXTURE(LoktFixture, "version prints the version and the build id") {
        const auto r = lokt({"version"});
        CHECK_EXIT(r, 0);
        const auto lines = split_lines(r.out);
        REQUIRE_FALSE(lines.empty());
        CHECK_MESSAGE(matches(lines[0], R"(^lokt [0-9]+\.[0-9]+\.[0-9]+ \(build [^()\s]+\)$)"), r.describe());
        CHECK(r.err.empty());
    }

    TEST_CASE_FIXTURE(LoktFixture, "the owner is $USER, then $LOGNAME, then the user database's name for the uid") {
        const auto owner_of = [&](const RunOptions& options) {
            const auto r = lokt({"lock", "who", "--ttl", "5m"}, options);
            REQUIRE_EXIT(r, 0);
            const auto record = read_lock("who");
            REQUIRE(record);
            const std::string owner = (*record)["owner"].get<std::string>();
            REQUIRE_EXIT(lokt({"unlock", "who", "--force"}), 0);
            return owner;
        };
        CHECK(owner_of(RunOptions().unset("LOKT_OWNER").set("USER", "u1").set("LOGNAME", "l1")) == "u1");
        CHECK(owner_of(RunOptions().unset("LOKT_OWNER").unset("USER").set("LOGNAME", "l1")) == "l1");
        // Neither set: the name getent(1) gives for our uid (through the daemon it is
        // still the client that names its owner).
        ProcessSpec spec;
        spec.argv = {"getent", "passwd", std::to_string(::geteuid())};
        spec.env = Environment::inherited();
        spec.cwd = repo();
        const auto getent = run_process(spec, k_command_timeout);
        std::string expected = "uid" + std::to_string(::geteuid());
        if (getent.exit_code == 0) expected = getent.out.substr(0, getent.out.find(':'));
        CHECK(owner_of(RunOptions().unset("LOKT_OWNER").unset("USER").unset("LOGNAME")) == expected);
    }

    TEST_CASE_FIXTURE(LoktFixture, "lock writes the lock file and the audit line the contract describes" * files_only()) {
        const auto r = lokt({"lock", "build", "--ttl", "5m"}, k_agent1);
        REQUIRE_EXIT(r, 0);
        CHECK(r.out.find("lock \"build\"") != std::string::npos);
        CHECK(r.err.empty());

        const std::string text = read_text(lock_path("build"));
        CHECK_MESSAGE(text.rfind("{\n  \"version\": 1,\n  \"name\": \"build\",\n", 0) == 0, text);
        CHECK_MESSAGE((text.size() > 2 && text.substr(text.size() - 2) == "}\n"), text);
        const auto record = parse_json(text);
        REQUIRE_MESSAGE(record, text);
        const std::vector<std::string> spec_order{"version",      "name",     "lock_id",     "owner",   "host",      "pid",
                                                  "pid_start_ns", "agent_id", "acquired_ts", "ttl_sec", "expires_at"};
        CHECK(known_keys_in_order(*record, spec_order) == spec_order);
        // Our own fields come after the contract's.
        const auto keys = keys_of(*record);
        CHECK(std::equal(spec_order.begin(), spec_order.end(), keys.begin()));

        CHECK((*record)["version"] == 1);
        CHECK((*record)["name"] == "build");
        CHECK(matches((*record)["lock_id"].get<std::string>(), "^[0-9a-f]{32}$"));
        CHECK((*record)["owner"] == "agent-1");
        CHECK((*record)["host"] == host());
        CHECK((*record)["ttl_sec"] == 300);
        const auto acquired = parse_rfc3339((*record)["acquired_ts"].get<std::string>());
        const auto expires = parse_rfc3339((*record)["expires_at"].get<std::string>());
        REQUIRE(acquired);
        REQUIRE(expires);
        CHECK(*expires - *acquired == std::chrono::minutes(5));
        const auto pid = (*record)["pid"].get<long long>();
        CHECK(pid > 0);
        if (process_alive(static_cast<pid_t>(pid))) {
            CHECK((*record)["pid_start_ns"].get<unsigned long long>() == process_start_ticks(static_cast<pid_t>(pid)));
        }

        CHECK(file_mode(lock_path("build")) == 0600);
        CHECK(file_mode(root()) == 0700);
        CHECK(file_mode(root() / "locks") == 0700);
        CHECK(file_mode(root() / "freezes") == 0700);
        CHECK(file_mode(audit_path()) == 0600);

        const auto acquires = audit_events("acquire", "build");
        REQUIRE(acquires.size() == 1);
        const Json& event = acquires[0];
        CHECK(event["lock_id"] == (*record)["lock_id"]);
        CHECK(event["owner"] == "agent-1");
        CHECK(event["host"] == host());
        CHECK(event["ttl_sec"] == 300);
        const std::vector<std::string> audit_order{"ts",   "event", "name",     "lock_id", "owner",
                                                   "host", "pid",   "agent_id", "ttl_sec", "extra"};
        const auto event_keys = known_keys_in_order(event, audit_order);
        CHECK(std::is_sorted(event_keys.begin(), event_keys.end(), [&](const std::string& a, const std::string& b) {
            return std::find(audit_order.begin(), audit_order.end(), a) < std::find(audit_order.begin(), audit_order.end(), b);
        }));
        // --json prints the same hold as JSON, and nothing else.
        const auto json = lokt({"lock", "other", "--ttl", "1m", "--json"}, k_agent1);
        CHECK_EXIT(json, 0);
        const auto printed = parse_json(json.out);
        REQUIRE_MESSAGE(printed, json.describe());
        REQUIRE(read_lock("other"));
        CHECK((*printed)["lock_id"] == (*read_lock("other"))["lock_id"]);

        // One compact object per line.
        for (const auto& line : split_lines(read_text(audit_path()))) CHECK(line.find('\n') == std::string::npos);
        CHECK(read_text(audit_path()).find(": ") == std::string::npos);
    }

    TEST_CASE_FIXTURE(LoktFixture, "the held message has exactly the seed's form") {
        // error: lock "build" held by agent-1@macbook (pid 48201) for 12s
        ChildProcess holder = start_holder("build", k_agent1);
        const std::string expected = held_message_pattern("build", "agent-1", host(), holder.pid());
        for (const auto& args :
             std::vector<std::vector<std::string>>{{"guard", "build", "--", "true"}, {"lock", "build", "--ttl", "1m"}}) {
            const auto r = lokt(args, k_agent2);
            CHECK_EXIT(r, 2);
            CHECK_MESSAGE(matches(r.err, expected), "expected " << expected << "\n" << r.describe());
        }
        CHECK_EXIT(release_holder(holder), 0);
    }

    TEST_CASE_FIXTURE(LoktFixture, "a held lock is refused with exit 2, naming the holder") {
        ChildProcess holder = start_holder("build", k_agent1);
        const auto record = read_lock("build");
        REQUIRE(record);
        const long long holder_pid = (*record)["pid"].get<long long>();
        CHECK(holder_pid == holder.pid());
        const std::string expected = held_message_pattern_any_duration("build", "agent-1", host(), holder_pid);

        SUBCASE("guard") {
            const auto r = lokt({"guard", "build", "--", "touch", "ran"}, k_agent2);
            CHECK_EXIT(r, 2);
            CHECK_MESSAGE(matches(r.err, expected), "expected " << expected << "\n" << r.describe());
            CHECK(r.out.empty());
            CHECK_FALSE(fs::exists(repo() / "ran"));
        }
        SUBCASE("lock") {
            const auto r = lokt({"lock", "build", "--ttl", "1m"}, k_agent2);
            CHECK_EXIT(r, 2);
            CHECK_MESSAGE(matches(r.err, expected), "expected " << expected << "\n" << r.describe());
            CHECK(r.out.empty());
        }
        SUBCASE("lock --json keeps stdout JSON") {
            const auto r = lokt({"lock", "build", "--ttl", "1m", "--json"}, k_agent2);
            CHECK_EXIT(r, 2);
            CHECK_MESSAGE(parse_json(r.out), r.describe());
        }
        SUBCASE("a waiter that times out is refused with exit 2") {
            const auto r = lokt({"lock", "build", "--ttl", "1m", "--wait", "--timeout", "1s"}, k_agent2);
            CHECK_EXIT(r, 2);
            CHECK(r.err.rfind("error: ", 0) == 0);
        }
        CHECK(read_lock("build") == record);  // the refused attempts changed nothing
        CHECK_FALSE(audit_events("deny", "build").empty());
        CHECK_EXIT(release_holder(holder), 0);
        CHECK_FALSE(has_lock("build"));
        CHECK_EXIT(lokt({"guard", "build", "--", "true"}, k_agent2), 0);
    }

    TEST_CASE_FIXTURE(LoktFixture, "flags may stand before or after the lock name") {
        SUBCASE("lock --ttl") {
            CHECK_EXIT(lokt({"lock", "--ttl", "5m", "first"}), 0);
            CHECK_EXIT(lokt({"lock", "second", "--ttl", "5m"}), 0);
            REQUIRE(read_lock("first"));
            REQUIRE(read_lock("second"));
            CHECK((*read_lock("first"))["ttl_sec"] == 300);
            CHECK((*read_lock("second"))["ttl_sec"] == 300);
        }
        SUBCASE("unlock --force, someone else's lock") {
            CHECK_EXIT(lokt({"lock", "one", "--ttl", "5m"}, k_agent1), 0);
            CHECK_EXIT(lokt({"lock", "two", "--ttl", "5m"}, k_agent1), 0);
            CHECK_EXIT(lokt({"unlock", "one", "--force"}, k_agent2), 0);
            CHECK_EXIT(lokt({"unlock", "--force", "two"}, k_agent2), 0);
            CHECK_FALSE(has_lock("one"));
            CHECK_FALSE(has_lock("two"));
        }
        SUBCASE("freeze --ttl, unfreeze --force") {
            CHECK_EXIT(lokt({"freeze", "deploy", "--ttl", "30m"}, k_ops), 0);
            CHECK_EXIT(lokt({"freeze", "--ttl", "30m", "release"}, k_ops), 0);
            CHECK(has_freeze("deploy"));
            CHECK(has_freeze("release"));
            CHECK_EXIT(lokt({"unfreeze", "deploy", "--force"}, k_agent1), 0);
            CHECK_EXIT(lokt({"unfreeze", "--force", "release"}, k_agent1), 0);
            CHECK_FALSE(has_freeze("deploy"));
            CHECK_FALSE(has_freeze("release"));
        }
        SUBCASE("status, why and audit with --json or --name on either side") {
            CHECK_EXIT(lokt({"lock", "build", "--ttl", "5m"}, k_agent1), 0);
            for (const auto& args :
                 std::vector<std::vector<std::string>>{{"status", "build", "--json"},
                                                       {"status", "--json", "build"},
                                                       {"why", "build", "--json"},
                                                       {"why", "--json", "build"},
                                                       {"audit", "--name", "build", "--since", "1h", "--json"},
                                                       {"audit", "--since", "1h", "--json", "--name", "build"}}) {
                const auto r = lokt(args);
                CHECK_MESSAGE((r.status() == 0 || (args[0] == "why" && r.status() == 2)), r.describe());
                if (args[0] == "audit") {  // JSON Lines
                    CHECK_MESSAGE(!r.out.empty(), r.describe());
                    for (const auto& line : split_lines(r.out)) CHECK_MESSAGE(parse_json(line), r.describe());
                } else {
                    CHECK_MESSAGE(parse_json(r.out), r.describe());
                }
            }
        }
    }

    TEST_CASE_FIXTURE(LoktFixture, "flags may stand before or after the lock name, where the files show it" * files_only()) {
        SUBCASE("guard --ttl, --wait and --timeout") {
            CHECK_EXIT(lokt({"guard", "--ttl", "5m", "build", "--", "sh", "-c", "cat \"$0\" > before.json", lock_path("build")}),
                       0);
            CHECK_EXIT(lokt({"guard", "build", "--ttl", "5m", "--", "sh", "-c", "cat \"$0\" > after.json", lock_path("build")}),
                       0);
            CHECK_EXIT(lokt({"guard", "build", "--wait", "--ttl", "1m", "--timeout", "10s", "--", "true"}), 0);
            const auto before = parse_json(read_text(repo() / "before.json"));
            const auto after = parse_json(read_text(repo() / "after.json"));
            REQUIRE(before);
            REQUIRE(after);
            CHECK((*before)["ttl_sec"] == 300);
            CHECK((*after)["ttl_sec"] == 300);
        }
        SUBCASE("unlock --break-stale") {
            write_lock_file("one", expired_record(*this, "one").dump(2) + "\n");
            write_lock_file("two", expired_record(*this, "two").dump(2) + "\n");
            CHECK_EXIT(lokt({"unlock", "one", "--break-stale"}), 0);
            CHECK_EXIT(lokt({"unlock", "--break-stale", "two"}), 0);
            CHECK_FALSE(has_lock("one"));
            CHECK_FALSE(has_lock("two"));
        }
    }

    TEST_CASE_FIXTURE(LoktFixture, "unlock releases your own lock and refuses others'") {
        SUBCASE("by the owner, with LOKT_OWNER") {
            REQUIRE_EXIT(lokt({"lock", "build", "--ttl", "5m"}, k_agent1), 0);
            const auto id = (*read_lock("build"))["lock_id"];
            const auto r = lokt({"unlock", "build"}, k_agent1);
            CHECK_EXIT(r, 0);
            CHECK(r.err.empty());
            CHECK_FALSE(has_lock("build"));
            const auto releases = audit_events("release", "build");
            REQUIRE(releases.size() == 1);
            CHECK(releases[0]["lock_id"] == id);
        }
        SUBCASE("by the owner, without LOKT_OWNER") {
            REQUIRE_EXIT(lokt({"lock", "build", "--ttl", "5m"}), 0);
            CHECK_EXIT(lokt({"unlock", "build"}), 0);
            CHECK_FALSE(has_lock("build"));
        }
        SUBCASE("not the owner: exit 4, nothing removed") {
            REQUIRE_EXIT(lokt({"lock", "build", "--ttl", "5m"}, k_agent1), 0);
            const auto before = read_lock("build");
            const auto r = lokt({"unlock", "build"}, k_agent2);
            CHECK_EXIT(r, 4);
            CHECK(r.err.rfind("error: ", 0) == 0);
            CHECK(r.err.find("\"build\"") != std::string::npos);
            CHECK(read_lock("build") == before);
        }
        SUBCASE("not held: exit 3") {
            const auto r = lokt({"unlock", "build"});
            CHECK_EXIT(r, 3);
            CHECK(r.err.rfind("error: ", 0) == 0);
        }
        SUBCASE("--json on success and on error") {
            REQUIRE_EXIT(lokt({"lock", "build", "--ttl", "5m"}, k_agent1), 0);
            auto r = lokt({"unlock", "build", "--json"}, k_agent1);
            CHECK_EXIT(r, 0);
            CHECK_MESSAGE(parse_json(r.out), r.describe());
            r = lokt({"unlock", "build", "--json"}, k_agent1);
            CHECK_EXIT(r, 3);
            CHECK_MESSAGE(parse_json(r.out), r.describe());
        }
    }

    TEST_CASE_FIXTURE(LoktFixture, "unlock --break-stale removes only stale locks" * files_only()) {
        SUBCASE("a live lock stays") {
            REQUIRE_EXIT(lokt({"lock", "build", "--ttl", "5m"}, k_agent1), 0);
            const auto before = read_lock("build");
            const auto r = lokt({"unlock", "build", "--break-stale"}, k_agent2);
            CHECK(r.status() != 0);
            CHECK(r.status() != 64);
            CHECK(r.err.rfind("error: ", 0) == 0);
            CHECK(read_lock("build") == before);
        }
        SUBCASE("an expired lock goes, audited as stale-break") {
            const Json record = expired_record(*this, "build");
            write_lock_file("build", record.dump(2) + "\n");
            CHECK_EXIT(lokt({"unlock", "build", "--break-stale"}, k_agent2), 0);
            CHECK_FALSE(has_lock("build"));
            const auto breaks = audit_events("stale-break", "build");
            REQUIRE(breaks.size() == 1);
            CHECK(breaks[0]["lock_id"] == record["lock_id"]);
            CHECK(breaks[0]["owner"] == "agent-2");
        }
    }

    TEST_CASE_FIXTURE(LoktFixture, "unlock --force removes anyone's lock, audited as force-break") {
        ChildProcess holder = start_holder("build", k_agent1);
        const auto id = (*read_lock("build"))["lock_id"];
        const auto r = lokt({"unlock", "build", "--force"}, k_agent2);
        CHECK_EXIT(r, 0);
        CHECK_FALSE(has_lock("build"));
        const auto breaks = audit_events("force-break", "build");
        REQUIRE(breaks.size() == 1);
        CHECK(breaks[0]["lock_id"] == id);
        CHECK(breaks[0]["owner"] == "agent-2");
        CHECK(breaks[0].dump().find("agent-1@" + host()) != std::string::npos);  // names the holder it broke
        release_holder(holder);  // its release finds the lock gone: not asserted here (see guard tests)
    }

    TEST_CASE_FIXTURE(LoktFixture, "unlock --owner and --all release many at once") {
        REQUIRE_EXIT(lokt({"lock", "a", "--ttl", "5m"}, k_agent1), 0);
        REQUIRE_EXIT(lokt({"lock", "b", "--ttl", "5m"}, k_agent1), 0);
        REQUIRE_EXIT(lokt({"lock", "c", "--ttl", "5m"}, k_agent2), 0);

        SUBCASE("--owner") {
            const auto r = lokt({"unlock", "--owner", "agent-1"}, k_agent1);
            CHECK_EXIT(r, 0);
            CHECK_FALSE(has_lock("a"));
            CHECK_FALSE(has_lock("b"));
            CHECK(has_lock("c"));
        }
        SUBCASE("--owner --json") {
            const auto r = lokt({"unlock", "--owner", "agent-1", "--json"}, k_agent1);
            CHECK_EXIT(r, 0);
            const auto json = parse_json(r.out);
            REQUIRE_MESSAGE(json, r.describe());
            CHECK(json->dump().find("\"a\"") != std::string::npos);
            CHECK(json->dump().find("\"b\"") != std::string::npos);
            CHECK(json->dump().find("\"c\"") == std::string::npos);
            CHECK(has_lock("c"));
        }
        SUBCASE("--all releases only the caller's") {
            const auto r = lokt({"unlock", "--all"}, k_agent1);
            CHECK_EXIT(r, 0);
            CHECK_FALSE(has_lock("a"));
            CHECK_FALSE(has_lock("b"));
            CHECK(has_lock("c"));
            CHECK(audit_events("release", "a").size() == 1);
        }
        SUBCASE("--all --json") {
            const auto r = lokt({"unlock", "--all", "--json"}, k_agent2);
            CHECK_EXIT(r, 0);
            REQUIRE_MESSAGE(parse_json(r.out), r.describe());
            CHECK(has_lock("a"));
            CHECK_FALSE(has_lock("c"));
        }
    }

    TEST_CASE_FIXTURE(LoktFixture, "a name that begins with a dot is listed and released like any other") {
        REQUIRE_EXIT(lokt({"lock", ".cache", "--ttl", "5m"}, k_agent1), 0);
        REQUIRE(has_lock(".cache"));

        auto r = lokt({"status"});
        CHECK_EXIT(r, 0);
        CHECK(contains(r.out, ".cache"));
        r = lokt({"status", "--json"});
        CHECK_EXIT(r, 0);
        const auto json = parse_json(r.out);
        REQUIRE_MESSAGE(json, r.describe());
        CHECK(json->dump().find("\".cache\"") != std::string::npos);

        r = lokt({"unlock", "--all"}, k_agent1);
        CHECK_EXIT(r, 0);
        CHECK_FALSE(has_lock(".cache"));
        CHECK(audit_events("release", ".cache").size() == 1);
    }

    TEST_CASE_FIXTURE(LoktFixture, "status lists holds as a table, one lock in detail, or JSON") {
        SUBCASE("nothing held yet") {
            auto r = lokt({"status"});
            CHECK_EXIT(r, 0);
            r = lokt({"status", "--json"});
            CHECK_EXIT(r, 0);
            const auto json = parse_json(r.out);
            REQUIRE_MESSAGE(json, r.describe());
            REQUIRE(json->contains("locks"));
            CHECK((*json)["locks"].empty());
            r = lokt({"status", "build"});
            CHECK_EXIT(r, 3);
        }
        SUBCASE("with holds") {
            ChildProcess holder = start_holder("build", k_agent1);
            REQUIRE_EXIT(lokt({"lock", "db-migrate", "--ttl", "10m"}, k_agent2), 0);

            auto r = lokt({"status"});
            CHECK_EXIT(r, 0);
            CHECK(r.err.empty());
            CHECK(matches(r.out, "build +agent-1@" + regex_escape(host())));
            CHECK(matches(r.out, "db-migrate +agent-2@" + regex_escape(host())));

            r = lokt({"status", "build"});
            CHECK_EXIT(r, 0);
            CHECK(r.out.find("\"build\"") != std::string::npos);
            CHECK(r.out.find("agent-1@" + host()) != std::string::npos);
            CHECK(r.out.find(std::to_string(holder.pid())) != std::string::npos);

            r = lokt({"status", "--json"});
            CHECK_EXIT(r, 0);
            auto json = parse_json(r.out);
            REQUIRE_MESSAGE(json, r.describe());
            std::set<std::string> names;
            for (const auto& lock : (*json)["locks"]) {
                names.insert(lock["name"].get<std::string>());
                if (lock["name"] == "build") {
                    CHECK(lock["owner"] == "agent-1");
                    CHECK(lock["host"] == host());
                    CHECK(lock["pid"] == holder.pid());
                }
            }
            CHECK(names == std::set<std::string>{"build", "db-migrate"});

            r = lokt({"status", "build", "--json"});
            CHECK_EXIT(r, 0);
            json = parse_json(r.out);
            REQUIRE_MESSAGE(json, r.describe());
            CHECK((*json)["name"] == "build");
            CHECK((*json)["owner"] == "agent-1");
            CHECK_EXIT(release_holder(holder), 0);
        }
    }

    TEST_CASE_FIXTURE(LoktFixture, "status --prune-expired removes expired locks and keeps stdout pure JSON" * files_only()) {
        REQUIRE_EXIT(lokt({"lock", "build", "--ttl", "5m"}, k_agent1), 0);
        const Json old = expired_record(*this, "old");
        write_lock_file("old", old.dump(2) + "\n");

        SUBCASE("--json") {
            const auto r = lokt({"status", "--prune-expired", "--json"});
            CHECK_EXIT(r, 0);
            const auto json = parse_json(r.out);
            REQUIRE_MESSAGE(json, "stdout is not exactly one JSON value:\n" << r.describe());
            std::set<std::string> names;
            for (const auto& lock : (*json)["locks"]) names.insert(lock["name"].get<std::string>());
            CHECK(names == std::set<std::string>{"build"});
        }
        SUBCASE("--json first") {
            const auto r = lokt({"status", "--json", "--prune-expired"});
            CHECK_EXIT(r, 0);
            CHECK_MESSAGE(parse_json(r.out), "stdout is not exactly one JSON value:\n" << r.describe());
        }
        SUBCASE("text") {
            const auto r = lokt({"status", "--prune-expired"});
            CHECK_EXIT(r, 0);
            CHECK(r.out.find("old") == std::string::npos);
            CHECK(r.out.find("build") != std::string::npos);
        }
        CHECK_FALSE(has_lock("old"));
        CHECK(has_lock("build"));
        const auto prunes = audit_events("auto-prune", "old");
        REQUIRE(prunes.size() == 1);
        CHECK(prunes[0]["lock_id"] == old["lock_id"]);
    }

    TEST_CASE_FIXTURE(LoktFixture, "exists is silent and answers 0 or 3") {
        auto check_silent = [](const ProcessResult& r) {
            CHECK_MESSAGE(r.out.empty(), r.describe());
            CHECK_MESSAGE(r.err.empty(), r.describe());
        };
        auto r = lokt({"exists", "build"});
        CHECK_EXIT(r, 3);
        check_silent(r);

        ChildProcess holder = start_holder("build", k_agent1);
        r = lokt({"exists", "build"});
        CHECK_EXIT(r, 0);
        check_silent(r);
        CHECK_EXIT(release_holder(holder), 0);

        r = lokt({"exists", "build"});
        CHECK_EXIT(r, 3);
        check_silent(r);
    }

    TEST_CASE_FIXTURE(LoktFixture, "exists answers 3 for an expired lock file" * files_only()) {
        write_lock_file("old", expired_record(*this, "old").dump(2) + "\n");
        const auto r = lokt({"exists", "old"});
        CHECK_EXIT(r, 3);
        CHECK_MESSAGE(r.out.empty(), r.describe());
        CHECK_MESSAGE(r.err.empty(), r.describe());
    }

    TEST_CASE_FIXTURE(LoktFixture, "why explains: 0 when free, 2 when held or frozen") {
        auto r = lokt({"why", "build"});
        CHECK_EXIT(r, 0);
        CHECK_FALSE(r.out.empty());
        r = lokt({"why", "build", "--json"});
        CHECK_EXIT(r, 0);
        REQUIRE_MESSAGE(parse_json(r.out), r.describe());

        ChildProcess holder = start_holder("build", k_agent1);
        r = lokt({"why", "build"});
        CHECK_EXIT(r, 2);
        CHECK(r.out.find("agent-1@" + host()) != std::string::npos);
        r = lokt({"why", "build", "--json"});
        CHECK_EXIT(r, 2);
        const auto json = parse_json(r.out);
        REQUIRE_MESSAGE(json, r.describe());
        CHECK(json->dump().find("agent-1") != std::string::npos);
        CHECK_EXIT(release_holder(holder), 0);

        REQUIRE_EXIT(lokt({"freeze", "deploy", "--ttl", "30m"}, k_ops), 0);
        r = lokt({"why", "deploy"});
        CHECK_EXIT(r, 2);
        CHECK(r.out.find("ops@" + host()) != std::string::npos);
    }

    TEST_CASE_FIXTURE(LoktFixture, "freeze blocks guard and lock; unfreeze lifts it") {
        SUBCASE("a TTL is required, and at least one second") {
            auto r = lokt({"freeze", "deploy"}, k_ops);
            CHECK_EXIT(r, 64);
            CHECK(r.err.find("--ttl") != std::string::npos);
            r = lokt({"freeze", "deploy", "--ttl", "500ms"}, k_ops);
            CHECK_EXIT(r, 64);
            CHECK_FALSE(has_freeze("deploy"));
        }
        SUBCASE("blocked with the documented message") {
            REQUIRE_EXIT(lokt({"freeze", "deploy", "--ttl", "30m"}, k_ops), 0);
            const auto freeze = read_freeze("deploy");
            REQUIRE(freeze);
            CHECK((*freeze)["ttl_sec"] == 1800);
            const std::string expected =
                frozen_message_pattern("deploy", "ops", host(), (*freeze)["expires_at"].get<std::string>());
            for (const auto& args :
                 std::vector<std::vector<std::string>>{{"guard", "deploy", "--", "touch", "ran"},
                                                       {"lock", "deploy", "--ttl", "1m"},
                                                       {"guard", "deploy", "--ttl", "5m", "--", "touch", "ran"}}) {
                const auto r = lokt(args, k_agent1);
                CHECK_EXIT(r, 2);
                CHECK_MESSAGE(matches(r.err, expected), "expected " << expected << "\n" << r.describe());
            }
            CHECK_FALSE(fs::exists(repo() / "ran"));
            CHECK_FALSE(has_lock("deploy"));
            CHECK(audit_events("freeze", "deploy").size() == 1);
            CHECK_FALSE(audit_events("freeze-deny", "deploy").empty());
        }
        SUBCASE("a waiter keeps waiting through a freeze until its timeout") {
            REQUIRE_EXIT(lokt({"freeze", "deploy", "--ttl", "30m"}, k_ops), 0);
            const auto r = lokt({"guard", "deploy", "--wait", "--timeout", "1s", "--", "touch", "ran"}, k_agent1);
            CHECK_EXIT(r, 2);
            CHECK_FALSE(fs::exists(repo() / "ran"));
        }
        SUBCASE("unfreeze: the freezer's, or anyone's with --force") {
            REQUIRE_EXIT(lokt({"freeze", "deploy", "--ttl", "30m"}, k_ops), 0);
            auto r = lokt({"unfreeze", "deploy"}, k_agent1);
            CHECK_EXIT(r, 4);
            CHECK(r.err.rfind("error: ", 0) == 0);
            CHECK(has_freeze("deploy"));

            r = lokt({"unfreeze", "deploy"}, k_ops);
            CHECK_EXIT(r, 0);
            CHECK_FALSE(has_freeze("deploy"));
            CHECK(audit_events("unfreeze", "deploy").size() == 1);
            CHECK_EXIT(lokt({"guard", "deploy", "--", "true"}, k_agent1), 0);

            REQUIRE_EXIT(lokt({"freeze", "deploy", "--ttl", "300"}, k_ops), 0);
            CHECK((*read_freeze("deploy"))["ttl_sec"] == 300);
            r = lokt({"unfreeze", "deploy", "--force"}, k_agent1);
            CHECK_EXIT(r, 0);
            CHECK_FALSE(has_freeze("deploy"));
            CHECK(audit_events("force-unfreeze", "deploy").size() == 1);

            r = lokt({"unfreeze", "deploy"}, k_ops);
            CHECK_EXIT(r, 3);
        }
    }

    TEST_CASE_FIXTURE(LoktFixture, "a freeze belongs to whoever set it: others need --force to replace it") {
        REQUIRE_EXIT(lokt({"freeze", "deploy", "--ttl", "2h"}, k_ops), 0);
        const auto freeze = read_freeze("deploy");
        REQUIRE(freeze);

        SUBCASE("another owner is refused with exit 2, naming the freezer and the end; the freeze stays") {
            const auto r = lokt({"freeze", "deploy", "--ttl", "1s"}, as_owner("agent-7"));
            CHECK_EXIT(r, 2);
            const std::string expected =
                already_frozen_message_pattern("deploy", "ops", host(), (*freeze)["expires_at"].get<std::string>());
            CHECK_MESSAGE(matches(r.err, expected), "expected " << expected << "\n" << r.describe());
            CHECK(read_freeze("deploy") == freeze);
            CHECK(audit_events("freeze", "deploy").size() == 1);
            CHECK_EXIT(lokt({"guard", "deploy", "--", "true"}, as_owner("agent-7")), 2);  // still frozen
        }
        SUBCASE("the same owner extends its own freeze") {
            const auto r = lokt({"freeze", "deploy", "--ttl", "3h"}, k_ops);
            CHECK_EXIT(r, 0);
            const auto extended = read_freeze("deploy");
            REQUIRE(extended);
            CHECK((*extended)["ttl_sec"] == 3 * 3600);
            CHECK((*extended)["owner"] == "ops");
            CHECK(audit_events("freeze", "deploy").size() == 2);
            CHECK(audit_events("force-freeze", "deploy").empty());
        }
        SUBCASE("--force replaces it, audited as force-freeze naming the freeze replaced") {
            const auto r = lokt({"freeze", "deploy", "--ttl", "10m", "--force"}, as_owner("release-manager"));
            CHECK_EXIT(r, 0);
            const auto replaced = read_freeze("deploy");
            REQUIRE(replaced);
            CHECK((*replaced)["owner"] == "release-manager");
            CHECK((*replaced)["ttl_sec"] == 600);
            const auto forced = audit_events("force-freeze", "deploy");
            REQUIRE(forced.size() == 1);
            CHECK(forced[0]["owner"] == "release-manager");
            CHECK(forced[0]["lock_id"] == (*replaced)["lock_id"]);
            CHECK(forced[0]["extra"]["holder"] == "ops@" + host());
            CHECK(forced[0]["extra"]["holder_lock_id"] == (*freeze)["lock_id"]);
            CHECK(audit_events("freeze", "deploy").size() == 1);  // only ops' own
        }
    }

    TEST_CASE_FIXTURE(LoktFixture, "an expired freeze of another owner is simply replaced" * files_only()) {
        Json expired = expired_record(*this, "deploy");
        expired["owner"] = "ops";
        write_freeze_file("deploy", expired.dump(2) + "\n");
        const auto r = lokt({"freeze", "deploy", "--ttl", "5m"}, k_agent1);
        CHECK_EXIT(r, 0);
        const auto replaced = read_freeze("deploy");
        REQUIRE(replaced);
        CHECK((*replaced)["owner"] == "agent-1");
        CHECK(audit_events("freeze", "deploy").size() == 1);
        CHECK(audit_events("force-freeze", "deploy").empty());
    }

    TEST_CASE_FIXTURE(LoktFixture,
                      "unlock --owner leaves another owner's live holds without --force, and breaks stale ones" * files_only()) {
        REQUIRE_EXIT(lokt({"lock", "live", "--ttl", "5m"}, k_agent1), 0);
        // This test's own pid with another start time: a recycled pid, so a dead holder.
        Json dead = foreign_record("dead", ::getpid(), process_start_ticks(::getpid()).value_or(0) + 12345);
        dead["owner"] = "agent-1";
        write_lock_file("dead", dead.dump(2) + "\n");
        const auto live_before = read_lock("live");

        SUBCASE("refused: exit 4, the hold named, nothing broken but the stale one") {
            const auto r = lokt({"unlock", "--owner", "agent-1"}, k_agent2);
            CHECK_EXIT(r, 4);
            CHECK_MESSAGE(
                matches(r.err, "^error: lock \"live\" is held by agent-1@" + regex_escape(host()) +
                                   " \\(pid [0-9]+\\) for [0-9a-z]+, not by agent-2; a human may break it with --force\n$"),
                r.describe());
            CHECK(r.out.find("released lock \"dead\"") != std::string::npos);
            CHECK(r.out.find("\"live\"") == std::string::npos);
            CHECK(read_lock("live") == live_before);
            CHECK_FALSE(has_lock("dead"));
            const auto breaks = audit_events("stale-break", "dead");
            REQUIRE(breaks.size() == 1);
            CHECK(breaks[0]["owner"] == "agent-2");
            CHECK(audit_events("force-break", "live").empty());
            CHECK(audit_events("release", "live").empty());
        }
        SUBCASE("--json: one object with what was released and what was refused, holder included") {
            const auto r = lokt({"unlock", "--owner", "agent-1", "--json"}, k_agent2);
            CHECK_EXIT(r, 4);
            const auto json = parse_json(r.out);
            REQUIRE_MESSAGE(json, r.describe());
            CHECK((*json)["released"] == Json::array({"dead"}));
            REQUIRE((*json)["refused"].size() == 1);
            const Json& refused = (*json)["refused"][0];
            CHECK(refused["name"] == "live");
            CHECK(refused["code"] == "not_owner");
            CHECK(refused["holder"]["owner"] == "agent-1");
            CHECK(refused["holder"]["lock_id"] == (*live_before)["lock_id"]);
            CHECK(has_lock("live"));
        }
        SUBCASE("--force breaks them, audited as force-break") {
            const auto r = lokt({"unlock", "--owner", "agent-1", "--force"}, k_agent2);
            CHECK_EXIT(r, 0);
            CHECK_FALSE(has_lock("live"));
            CHECK_FALSE(has_lock("dead"));
            const auto breaks = audit_events("force-break", "live");
            REQUIRE(breaks.size() == 1);
            CHECK(breaks[0]["owner"] == "agent-2");
            CHECK(breaks[0]["lock_id"] == (*live_before)["lock_id"]);
            CHECK(audit_events("stale-break", "dead").size() == 1);
        }
        SUBCASE("the owner itself releases both") {
            const auto r = lokt({"unlock", "--owner", "agent-1"}, k_agent1);
            CHECK_EXIT(r, 0);
            CHECK_FALSE(has_lock("live"));
            CHECK(audit_events("release", "live").size() == 1);
        }
    }

    TEST_CASE_FIXTURE(LoktFixture, "--slots and --shared are refused with etcd, not taken as a plain lock" * etcd_only()) {
        for (const auto& args : std::vector<std::vector<std::string>>{{"guard", "gpu", "--slots", "3", "--", "touch", "ran"},
                                                                      {"lock", "gpu", "--slots", "3", "--ttl", "1m"},
                                                                      {"guard", "gpu", "--shared", "--", "touch", "ran"},
                                                                      {"lock", "gpu", "--shared", "--ttl", "1m"}}) {
            const auto r = lokt(args, k_agent1);
            CHECK_EXIT(r, 64);
            CHECK_MESSAGE(matches(r.err,
                                  "^error: (slot pools \\(--slots\\)|shared holds \\(--shared\\)) are not available with "
                                  "the etcd backend yet"),
                          r.describe());
        }
        CHECK_FALSE(fs::exists(repo() / "ran"));
        CHECK_FALSE(has_lock("gpu"));
        CHECK(audit_events().empty());
    }

    TEST_CASE_FIXTURE(LoktFixture, "--ttl and --timeout stop at 8760h, with one message and exit 64 in both backends") {
        const std::vector<std::pair<std::vector<std::string>, std::string>> too_long{
            {{"lock", "build", "--ttl", "99999h"}, "--ttl"},
            {{"guard", "build", "--ttl", "8761h", "--", "touch", "ran"}, "--ttl"},
            {{"freeze", "build", "--ttl", "99999h"}, "--ttl"},
            {{"guard", "build", "--wait", "--timeout", "99999h", "--", "touch", "ran"}, "--timeout"},
            {{"lock", "build", "--wait", "--timeout", "9000h"}, "--timeout"},
        };
        for (const auto& [args, flag] : too_long) {
            const auto r = lokt(args, k_agent1);
            CHECK_EXIT(r, 64);
            CHECK_MESSAGE(r.err == "error: " + flag + ": at most 8760h (one year)\n", r.describe());
        }
        CHECK_FALSE(fs::exists(repo() / "ran"));
        CHECK_FALSE(has_lock("build"));
        CHECK_FALSE(has_freeze("build"));

        const auto year = lokt({"lock", "build", "--ttl", "8760h"}, k_agent1);
        CHECK_EXIT(year, 0);
        CHECK((*read_lock("build"))["ttl_sec"] == 8760LL * 3600);
    }

    TEST_CASE_FIXTURE(LoktFixture, "the daemon refuses an out-of-range duration in the client's words") {
        const std::string identity = R"("identity":{"owner":"agent-1","host":"h","pid":)" + std::to_string(::getpid()) + "}";
        const std::string root_json = Json(fs::absolute(root()).string()).dump();
        const std::vector<std::pair<std::string, std::string>> requests{
            {R"({"id":2,"op":"freeze","root":)" + root_json + R"(,"name":"deploy","ttl_ms":359996400000,)" + identity + "}",
             "--ttl: at most 8760h (one year)"},
            {R"({"id":3,"op":"acquire","root":)" + root_json +
                 R"(,"name":"build","mode":"guard","ttl_ms":18446744073709551615,"wait":false,)" + identity + "}",
             "--ttl: at most 8760h (one year)"},
            {R"({"id":4,"op":"acquire","root":)" + root_json +
                 R"(,"name":"build","mode":"guard","wait":true,"timeout_ms":31536000001,)" + identity + "}",
             "--timeout: at most 8760h (one year)"},
            {R"({"id":5,"op":"freeze","root":)" + root_json + R"(,"name":"deploy","ttl_ms":500,)" + identity + "}",
             "--ttl: at least 1s"},
        };
        for (const auto& [request, message] : requests) {
            const auto reply = daemon_request(request);
            if (!reply) return;  // no daemon in this backend: the client's own check is tested above
            const auto json = parse_json(*reply);
            REQUIRE_MESSAGE(json, "reply: " << *reply);
            CHECK_MESSAGE((*json)["ok"] == false, *reply);
            CHECK_MESSAGE((*json)["error"]["code"] == "usage", *reply);
            CHECK_MESSAGE((*json)["error"]["message"] == message, *reply);
        }
        CHECK_FALSE(has_freeze("deploy"));
        CHECK_FALSE(has_lock("build"));
    }

    TEST_CASE_FIXTURE(LoktFixture, "audit filters by time and name and prints JSON Lines") {
        // One event per line, each a JSON object; a failed test otherwise.
        const auto json_lines = [](const ProcessResult& r) {
            std::vector<Json> events;
            for (const auto& line : split_lines(r.out)) {
                const auto json = parse_json(line);
                CHECK_MESSAGE((json && json->is_object()), "not a JSON object on a line of its own: " << line);
                if (json) events.push_back(*json);
            }
            return events;
        };
        SUBCASE("no log yet") {
            const auto r = lokt({"audit", "--json"});
            CHECK_EXIT(r, 0);
            CHECK(r.out.empty());
        }
        SUBCASE("queries") {
            REQUIRE_EXIT(lokt({"lock", "build", "--ttl", "5m"}, k_agent1), 0);
            REQUIRE_EXIT(lokt({"unlock", "build"}, k_agent1), 0);
            REQUIRE_EXIT(lokt({"lock", "other", "--ttl", "5m"}, k_agent1), 0);
            const auto events = audit_events();
            REQUIRE(events.size() == 3);

            auto r = lokt({"audit", "--since", "8h"});
            CHECK_EXIT(r, 0);
            CHECK(split_lines(r.out).size() == 3);
            CHECK(r.out.find("acquire") != std::string::npos);
            CHECK(r.out.find("release") != std::string::npos);

            r = lokt({"audit", "--json"});
            CHECK_EXIT(r, 0);
            CHECK(json_lines(r) == events);

            // An RFC 3339 time: the release and everything after it.
            const std::string since = events[1]["ts"].get<std::string>();
            r = lokt({"audit", "--since", since, "--json"});
            CHECK_EXIT(r, 0);
            auto json = json_lines(r);
            REQUIRE_MESSAGE(json.size() == 2, r.describe());
            CHECK(json[0]["event"] == "release");
            CHECK(json[1]["name"] == "other");

            r = lokt({"audit", "--name", "build", "--json"});
            CHECK_EXIT(r, 0);
            json = json_lines(r);
            CHECK(json.size() == 2);
            for (const auto& event : json) CHECK(event["name"] == "build");

            r = lokt({"audit", "--name", "build", "--since", "1h"});
            CHECK_EXIT(r, 0);
            CHECK(split_lines(r.out).size() == 2);
            CHECK(r.out.find("other") == std::string::npos);
        }
        SUBCASE("a bad --since is a usage error") {
            const auto r = lokt({"audit", "--since", "the day before yesterday"});
            CHECK_EXIT(r, 64);
        }
    }

    TEST_CASE_FIXTURE(LoktFixture,
                      "audit --tail shows events written after it starts, including the one creating the log" * files_only()) {
        bool json_lines = false;
        bool root_exists = false;
        SUBCASE("text, on a fresh root") {}
        SUBCASE("json, on a fresh root") { json_lines = true; }
        SUBCASE("text, on an existing root without audit.log") { root_exists = true; }
        SUBCASE("json, on an existing root without audit.log") {
            json_lines = true;
            root_exists = true;
        }
        if (root_exists) {
            fs::create_directories(root() / "locks");
            fs::create_directories(root() / "freezes");
            ::chmod(root().c_str(), 0700);
        }
        REQUIRE_FALSE(fs::exists(audit_path()));

        std::vector<std::string> args{"audit", "--tail"};
        if (json_lines) args.push_back("--json");
        ChildProcess tail = start_lokt(args);
        REQUIRE_MESSAGE(wait_until_tail_follows(tail.pid()), "audit --tail never settled down to wait");
        REQUIRE_FALSE(tail.has_exited());

        REQUIRE_EXIT(lokt({"lock", "build", "--ttl", "1m"}, k_agent1), 0);
        REQUIRE(fs::exists(audit_path()));
        const bool saw_acquire =
            tail.wait_for_stdout([](const std::string& out) { return matches(out, "acquire[^\\n]*build"); }, k_wait_timeout);
        CHECK_MESSAGE(saw_acquire, "audit --tail missed the event that created audit.log; it printed:\n"
                                       << tail.stdout_text() << "\nstderr:\n"
                                       << tail.stderr_text());

        REQUIRE_EXIT(lokt({"unlock", "build"}, k_agent1), 0);
        const bool saw_release =
            tail.wait_for_stdout([](const std::string& out) { return matches(out, "release[^\\n]*build"); }, k_wait_timeout);
        CHECK_MESSAGE(saw_release, "audit --tail missed a later event; it printed:\n" << tail.stdout_text());

        tail.send_signal(SIGTERM);
        const auto r = finish(tail);
        if (json_lines) {
            for (const auto& line : split_lines(r.out)) CHECK_MESSAGE(parse_json(line), "not a JSON line: " << line);
        }
    }

    TEST_CASE_FIXTURE(LoktFixture, "doctor checks the setup; --json is valid JSON") {
        auto r = lokt({"doctor"});
        CHECK_EXIT(r, 0);
        CHECK(r.out.find(root().string()) != std::string::npos);
        r = lokt({"doctor", "--json"});
        CHECK_EXIT(r, 0);
        const auto json = parse_json(r.out);
        REQUIRE_MESSAGE(json, r.describe());
        CHECK(json->is_object());
    }

    TEST_CASE_FIXTURE(LoktFixture, "usage errors exit 64, never 2") {
        // A live hold, so that a usage error that slipped through to an acquire would give 2.
        ChildProcess holder = start_holder("build", k_agent1);
        const std::vector<std::vector<std::string>> invocations{
            {"--bogus"},
            {"frobnicate"},
            {"guard", "build", "--bogus", "--", "true"},
            {"guard", "build", "true"},
            {"guard", "build", "--"},
            {"guard", "--", "true"},
            {"guard", "build", "--ttl", "soon", "--", "true"},
            {"guard", "build", "--ttl", "0", "--", "true"},
            {"guard", "build", "--ttl", "500ms", "--", "true"},
            {"guard", "build", "--wait", "--timeout", "later", "--", "true"},
            {"lock", "build", "--ttl", "-5m"},
            {"lock", "build", "--ttl", "5x"},
            {"lock", "build", "--bogus"},
            {"lock"},
            {"unlock"},
            {"unlock", "build", "--break-stale", "--force"},
            {"unlock", "build", "--bogus"},
            {"status", "--bogus"},
            {"exists"},
            {"exists", "build", "--bogus"},
            {"why"},
            {"freeze", "build"},
            {"freeze", "build", "--ttl", "nope"},
            {"freeze", "build", "--ttl", "99999h"},
            {"lock", "build", "--ttl", "99999h"},
            {"guard", "build", "--wait", "--timeout", "99999h", "--", "true"},
            {"unfreeze"},
            {"audit", "--since", "nope"},
            {"audit", "--bogus"},
            {"doctor", "--bogus"},
            {"status", "build", "--", "true"},
        };
        for (const auto& args : invocations) {
            const auto r = lokt(args, k_agent2);
            CHECK_EXIT(r, 64);
            CHECK_MESSAGE(r.err.rfind("error: ", 0) == 0, r.describe());
        }
        CHECK_EXIT(release_holder(holder), 0);
    }

    TEST_CASE_FIXTURE(LoktFixture,
                      "prime lists the guarded scripts, in every format, and sends agents to lokt status for holds") {
        fs::create_directories(repo() / "scripts");
        write_text(repo() / "scripts/build.sh", "#!/bin/sh\nexec lokt guard build --ttl 5m -- make build\n");
        write_text(repo() / "scripts/migrate.sh", "lokt lock --ttl 10m db-migrate\n./migrate\nlokt unlock db-migrate\n");
        CHECK_EXIT(lokt({"lock", "db", "--ttl", "1m"}, k_agent1), 0);
        for (const char* format : {"claude-md", "cursorrules", "windsurfrules", "copilot", "clinerules", "aider"}) {
            INFO(format);
            const auto r = lokt({"prime", "--format", format}, k_agent2);
            CHECK_EXIT(r, 0);
            CHECK(r.out.find("lokt guard NAME --ttl 10m -- COMMAND") != std::string::npos);
            CHECK(r.out.find("scripts/build.sh") != std::string::npos);
            const bool names_build =
                r.out.find("lock `build`") != std::string::npos || r.out.find("lock build") != std::string::npos;
            CHECK(names_build);
            CHECK(r.out.find("db-migrate") != std::string::npos);
            // A context file is committed: live holds in it would be stale at once.
            CHECK(r.out.find("held by agent-1@") == std::string::npos);
            CHECK(r.out.find("lokt status") != std::string::npos);
            CHECK(r.out.find("lokt mcp install") != std::string::npos);
        }
        const auto markdown = lokt({"prime"}, k_agent2);
        CHECK(markdown.out.rfind("## ", 0) == 0);  // claude-md by default
        const auto bad = lokt({"prime", "--format", "emacs"}, k_agent2);
        CHECK_EXIT(bad, 64);
        CHECK(bad.err.find("unknown format \"emacs\"") != std::string::npos);
    }

    TEST_CASE_FIXTURE(LoktFixture,
                      "mcp install merges lokt into each agent's file, keeps the rest, and a second run changes nothing") {
        fs::create_directories(repo() / "sub" / "dir");
        fs::create_directories(repo() / ".codex");
        fs::create_directories(repo() / ".gemini");
        const std::string claude_before =
            "{\n  \"mcpServers\": {\n    \"github\": {\"command\": \"gh-mcp\", \"env\": {\"T\": \"1\"}}\n  },\n  \"zeta\": 1,\n  "
            "\"alpha\": [1, 2]\n}\n";
        write_text(repo() / ".mcp.json", claude_before);
        const std::string codex_before =
            "# ours\nmodel = \"o3\"\n\n[mcp_servers.github]\ncommand = \"gh-mcp\"\n\n[mcp_servers.lokt]\ncommand = "
            "\"old-lokt\"\nenv = { A = \"1\" }\n\n[profiles.fast]\nmodel = \"mini\"\n";
        write_text(repo() / ".codex" / "config.toml", codex_before);
        write_text(repo() / ".gemini" / "settings.json", "{\"theme\": \"dark\", \"mcpServers\": {}}");

        // From a subfolder: the files go to the top of the work tree.
        const auto first = lokt({"mcp", "install", "--claude", "--cursor", "--codex", "--gemini"},
                                RunOptions(k_agent1).in(repo() / "sub" / "dir"));
        CHECK_EXIT(first, 0);
        const auto claude = nlohmann::ordered_json::parse(read_text(repo() / ".mcp.json"));
        CHECK(claude["mcpServers"]["github"]["command"] == "gh-mcp");
        CHECK(claude["mcpServers"]["github"]["env"]["T"] == "1");
        CHECK(claude["mcpServers"]["lokt"]["command"] == "lokt");
        CHECK(claude["mcpServers"]["lokt"]["args"].dump() == "[\"mcp\"]");
        CHECK(claude["zeta"] == 1);
        CHECK(claude.begin().key() == "mcpServers");  // the keys keep their order
        const auto cursor = nlohmann::json::parse(read_text(repo() / ".cursor" / "mcp.json"));
        CHECK(cursor["mcpServers"]["lokt"]["args"][0] == "mcp");
        const auto gemini = nlohmann::json::parse(read_text(repo() / ".gemini" / "settings.json"));
        CHECK(gemini["theme"] == "dark");
        CHECK(gemini["mcpServers"]["lokt"]["command"] == "lokt");
        const std::string codex = read_text(repo() / ".codex" / "config.toml");
        CHECK(codex ==
              "# ours\nmodel = \"o3\"\n\n[mcp_servers.github]\ncommand = \"gh-mcp\"\n\n[mcp_servers.lokt]\ncommand = "
              "\"lokt\"\nargs = [\"mcp\"]\n\n[profiles.fast]\nmodel = \"mini\"\n");

        // The second run finds every file as it wants it and writes nothing.
        std::vector<std::pair<fs::path, std::string>> files;
        for (const char* file : {".mcp.json", ".cursor/mcp.json", ".codex/config.toml", ".gemini/settings.json"})
            files.emplace_back(repo() / file, read_text(repo() / file));
        const auto mtime = fs::last_write_time(repo() / ".mcp.json");
        const auto second = lokt({"mcp", "install", "--claude", "--cursor", "--codex", "--gemini"}, k_agent1);
        CHECK_EXIT(second, 0);
        CHECK(contains(second.out, "left as it was"));
        for (const auto& [path, text] : files) CHECK(read_text(path) == text);
        CHECK(fs::last_write_time(repo() / ".mcp.json") == mtime);

        // --print shows the merged file and writes nothing.
        const auto printed =
            lokt({"mcp", "install", "--codex", "--print", "--dir", (scratch() / "elsewhere").string()}, k_agent1);
        CHECK_EXIT(printed, 0);
        CHECK(printed.out == "[mcp_servers.lokt]\ncommand = \"lokt\"\nargs = [\"mcp\"]\n");
        CHECK(!fs::exists(scratch() / "elsewhere"));

        // A file it cannot merge safely is left alone, with a reason.
        write_text(repo() / ".gemini" / "settings.json", "{\n  // mine\n  \"theme\": \"dark\"\n}\n");
        const auto commented = lokt({"mcp", "install", "--gemini"}, k_agent1);
        CHECK_EXIT(commented, 64);
        CHECK(contains(commented.err, "comments"));
        CHECK(read_text(repo() / ".gemini" / "settings.json") == "{\n  // mine\n  \"theme\": \"dark\"\n}\n");
        // lokt already defined inside an [mcp_servers] table: adding a table would define it twice.
        const std::string inline_lokt = "[mcp_servers]\nlokt = { command = \"x\" }\n";
        write_text(repo() / ".codex" / "config.toml", inline_lokt);
        CHECK_EXIT(lokt({"mcp", "install", "--codex"}, k_agent1), 64);
        CHECK(read_text(repo() / ".codex" / "config.toml") == inline_lokt);
        CHECK_EXIT(lokt({"mcp", "install"}, k_agent1), 64);
    }

    TEST_CASE_FIXTURE(LoktFixture,
                      "mcp install --claude adds the edit hook to .claude/settings.json, keeps other hooks and keys, once") {
        fs::create_directories(repo() / ".claude");
        const std::string before =
            "{\n  \"permissions\": {\"allow\": [\"Bash(make:*)\"]},\n  \"hooks\": {\n    \"PreToolUse\": [\n      "
            "{\"matcher\": \"Bash\", \"hooks\": [{\"type\": \"command\", \"command\": \"./check-bash.sh\"}]}\n    ],\n"
            "    \"PostToolUse\": [{\"matcher\": \"Edit\", \"hooks\": [{\"type\": \"command\", \"command\": \"fmt\"}]}]\n  "
            "},\n  \"env\": {\"LOKT_OWNER\": \"agent-1\"}\n}\n";
        write_text(repo() / ".claude" / "settings.json", before);
        const auto first = lokt({"mcp", "install", "--claude"}, k_agent1);
        CHECK_EXIT(first, 0);
        CHECK(contains(first.out, "settings.json"));
        const auto settings = nlohmann::ordered_json::parse(read_text(repo() / ".claude" / "settings.json"));
        CHECK(settings.begin().key() == "permissions");  // the keys keep their order
        CHECK(settings["permissions"]["allow"][0] == "Bash(make:*)");
        CHECK(settings["env"]["LOKT_OWNER"] == "agent-1");
        CHECK(settings["hooks"]["PostToolUse"][0]["hooks"][0]["command"] == "fmt");
        const auto& pre = settings["hooks"]["PreToolUse"];
        REQUIRE(pre.size() == 2);
        CHECK(pre[0]["matcher"] == "Bash");
        CHECK(pre[0]["hooks"][0]["command"] == "./check-bash.sh");
        CHECK(pre[1]["matcher"] == "Edit|Write|MultiEdit|NotebookEdit");
        CHECK(pre[1]["hooks"][0]["type"] == "command");
        CHECK(pre[1]["hooks"][0]["command"] == "lokt hook claude-pretooluse");
        CHECK(pre[1]["hooks"][0]["timeout"] == 10);
        // The MCP server went to .mcp.json as before.
        CHECK(nlohmann::json::parse(read_text(repo() / ".mcp.json"))["mcpServers"]["lokt"]["command"] == "lokt");

        // A second run changes nothing: no second entry, the same bytes.
        const std::string written = read_text(repo() / ".claude" / "settings.json");
        const auto mtime = fs::last_write_time(repo() / ".claude" / "settings.json");
        const auto second = lokt({"mcp", "install", "--claude"}, k_agent1);
        CHECK_EXIT(second, 0);
        CHECK(contains(second.out, "left as it was"));
        CHECK(read_text(repo() / ".claude" / "settings.json") == written);
        CHECK(fs::last_write_time(repo() / ".claude" / "settings.json") == mtime);

        // Another lokt binary updates the entry's command in place instead of adding one.
        CHECK_EXIT(lokt({"mcp", "install", "--claude", "--command", "/opt/my lokt/lokt"}, k_agent1), 0);
        const auto moved = nlohmann::json::parse(read_text(repo() / ".claude" / "settings.json"));
        REQUIRE(moved["hooks"]["PreToolUse"].size() == 2);
        CHECK(moved["hooks"]["PreToolUse"][1]["hooks"][0]["command"] == "'/opt/my lokt/lokt' hook claude-pretooluse");

        // A fresh project gets both files; --print shows both and writes nothing.
        const fs::path fresh = scratch() / "fresh";
        const auto printed = lokt({"mcp", "install", "--claude", "--print", "--dir", fresh.string()}, k_agent1);
        CHECK_EXIT(printed, 0);
        CHECK(contains(printed.out, "\"mcpServers\""));
        CHECK(contains(printed.out, "lokt hook claude-pretooluse"));
        CHECK(!fs::exists(fresh));

        // Settings it cannot merge safely are left alone, with a reason.
        const std::string odd = "{\"hooks\": []}\n";
        write_text(repo() / ".claude" / "settings.json", odd);
        const auto refused = lokt({"mcp", "install", "--claude"}, k_agent1);
        CHECK_EXIT(refused, 64);
        CHECK(contains(refused.err, "\"hooks\" is not an object"));
        CHECK(read_text(repo() / ".claude" / "settings.json") == odd);
    }

}  // TEST_SUITE
