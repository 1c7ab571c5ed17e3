// See backend_factory.hpp. LOKT_DAEMON decides: off (the files only), auto (the
// default: the daemon if it answers hello quickly, else the files) or require
// (the daemon, or exit 1 saying why not).
#include "backend_factory.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "daemon_backend.hpp"
#include "file_backend.hpp"
#include "socket_location.hpp"

namespace lokt::client {
namespace {

// A daemon that has not said hello by then is treated as absent.
constexpr Millis k_auto_hello_timeout{1000};
constexpr Millis k_require_hello_timeout{5000};

}  // namespace

Result<std::unique_ptr<Backend>> make_backend(const LockRoot& root, const Identity& identity, bool read_only,
                                              bool verbose) {
    std::string mode = "auto";
    if (const char* value = std::getenv("LOKT_DAEMON"); value != nullptr && *value != '\0') mode = value;
    if (mode != "auto" && mode != "off" && mode != "require") {
        return make_error(ErrorCode::usage, "LOKT_DAEMON must be auto, off or require, not \"" + mode + "\"");
    }
    auto store = LockStore::open(root.path, read_only ? LockStore::Mode::read_only : LockStore::Mode::create);
    if (!store) return store.take_error();
    LockEngine engine(std::move(store.value()), identity);
    if (mode != "off") {
        const auto socket = protocol::default_socket_path();
        auto connection = DaemonConnection::open(socket, mode == "require" ? k_require_hello_timeout : k_auto_hello_timeout);
        if (connection) {
            if (verbose) {
                std::fprintf(stderr, "lokt: backend daemon (loktd %s, pid %d, socket %s)\n",
                             connection->hello().daemon_version.c_str(), connection->hello().daemon_pid, socket.c_str());
            }
            return std::unique_ptr<Backend>(std::make_unique<DaemonBackend>(std::move(connection.value()), std::move(engine)));
        }
        if (mode == "require") {
            Error error = connection.take_error();
            error.message = "LOKT_DAEMON=require: " + error.message + " (start it with 'lokt daemon start')";
            if (error.code == ErrorCode::usage) error.code = ErrorCode::unavailable;
            if (exit_code_for(error.code) != 1) error.code = ErrorCode::unavailable;
            return error;
        }
        if (verbose) std::fprintf(stderr, "lokt: no daemon (%s)\n", connection.error().message.c_str());
    }
    if (verbose) std::fprintf(stderr, "lokt: backend files\n");
    return std::unique_ptr<Backend>(std::make_unique<FileBackend>(std::move(engine)));
}

}  // namespace lokt::client
