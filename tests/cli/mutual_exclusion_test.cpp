// Mutual exclusion between real processes, checked by a witness that cannot
// lie: the critical section takes an atomic mkdir marker (failing means someone
// else is inside), does an unguarded read-increment-write of a counter (a lost
// update shows as a short count) and logs enter/exit lines that must strictly
// alternate. The counts are the contract's; only the work per section is small.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <chrono>
#include <map>

#include "tests/cli/support/lokt_fixture.hpp"

using namespace lokt::cli_test;

namespace {

constexpr Millis k_run_timeout{300'000};

// The critical section as shell commands; $W is the witness directory.
constexpr const char* k_critical_section = R"(
if ! mkdir "$W/inside" 2>/dev/null; then echo "overlap $$" >> "$W/overlaps"; fi
read n < "$W/counter"
n=$((n + 1))
echo "enter $n $$" >> "$W/log"
echo "$n" > "$W/counter"
echo "exit $n $$" >> "$W/log"
rmdir "$W/inside" 2>/dev/null
)";

struct Witness {
    fs::path dir;

    explicit Witness(const fs::path& where) : dir(where) {
        fs::create_directories(dir);
        write_text(dir / "counter", "0\n");
        write_text(dir / "section.sh", std::string("#!/bin/sh\nW=$1\n") + k_critical_section);
        ::chmod((dir / "section.sh").c_str(), 0755);
    }

    // Asserts that exactly `expected` sections ran, one at a time.
    void check(int expected) const {
        CHECK_MESSAGE(!fs::exists(dir / "overlaps"), "two processes were inside at once:\n" << read_text(dir / "overlaps"));
        CHECK_MESSAGE(!fs::exists(dir / "failures"), "some acquires or releases failed:\n" << read_text(dir / "failures"));
        CHECK(read_text(dir / "counter") == std::to_string(expected) + "\n");
        const auto lines = split_lines(read_text(dir / "log"));
        CHECK(lines.size() == static_cast<std::size_t>(2 * expected));
        int bad = 0;
        for (std::size_t i = 0; i + 1 < lines.size() && bad < 5; i += 2) {
            const std::string n = std::to_string(i / 2 + 1);
            const auto enter = lines[i];
            const auto exit = lines[i + 1];
            const bool ok = enter.rfind("enter " + n + " ", 0) == 0 && exit.rfind("exit " + n + " ", 0) == 0 &&
                            enter.substr(enter.find(' ', 6)) == exit.substr(exit.find(' ', 5));
            if (!ok) {
                ++bad;
                FAIL_CHECK("interleaved sections at log line " << i + 1 << ": \"" << enter << "\" then \"" << exit << "\"");
            }
        }
    }
};

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_SUITE("mutual_exclusion") {
    TEST_CASE_FIXTURE(LoktFixture, "16 processes x 50 guarded sections never overlap") {
        constexpr int k_processes = 16;
        constexpr int k_sections = 50;
        bool distinct_owners = true;
        SUBCASE("distinct LOKT_OWNERs") { distinct_owners = true; }
        SUBCASE("no LOKT_OWNER") { distinct_owners = false; }

        const Witness witness(scratch() / "witness");
        const std::string worker = R"(
i=0
while [ $i -lt )" + std::to_string(k_sections) +
                                   R"( ]; do
    lokt guard shared --wait --timeout 5m -- "$W/section.sh" "$W" || echo "guard exit $? in $$" >> "$W/failures"
    i=$((i + 1))
done
)";
        const auto started = std::chrono::steady_clock::now();
        std::vector<ChildProcess> workers;
        for (int p = 0; p < k_processes; ++p) {
            RunOptions options = RunOptions().set("W", witness.dir.string());
            if (distinct_owners) options.set("LOKT_OWNER", "agent-" + std::to_string(p));
            workers.push_back(start_sh(worker, options));
        }
        for (auto& w : workers) CHECK_EXIT(finish(w, k_run_timeout), 0);
        MESSAGE((k_processes * k_sections) << " guarded sections took " << seconds_since(started) << " s");

        witness.check(k_processes * k_sections);
        CHECK(audit_events("acquire", "shared").size() == static_cast<std::size_t>(k_processes * k_sections));
        CHECK(audit_events("release", "shared").size() == static_cast<std::size_t>(k_processes * k_sections));
        for (const char* event : {"stale-break", "force-break", "corrupt-break", "auto-prune", "lost"}) {
            CAPTURE(event);
            CHECK(audit_events(event, "shared").empty());
        }
        CHECK_FALSE(has_lock("shared"));
    }

    TEST_CASE_FIXTURE(LoktFixture, "8 agents x 20 rounds of lock / work / unlock never overlap") {
        constexpr int k_agents = 8;
        constexpr int k_rounds = 20;
        const Witness witness(scratch() / "witness");
        const std::string agent = R"(
i=0
while [ $i -lt )" + std::to_string(k_rounds) +
                                  R"( ]; do
    if lokt lock shared --ttl 30s --wait --timeout 5m > /dev/null; then
)" + k_critical_section + R"(
        lokt unlock shared > /dev/null || echo "unlock exit $? by $LOKT_OWNER" >> "$W/failures"
    else
        echo "lock exit $? by $LOKT_OWNER" >> "$W/failures"
    fi
    i=$((i + 1))
done
)";
        const auto started = std::chrono::steady_clock::now();
        std::vector<ChildProcess> agents;
        for (int a = 0; a < k_agents; ++a) {
            agents.push_back(start_sh(agent, as_owner("agent-" + std::to_string(a)).set("W", witness.dir.string())));
        }
        for (auto& a : agents) CHECK_EXIT(finish(a, k_run_timeout), 0);
        MESSAGE((k_agents * k_rounds) << " manual sections took " << seconds_since(started) << " s");

        witness.check(k_agents * k_rounds);
        CHECK(audit_events("acquire", "shared").size() == static_cast<std::size_t>(k_agents * k_rounds));
        CHECK(audit_events("release", "shared").size() == static_cast<std::size_t>(k_agents * k_rounds));
        CHECK_FALSE(has_lock("shared"));
    }

}  // TEST_SUITE
