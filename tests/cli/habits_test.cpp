// What people who know git, gh, systemctl, journalctl and flock expect of a
// command line, and what scripts need to trust its output: `lokt` alone and
// `lokt help`, `--version`, did-you-mean for commands and flags, a forgotten
// "--", -v and -q anywhere, --since in the forms journalctl takes, audit's
// JSON Lines into a pipe, `audit --tail` starting with the last lines, -E for
// the "busy" exit status, and --json refusals that name the holder.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>

#include "tests/cli/support/lokt_fixture.hpp"
#include "tests/support/polling.hpp"

using namespace lokt::cli_test;

namespace {

const std::vector<std::string> k_command_names{"guard",    "lock",  "unlock", "status", "exists",  "why",  "freeze",
                                               "unfreeze", "audit", "doctor", "daemon", "version", "prime"};

// One audit line as lokt writes it (keys in the contract's order).
std::string audit_line(const std::string& ts, const std::string& event, const std::string& name) {
    return R"({"ts":")" + ts + R"(","event":")" + event + R"(","name":")" + name +
           R"(","owner":"someone","host":"elsewhere","pid":4242})";
}

// Puts an audit log in place by hand, in a root that otherwise looks used.
void write_audit_log(LoktFixture& t, const std::vector<std::string>& lines) {
    fs::create_directories(t.root() / "locks");
    fs::create_directories(t.root() / "freezes");
    fs::permissions(t.root(), fs::perms::owner_all, fs::perm_options::replace);
    std::string text;
    for (const auto& line : lines) text += line + "\n";
    write_text(t.audit_path(), text);
}

std::string join_lines(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& line : lines) text += line + "\n";
    return text;
}

bool have_script() { return fs::exists("/usr/bin/script") || fs::exists("/bin/script"); }

// Runs a shell command line on a pseudo-terminal (stdout and stderr both), as a person would.
ProcessResult on_terminal(LoktFixture& t, const std::string& command, const RunOptions& options = {}) {
    return t.run({"script", "-qec", command, "/dev/null"}, options);
}

// The JSON object stdout holds, or a failed test.
Json json_of(const ProcessResult& r) {
    const auto json = parse_json(r.out);
    REQUIRE_MESSAGE((json && json->is_object()), "stdout is not one JSON object:\n" << r.describe());
    return *json;
}

}  // namespace

TEST_SUITE("habits") {
    TEST_CASE_FIXTURE(LoktFixture, "lokt alone, lokt help and lokt --help print the command list to stdout and exit 0") {
        const auto bare = lokt({});
        CHECK_EXIT(bare, 0);
        CHECK(bare.err.empty());
        for (const auto& name : k_command_names) CHECK_MESSAGE(contains(bare.out, "  " + name), name << "\n" << bare.out);

        const auto help = lokt({"help"});
        CHECK_EXIT(help, 0);
        CHECK(help.out == bare.out);
        const auto dashes = lokt({"--help"});
        CHECK_EXIT(dashes, 0);
        CHECK(dashes.out == bare.out);
        CHECK_EXIT(lokt({"-v"}), 0);
    }

    TEST_CASE_FIXTURE(LoktFixture, "lokt help CMD is CMD --help, and every command's help shows examples and exit statuses") {
        for (const auto& name : k_command_names) {
            CAPTURE(name);
            const auto help = lokt({"help", name});
            CHECK_EXIT(help, 0);
            const auto dashes = lokt({name, "--help"});
            CHECK_EXIT(dashes, 0);
            CHECK(help.out == dashes.out);
            CHECK_MESSAGE(matches(help.out, "Examples?:\\n  "), help.out);
            CHECK_MESSAGE(contains(help.out, "Exit status:"), help.out);
        }
        const auto restart = lokt({"help", "daemon", "restart"});
        CHECK_EXIT(restart, 0);
        CHECK(contains(restart.out, "Stop loktd if it runs, then start it"));
    }

    TEST_CASE_FIXTURE(LoktFixture, "lokt --version is lokt version") {
        const auto version = lokt({"version"});
        const auto dashes = lokt({"--version"});
        CHECK_EXIT(dashes, 0);
        REQUIRE_FALSE(split_lines(dashes.out).empty());
        CHECK(split_lines(dashes.out)[0] == split_lines(version.out)[0]);
        CHECK(matches(dashes.out, R"(^lokt [0-9]+\.[0-9]+\.[0-9]+ \(build )"));
    }

    TEST_CASE_FIXTURE(LoktFixture, "a mistyped command or flag gets a did-you-mean and exit 64") {
        auto r = lokt({"gaurd", "build", "--", "touch", "ran"});
        CHECK_EXIT(r, 64);
        CHECK_MESSAGE(r.err.rfind("error: unknown command \"gaurd\"; did you mean \"guard\"?\n", 0) == 0, r.describe());
        CHECK_MESSAGE(!contains(r.err, "lokt gaurd"), r.describe());
        CHECK_FALSE(fs::exists(repo() / "ran"));

        r = lokt({"staus"});
        CHECK_EXIT(r, 64);
        CHECK_MESSAGE(contains(r.err, "did you mean \"status\"?"), r.describe());
        r = lokt({"frobnicate"});
        CHECK_EXIT(r, 64);
        CHECK_MESSAGE(r.err.rfind("error: unknown command \"frobnicate\"\n", 0) == 0, r.describe());
        r = lokt({"help", "gaurd"});
        CHECK_EXIT(r, 64);
        CHECK_MESSAGE(contains(r.err, "did you mean \"guard\"?"), r.describe());

        r = lokt({"lock", "build", "--tll", "5m"}, k_agent1);
        CHECK_EXIT(r, 64);
        CHECK_MESSAGE(r.err.rfind("error: unknown flag \"--tll\"; did you mean \"--ttl\"?\n", 0) == 0, r.describe());
        CHECK_MESSAGE(contains(r.err, "run 'lokt lock --help'"), r.describe());
        CHECK_FALSE(has_lock("build"));
        r = lokt({"guard", "build", "--wiat", "--", "touch", "ran"});
        CHECK_EXIT(r, 64);
        CHECK_MESSAGE(contains(r.err, "did you mean \"--wait\"?"), r.describe());
        r = lokt({"status", "--jsno"});
        CHECK_EXIT(r, 64);
        CHECK_MESSAGE(contains(r.err, "did you mean \"--json\"?"), r.describe());
        r = lokt({"status", "--bogus"});
        CHECK_EXIT(r, 64);
        CHECK_MESSAGE(r.err.rfind("error: unknown flag \"--bogus\"\n", 0) == 0, r.describe());
        CHECK_FALSE(fs::exists(repo() / "ran"));
    }

    TEST_CASE_FIXTURE(LoktFixture, "guard without \"--\" says where it belongs and runs nothing") {
        auto r = lokt({"guard", "build", "touch", "ran"});
        CHECK_EXIT(r, 64);
        CHECK_MESSAGE(r.err.rfind("error: missing \"--\" before the command: lokt guard build -- touch ran\n", 0) == 0,
                      r.describe());
        r = lokt({"guard", "build", "--ttl", "5m", "touch", "ran"});
        CHECK_EXIT(r, 64);
        CHECK_MESSAGE(contains(r.err, "missing \"--\" before the command: lokt guard build --ttl 5m -- touch ran"), r.describe());
        r = lokt({"guard", "--wait", "build", "make", "build"});
        CHECK_EXIT(r, 64);
        CHECK_MESSAGE(contains(r.err, "lokt guard --wait build -- make build"), r.describe());
        CHECK_FALSE(fs::exists(repo() / "ran"));
        CHECK(audit_events().empty());
    }

    TEST_CASE_FIXTURE(LoktFixture, "-v before or after the command names the root and the backend that ran") {
        const std::string backend = backend_name() == "daemon" ? "lokt: backend daemon (loktd "
                                    : etcd_backend()           ? "lokt: backend etcd ("
                                                               : "lokt: backend files\n";
        auto r = lokt({"-v", "lock", "build", "--ttl", "1m"}, k_agent1);
        CHECK_EXIT(r, 0);
        CHECK_MESSAGE(contains(r.err, backend), r.describe());
        CHECK_MESSAGE(matches(r.err, "lokt: root [^\\n]*\\.git/lokt \\(from "), r.describe());

        r = lokt({"unlock", "build", "--verbose"}, k_agent1);
        CHECK_EXIT(r, 0);
        CHECK_MESSAGE(contains(r.err, backend), r.describe());
        r = lokt({"status", "-v"});
        CHECK_EXIT(r, 0);
        CHECK_MESSAGE(contains(r.err, "lokt: root "), r.describe());

        r = lokt({"lock", "build", "--ttl", "1m"}, k_agent1);
        CHECK_EXIT(r, 0);
        CHECK_MESSAGE(r.err.empty(), r.describe());
    }

    TEST_CASE_FIXTURE(LoktFixture, "-q silences the live waiting line on a terminal") {
        if (!have_script()) {
            MESSAGE("skipped: script(1) is not installed");
            return;
        }
        REQUIRE_EXIT(lokt({"lock", "build", "--ttl", "5m"}, k_agent1), 0);
        auto r = on_terminal(*this, "lokt guard build --wait --timeout 1500ms -- true", k_agent2);
        CHECK_EXIT(r, 2);
        CHECK_MESSAGE(contains(r.out, "waiting "), "no live line to silence:\n" << r.describe());
        r = on_terminal(*this, "lokt -q guard build --wait --timeout 1500ms -- true", k_agent2);
        CHECK_EXIT(r, 2);
        CHECK_MESSAGE(!contains(r.out, "waiting "), r.describe());
        CHECK_MESSAGE(contains(r.out, "error: timed out"), r.describe());
        r = on_terminal(*this, "lokt lock build --quiet --wait --timeout 1s", k_agent2);
        CHECK_EXIT(r, 2);
        CHECK_MESSAGE(!contains(r.out, "waiting "), r.describe());
    }

    TEST_CASE_FIXTURE(LoktFixture, "-E sets the exit status for a busy lock, like flock -E") {
        REQUIRE_EXIT(lokt({"lock", "build", "--ttl", "5m"}, k_agent1), 0);
        CHECK_EXIT(lokt({"lock", "build", "-E", "75"}, k_agent2), 75);
        CHECK_EXIT(lokt({"lock", "build", "--conflict-exit-code", "0"}, k_agent2), 0);
        CHECK_EXIT(lokt({"guard", "build", "-E", "75", "--", "touch", "ran"}, k_agent2), 75);
        CHECK_EXIT(lokt({"guard", "build", "--wait", "--timeout", "300ms", "-E", "9", "--", "touch", "ran"}, k_agent2), 9);
        CHECK_EXIT(lokt({"guard", "build", "--", "touch", "ran"}, k_agent2), 2);
        CHECK_FALSE(fs::exists(repo() / "ran"));

        REQUIRE_EXIT(lokt({"freeze", "deploy", "--ttl", "10m"}, k_ops), 0);
        CHECK_EXIT(lokt({"lock", "deploy", "-E", "3"}, k_agent2), 3);

        // Granted: -E changes nothing; the command's own status.
        CHECK_EXIT(lokt({"guard", "free", "-E", "75", "--", "sh", "-c", "exit 7"}, k_agent2), 7);
        for (const char* bad : {"256", "-1", "x"}) {
            CAPTURE(bad);
            const auto r = lokt({"lock", "other", "-E", bad}, k_agent2);
            CHECK_EXIT(r, 64);
            CHECK_MESSAGE(r.err.rfind("error: ", 0) == 0, r.describe());
        }
        CHECK_FALSE(has_lock("other"));
    }

    TEST_CASE_FIXTURE(LoktFixture, "a --json refusal carries the holder, or who froze it until when") {
        REQUIRE_EXIT(lokt({"lock", "build", "--ttl", "5m"}, k_agent1), 0);
        const auto file = read_lock("build");
        REQUIRE(file);
        const auto check_holder = [&](const Json& holder) {
            for (const char* key : {"owner", "host", "pid", "agent_id", "lock_id", "acquired_ts", "expires_at"}) {
                CAPTURE(key);
                CHECK(holder.at(key) == file->at(key));
            }
        };

        auto r = lokt({"lock", "build", "--json"}, k_agent2);
        CHECK_EXIT(r, 2);
        auto json = json_of(r);
        CHECK(json["error"]["code"] == "held");
        check_holder(json["error"]["holder"]);

        r = lokt({"lock", "build", "--json", "--wait", "--timeout", "300ms"}, k_agent2);
        CHECK_EXIT(r, 2);
        json = json_of(r);
        CHECK(json["error"]["code"] == "timeout");
        check_holder(json["error"]["holder"]);

        r = lokt({"unlock", "build", "--json"}, k_agent2);
        CHECK_EXIT(r, 4);
        json = json_of(r);
        CHECK(json["error"]["code"] == "not_owner");
        check_holder(json["error"]["holder"]);

        r = lokt({"why", "build", "--json"}, k_agent2);
        CHECK_EXIT(r, 2);
        check_holder(json_of(r)["holder"]);

        REQUIRE_EXIT(lokt({"freeze", "deploy", "--ttl", "10m"}, k_ops), 0);
        const auto freeze = read_freeze("deploy");
        REQUIRE(freeze);
        r = lokt({"lock", "deploy", "--json"}, k_agent2);
        CHECK_EXIT(r, 2);
        json = json_of(r);
        CHECK(json["error"]["code"] == "frozen");
        CHECK(json["error"]["frozen_by"] == "ops@" + host());
        CHECK(json["error"]["until"] == (*freeze)["expires_at"]);
        r = lokt({"why", "deploy", "--json"}, k_agent2);
        CHECK_EXIT(r, 2);
        json = json_of(r);
        CHECK(json["frozen_by"] == "ops@" + host());
        CHECK(json["until"] == (*freeze)["expires_at"]);
    }

    TEST_CASE_FIXTURE(LoktFixture, "audit prints the log's own lines into a pipe, and --json is JSON Lines" * files_only()) {
        const std::vector<std::string> lines{audit_line("2026-12-01T10:00:00Z", "acquire", "build"),
                                             audit_line("2026-12-01T10:00:01.5Z", "release", "build"),
                                             audit_line("2026-12-01T10:00:02Z", "acquire", "deploy")};
        write_audit_log(*this, lines);
        auto r = lokt({"audit"});
        CHECK_EXIT(r, 0);
        CHECK(r.out == join_lines(lines));
        CHECK(r.err.empty());
        r = lokt({"audit", "--json", "--name", "build"});
        CHECK_EXIT(r, 0);
        CHECK(r.out == join_lines({lines[0], lines[1]}));

        // No log yet: nothing at all, not even "[]".
        fs::remove(audit_path());
        r = lokt({"audit", "--json"});
        CHECK_EXIT(r, 0);
        CHECK(r.out.empty());
        // An error is one JSON line too.
        r = lokt({"audit", "--json", "--since", "whenever"});
        CHECK_EXIT(r, 64);
        REQUIRE(split_lines(r.out).size() == 1);
        CHECK((*parse_json(r.out))["error"]["code"] == "usage");
    }

    TEST_CASE_FIXTURE(LoktFixture, "audit on a terminal prints a table" * files_only()) {
        if (!have_script()) {
            MESSAGE("skipped: script(1) is not installed");
            return;
        }
        write_audit_log(*this, {audit_line("2026-12-01T10:00:00Z", "acquire", "build")});
        auto r = on_terminal(*this, "lokt audit");
        CHECK_EXIT(r, 0);
        CHECK_MESSAGE(matches(r.out, R"(2026-12-01T10:00:00Z  acquire +build  someone@elsewhere pid=4242)"), r.describe());
        CHECK_MESSAGE(!contains(r.out, "{\""), r.describe());
        r = on_terminal(*this, "lokt audit --json");
        CHECK_MESSAGE(contains(r.out, R"({"ts":"2026-12-01T10:00:00Z")"), r.describe());
    }

    TEST_CASE_FIXTURE(LoktFixture, "audit --since takes dates, local times, RFC 3339, today, yesterday and days" * files_only()) {
        const std::vector<std::string> lines{
            audit_line("2026-12-01T23:59:59Z", "acquire", "a"), audit_line("2026-12-02T00:00:00Z", "release", "a"),
            audit_line("2026-12-02T13:59:59Z", "acquire", "b"), audit_line("2026-12-02T14:00:00Z", "release", "b"),
            audit_line("2026-12-03T00:00:00Z", "acquire", "c")};
        write_audit_log(*this, lines);
        const auto since = [&](const std::string& when, const std::string& tz) {
            const auto r = lokt({"audit", "--since", when}, RunOptions().set("TZ", tz));
            CHECK_EXIT(r, 0);
            return r.out;
        };
        const auto last = [&](std::size_t count) {
            return join_lines(std::vector<std::string>(lines.end() - static_cast<std::ptrdiff_t>(count), lines.end()));
        };
        CHECK(since("2026-12-02", "UTC") == last(4));
        CHECK(since("2026-12-02 14:00", "UTC") == last(2));
        CHECK(since("2026-12-02T14:00", "UTC") == last(2));
        CHECK(since("2026-12-02 13:59:59", "UTC") == last(3));
        CHECK(since("2026-12-02T14:00:00Z", "Asia/Tokyo") == last(2));
        CHECK(since("2026-12-02T14:00:00+02:00", "UTC") == last(3));
        // Local means the TZ's: two hours east of UTC, local 16:00 is 14:00Z and
        // local midnight the evening before in UTC.
        CHECK(since("2026-12-02 16:00", "EET-2") == last(2));
        CHECK(since("2026-12-02", "EET-2") == last(5));

        const auto now = WallClock::now();
        const std::vector<std::string> recent{audit_line(format_rfc3339(now - std::chrono::hours(72)), "acquire", "r"),
                                              audit_line(format_rfc3339(now - std::chrono::hours(36)), "release", "r"),
                                              audit_line(format_rfc3339(now - std::chrono::hours(1)), "acquire", "s"),
                                              audit_line(format_rfc3339(now - std::chrono::seconds(1)), "release", "s")};
        write_audit_log(*this, recent);
        CHECK(since("1d", "UTC") == join_lines({recent[2], recent[3]}));
        CHECK(since("2d12h", "UTC") == join_lines({recent[1], recent[2], recent[3]}));
        CHECK(since("1.6d", "UTC") == join_lines({recent[1], recent[2], recent[3]}));
        const std::string yesterday = since("yesterday", "UTC");
        CHECK_FALSE(contains(yesterday, recent[0]));
        CHECK(contains(yesterday, recent[2]));
        CHECK(contains(yesterday, recent[3]));
        const std::string today = since("today", "UTC");
        CHECK_FALSE(contains(today, recent[0]));
        CHECK_FALSE(contains(today, recent[1]));
        CHECK(contains(today, recent[3]));

        for (const char* bad : {"2026-02-30", "2026-13-01", "2026-12-02 25:00", "2026-12-2", "tomorrowish", "1w"}) {
            CAPTURE(bad);
            const auto r = lokt({"audit", "--since", bad});
            CHECK_EXIT(r, 64);
            CHECK_MESSAGE(contains(r.err, "--since: \"" + std::string(bad) + "\" is not a time"), r.describe());
        }
    }

    TEST_CASE_FIXTURE(LoktFixture, "days are a duration unit for --ttl too") {
        REQUIRE_EXIT(lokt({"lock", "build", "--ttl", "1d"}, k_agent1), 0);
        CHECK((*read_lock("build"))["ttl_sec"] == 86400);
    }

    TEST_CASE_FIXTURE(LoktFixture, "audit --tail starts with the last 10 lines, or -n N, then follows" * files_only()) {
        std::vector<std::string> lines;
        const auto start = WallClock::now() - std::chrono::minutes(30);
        for (int i = 0; i < 15; ++i) {
            lines.push_back(audit_line(format_rfc3339(start + std::chrono::seconds(i)), "acquire", i % 2 == 0 ? "even" : "odd"));
        }
        write_audit_log(*this, lines);
        const auto parsed = [](const std::vector<std::string>& text) {
            std::vector<Json> out;
            for (const auto& line : text) out.push_back(*parse_json(line));
            return out;
        };
        const auto printed = [](const ChildProcess& tail) {
            std::vector<Json> out;
            for (const auto& line : split_lines(tail.stdout_text())) {
                const auto json = parse_json(line);
                CHECK_MESSAGE(json, "not a JSON line: " << line);
                if (json) out.push_back(*json);
            }
            return out;
        };
        struct Case {
            std::vector<std::string> args;
            std::vector<std::string> expected;
        };
        std::vector<std::string> odd;
        for (std::size_t i = 1; i < lines.size(); i += 2) odd.push_back(lines[i]);
        const std::vector<Case> cases{
            {{}, std::vector<std::string>(lines.begin() + 5, lines.end())},
            {{"-n", "3"}, std::vector<std::string>(lines.begin() + 12, lines.end())},
            {{"--lines", "0"}, {}},
            {{"--lines=100"}, lines},
            {{"--name", "odd", "-n", "2"}, std::vector<std::string>(odd.end() - 2, odd.end())},
        };
        for (const auto& c : cases) {
            std::vector<std::string> args{"audit", "--tail"};
            args.insert(args.end(), c.args.begin(), c.args.end());
            std::string command_line = "lokt";
            for (const auto& arg : args) command_line += " " + arg;
            CAPTURE(command_line);
            ChildProcess tail = start_lokt(args);
            tail.wait_for_stdout(
                [&](const std::string& out) {
                    return static_cast<std::size_t>(std::count(out.begin(), out.end(), '\n')) >= c.expected.size();
                },
                k_wait_timeout);
            REQUIRE_MESSAGE(wait_until_tail_follows(tail.pid()), "audit --tail never settled down to wait:\n"
                                                                     << tail.stderr_text());
            CHECK_MESSAGE(printed(tail) == parsed(c.expected), "audit --tail printed:\n" << tail.stdout_text());
            tail.send_signal(SIGTERM);
            finish(tail);
            // The next tail counts as following only once this one is forgotten.
            CHECK(wait_until([&] { return audit_subscriptions().value_or(0) == 0; }, k_wait_timeout, Millis(20)));
        }

        // Then what comes.
        ChildProcess tail = start_lokt({"audit", "--tail", "-n", "1"});
        REQUIRE(wait_until_tail_follows(tail.pid()));
        REQUIRE_EXIT(lokt({"lock", "new", "--ttl", "1m"}, k_agent1), 0);
        CHECK_MESSAGE(tail.wait_for_stdout([](const std::string& out) { return std::count(out.begin(), out.end(), '\n') >= 2; },
                                           k_wait_timeout),
                      tail.stdout_text());
        const auto shown = printed(tail);
        REQUIRE(shown.size() == 2);
        CHECK(shown[0] == parsed({lines.back()})[0]);
        CHECK(shown[1]["event"] == "acquire");
        CHECK(shown[1]["name"] == "new");
        tail.send_signal(SIGTERM);
        finish(tail);

        CHECK_EXIT(lokt({"audit", "-n", "3"}), 64);
    }

    TEST_CASE_FIXTURE(LoktFixture, "lokt daemon restart stops and starts the daemon") {
        if (backend_name() != "daemon") {
            MESSAGE("skipped: the daemon backend runs this (backend " << backend_name() << ")");
            return;
        }
        const auto before = lokt({"daemon", "status"});
        REQUIRE_EXIT(before, 0);
        const auto r = lokt({"daemon", "restart"});
        CHECK_EXIT(r, 0);
        CHECK_MESSAGE(matches(r.out, "stopped loktd \\(pid [0-9]+\\)"), r.describe());
        CHECK_MESSAGE(matches(r.out, "started: loktd "), r.describe());
        CHECK_EXIT(lokt({"daemon", "status"}), 0);
        CHECK_EXIT(lokt({"daemon", "stop"}), 0);
    }

}  // TEST_SUITE
