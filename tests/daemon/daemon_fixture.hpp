// What every daemon integration test starts from: a scratch directory (kept
// and printed when the test fails), a private loktd on a socket inside it, a
// lock root, and helpers that run the real lokt against that daemon. On
// failure the daemon's log is printed with the test's output.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tests/daemon/support/daemon_instance.hpp"
#include "tests/support/process.hpp"
#include "tests/support/scratch_dir.hpp"
#include "tests/support/text_file.hpp"

namespace lokt::daemon_test {

namespace fs = std::filesystem;

// The shared test support (tests/support/), as the daemon tests call it.
using lokt::test::ChildProcess;
using lokt::test::Environment;
using lokt::test::find_program;
using lokt::test::ProcessSpec;
using lokt::test::read_text;
using lokt::test::run_process;
using lokt::test::StdinMode;

class DaemonFixture {
public:
    DaemonFixture();
    ~DaemonFixture();

    const fs::path& scratch() const { return m_scratch.path(); }
    const fs::path& root() const { return m_root; }
    DaemonInstance& daemon() { return *m_daemon; }
    // Another daemon on another socket (same root, if the test says so).
    DaemonInstance& second_daemon();

    // A lokt run against the first daemon (LOKT_DAEMON=require), cwd the scratch dir.
    ProcessSpec lokt(std::vector<std::string> args) const;
    // `lokt guard NAME [FLAGS] -- sh -c 'read line'`: holds NAME until the
    // test closes its stdin (ChildProcess::close_stdin).
    ProcessSpec holding_guard(const std::string& name, const std::vector<std::string>& flags = {}) const;
    // A shell script with the same environment (lokt on PATH as "lokt").
    ProcessSpec sh(const std::string& script) const;
    // The environment without any daemon (LOKT_DAEMON=off).
    Environment files_env() const;
    Environment daemon_env(const DaemonInstance& daemon) const;

    // Polls the predicate until it holds (true) or the timeout passes (false).
    static bool eventually(const std::function<bool()>& predicate, Millis timeout = Millis(20'000));
    bool daemon_counts_reach(long long holds, long long waiters, Millis timeout = Millis(20'000));

private:
    Environment base_env() const;

    lokt::test::ScratchDir m_scratch{"lokt-daemon"};
    fs::path m_root;
    std::unique_ptr<DaemonInstance> m_daemon;
    std::unique_ptr<DaemonInstance> m_second;
    int m_output_counter = 0;
};

}  // namespace lokt::daemon_test
