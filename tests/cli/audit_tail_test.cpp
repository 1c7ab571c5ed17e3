// `lokt audit --tail` as a long-running reader: it streams what every client
// does afterwards, daemon clients and file-mode clients alike, one JSON object
// a line with --json. Through a daemon it is a subscription the daemon counts,
// and when the daemon dies it carries on with the file, never losing or
// repeating a line.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <regex>

#include "tests/cli/support/lokt_fixture.hpp"
#include "tests/support/polling.hpp"

using namespace lokt::cli_test;

namespace {

// A client that writes the files itself, whatever the backend under test.
const RunOptions k_files_client = as_owner("ops").set("LOKT_DAEMON", "off");

// The complete lines printed so far, each parsed; a line that is not a JSON
// object fails the test.
std::vector<Json> json_lines(const std::string& out) {
    std::vector<Json> lines;
    const auto complete = out.substr(0, out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
    for (const auto& line : split_lines(complete)) {
        const auto json = parse_json(line);
        CHECK_MESSAGE((json && json->is_object()), "not a JSON object on a line of its own: " << line);
        if (json) lines.push_back(*json);
    }
    return lines;
}

// Waits until the tail printed at least `count` lines.
bool wait_for_lines(const ChildProcess& tail, std::size_t count) {
    return tail.wait_for_stdout(
        [count](const std::string& out) { return static_cast<std::size_t>(std::count(out.begin(), out.end(), '\n')) >= count; },
        k_wait_timeout);
}

std::vector<Json> only_named(const std::vector<Json>& events, const std::string& name) {
    std::vector<Json> named;
    for (const auto& event : events) {
        if (event.value("name", "") == name) named.push_back(event);
    }
    return named;
}

std::string dump_all(const std::vector<Json>& events) {
    std::string text;
    for (const auto& event : events) text += event.dump() + "\n";
    return text;
}

}  // namespace

TEST_SUITE("audit_tail") {
    TEST_CASE_FIXTURE(LoktFixture, "audit --tail --json streams what every client does afterwards, one JSON object a line") {
        ChildProcess tail = start_lokt({"audit", "--tail", "--json"});
        REQUIRE_MESSAGE(wait_until_tail_follows(tail.pid()), "audit --tail never settled down to wait:\n" << tail.stderr_text());
        ChildProcess named = start_lokt({"audit", "--tail", "--json", "--name", "build"});
        REQUIRE_MESSAGE(wait_until_tail_follows(named.pid(), 2), "audit --tail --name never settled down to wait");

        REQUIRE_EXIT(lokt({"lock", "build", "--ttl", "1m"}, k_agent1), 0);            // through the backend under test
        REQUIRE_EXIT(lokt({"freeze", "deploy", "--ttl", "10m"}, k_files_client), 0);  // straight to the files
        REQUIRE_EXIT(lokt({"unlock", "build"}, k_agent1), 0);
        REQUIRE_EXIT(lokt({"unfreeze", "deploy"}, k_files_client), 0);

        const auto written = audit_events();
        REQUIRE(written.size() == 4);
        CHECK_MESSAGE(wait_for_lines(tail, written.size()), "audit --tail printed:\n" << tail.stdout_text());
        CHECK_MESSAGE(wait_for_lines(named, 2), "audit --tail --name build printed:\n" << named.stdout_text());
        CHECK_FALSE(tail.has_exited());

        CHECK_MESSAGE(json_lines(tail.stdout_text()) == written, "audit --tail printed:\n"
                                                                     << tail.stdout_text() << "audit.log holds:\n"
                                                                     << dump_all(written));
        CHECK_MESSAGE(json_lines(named.stdout_text()) == only_named(written, "build"), "audit --tail --name build printed:\n"
                                                                                           << named.stdout_text());

        tail.send_signal(SIGTERM);
        named.send_signal(SIGTERM);
        finish(tail);
        finish(named);
    }

    TEST_CASE_FIXTURE(LoktFixture, "audit --tail --since shows the history first, then new lines, each once") {
        REQUIRE_EXIT(lokt({"lock", "build", "--ttl", "1m"}, k_agent1), 0);
        REQUIRE_EXIT(lokt({"unlock", "build"}, k_agent1), 0);

        ChildProcess tail = start_lokt({"audit", "--tail", "--json", "--since", "1h"});
        REQUIRE_MESSAGE(wait_for_lines(tail, 2), "audit --tail --since printed no history:\n" << tail.stderr_text());
        REQUIRE(wait_until_tail_follows(tail.pid()));
        REQUIRE_EXIT(lokt({"freeze", "deploy", "--ttl", "10m"}, k_files_client), 0);

        const auto written = audit_events();
        REQUIRE(written.size() == 3);
        CHECK_MESSAGE(wait_for_lines(tail, written.size()), "audit --tail printed:\n" << tail.stdout_text());
        CHECK_MESSAGE(json_lines(tail.stdout_text()) == written, "audit --tail printed:\n" << tail.stdout_text());

        tail.send_signal(SIGTERM);
        finish(tail);
    }

    TEST_CASE_FIXTURE(LoktFixture, "through the daemon, audit --tail is a subscription the daemon counts") {
        if (backend_name() != "daemon") {
            MESSAGE("skipped: only a daemon has subscriptions (backend " << backend_name() << ")");
            return;
        }
        ChildProcess tail = start_lokt({"audit", "--tail"});
        REQUIRE_MESSAGE(wait_until_tail_follows(tail.pid()), "audit --tail never subscribed:\n" << tail.stderr_text());

        const auto r = lokt({"daemon", "status"});
        CHECK_EXIT(r, 0);
        const std::regex root_line(R"(^root (.+): \d+ held, \d+ waiting, (\d+) following the audit log$)");
        std::optional<std::string> following;
        for (const auto& line : split_lines(r.out)) {
            std::smatch match;
            if (std::regex_match(line, match, root_line) &&
                fs::weakly_canonical(match[1].str()) == fs::weakly_canonical(root())) {
                following = match[2].str();
            }
        }
        CHECK_MESSAGE(following == std::optional<std::string>("1"), "no subscription on " << root() << ":\n" << r.out);

        // The subscription ends with the command.
        tail.send_signal(SIGTERM);
        finish(tail);
        CHECK(wait_until([&] { return audit_subscriptions() == std::optional<long long>(0); }, k_wait_timeout, Millis(20)));
    }

    TEST_CASE_FIXTURE(LoktFixture, "when the daemon dies, audit --tail carries on with the file, losing and repeating nothing") {
        if (backend_name() != "daemon") {
            MESSAGE("skipped: there is no daemon to kill (backend " << backend_name() << ")");
            return;
        }
        ChildProcess tail = start_lokt({"audit", "--tail", "--json"});
        REQUIRE_MESSAGE(wait_until_tail_follows(tail.pid()), "audit --tail never subscribed:\n" << tail.stderr_text());

        REQUIRE_EXIT(lokt({"lock", "build", "--ttl", "1m"}, k_agent1), 0);
        REQUIRE_EXIT(lokt({"freeze", "deploy", "--ttl", "10m"}, k_files_client), 0);
        REQUIRE_EXIT(lokt({"unlock", "build"}, k_agent1), 0);
        REQUIRE_MESSAGE(wait_for_lines(tail, 3), "audit --tail printed:\n" << tail.stdout_text());

        // Within a second of the lines above: the file follower reads them again and must skip them.
        REQUIRE(crash_daemon());
        REQUIRE_EXIT(lokt({"lock", "after", "--ttl", "1m"}, k_files_client), 0);
        REQUIRE_EXIT(lokt({"unfreeze", "deploy"}, k_files_client), 0);

        const auto written = audit_events();
        REQUIRE(written.size() == 5);
        CHECK_MESSAGE(wait_for_lines(tail, written.size()), "audit --tail stopped streaming when the daemon died:\n"
                                                                << tail.stdout_text() << tail.stderr_text());
        CHECK_FALSE(tail.has_exited());
        CHECK_MESSAGE(json_lines(tail.stdout_text()) == written, "audit --tail printed:\n"
                                                                     << tail.stdout_text() << "audit.log holds:\n"
                                                                     << dump_all(written));

        // Still following the file.
        REQUIRE_EXIT(lokt({"unlock", "after"}, k_files_client), 0);
        const auto later = audit_events();
        REQUIRE(later.size() == written.size() + 1);
        CHECK_MESSAGE(wait_for_lines(tail, later.size()), tail.stdout_text());
        CHECK(json_lines(tail.stdout_text()) == later);

        tail.send_signal(SIGTERM);
        finish(tail);
    }

}  // TEST_SUITE
