// A real etcd cluster for a test: one or three members on 127.0.0.1 with free
// ports picked at start, data under the test's scratch directory, fast
// election settings, and every member stopped by its pid when the cluster
// object goes (or a deadline kills it). Members can be killed, restarted,
// paused and resumed, and the current leader found, for fault tests. With
// TlsFiles the members serve https:// and may demand client certificates.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace lokt::test {

struct EtcdTlsFiles {
    std::filesystem::path ca;    // signs the members' and clients' certificates
    std::filesystem::path cert;  // the members' certificate (for 127.0.0.1) and key
    std::filesystem::path key;
    bool client_cert_auth = false;  // demand a client certificate signed by ca
};

// Where etcd is: the test is skipped (exit 77 style) without it.
bool etcd_available();

// For a test that simulates hosts with `unshare --uts --pid --fork`: 0 when
// etcd is installed and the namespaces can be made, else 77 (skipped), saying why.
int etcd_hosts_available();

class EtcdCluster {
public:
    // Starts `members` members under dir and waits until they serve.
    // Throws std::runtime_error when they do not.
    EtcdCluster(const std::filesystem::path& dir, int members = 1, std::optional<EtcdTlsFiles> tls = std::nullopt);
    ~EtcdCluster();
    EtcdCluster(const EtcdCluster&) = delete;
    EtcdCluster& operator=(const EtcdCluster&) = delete;

    int size() const { return static_cast<int>(m_members.size()); }
    // "http://127.0.0.1:PORT,..." for LOKT_ETCD_ENDPOINTS.
    std::string endpoints() const;
    std::string endpoint(int member) const;
    pid_t pid(int member) const;
    bool running(int member) const;

    void kill(int member);     // SIGKILL, as a crash
    void restart(int member);  // a killed member again, with its data
    void pause(int member);    // SIGSTOP
    void resume(int member);   // SIGCONT
    // The index of the member that leads now (asking each member that runs), or -1.
    int leader() const;
    // Waits until a write through some member succeeds.
    bool wait_writable(std::chrono::milliseconds timeout) const;
    // Every member's log, for a failure message.
    std::string logs() const;

    // One POST to a member's JSON gateway (plain http only); the reply body, or "" on failure.
    std::string post(int member, const std::string& path, const std::string& body) const;

private:
    struct Member;
    void start(int member, bool fresh);
    std::filesystem::path m_dir;
    std::optional<EtcdTlsFiles> m_tls;
    std::string m_initial_cluster;
    std::vector<std::unique_ptr<Member>> m_members;
};

}  // namespace lokt::test
