// A bare connection to loktd for tests that misbehave on purpose: bytes sent
// as given, lines read back with a timeout, and no client logic in between.
#pragma once

#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>

namespace lokt::daemon_test {

// Room for many raw connections in this process, as far as the hard limit allows.
inline void raise_open_file_limit(rlim_t wanted) {
    struct rlimit limit {};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < wanted && limit.rlim_max >= wanted) {
        limit.rlim_cur = wanted;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
}

class RawClient {
public:
    explicit RawClient(const std::filesystem::path& socket) {
        m_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
        m_connected = ::connect(m_fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
    }
    ~RawClient() {
        if (m_fd >= 0) ::close(m_fd);
    }
    RawClient(RawClient&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)), m_connected(other.m_connected) {}
    RawClient(const RawClient&) = delete;

    bool connected() const { return m_connected; }
    int fd() const { return m_fd; }
    // Sends what it can; false once the peer is gone.
    bool send(const std::string& text) {
        std::size_t done = 0;
        while (done < text.size()) {
            const ssize_t n = ::send(m_fd, text.data() + done, text.size() - done, MSG_NOSIGNAL);
            if (n <= 0) return false;
            done += static_cast<std::size_t>(n);
        }
        return true;
    }
    // One line, or "" at end of stream or timeout.
    std::string line(std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (auto nl = m_buffer.find('\n'); nl != std::string::npos) {
                std::string out = m_buffer.substr(0, nl);
                m_buffer.erase(0, nl + 1);
                return out;
            }
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
            if (left <= 0) return "";
            struct pollfd pfd = {m_fd, POLLIN, 0};
            if (::poll(&pfd, 1, static_cast<int>(left)) <= 0) continue;
            char chunk[4096];
            const ssize_t n = ::recv(m_fd, chunk, sizeof chunk, 0);
            if (n <= 0) return "";
            m_buffer.append(chunk, static_cast<std::size_t>(n));
        }
    }
    // True when the daemon closed the connection (end of stream) within the timeout.
    bool closed_by_peer(std::chrono::milliseconds timeout) {
        for (;;) {
            const auto got = line(timeout);
            if (got.empty()) break;
        }
        struct pollfd pfd = {m_fd, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return false;
        char c = 0;
        return ::recv(m_fd, &c, 1, 0) == 0;
    }

private:
    int m_fd = -1;
    bool m_connected = false;
    std::string m_buffer;
};

// A hello any daemon of this protocol accepts.
inline const std::string k_hello =
    R"({"id":1,"op":"hello","protocol_min":1,"protocol_max":1,"client_version":"test","capabilities":[]})"
    "\n";

}  // namespace lokt::daemon_test
