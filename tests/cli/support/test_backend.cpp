// See test_backend.hpp. A new backend adds a session class and one entry in
// k_backends; the scenarios do not change.
#include "test_backend.hpp"

#include "daemon_instance.hpp"

#include <algorithm>
#include <functional>

namespace lokt::cli_test {
namespace {

// The lock files, used directly by each lokt process.
class FilesSession : public BackendSession {
public:
    explicit FilesSession(Environment& env) { env.set("LOKT_DAEMON", "off"); }
};

// A private loktd for the whole test case; every lokt run must use it.
class DaemonSession : public BackendSession {
public:
    DaemonSession(Environment& env, const std::filesystem::path& scratch) : m_daemon(scratch / "loktd") {
        for (const auto& [name, value] : m_daemon.env_for_clients()) env.set(name, value);  // LOKT_SOCKET, LOKT_DAEMON=require
    }
    std::string diagnostics() const override { return "---- loktd log ----\n" + m_daemon.log(); }

private:
    lokt::daemon_test::DaemonInstance m_daemon;
};

struct BackendEntry {
    const char* name;
    std::function<std::unique_ptr<BackendSession>(Environment&, const std::filesystem::path&)> start;
};

const std::vector<BackendEntry>& backends() {
    static const std::vector<BackendEntry> k_backends{
        {"files", [](Environment& env, const std::filesystem::path&) { return std::make_unique<FilesSession>(env); }},
        {"daemon", [](Environment& env, const std::filesystem::path& scratch) {
             return std::make_unique<DaemonSession>(env, scratch);
         }},
    };
    return k_backends;
}

std::string g_selected = "files";

}  // namespace

std::vector<std::string> known_backends() {
    std::vector<std::string> names;
    for (const auto& entry : backends()) names.emplace_back(entry.name);
    return names;
}

bool select_backend(const std::string& name) {
    const auto& all = backends();
    if (std::none_of(all.begin(), all.end(), [&](const BackendEntry& e) { return name == e.name; })) return false;
    g_selected = name;
    return true;
}

const std::string& backend_name() { return g_selected; }

std::unique_ptr<BackendSession> start_backend_session(Environment& env, const std::filesystem::path& scratch) {
    for (const auto& entry : backends()) {
        if (g_selected == entry.name) return entry.start(env, scratch);
    }
    return nullptr;
}

}  // namespace lokt::cli_test
