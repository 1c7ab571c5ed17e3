// `lokt top` and `lokt status --watch`, against both backends: the snapshot
// as data (holders, waiters in queue order, frozen names, the latest events),
// the watch printing a new listing when a lock is taken or released and ending
// cleanly on SIGINT, and the full screen through a private tmux server: the
// waiter tree, an update on release without a key pressed, the sort and filter
// keys, a resize, and q leaving the terminal as it was.
#include <doctest/doctest.h>
#include <unistd.h>

#include <csignal>
#include <functional>

#include "tests/cli/support/lokt_fixture.hpp"
#include "tests/support/polling.hpp"

using namespace lokt::cli_test;

namespace {

const RunOptions k_agent3 = as_owner("agent-3");

std::optional<Json> snapshot(LoktFixture& t) { return parse_json(t.lokt({"top", "--json"}, k_ops).out); }

const Json* held_entry(const Json& snap, const std::string& name) {
    for (const auto& hold : snap["held"]) {
        if (hold["name"] == name) return &hold;
    }
    return nullptr;
}

std::size_t waiters_of(const Json& snap, const std::string& name) {
    const Json* hold = held_entry(snap, name);
    return hold == nullptr ? 0 : (*hold)["waiters"].size();
}

// Waits until the daemon's queue of `name` has `count` waiters (top --json says so).
bool queue_reaches(LoktFixture& t, const std::string& name, std::size_t count) {
    return wait_until(
        [&] {
            auto snap = snapshot(t);
            return snap && waiters_of(*snap, name) == count;
        },
        k_wait_timeout);
}

// The JSON Lines a `status --watch --json` printed so far.
std::vector<Json> watch_lines(const ChildProcess& watch) {
    std::vector<Json> lines;
    for (const auto& line : split_lines(watch.stdout_text())) {
        if (auto json = parse_json(line)) lines.push_back(std::move(*json));
    }
    return lines;
}

std::vector<std::string> held_names(const Json& snap) {
    std::vector<std::string> names;
    for (const auto& hold : snap["held"]) names.push_back(hold["name"].get<std::string>());
    return names;
}

// A private tmux server with one window running an interactive shell.
class Tmux {
public:
    Tmux(LoktFixture& t, int cols, int rows)
        : m_t(t), m_prefix("tmux -L lokt-top-" + std::to_string(::getpid()) + " -f /dev/null ") {
        REQUIRE_EXIT(t.sh(m_prefix + "new-session -d -s top -x " + std::to_string(cols) + " -y " + std::to_string(rows) +
                          " 'env PS1=prompt\\$\\  bash --norc --noprofile -i'"),
                     0);
        // A window keeps the size it was made with, whatever clients attach.
        t.sh(m_prefix + "set-option -g window-size manual");
    }
    ~Tmux() { m_t.sh(m_prefix + "kill-server"); }
    std::string pane() {
        std::string text = m_t.sh(m_prefix + "capture-pane -p -t top").out;
        while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
        return text;
    }
    void send(const std::string& keys) { REQUIRE_EXIT(m_t.sh(m_prefix + "send-keys -t top " + keys), 0); }
    void resize(int cols, int rows) {
        REQUIRE_EXIT(m_t.sh(m_prefix + "resize-window -t top -x " + std::to_string(cols) + " -y " + std::to_string(rows)), 0);
    }
    bool pane_shows(const std::function<bool(const std::string&)>& test) {
        return wait_until([&] { return test(pane()); }, k_wait_timeout, Millis(20));
    }
    // Whether the pane shows the alternate screen (tmux's #{alternate_on}).
    bool alternate_on() { return m_t.sh(m_prefix + "display-message -p -t top '#{alternate_on}'").out == "1\n"; }

private:
    LoktFixture& m_t;
    std::string m_prefix;
};

}  // namespace

TEST_SUITE("top") {
    TEST_CASE_FIXTURE(LoktFixture, "top --json: holders, waiters in queue order, frozen names and the latest events") {
        auto holder = start_holder("build", k_agent1);
        auto other = start_holder("test-db", k_agent2);
        REQUIRE_EXIT(lokt({"freeze", "deploy", "--ttl", "30m"}, k_ops), 0);

        std::vector<ChildProcess> waiters;
        if (daemon_backend()) {
            waiters.push_back(start_lokt({"guard", "build", "--wait", "--timeout", "60s", "--", "true"}, k_agent2));
            REQUIRE(queue_reaches(*this, "build", 1));
            waiters.push_back(start_lokt({"guard", "build", "--wait", "--timeout", "60s", "--", "true"}, k_agent3));
            REQUIRE(queue_reaches(*this, "build", 2));
        }
        auto r = lokt({"top", "--json"}, k_ops);
        CHECK_EXIT(r, 0);
        auto snap = parse_json(r.out);
        REQUIRE_MESSAGE(snap, r.out);
        CHECK((*snap)["backend"] == backend_name());
        CHECK((*snap)["queues_known"] == (daemon_backend() || etcd_backend()));  // loktd and etcd keep queues
        CHECK(held_names(*snap) == std::vector<std::string>{"build", "test-db"});
        const Json& build = *held_entry(*snap, "build");
        const auto lock = read_lock("build");
        REQUIRE(lock);
        CHECK(build["state"] == "held");
        CHECK(build["mode"] == "exclusive");
        CHECK(build["owner"] == "agent-1");
        CHECK(build["host"] == host());
        CHECK(build["pid"] == (*lock)["pid"]);
        CHECK(build["lock_id"] == (*lock)["lock_id"]);
        CHECK_MESSAGE(contains(build["command"].get<std::string>(), "guard build"), build.dump());
        CHECK(build["held_ms"].get<long long>() >= 0);
        CHECK(build["ttl_left_ms"].is_null());      // a guard without --ttl lasts as long as its command
        CHECK(build["fence"] == (*lock)["fence"]);  // every grant carries a fencing token
        CHECK(build["fence"].get<long long>() >= 1);
        if (daemon_backend()) {
            REQUIRE(build["waiters"].size() == 2);
            CHECK(build["waiters"][0]["position"] == 1);
            CHECK(build["waiters"][0]["owner"] == "agent-2");
            CHECK(build["waiters"][0]["pid"] == waiters[0].pid());
            CHECK(build["waiters"][1]["position"] == 2);
            CHECK(build["waiters"][1]["owner"] == "agent-3");
            CHECK(build["waiters"][1]["pid"] == waiters[1].pid());
            CHECK(parse_rfc3339(build["waiters"][0]["since"].get<std::string>()));
            CHECK((*snap)["waiter_count"] == 2);
        } else {
            CHECK(build["waiters"].empty());
        }
        REQUIRE((*snap)["frozen"].size() == 1);
        CHECK((*snap)["frozen"][0]["name"] == "deploy");
        CHECK((*snap)["frozen"][0]["owner"] == "ops");
        CHECK(parse_rfc3339((*snap)["frozen"][0]["until"].get<std::string>()));
        bool saw_acquire = false, saw_freeze = false;
        for (const auto& event : (*snap)["events"]) {
            saw_acquire = saw_acquire || (event["event"] == "acquire" && event["name"] == "build");
            saw_freeze = saw_freeze || (event["event"] == "freeze" && event["name"] == "deploy");
        }
        CHECK_MESSAGE(saw_acquire, (*snap)["events"].dump());
        CHECK_MESSAGE(saw_freeze, (*snap)["events"].dump());

        // The same data as text, without a terminal: the waiter tree under its holder.
        r = lokt({"top", "--once"}, RunOptions(k_ops).set("COLUMNS", "200"));
        CHECK_EXIT(r, 0);
        CHECK_MESSAGE(matches(r.out, "\nbuild +held +agent-1@"), r.out);
        CHECK_MESSAGE(contains(r.out, "FROZEN (1)\n  deploy  by ops@"), r.out);
        if (daemon_backend()) {
            CHECK_MESSAGE(matches(r.out, "\n  \\|- 1\\. agent-2@[^\n]*\n  `- 2\\. agent-3@"), r.out);
        }
        release_holder(holder);
        release_holder(other);
        for (auto& waiter : waiters) CHECK_EXIT(finish(waiter), 0);
    }

    TEST_CASE_FIXTURE(LoktFixture, "top refuses to run without a terminal and names status --watch") {
        auto r = lokt({"top"});
        CHECK_EXIT(r, 64);
        CHECK_MESSAGE(contains(r.err, "lokt top needs a terminal; use 'lokt status --watch'"), r.err);
        CHECK_EXIT(lokt({"top", "--json", "--sort", "size"}), 64);
        // Completion knows the command, its flags and the orders.
        CHECK_MESSAGE(contains(lokt({"__complete", "to"}).out, "top\n"), "no top");
        CHECK(contains(lokt({"__complete", "top", "--so"}).out, "--sort\n"));
        CHECK(lokt({"__complete", "top", "--sort", ""}).out == "name\nheld-for\nwaiters\n");
        CHECK(contains(lokt({"__complete", "status", "--wa"}).out, "--watch\n"));
    }

    TEST_CASE_FIXTURE(LoktFixture, "status --watch prints a new listing when a lock is taken or released, and ends on SIGINT") {
        REQUIRE_EXIT(lokt({"lock", "setup", "--ttl", "10m"}, k_ops), 0);  // makes the root
        auto watch = start_lokt({"status", "--watch", "--json"}, k_ops);
        REQUIRE(
            watch.wait_for_stdout([](const std::string& out) { return out.find('\n') != std::string::npos; }, k_wait_timeout));
        REQUIRE(watch_lines(watch).size() == 1);
        CHECK(held_names(watch_lines(watch)[0]) == std::vector<std::string>{"setup"});

        auto holder = start_holder("build", k_agent1);
        REQUIRE_MESSAGE(wait_until(
                            [&] {
                                auto lines = watch_lines(watch);
                                return !lines.empty() && held_names(lines.back()) == std::vector<std::string>{"build", "setup"};
                            },
                            k_wait_timeout),
                        watch.stdout_text());
        release_holder(holder);
        REQUIRE_MESSAGE(wait_until(
                            [&] {
                                auto lines = watch_lines(watch);
                                return held_names(lines.back()) == std::vector<std::string>{"setup"};
                            },
                            k_wait_timeout),
                        watch.stdout_text());
        // Every line is one whole snapshot; nothing but JSON on stdout.
        for (const auto& line : split_lines(watch.stdout_text())) CHECK_MESSAGE(parse_json(line), line);
        watch.send_signal(SIGINT);
        CHECK_EXIT(finish(watch), 0);

        // As text: a header line with the time before each listing.
        auto text = start_lokt({"status", "--watch"}, k_ops);
        REQUIRE(text.wait_for_stdout_containing("setup", k_wait_timeout));
        REQUIRE_EXIT(lokt({"unlock", "setup"}, k_ops), 0);
        REQUIRE_MESSAGE(text.wait_for_stdout_containing("no locks held", k_wait_timeout), text.stdout_text());
        CHECK_MESSAGE(matches(text.stdout_text(),
                              "^--- \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ  1 held, [?0] waiting, 0 frozen ---\n"
                              "NAME +HOLDER"),
                      text.stdout_text());
        text.send_signal(SIGTERM);
        CHECK_EXIT(finish(text), 0);
    }

    TEST_CASE_FIXTURE(LoktFixture, "top on a terminal: waiter tree, live update on release, sort, filter, resize, q") {
        if (!have_program("tmux")) {
            MESSAGE("skipped: tmux is not installed");
            return;
        }
        auto holder = start_holder("build", k_agent1);
        auto other = start_holder("alpha", k_agent2);
        std::optional<ChildProcess> waiter;
        if (daemon_backend()) {
            waiter.emplace(start_lokt({"guard", "build", "--wait", "--timeout", "60s", "--", "true"}, k_agent3));
            REQUIRE(queue_reaches(*this, "build", 1));
        }
        Tmux tmux(*this, 150, 30);
        REQUIRE(tmux.pane_shows([](const std::string& pane) { return contains(pane, "prompt$"); }));
        tmux.send("'" + LoktFixture::binary().string() + " top' Enter");
        const auto row_of = [](const std::string& pane, const std::string& name) {
            const auto lines = split_lines(pane);
            for (std::size_t i = 0; i < lines.size(); ++i) {
                if (lines[i].rfind(name + " ", 0) == 0) return static_cast<long>(i);
            }
            return -1L;
        };
        REQUIRE_MESSAGE(tmux.pane_shows([&](const std::string& pane) {
            return contains(pane, "lokt top") && row_of(pane, "alpha") >= 0 && row_of(pane, "build") >= 0;
        }),
                        tmux.pane());
        CHECK(tmux.alternate_on());
        std::string pane = tmux.pane();
        CHECK_MESSAGE(contains(pane, daemon_backend() ? "[daemon events]"
                                     : etcd_backend() ? "[etcd events]"
                                                      : "[file events]"),
                      pane);
        CHECK_MESSAGE(matches(pane, "\nbuild +held +agent-1@" + regex_escape(host())), pane);
        CHECK(row_of(pane, "alpha") < row_of(pane, "build"));  // by name
        if (daemon_backend()) {
            CHECK_MESSAGE(matches(pane, "\nbuild [^\n]*\n  `- 1\\. agent-3@" + regex_escape(host()) + " pid " +
                                            std::to_string(waiter->pid())),
                          pane);
        }

        // s: held for, the longest first (build was taken first); again: waiters.
        tmux.send("s");
        REQUIRE_MESSAGE(tmux.pane_shows([&](const std::string& p) { return contains(p, "sort: held-for"); }), tmux.pane());
        pane = tmux.pane();
        CHECK_MESSAGE(row_of(pane, "build") < row_of(pane, "alpha"), pane);
        tmux.send("s");
        REQUIRE(tmux.pane_shows([&](const std::string& p) { return contains(p, "sort: waiters"); }));
        tmux.send("s");
        REQUIRE(tmux.pane_shows([&](const std::string& p) { return contains(p, "sort: name"); }));

        // / filters by a part of the name; Esc shows everything again.
        tmux.send("/ a l p Enter");
        REQUIRE_MESSAGE(tmux.pane_shows([&](const std::string& p) {
            return contains(p, "filter: \"alp\" (1 shown)") && row_of(p, "alpha") >= 0 && row_of(p, "build") < 0;
        }),
                        tmux.pane());
        tmux.send("Escape");
        REQUIRE(tmux.pane_shows([&](const std::string& p) { return row_of(p, "alpha") >= 0 && row_of(p, "build") >= 0; }));

        // A narrower, shorter window: drawn again at the new size, no line wider
        // than the window, nothing left over from the wider frame.
        tmux.resize(60, 12);
        REQUIRE_MESSAGE(tmux.pane_shows([&](const std::string& p) {
            for (const auto& line : split_lines(p)) {
                if (line.size() > 60) return false;
            }
            return split_lines(p).size() <= 12 && row_of(p, "alpha") >= 0;
        }),
                        tmux.pane());
        tmux.resize(150, 30);
        REQUIRE(tmux.pane_shows([&](const std::string& p) { return matches(p, "\nbuild +held +agent-1@"); }));

        // Released: the screen follows without a key pressed.
        release_holder(other);
        REQUIRE_MESSAGE(tmux.pane_shows([&](const std::string& p) { return row_of(p, "alpha") < 0 && contains(p, "release"); }),
                        tmux.pane());

        // q: the alternate screen is left, the shell prompt is back and echoes again.
        tmux.send("q");
        REQUIRE_MESSAGE(
            tmux.pane_shows([&](const std::string& p) { return matches(p, "prompt\\$ *$") && !contains(p, "lokt top  "); }),
            tmux.pane());
        CHECK_FALSE(tmux.alternate_on());
        tmux.send("'echo status=$?' Enter");
        CHECK_MESSAGE(tmux.pane_shows([&](const std::string& p) { return contains(p, "status=0"); }), tmux.pane());

        // ^C quits as well, the terminal restored.
        tmux.send("'" + LoktFixture::binary().string() + " top' Enter");
        REQUIRE(tmux.pane_shows([&](const std::string& p) { return contains(p, "lokt top  "); }));
        tmux.send("C-c");
        REQUIRE_MESSAGE(
            tmux.pane_shows([&](const std::string& p) { return matches(p, "prompt\\$ *$") && !contains(p, "lokt top  "); }),
            tmux.pane());
        CHECK_FALSE(tmux.alternate_on());

        release_holder(holder);
        if (waiter) CHECK_EXIT(finish(*waiter), 0);
    }

}  // TEST_SUITE
