// See test_backend.hpp. A new backend adds a session class and one entry in
// k_backends; the scenarios do not change.
#include "tests/cli/support/test_backend.hpp"

#include "tests/daemon/support/daemon_instance.hpp"
#include "tests/support/etcd_cluster.hpp"
#include "tests/support/scratch_dir.hpp"
#include "tests/support/test_main.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>

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
    bool crash_daemon() override {
        m_daemon.crash();
        return true;
    }
    std::optional<long long> audit_subscriptions(const std::filesystem::path& root) const override {
        const std::string line = lokt::daemon_test::request_line(m_daemon.socket(), R"({"id":2,"op":"daemon_status"})",
                                                                 std::chrono::milliseconds(5000));
        const auto json = nlohmann::json::parse(line, nullptr, false);
        if (json.is_discarded() || !json.is_object() || !json.value("ok", false)) return std::nullopt;
        const auto wanted = std::filesystem::weakly_canonical(root);
        for (const auto& served : json.value("roots", nlohmann::json::array())) {
            if (std::filesystem::weakly_canonical(served.value("root", "")) == wanted) {
                return served.value("subscriptions", 0LL);
            }
        }
        return 0;
    }

    std::optional<std::string> daemon_request(const std::string& json) const override {
        return lokt::daemon_test::request_line(m_daemon.socket(), json, std::chrono::milliseconds(5000));
    }

private:
    lokt::daemon_test::DaemonInstance m_daemon;
};

// One etcd member for the whole test program, started with the first case
// that needs it and stopped (by pid) when the tests end; each case gets a
// namespace of its own in it, so cases never see each other's locks.
struct SharedEtcd {
    std::unique_ptr<lokt::test::ScratchDir> dir;
    std::unique_ptr<lokt::test::EtcdCluster> cluster;
};

SharedEtcd& shared_etcd() {
    static SharedEtcd etcd;
    return etcd;
}

const bool g_etcd_hooks = lokt::test::add_run_hooks({{}, [] {
                                                         shared_etcd().cluster.reset();
                                                         shared_etcd().dir.reset();
                                                     }});

// With LOKT_TEST_ETCD_DAEMON=1, a private loktd too (LOKT_DAEMON=require):
// every guard's hold then goes on loktd's lease, bound to its connection.
class EtcdSession : public BackendSession {
public:
    EtcdSession(Environment& env, const std::filesystem::path& scratch) {
        SharedEtcd& etcd = shared_etcd();
        if (!etcd.cluster) {
            etcd.dir = std::make_unique<lokt::test::ScratchDir>("lokt-etcd");
            etcd.cluster = std::make_unique<lokt::test::EtcdCluster>(etcd.dir->path());
        }
        static std::mt19937_64 random{std::random_device{}()};
        env.set("LOKT_BACKEND", "etcd");
        env.set("LOKT_ETCD_ENDPOINTS", etcd.cluster->endpoints());
        env.set("LOKT_ETCD_PREFIX", "test/" + std::to_string(random()));
        env.set("LOKT_DAEMON", "off");
        if (lokt::test::test_switch("LOKT_TEST_ETCD_DAEMON").value_or("") == "1") {
            m_daemon = std::make_unique<lokt::daemon_test::DaemonInstance>(scratch / "loktd");
            for (const auto& [name, value] : m_daemon->env_for_clients()) env.set(name, value);  // LOKT_SOCKET, require
        }
    }
    std::string diagnostics() const override {
        std::string text = shared_etcd().cluster ? shared_etcd().cluster->logs() : std::string();
        if (m_daemon) text += "---- loktd log ----\n" + m_daemon->log();
        return text;
    }

private:
    std::unique_ptr<lokt::daemon_test::DaemonInstance> m_daemon;
};

struct BackendEntry {
    const char* name;
    std::function<std::unique_ptr<BackendSession>(Environment&, const std::filesystem::path&)> start;
};

const std::vector<BackendEntry>& backends() {
    static const std::vector<BackendEntry> k_backends{
        {"files", [](Environment& env, const std::filesystem::path&) { return std::make_unique<FilesSession>(env); }},
        {"daemon",
         [](Environment& env, const std::filesystem::path& scratch) { return std::make_unique<DaemonSession>(env, scratch); }},
        {"etcd",
         [](Environment& env, const std::filesystem::path& scratch) { return std::make_unique<EtcdSession>(env, scratch); }},
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
