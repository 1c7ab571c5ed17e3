// `lokt unreserve GLOB... | --all [--force] [--json]`: end this owner's
// reservations (or, with --force, anyone's: for a person clearing a stuck one).
#include <memory>

#include "client/commands/commands.hpp"
#include "client/reservation_views.hpp"
#include "common/hold_state.hpp"

namespace lokt::client {
namespace {

struct UnreserveFlags {
    std::vector<std::string> globs;
    bool all = false;
    bool force = false;
    bool json = false;
};

int run_unreserve(CliContext& cli, const UnreserveFlags& flags) {
    auto fail = [&](const Error& error) { return flags.json ? report_json(error) : report(error); };
    if (flags.globs.empty() && !flags.all) return fail(make_error(ErrorCode::usage, "give the globs to unreserve, or --all"));
    if (!flags.globs.empty() && flags.all) return fail(make_error(ErrorCode::usage, "give globs or --all, not both"));
    for (const auto& glob : flags.globs) {
        if (auto parsed = PathGlob::parse(glob); !parsed) return fail(parsed.error());
    }
    UnreserveRequest request;
    request.globs = flags.globs;
    request.all = flags.all;
    request.force = flags.force;
    request.owner = cli.identity().owner;
    auto book = open_reservations(cli, false);
    if (!book) return fail(book.error());
    auto result = (*book)->unreserve(request);
    if (!result) return fail(result.error());

    const WallTime now = wall_now();
    int status = 0;
    std::string message;
    if (!result->others.empty()) {
        status = exit_code_for(ErrorCode::not_owner);
        message = "\"" + result->others.front().glob.text() + "\" is reserved by " +
                  describe_holder(result->others.front().holder, now) + ", not by " + request.owner +
                  "; a human may remove it with --force";
    } else if (!result->not_found.empty()) {
        status = exit_code_for(ErrorCode::not_found);
        message = "\"" + result->not_found.front() + "\" is not reserved";
    }
    if (flags.json) {
        JsonWriter out;
        out.begin_object();
        out.key("unreserved").begin_array();
        for (const auto& r : result->removed) write_reservation(out, r);
        out.end_array();
        out.key("not_found").begin_array();
        for (const auto& glob : result->not_found) out.value(glob);
        out.end_array();
        out.key("not_owner").begin_array();
        for (const auto& r : result->others) write_reservation(out, r);
        out.end_array();
        out.end_object();
        std::fputs(out.finish().c_str(), stdout);
    } else {
        for (const auto& r : result->removed) std::printf("unreserved %s\n", r.glob.text().c_str());
        if (flags.all && result->removed.empty()) std::printf("no reservations to remove\n");
    }
    if (!message.empty()) std::fprintf(stderr, "error: %s\n", message.c_str());
    return status;
}

}  // namespace

CommandSpec unreserve_command(CommandEnv env) {
    auto flags = std::make_shared<UnreserveFlags>();
    CommandSpec command{"unreserve", "End reservations of repository paths"};
    command.options.emplace_back();
    OptionSpec& globs = command.options.back();
    globs.names = "glob";
    globs.help = "Globs as reserved (src/auth and src/auth/** are the same)";
    globs.target = &flags->globs;
    command.flag("--all", flags->all, "Every reservation of this owner (with --force: of every owner)");
    command.flag("--force", flags->force, "Also another owner's reservation (for a person, not an agent)");
    command.flag("--json", flags->json, "Print JSON");
    command.footer = R"(Examples:
  lokt unreserve 'src/auth/**'
  lokt unreserve --all

Exit status: 0 done, 3 a glob is not reserved, 4 reserved by another owner
(a human may use --force), 1 error, 64 usage error.)";
    command.run = [env, flags] { *env.exit_status = run_unreserve(*env.cli, *flags); };
    return command;
}

}  // namespace lokt::client
