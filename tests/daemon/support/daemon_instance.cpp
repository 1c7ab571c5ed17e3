// See daemon_instance.hpp.
#include "tests/daemon/support/daemon_instance.hpp"

#include "tests/support/text_file.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

namespace lokt::daemon_test {
namespace {

constexpr Millis k_start_timeout{10'000};
constexpr const char* k_hello =
    R"({"id":1,"op":"hello","protocol_min":1,"protocol_max":1,"client_version":"test","capabilities":[]})";

int connect_to(const std::filesystem::path& socket) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// Reads one line within the deadline; "" on failure.
std::string read_line(int fd, std::chrono::steady_clock::time_point deadline) {
    std::string line;
    char c = 0;
    for (;;) {
        const auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) return "";
        struct pollfd pfd = {fd, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left)) <= 0) continue;
        if (::read(fd, &c, 1) != 1) return "";
        if (c == '\n') return line;
        line += c;
    }
}

bool write_all(int fd, const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::send(fd, text.data() + done, text.size() - done, MSG_NOSIGNAL);
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

const std::filesystem::path& loktd_binary() {
    static const std::filesystem::path path(LOKT_TEST_LOKTD_BINARY);
    return path;
}

const std::filesystem::path& lokt_binary() {
    static const std::filesystem::path path(LOKT_TEST_LOKT_BINARY);
    return path;
}

std::string request_line(const std::filesystem::path& socket, const std::string& json, Millis timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const int fd = connect_to(socket);
    if (fd < 0) return "";
    std::string reply;
    if (write_all(fd, std::string(k_hello) + "\n")) {
        const std::string hello = read_line(fd, deadline);
        if (hello.find("\"ok\":true") != std::string::npos) {
            reply = hello;
            if (!json.empty() && write_all(fd, json + "\n")) reply = read_line(fd, deadline);
        }
    }
    ::close(fd);
    return reply;
}

bool hello_answers(const std::filesystem::path& socket, Millis timeout) { return !request_line(socket, "", timeout).empty(); }

std::optional<DaemonCounts> daemon_counts(const std::filesystem::path& socket) {
    const std::string line = request_line(socket, R"({"id":2,"op":"daemon_status"})", Millis(5000));
    auto json = nlohmann::json::parse(line, nullptr, false);
    if (json.is_discarded() || !json.is_object() || !json.value("ok", false)) return std::nullopt;
    DaemonCounts counts;
    counts.connections = json.value("connections", 0LL);
    counts.holds = json.value("holds", 0LL);
    counts.waiters = json.value("waiters", 0LL);
    return counts;
}

DaemonInstance::DaemonInstance(std::filesystem::path state_dir, std::vector<std::string> extra_args,
                               std::vector<std::string> launcher)
    : m_state_dir(std::move(state_dir)),
      m_socket(m_state_dir / "loktd.sock"),
      m_log(m_state_dir / "loktd.log"),
      m_extra_args(std::move(extra_args)),
      m_launcher(std::move(launcher)) {
    std::filesystem::create_directories(m_state_dir);
    ::chmod(m_state_dir.c_str(), 0700);
    start();
}

DaemonInstance::~DaemonInstance() { stop(); }

void DaemonInstance::start() {
    lokt::test::ProcessSpec spec;
    spec.argv = m_launcher;
    for (const auto& arg : {loktd_binary().string(), std::string("--socket"), m_socket.string(), std::string("--log-level"),
                            std::string("debug")}) {
        spec.argv.push_back(arg);
    }
    spec.argv.insert(spec.argv.end(), m_extra_args.begin(), m_extra_args.end());
    spec.env = lokt::test::Environment::inherited();
    spec.output_file = m_log;
    if (m_process) m_process->stop(Millis(500));  // one still running is asked to go first
    m_process.emplace(spec);
    const auto deadline = std::chrono::steady_clock::now() + k_start_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (hello_answers(m_socket, Millis(1000))) return;
        if (!m_process->running()) break;
        std::this_thread::sleep_for(Millis(10));
    }
    throw std::runtime_error("loktd did not answer hello; its log:\n" + log());
}

void DaemonInstance::stop() {
    if (m_process) m_process->stop(Millis(3000));
}

void DaemonInstance::crash() {
    if (!m_process) return;
    m_process->send_signal(SIGKILL);
    (void)m_process->wait_exit(Millis(5000));
}

bool DaemonInstance::running() { return m_process && m_process->running(); }

pid_t DaemonInstance::pid() const { return m_process ? m_process->pid() : -1; }

std::string DaemonInstance::log() const { return lokt::test::read_text(m_log); }

std::vector<std::pair<std::string, std::string>> DaemonInstance::env_for_clients() const {
    return {{"LOKT_SOCKET", m_socket.string()}, {"LOKT_DAEMON", "require"}};
}

}  // namespace lokt::daemon_test
