// `lokt unfreeze NAME [--force]`: lift a freeze (someone else's only with --force).
#include <memory>

#include "client/commands/commands.hpp"
#include "common/lock_name.hpp"

namespace lokt::client {
namespace {

struct UnfreezeFlags {
    std::string name;
    bool force = false;
};

int run_unfreeze(CliContext& cli, const UnfreezeFlags& flags) {
    if (auto valid = validate_lock_name(flags.name); !valid) return report(valid.error());
    auto backend = cli.backend(true);
    if (!backend) return report(backend.error());
    auto lifted = (*backend)->unfreeze(flags.name, flags.force);
    if (!lifted) return report(lifted.error());
    std::printf("lock \"%s\" unfrozen\n", flags.name.c_str());
    return 0;
}

}  // namespace

CommandSpec unfreeze_command(CommandEnv env) {
    auto flags = std::make_shared<UnfreezeFlags>();
    CommandSpec command{"unfreeze", "Lift a freeze"};
    command.option("name", flags->name, "Lock name").required();
    command.flag("--force", flags->force, "Lift a freeze made by someone else");
    command.footer = R"(Examples:
  lokt unfreeze deploy
  lokt unfreeze deploy --force           lift someone else's freeze

Exit status: 0 lifted, 3 not frozen, 4 frozen by someone else, 1 error, 64
usage error.)";
    command.run = [env, flags] { *env.exit_status = run_unfreeze(*env.cli, *flags); };
    return command;
}

}  // namespace lokt::client
