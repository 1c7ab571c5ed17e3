// `lokt version`: the client's version and build id and, if one answers, the
// daemon's, with a warning when the two differ.
#include <lokt/build_info.hpp>

#include "client/commands/commands.hpp"
#include "client/daemon_backend.hpp"

namespace lokt::client {

CommandSpec version_command(CommandEnv env) {
    CommandSpec command{"version", "Print the version and build id of lokt and of loktd if it runs"};
    command.footer = "Examples:\n  lokt version\n  lokt --version\n\nExit status: 0.";
    command.run = [env] {
        std::printf("lokt %s (build %s)\n", k_version, k_build_id);
        const char* mode = std::getenv("LOKT_DAEMON");
        if (mode == nullptr || std::string_view(mode) != "off") {
            const auto probe = probe_daemon(std::chrono::milliseconds(500));
            if (probe.hello) {
                const auto& hello = *probe.hello;
                std::printf("loktd %s (build %s, pid %d)\n", hello.daemon_version.c_str(),
                            hello.daemon_build.empty() ? "unknown" : hello.daemon_build.c_str(), hello.daemon_pid);
                if (hello.daemon_version != k_version || hello.daemon_build != k_build_id) {
                    warn("lokt and loktd differ; restart the daemon: lokt daemon stop && lokt daemon start");
                }
            }
        }
        *env.exit_status = 0;
    };
    return command;
}

}  // namespace lokt::client
