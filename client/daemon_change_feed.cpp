// See daemon_change_feed.hpp.
#include "client/daemon_change_feed.hpp"

namespace lokt::client {
namespace {

constexpr Millis k_connect_timeout{5'000};

class DaemonChangeFeed final : public ChangeFeed {
public:
    DaemonChangeFeed(DaemonConnection connection, std::uint64_t subscription, std::unique_ptr<ChangeFeed> files)
        : m_connection(std::move(connection)), m_subscription(subscription), m_files(std::move(files)) {}

    int fd() const override { return m_connection.alive() ? m_connection.fd() : m_files->fd(); }
    bool drain() override {
        if (!m_connection.alive()) return m_files->drain();
        auto lines = m_connection.read_audit_lines(m_subscription);
        // Gone: the files tell what happens from now on, and what changed
        // while we were not looking.
        if (!lines) return true;
        return *lines > 0;
    }
    std::string_view source() const override { return m_connection.alive() ? "daemon events" : m_files->source(); }
    std::chrono::milliseconds reread_every() const override {
        return m_connection.alive() ? std::chrono::milliseconds(0) : m_files->reread_every();
    }

private:
    DaemonConnection m_connection;
    std::uint64_t m_subscription = 0;
    std::unique_ptr<ChangeFeed> m_files;
};

}  // namespace

Result<std::unique_ptr<ChangeFeed>> follow_daemon_changes(const std::filesystem::path& socket, const std::string& root,
                                                          std::unique_ptr<ChangeFeed> files) {
    auto connection = DaemonConnection::open(socket, k_connect_timeout);
    if (!connection) return connection.take_error();
    protocol::SubscribeAuditRequest request;
    request.root = root;
    auto subscription = connection->start_audit_subscription(std::move(request));
    if (!subscription) return subscription.take_error();
    return std::unique_ptr<ChangeFeed>(
        std::make_unique<DaemonChangeFeed>(std::move(connection.value()), *subscription, std::move(files)));
}

}  // namespace lokt::client
