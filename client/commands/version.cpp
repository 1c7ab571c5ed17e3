// `lokt version`: the client's version and build id.
#include <lokt/build_info.hpp>

#include "commands.hpp"

namespace lokt::client {

void add_version_command(CLI::App& app, CommandEnv env) {
    auto* command = app.add_subcommand("version", "Print the version and build id");
    command->callback([env] {
        std::printf("lokt %s (build %s)\n", k_version, k_build_id);
        *env.exit_status = 0;
    });
}

}  // namespace lokt::client
