// See backend_factory.hpp. LOKT_BACKEND=etcd (or .lokt.toml) picks etcd;
// otherwise LOKT_DAEMON decides: off (the files only), auto (the
// default: the daemon if it answers hello quickly, else the files) or require
// (the daemon, or exit 1 saying why not).
#include "client/backend_factory.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "client/daemon_backend.hpp"
#include "client/etcd_backend.hpp"
#include "client/file_backend.hpp"
#include "client/tls_twin.hpp"
#include "protocol/socket_location.hpp"

namespace lokt::client {
Result<std::string> daemon_mode() {
    std::string mode = "auto";
    if (const char* value = std::getenv("LOKT_DAEMON"); value != nullptr && *value != '\0') mode = value;
    if (mode != "auto" && mode != "off" && mode != "require") {
        return make_error(ErrorCode::usage, "LOKT_DAEMON must be auto, off or require, not \"" + mode + "\"");
    }
    return mode;
}

bool backend_is_remote() {
    std::error_code ec;
    auto etcd = etcd_settings(std::filesystem::current_path(ec));
    return !etcd || etcd->has_value();  // a bad setting: let the backend report it
}

Result<std::unique_ptr<Backend>> make_backend(const LockRoot& root, const Identity& identity, bool read_only, bool verbose) {
    // A bad LOKT_DAEMON fails every command, whichever backend would run it.
    auto chosen = daemon_mode();
    if (!chosen) return chosen.take_error();
    // etcd, when LOKT_BACKEND or the repository's .lokt.toml asks for it.
    std::error_code ec;
    auto etcd = etcd_settings(std::filesystem::current_path(ec));
    if (!etcd) return etcd.take_error();
    if (*etcd) {
        for (const auto& endpoint : (*etcd)->client.endpoints) {
            if (endpoint.tls && !has_tls()) return hand_over_to_tls_twin("etcd at " + endpoint.text + " needs TLS");
        }
        if (verbose) {
            std::fprintf(stderr, "lokt: backend etcd (%s, namespace %s from %s)\n", (*etcd)->endpoints.c_str(),
                         (*etcd)->name_space.c_str(), (*etcd)->name_space_source.c_str());
        }
        // A guard's holds go on the local loktd's lease when one answers
        // (it deletes them the moment the guard goes); else on our own.
        std::optional<DaemonConnection> daemon;
        if (*chosen != "off") {
            const auto socket = protocol::default_socket_path();
            auto connection =
                DaemonConnection::connect(socket, *chosen == "require" ? k_require_hello_timeout : k_auto_hello_timeout);
            if (connection) {
                if (verbose) std::fprintf(stderr, "lokt: a guard's etcd lease from loktd (socket %s)\n", socket.c_str());
                daemon = std::move(connection.value());
            } else if (*chosen == "require") {
                return daemon_required_error(connection.take_error());
            } else if (verbose) {
                std::fprintf(stderr, "lokt: no daemon (%s): etcd leases of our own\n", connection.error().message.c_str());
            }
        }
        return std::unique_ptr<Backend>(
            std::make_unique<EtcdBackend>(std::move(**etcd), identity, std::move(daemon), *chosen == "require"));
    }
    const std::string mode = *chosen;
    auto store = LockStore::open(root.path, read_only ? LockStore::Mode::read_only : LockStore::Mode::create);
    if (!store) return store.take_error();
    LockEngine engine(std::move(store.value()), identity);
    if (mode != "off") {
        const auto socket = protocol::default_socket_path();
        // The hello's reply is read with the first request's (see DaemonConnection),
        // unless it is shown here.
        auto connection = DaemonConnection::connect(socket, mode == "require" ? k_require_hello_timeout : k_auto_hello_timeout);
        if (connection && verbose) {
            if (auto done = connection->finish_hello(); !done) connection = done.take_error();
        }
        if (connection) {
            if (verbose) {
                std::fprintf(stderr, "lokt: backend daemon (loktd %s, pid %d, socket %s)\n",
                             connection->hello().daemon_version.c_str(), connection->hello().daemon_pid, socket.c_str());
            }
            return std::unique_ptr<Backend>(
                std::make_unique<DaemonBackend>(std::move(connection.value()), std::move(engine), mode == "require"));
        }
        if (mode == "require") return daemon_required_error(connection.take_error());
        if (verbose) std::fprintf(stderr, "lokt: no daemon (%s)\n", connection.error().message.c_str());
    }
    if (verbose) std::fprintf(stderr, "lokt: backend files\n");
    return std::unique_ptr<Backend>(std::make_unique<FileBackend>(std::move(engine)));
}

}  // namespace lokt::client
