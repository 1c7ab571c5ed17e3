// What every CLI scenario starts from: a scratch directory with a repository
// layout (a .git/ directory made by hand, so the lock root is .git/lokt), an
// environment with no inherited LOKT_* variable and the backend under test
// selected, and helpers that run the real `lokt` binary with a deadline and
// read back what it left on disk (lock files, the audit log).
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/cli/support/test_backend.hpp"
#include "tests/support/polling.hpp"
#include "tests/support/process.hpp"
#include "tests/support/scratch_dir.hpp"
#include "tests/support/test_main.hpp"
#include "tests/support/text_file.hpp"

namespace lokt::cli_test {

namespace fs = std::filesystem;

// The shared test support (tests/support/), as the scenarios call it.
using lokt::test::ChildProcess;
using lokt::test::Environment;
using lokt::test::Millis;
using lokt::test::process_alive;
using lokt::test::process_group_members;
using lokt::test::process_start_ticks;
using lokt::test::process_state;
using lokt::test::ProcessResult;
using lokt::test::ProcessSpec;
using lokt::test::read_text;
using lokt::test::run_process;
using lokt::test::ScratchDir;
using lokt::test::StdinMode;
using lokt::test::wait_until;
using lokt::test::write_text;
using Json = nlohmann::ordered_json;
using WallClock = std::chrono::system_clock;

// The longest any single lokt command may take before the test calls it hung.
inline constexpr Millis k_command_timeout{30'000};
// How long to wait for a background process to reach an expected state.
inline constexpr Millis k_wait_timeout{20'000};

struct RunOptions {
    // Variables to set (a value) or remove (nullopt) for this run only.
    std::vector<std::pair<std::string, std::optional<std::string>>> env;
    std::optional<fs::path> cwd;  // default: the repository
    Millis timeout = k_command_timeout;
    StdinMode stdin_mode = StdinMode::null;

    RunOptions& set(const std::string& name, std::string value) {
        env.emplace_back(name, std::move(value));
        return *this;
    }
    RunOptions& unset(const std::string& name) {
        env.emplace_back(name, std::nullopt);
        return *this;
    }
    RunOptions& in(fs::path directory) {
        cwd = std::move(directory);
        return *this;
    }
    RunOptions& within(Millis limit) {
        timeout = limit;
        return *this;
    }
};

// The options of an agent that set LOKT_OWNER.
inline RunOptions as_owner(const std::string& owner) { return RunOptions().set("LOKT_OWNER", owner); }

// The agents the scenarios cast, by the owner names the assertions use.
inline const RunOptions k_agent1 = as_owner("agent-1");
inline const RunOptions k_agent2 = as_owner("agent-2");
inline const RunOptions k_ops = as_owner("ops");

inline bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }
inline bool daemon_backend() { return backend_name() == "daemon"; }
inline bool etcd_backend() { return backend_name() == "etcd"; }
// etcd with a private loktd keeping the guards' lease (LOKT_TEST_ETCD_DAEMON=1).
inline bool etcd_through_loktd() {
    return etcd_backend() && lokt::test::test_switch("LOKT_TEST_ETCD_DAEMON").value_or("") == "1";
}

// A scenario that reads or writes the lock root's files itself (planting a
// stale or corrupt record, checking a file's bytes or modes, the audit log's
// own lines): skipped against etcd, which keeps its records elsewhere. Read
// from the environment because decorators are evaluated before main().
// A scenario about something the etcd backend does not have (yet): loktd
// and its fallback to the files, liveness handles, deadlock reports.
// docs/distributed.md lists these differences.
inline doctest::skip not_on_etcd() {
    const char* backend = std::getenv("LOKT_TEST_BACKEND");
    return doctest::skip(backend != nullptr && std::string_view(backend) == "etcd");
}

// A scenario about the etcd backend alone.
inline doctest::skip etcd_only() {
    const char* backend = std::getenv("LOKT_TEST_BACKEND");
    return doctest::skip(backend == nullptr || std::string_view(backend) != "etcd");
}

inline doctest::skip files_only() {
    const char* backend = std::getenv("LOKT_TEST_BACKEND");
    return doctest::skip(backend != nullptr && std::string_view(backend) == "etcd");
}
// Whether a program the test drives (tmux, strace) is on PATH.
inline bool have_program(const std::string& name) { return !lokt::test::find_program(name).empty(); }

class LoktFixture {
public:
    LoktFixture();
    ~LoktFixture();
    LoktFixture(const LoktFixture&) = delete;
    LoktFixture& operator=(const LoktFixture&) = delete;

    // The binary under test.
    static const fs::path& binary();

    const fs::path& scratch() const { return m_scratch.path(); }
    // lokt's working directory: a repository whose .git/ we made ourselves.
    const fs::path& repo() const { return m_repo; }
    // Where lokt keeps this test's locks: .git/lokt, or LOKT_ROOT once use_root was called.
    const fs::path& root() const { return m_root; }
    fs::path lock_path(std::string_view name) const;
    fs::path freeze_path(std::string_view name) const;
    fs::path audit_path() const;
    // This machine's host name, as lokt writes it after "@".
    const std::string& host() const { return m_host; }

    // Variables every later run gets.
    void set_env(const std::string& name, std::string value);
    void unset_env(const std::string& name);
    void use_root(const fs::path& root);

    // Runs to completion; a run that outlives its timeout is killed and fails the test.
    ProcessResult lokt(std::vector<std::string> args, const RunOptions& options = {});
    ProcessResult sh(const std::string& script, const RunOptions& options = {});
    ProcessResult run(std::vector<std::string> argv, const RunOptions& options = {});
    // Starts in the background; the returned object kills the tree if the test ends early.
    ChildProcess start_lokt(std::vector<std::string> args, const RunOptions& options = {});
    ChildProcess start_sh(const std::string& script, const RunOptions& options = {});
    ChildProcess start(std::vector<std::string> argv, const RunOptions& options = {});
    // Waits for a background process and records it in the transcript; a timeout fails the test.
    ProcessResult finish(ChildProcess& child, Millis timeout = k_command_timeout);

    // `lokt guard NAME [flags] -- sh -c 'echo ready; read line || :'`, returned once its
    // command runs (the lock is held); release_holder ends the command normally.
    ChildProcess start_holder(const std::string& name, const RunOptions& options = {}, std::vector<std::string> flags = {});
    ProcessResult release_holder(ChildProcess& holder);

    // Every audit line that parses as a JSON object, in order.
    std::vector<Json> audit_events() const;
    std::vector<Json> audit_events(std::string_view event, std::string_view name) const;
    // The lock file parsed, or nullopt when absent or not JSON. Against etcd,
    // where there are no lock files, the holder as `lokt status NAME --json`
    // shows it (the record's fields, without the file's own).
    std::optional<Json> read_lock(std::string_view name) const;
    // A shell command that prints NAME's record as read_lock() reads it, for a
    // guarded command to look at its own hold: `cat` of the lock file, or with
    // etcd `lokt status NAME --json`.
    std::string lock_snapshot_command(std::string_view name) const;
    // Whether NAME has a lock file (with etcd: a holder's key), live or not.
    bool has_lock(std::string_view name) const;
    // The same for a freeze (`lokt status --json`'s entry against etcd).
    std::optional<Json> read_freeze(std::string_view name) const;
    bool has_freeze(std::string_view name) const;
    // Puts a lock file in place by hand (atomically, mode 0600), creating the root.
    void write_lock_file(std::string_view name, const std::string& text);
    // The same for a freeze file.
    void write_freeze_file(std::string_view name, const std::string& text);
    // A well-formed record of another holder on this host; tests change fields.
    Json foreign_record(std::string_view name, long long pid, std::optional<unsigned long long> pid_start) const;

    // Appends a line to the transcript kept with the scratch directory.
    void note(const std::string& text);

    // Kills the backend's daemon with SIGKILL, as a crash; false when the backend has none.
    bool crash_daemon();
    // Audit subscriptions the backend's daemon counts on root(); nullopt without a daemon.
    std::optional<long long> audit_subscriptions() const;
    // The reply line of the backend's daemon to one raw request; nullopt without a daemon.
    std::optional<std::string> daemon_request(const std::string& json) const;
    // Waits until `lokt audit --tail` (pid tail) follows the log: asleep waiting
    // for news and, with a daemon, counted among its subscriptions (at least
    // `subscriptions` on root()). Whatever is written afterwards reaches it.
    bool wait_until_tail_follows(pid_t tail, long long subscriptions = 1);

private:
    Environment environment_for(const RunOptions& options) const;
    ProcessSpec spec_for(std::vector<std::string> argv, const RunOptions& options) const;
    void record(const ProcessResult& result);
    void write_record_file(const fs::path& target, const std::string& text);

    ScratchDir m_scratch;
    fs::path m_repo;
    fs::path m_root;
    fs::path m_transcript;
    std::string m_host;
    Environment m_env;
    std::unique_ptr<BackendSession> m_backend;
};

// ---- Small helpers shared by the scenarios ----

// std::regex (ECMAScript) search anywhere in text.
bool matches(const std::string& text, const std::string& pattern);
// Escapes regex metacharacters.
std::string regex_escape(std::string_view text);
std::vector<std::string> split_lines(const std::string& text);
// The whole text as one JSON value, or nullopt when it is not exactly that.
std::optional<Json> parse_json(const std::string& text);
std::optional<WallClock::time_point> parse_rfc3339(const std::string& text);
std::string format_rfc3339(WallClock::time_point time);
// The mode bits (07777) of a path, not following symlinks.
unsigned file_mode(const fs::path& path);
// The names in a directory (none when it is missing).
std::vector<std::string> directory_entries(const fs::path& dir);
// The whole stderr of a refused acquire, as the seed quickstart shows it:
// error: lock "build" held by agent-1@macbook (pid 48201) for 12s
std::string held_message_pattern(std::string_view name, std::string_view owner, std::string_view host, long long pid);
// The same with the duration in any form ("for 12s", "for 1m5s", ...), for tests about something else.
std::string held_message_pattern_any_duration(std::string_view name, std::string_view owner, std::string_view host,
                                              long long pid);
// error: lock "deploy" is frozen until 2026-02-07T15:30:00Z (by ops@host), for a freeze
// file's expires_at (the seconds either truncated or rounded up).
std::string frozen_message_pattern(std::string_view name, std::string_view owner, std::string_view host,
                                   const std::string& expires_at);
// error: lock "deploy" is already frozen until 2026-02-07T15:30:00Z (by ops@host); a human may replace
// it with 'lokt freeze deploy --ttl D --force', for another owner's freeze that is left in place.
std::string already_frozen_message_pattern(std::string_view name, std::string_view owner, std::string_view host,
                                           const std::string& expires_at);

}  // namespace lokt::cli_test

// Exit status assertions that print the command, its status and output on failure.
// `result` is evaluated once (it is often a call that runs a command).
#define CHECK_EXIT(result, code)                                                               \
    do {                                                                                       \
        const ::lokt::test::ProcessResult& lokt_checked_result = (result);                     \
        CHECK_MESSAGE(lokt_checked_result.status() == (code), lokt_checked_result.describe()); \
    } while (false)
#define REQUIRE_EXIT(result, code)                                                               \
    do {                                                                                         \
        const ::lokt::test::ProcessResult& lokt_checked_result = (result);                       \
        REQUIRE_MESSAGE(lokt_checked_result.status() == (code), lokt_checked_result.describe()); \
    } while (false)
