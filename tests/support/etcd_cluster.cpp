// See etcd_cluster.hpp. Readiness and the leader are asked over plain
// sockets (GET /health, POST /v3/maintenance/status): the test support stays
// free of lokt's own etcd client, which is what the tests test.
#include "tests/support/etcd_cluster.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "tests/support/polling.hpp"
#include "tests/support/process.hpp"
#include "tests/support/text_file.hpp"

namespace lokt::test {
namespace {

using Clock = std::chrono::steady_clock;

// A port nobody listens on now (bound once and let go).
int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(fd);
    return ntohs(address.sin_port);
}

// One HTTP/1.0 exchange on 127.0.0.1:port; the body, or "" when nothing came in time.
std::string http_exchange(int port, const std::string& request, std::chrono::milliseconds timeout) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return {};
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    const auto deadline = Clock::now() + timeout;
    auto wait_for = [&](short events) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return false;
        pollfd p{fd, events, 0};
        return ::poll(&p, 1, static_cast<int>(left)) == 1;
    };
    std::string reply;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 && errno != EINPROGRESS) {
        ::close(fd);
        return {};
    }
    if (!wait_for(POLLOUT) || ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
        ::close(fd);
        return {};
    }
    char buffer[8192];
    while (wait_for(POLLIN)) {
        const ssize_t got = ::read(fd, buffer, sizeof buffer);
        if (got <= 0) break;
        reply.append(buffer, static_cast<std::size_t>(got));
    }
    ::close(fd);
    const auto body = reply.find("\r\n\r\n");
    if (reply.rfind("HTTP/1.", 0) != 0 || body == std::string::npos) return {};
    return reply.substr(body + 4);
}

std::string field(const std::string& text, const std::string& name) {
    const auto at = text.find("\"" + name + "\":\"");
    if (at == std::string::npos) return {};
    const auto start = at + name.size() + 4;
    return text.substr(start, text.find('"', start) - start);
}

}  // namespace

struct EtcdCluster::Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    std::filesystem::path data;
    std::filesystem::path log;
    std::unique_ptr<ChildProcess> process;
    bool paused = false;
};

bool etcd_available() { return !find_program("etcd").empty(); }

int etcd_hosts_available() {
    if (!etcd_available()) {
        std::fprintf(stderr, "etcd is not installed: skipped\n");
        return 77;
    }
    ProcessSpec probe;
    probe.argv = {"unshare", "--uts", "--pid", "--fork", "true"};
    probe.env = Environment::inherited();
    if (run_process(probe, std::chrono::milliseconds(5000)).status() != 0) {
        std::fprintf(stderr, "unshare --uts --pid needs root: skipped\n");
        return 77;
    }
    return 0;
}

EtcdCluster::EtcdCluster(const std::filesystem::path& dir, int members, std::optional<EtcdTlsFiles> tls)
    : m_dir(dir), m_tls(std::move(tls)) {
    std::filesystem::create_directories(dir);
    for (int i = 0; i < members; ++i) {
        auto member = std::make_unique<Member>();
        member->name = "m" + std::to_string(i);
        member->client_port = free_port();
        member->peer_port = free_port();
        member->data = dir / (member->name + ".data");
        member->log = dir / (member->name + ".log");
        if (!m_initial_cluster.empty()) m_initial_cluster += ',';
        m_initial_cluster += member->name + "=http://127.0.0.1:" + std::to_string(member->peer_port);
        m_members.push_back(std::move(member));
    }
    for (int i = 0; i < members; ++i) start(i, true);
    if (!wait_writable(std::chrono::seconds(20))) {
        throw std::runtime_error("etcd did not start:\n" + logs());
    }
}

EtcdCluster::~EtcdCluster() {
    for (auto& member : m_members) {
        if (member->process) {
            if (member->paused) member->process->send_signal(SIGCONT);
            member->process->stop(std::chrono::milliseconds(2000));
        }
    }
}

void EtcdCluster::start(int index, bool fresh) {
    Member& member = *m_members.at(static_cast<std::size_t>(index));
    const std::string scheme = m_tls ? "https" : "http";
    const std::string client_url = scheme + "://127.0.0.1:" + std::to_string(member.client_port);
    const std::string peer_url = "http://127.0.0.1:" + std::to_string(member.peer_port);
    ProcessSpec spec;
    spec.argv = {"etcd", "--name", member.name, "--data-dir", member.data.string(), "--listen-client-urls", client_url,
                 "--advertise-client-urls", client_url, "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                 "--initial-cluster", m_initial_cluster, "--initial-cluster-state", fresh ? "new" : "existing",
                 "--initial-cluster-token", "lokt-test",
                 // Fast elections: a lost leader is replaced in a fraction of a second.
                 "--heartbeat-interval", "20", "--election-timeout", "200", "--logger", "zap", "--log-level",
                 m_tls ? "info" : "warn"};  // with TLS, readiness is read from the log
    if (m_tls) {
        spec.argv.insert(spec.argv.end(), {"--cert-file", m_tls->cert.string(), "--key-file", m_tls->key.string(),
                                           "--trusted-ca-file", m_tls->ca.string()});
        if (m_tls->client_cert_auth) spec.argv.emplace_back("--client-cert-auth");
    }
    spec.env = Environment::inherited();
    spec.cwd = m_dir;
    spec.output_file = member.log;
    member.process = std::make_unique<ChildProcess>(spec);
    member.paused = false;
}

std::string EtcdCluster::endpoints() const {
    std::string list;
    for (int i = 0; i < size(); ++i) {
        if (!list.empty()) list += ',';
        list += endpoint(i);
    }
    return list;
}

std::string EtcdCluster::endpoint(int index) const {
    return std::string(m_tls ? "https" : "http") +
           "://127.0.0.1:" + std::to_string(m_members.at(static_cast<std::size_t>(index))->client_port);
}

pid_t EtcdCluster::pid(int index) const {
    const auto& member = *m_members.at(static_cast<std::size_t>(index));
    return member.process ? member.process->pid() : -1;
}

bool EtcdCluster::running(int index) const {
    const auto& member = *m_members.at(static_cast<std::size_t>(index));
    return member.process && !member.paused && process_alive(member.process->pid());
}

void EtcdCluster::kill(int index) {
    auto& member = *m_members.at(static_cast<std::size_t>(index));
    if (!member.process) return;
    member.process->send_signal(SIGKILL);
    member.process->wait_exit(std::chrono::seconds(5));
    member.process.reset();
    member.paused = false;
}

void EtcdCluster::restart(int index) {
    if (m_members.at(static_cast<std::size_t>(index))->process) return;
    start(index, false);
}

void EtcdCluster::pause(int index) {
    auto& member = *m_members.at(static_cast<std::size_t>(index));
    if (!member.process || member.paused) return;
    member.process->send_signal(SIGSTOP);
    member.paused = true;
}

void EtcdCluster::resume(int index) {
    auto& member = *m_members.at(static_cast<std::size_t>(index));
    if (!member.process || !member.paused) return;
    member.process->send_signal(SIGCONT);
    member.paused = false;
}

std::string EtcdCluster::post(int index, const std::string& path, const std::string& body) const {
    const auto& member = *m_members.at(static_cast<std::size_t>(index));
    const std::string request = "POST " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                                "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    return http_exchange(member.client_port, request, std::chrono::milliseconds(1000));
}

int EtcdCluster::leader() const {
    for (int i = 0; i < size(); ++i) {
        if (!running(i)) continue;
        const std::string status = post(i, "/v3/maintenance/status", "{}");
        const std::string leader = field(status, "leader");
        if (leader.empty()) continue;
        for (int j = 0; j < size(); ++j) {
            if (!running(j)) continue;
            const std::string other = post(j, "/v3/maintenance/status", "{}");
            if (field(other, "member_id") == leader) return j;
        }
    }
    return -1;
}

bool EtcdCluster::wait_writable(std::chrono::milliseconds timeout) const {
    if (m_tls) {
        // Plain sockets cannot speak TLS: wait for the members' logs to say they serve.
        return wait_until(
            [&] {
                for (const auto& member : m_members) {
                    if (read_text(member->log).find("serving client traffic") == std::string::npos) return false;
                }
                return true;
            },
            timeout, std::chrono::milliseconds(20));
    }
    // "a2V5" is base64 for "key": a put under a test-only key.
    return wait_until(
        [&] {
            for (int i = 0; i < size(); ++i) {
                if (!running(i)) continue;
                if (post(i, "/v3/kv/put", R"({"key":"bG9rdC10ZXN0LXJlYWR5","value":"MQ=="})").find("\"revision\"") !=
                    std::string::npos) {
                    return true;
                }
            }
            return false;
        },
        timeout, std::chrono::milliseconds(20));
}

std::string EtcdCluster::logs() const {
    std::string text;
    for (const auto& member : m_members) text += "---- etcd " + member->name + " ----\n" + read_text(member->log);
    return text;
}

}  // namespace lokt::test
