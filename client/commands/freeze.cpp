// `lokt freeze NAME --ttl D [--force]`: block every guard and lock of NAME for D.
// A TTL is required, so a forgotten freeze cannot block agents forever. A
// freeze belongs to whoever set it: they may extend or shorten it, anyone else
// needs --force to replace it.
#include <memory>

#include "client/commands/commands.hpp"
#include "common/lock_name.hpp"

namespace lokt::client {
namespace {

struct FreezeFlags {
    std::string name;
    std::string ttl;
    bool force = false;
};

int run_freeze(CliContext& cli, const FreezeFlags& flags) {
    if (auto valid = validate_lock_name(flags.name); !valid) return report(valid.error());
    if (flags.ttl.empty()) return report(make_error(ErrorCode::usage, "freeze needs --ttl: a freeze must end by itself"));
    auto ttl = parse_ttl(flags.ttl, "--ttl");
    if (!ttl) return report(ttl.error());
    auto backend = cli.backend(false);
    if (!backend) return report(backend.error());
    auto frozen = (*backend)->freeze(flags.name, *ttl, flags.force);
    if (!frozen) return report(frozen.error());
    std::printf("lock \"%s\" frozen until %s\n", flags.name.c_str(), format_rfc3339_seconds(*frozen->expiry()).c_str());
    return 0;
}

}  // namespace

CommandSpec freeze_command(CommandEnv env) {
    auto flags = std::make_shared<FreezeFlags>();
    CommandSpec command{"freeze", "Block every guard and lock of a name for a while"};
    command.option("name", flags->name, "Lock name").required();
    command.option("--ttl", flags->ttl, "How long the freeze lasts (required)");
    command.flag("--force", flags->force, "Replace someone else's freeze (break-glass)");
    command.footer = R"(Example:
  lokt freeze deploy --ttl 30m           no guard or lock of deploy for 30 minutes

  lokt freeze deploy --ttl 2h --force    replace a freeze someone else set (a human's call)

Exit status: 0 frozen, 2 already frozen by someone else, 1 error, 64 usage error.)";
    command.run = [env, flags] { *env.exit_status = run_freeze(*env.cli, *flags); };
    return command;
}

}  // namespace lokt::client
