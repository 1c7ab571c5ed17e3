// subscribe_audit: the daemon streams audit.log to a subscriber, the backlog
// from `since` first, then every new line whoever writes it (here a file-mode
// client that never talks to the daemon), until unsubscribe.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "tests/daemon/daemon_fixture.hpp"

namespace lokt::daemon_test {
namespace {

class LineSocket {
public:
    explicit LineSocket(const fs::path& socket) {
        m_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
        if (::connect(m_fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
            throw std::runtime_error("connect");
    }
    ~LineSocket() { ::close(m_fd); }
    void send(const std::string& line) {
        const std::string text = line + "\n";
        REQUIRE(::send(m_fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size()));
    }
    nlohmann::json next(Millis timeout = Millis(10'000)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (auto nl = m_buffer.find('\n'); nl != std::string::npos) {
                auto json = nlohmann::json::parse(m_buffer.substr(0, nl));
                m_buffer.erase(0, nl + 1);
                return json;
            }
            const auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now()).count();
            if (left <= 0) return nullptr;
            struct pollfd pfd = {m_fd, POLLIN, 0};
            if (::poll(&pfd, 1, static_cast<int>(left)) <= 0) continue;
            char chunk[4096];
            const ssize_t n = ::recv(m_fd, chunk, sizeof chunk, 0);
            if (n <= 0) return nullptr;
            m_buffer.append(chunk, static_cast<std::size_t>(n));
        }
    }

private:
    int m_fd = -1;
    std::string m_buffer;
};

}  // namespace

TEST_SUITE("daemon_handoff") {
    TEST_CASE("subscribe_audit streams the backlog, then lines written by anyone, until unsubscribe") {
        DaemonFixture f;
        REQUIRE(run_process(f.lokt({"guard", "early", "--", "true"}), Millis(20'000)).status() == 0);

        LineSocket client(f.daemon().socket());
        client.send(R"({"id":1,"op":"hello","protocol_min":1,"protocol_max":1,"client_version":"test","capabilities":[]})");
        REQUIRE(client.next()["ok"] == true);
        const std::string root = f.root().string();
        client.send(R"({"id":2,"op":"subscribe_audit","root":")" + root + R"(","since":"2000-01-01T00:00:00Z"})");
        const auto reply = client.next();
        REQUIRE(reply["ok"] == true);
        CHECK(reply["id"] == 2);
        // The backlog: acquire and release of "early".
        auto first = client.next();
        REQUIRE(first.is_object());
        CHECK(first["event"] == true);
        CHECK(first["id"] == 2);
        CHECK(first["audit"]["event"] == "acquire");
        CHECK(first["audit"]["name"] == "early");
        CHECK(client.next()["audit"]["event"] == "release");

        // A file-mode client writes; the daemon sees it through inotify.
        ProcessSpec outsider = f.lokt({"guard", "late", "--", "true"});
        outsider.env = f.files_env();
        REQUIRE(run_process(outsider, Millis(20'000)).status() == 0);
        auto live = client.next();
        REQUIRE(live.is_object());
        CHECK(live["audit"]["event"] == "acquire");
        CHECK(live["audit"]["name"] == "late");
        CHECK(client.next()["audit"]["event"] == "release");

        client.send(R"({"id":3,"op":"unsubscribe","subscription":2})");
        const auto unsubscribed = client.next();
        CHECK(unsubscribed["id"] == 3);
        CHECK(unsubscribed["ok"] == true);
        REQUIRE(run_process(outsider, Millis(20'000)).status() == 0);
        CHECK(client.next(Millis(500)).is_null());  // nothing more for the closed subscription
        client.send(R"({"id":4,"op":"unsubscribe","subscription":2})");
        CHECK(client.next()["error"]["code"] == "not_found");
    }

}  // TEST_SUITE

}  // namespace lokt::daemon_test
