// See daemon_fixture.hpp.
#include "tests/daemon/daemon_fixture.hpp"

#include <cstdlib>
#include <iostream>

#include "tests/support/polling.hpp"

namespace lokt::daemon_test {

DaemonFixture::DaemonFixture() : m_root(m_scratch.path() / "root") {
    m_daemon = std::make_unique<DaemonInstance>(m_scratch.path() / "daemon");
}

DaemonFixture::~DaemonFixture() {
    const bool failed = m_scratch.failed();
    m_second.reset();
    if (m_daemon) m_daemon->stop();
    if (failed) std::cerr << "---- loktd log (" << m_daemon->log_path().string() << ") ----\n" << m_daemon->log();
}

DaemonInstance& DaemonFixture::second_daemon() {
    if (!m_second) m_second = std::make_unique<DaemonInstance>(m_scratch.path() / "daemon2");
    return *m_second;
}

Environment DaemonFixture::base_env() const {
    Environment env = Environment::inherited();
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

Environment DaemonFixture::daemon_env(const DaemonInstance& daemon) const {
    Environment env = base_env();
    for (const auto& [name, value] : daemon.env_for_clients()) env.set(name, value);
    return env;
}

Environment DaemonFixture::files_env() const {
    Environment env = base_env();
    env.set("LOKT_DAEMON", "off");
    return env;
}

ProcessSpec DaemonFixture::lokt(std::vector<std::string> args) const {
    ProcessSpec spec;
    spec.argv = {lokt_binary().string()};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.env = daemon_env(*m_daemon);
    spec.cwd = m_scratch.path();
    return spec;
}

ProcessSpec DaemonFixture::holding_guard(const std::string& name, const std::vector<std::string>& flags) const {
    std::vector<std::string> args{"guard", name};
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), {"--", "sh", "-c", "read line || :"});
    ProcessSpec spec = lokt(std::move(args));
    spec.stdin_mode = StdinMode::pipe;
    return spec;
}

ProcessSpec DaemonFixture::sh(const std::string& script) const {
    ProcessSpec spec;
    spec.argv = {"/bin/sh", "-c", script};
    spec.env = daemon_env(*m_daemon);
    spec.cwd = m_scratch.path();
    return spec;
}

bool DaemonFixture::eventually(const std::function<bool()>& predicate, Millis timeout) {
    return lokt::test::wait_until(predicate, timeout, Millis(5));
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
