// `lokt exists NAME`: silent; exit 0 if held by a live holder, 3 if not.
#include <memory>

#include "client/commands/commands.hpp"
#include "common/lock_name.hpp"

namespace lokt::client {
namespace {

int run_exists(CliContext& cli, const std::string& name) {
    if (auto valid = validate_lock_name(name); !valid) return report(valid.error());
    auto backend = cli.backend(true);
    if (!backend) return report(backend.error());
    auto view = (*backend)->inspect(name);
    if (!view) return report(view.error());
    const bool held =
        view->state == HoldState::live || view->state == HoldState::being_written || view->state == HoldState::unsupported;
    return held ? 0 : exit_code_for(ErrorCode::not_found);
}

}  // namespace

CommandSpec exists_command(CommandEnv env) {
    auto name = std::make_shared<std::string>();
    CommandSpec command{"exists", "Exit 0 if a lock is held by a live holder, 3 if not (prints nothing)"};
    command.option("name", *name, "Lock name").required();
    command.footer = R"(Example:
  lokt exists deploy && echo "a deploy is running"

Exit status: 0 held by a live holder, 3 not held (or stale), 1 error, 64
usage error.)";
    command.run = [env, name] { *env.exit_status = run_exists(*env.cli, *name); };
    return command;
}

}  // namespace lokt::client
