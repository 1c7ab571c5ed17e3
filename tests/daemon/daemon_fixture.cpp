// See daemon_fixture.hpp.
#include "daemon_fixture.hpp"

#include <stdlib.h>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <thread>

namespace lokt::daemon_test {

DaemonFixture::DaemonFixture() {
    std::string pattern = (fs::temp_directory_path() / "lokt-daemon-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    m_scratch = pattern;
    m_root = m_scratch / "root";
    m_daemon = std::make_unique<DaemonInstance>(m_scratch / "daemon");
}

DaemonFixture::~DaemonFixture() {
    const bool failed = current_test_failed() || std::uncaught_exceptions() > 0;
    m_second.reset();
    if (m_daemon) m_daemon->stop();
    if (failed) {
        std::cerr << "---- loktd log (" << m_daemon->log_path().string() << ") ----\n"
                  << m_daemon->log() << "---- scratch directory kept: " << m_scratch.string() << "\n";
        return;
    }
    std::error_code ignored;
    fs::remove_all(m_scratch, ignored);
}

DaemonInstance& DaemonFixture::second_daemon() {
    if (!m_second) m_second = std::make_unique<DaemonInstance>(m_scratch / "daemon2");
    return *m_second;
}

EnvMap DaemonFixture::base_env() const {
    EnvMap env = EnvMap::inherited();
    for (const char* name : {"LOKT_ROOT", "LOKT_SOCKET", "LOKT_DAEMON", "LOKT_OWNER", "LOKT_AGENT_ID", "LOKT_LOCK_NAME",
                             "LOKT_LOCK_ID", "LOKT_LOG"}) {
        env.unset(name);
    }
    env.set("LOKT_ROOT", m_root.string());
    const char* path = std::getenv("PATH");
    env.set("PATH", lokt_binary().parent_path().string() + ":" + loktd_binary().parent_path().string() + ":" +
                        (path != nullptr ? path : "/usr/bin:/bin"));
    return env;
}

EnvMap DaemonFixture::daemon_env(const DaemonInstance& daemon) const {
    EnvMap env = base_env();
    for (const auto& [name, value] : daemon.env_for_clients()) env.set(name, value);
    return env;
}

EnvMap DaemonFixture::files_env() const {
    EnvMap env = base_env();
    env.set("LOKT_DAEMON", "off");
    return env;
}

SpawnSpec DaemonFixture::lokt(std::vector<std::string> args) const {
    SpawnSpec spec;
    spec.argv = {lokt_binary().string()};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.env = daemon_env(*m_daemon);
    spec.cwd = m_scratch;
    return spec;
}

SpawnSpec DaemonFixture::holding_guard(const std::string& name, const std::vector<std::string>& flags) const {
    std::vector<std::string> args{"guard", name};
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), {"--", "sh", "-c", "read line || :"});
    SpawnSpec spec = lokt(std::move(args));
    spec.stdin_pipe = true;
    return spec;
}

SpawnSpec DaemonFixture::sh(const std::string& script) const {
    SpawnSpec spec;
    spec.argv = {"/bin/sh", "-c", script};
    spec.env = daemon_env(*m_daemon);
    spec.cwd = m_scratch;
    return spec;
}

bool DaemonFixture::eventually(const std::function<bool()>& predicate, Millis timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (predicate()) return true;
        std::this_thread::sleep_for(Millis(5));
    }
    return predicate();
}

bool DaemonFixture::daemon_counts_reach(long long holds, long long waiters, Millis timeout) {
    return eventually(
        [&] {
            auto counts = daemon_counts(m_daemon->socket());
            return counts && counts->holds == holds && counts->waiters == waiters;
        },
        timeout);
}

}  // namespace lokt::daemon_test
