// loktd: the per-user lock daemon. Parses its few options, sets up logging
// (stderr in the foreground, where journald and launchd capture it, or a
// rotating file), and runs the server until a signal, a shutdown request or
// the idle exit. One of the three places an exception is caught.

#include <sys/resource.h>

#include <algorithm>
#include <asio.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <lokt/build_info.hpp>
#include <string>

#include "common/duration.hpp"
#include "daemon/log.hpp"
#include "daemon/server.hpp"
#include "protocol/socket_location.hpp"

namespace {

constexpr const char* k_usage =
    "usage: loktd [--socket PATH] [--idle-exit DURATION] [--log-file PATH] [--log-level LEVEL]\n"
    "\n"
    "The per-user lokt daemon. It listens on $LOKT_SOCKET, else\n"
    "$XDG_RUNTIME_DIR/lokt/loktd.sock, else /tmp/lokt-$UID/loktd.sock, or on the\n"
    "socket systemd passes (LISTEN_FDS). Stop it with SIGTERM or 'lokt daemon stop';\n"
    "every lock stays valid on disk.\n"
    "\n"
    "  --socket PATH         listen here instead\n"
    "  --idle-exit DURATION  exit after this long with nothing held, queued or followed (default: never)\n"
    "  --log-file PATH       log to a rotating file instead of stderr\n"
    "  --log-level LEVEL     trace, debug, info (default), warn, error\n"
    "  --max-connections N   serve at most N connections at once (default 1024)\n"
    "  --version             print the version\n";

// Raises the soft descriptor limit to the hard one (the soft default of 1024
// is for programs that do not expect many files) and returns how many
// connections fit: each takes a socket and a timer, and the daemon keeps a
// few dozen descriptors of its own.
std::size_t fit_descriptor_limit(std::size_t wanted) {
    struct rlimit limit {};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return wanted;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
        ::getrlimit(RLIMIT_NOFILE, &limit);
    }
    constexpr rlim_t k_own_descriptors = 64;
    if (limit.rlim_cur == RLIM_INFINITY) return wanted;
    const rlim_t fits = limit.rlim_cur > k_own_descriptors ? (limit.rlim_cur - k_own_descriptors) / 2 : 1;
    return std::max<std::size_t>(1, std::min<std::size_t>(wanted, static_cast<std::size_t>(fits)));
}

int usage_error(const std::string& message) {
    std::fprintf(stderr, "loktd: error: %s\n%s", message.c_str(), k_usage);
    return 64;
}

int run(int argc, char** argv) {
    lokt::daemon::ServerOptions options;
    options.socket_path = lokt::protocol::default_socket_path();
    std::string log_file;
    std::string log_level = "info";
    if (const char* level = std::getenv("LOKT_LOG"); level != nullptr && *level != '\0') log_level = level;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        if (arg == "--help" || arg == "-h") {
            std::fputs(k_usage, stdout);
            return 0;
        } else if (arg == "--version") {
            std::printf("loktd %s (build %s)\n", lokt::k_version, lokt::k_build_id);
            return 0;
        } else if (arg == "--socket") {
            const char* path = value();
            if (path == nullptr || *path == '\0') return usage_error("--socket needs a path");
            options.socket_path = path;
        } else if (arg == "--idle-exit") {
            const char* text = value();
            if (text == nullptr) return usage_error("--idle-exit needs a duration");
            auto parsed = lokt::parse_duration(text);
            if (!parsed) return usage_error("--idle-exit: " + parsed.error().message);
            options.idle_exit = std::chrono::duration_cast<std::chrono::milliseconds>(*parsed);
        } else if (arg == "--max-connections") {
            const char* text = value();
            char* end = nullptr;
            const long long count = text == nullptr ? 0 : std::strtoll(text, &end, 10);
            if (text == nullptr || *text == '\0' || *end != '\0' || count < 1 || count > 1'000'000) {
                return usage_error("--max-connections needs a number from 1 to 1000000");
            }
            options.max_connections = static_cast<std::size_t>(count);
        } else if (arg == "--log-file") {
            const char* path = value();
            if (path == nullptr || *path == '\0') return usage_error("--log-file needs a path");
            log_file = path;
        } else if (arg == "--log-level") {
            const char* level = value();
            if (level == nullptr) return usage_error("--log-level needs a level");
            log_level = level;
        } else {
            return usage_error("unknown argument \"" + arg + "\"");
        }
    }
    if (!options.socket_path.is_absolute()) options.socket_path = std::filesystem::absolute(options.socket_path);
    options.max_connections = fit_descriptor_limit(options.max_connections);

    const auto level = lokt::daemon::log::parse_level(log_level);
    if (!level) return usage_error("--log-level: unknown level \"" + log_level + "\"");
    lokt::daemon::log::open(log_file.empty() ? std::nullopt : std::optional<std::filesystem::path>(log_file), *level);

    // A client that vanishes mid-write must not kill us.
    std::signal(SIGPIPE, SIG_IGN);

    asio::io_context io(1);
    lokt::daemon::Server server(io, options);
    if (auto opened = server.open(); !opened) {
        lokt::daemon::log::error("{}", opened.error().message);
        if (!log_file.empty()) std::fprintf(stderr, "loktd: error: %s\n", opened.error().message.c_str());
        return 1;
    }
    lokt::daemon::log::info("loktd {} (build {}) started", lokt::k_version, lokt::k_build_id);
    server.start();
    io.run();
    lokt::daemon::log::info("loktd stopped");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "loktd: error: internal: %s\n", error.what());
        return 1;
    }
}
