// `lokt why NAME [--json]`: why NAME cannot be acquired now, and what to do.
// Exit 0 when an acquire would succeed, 2 when it would not.
#include <memory>

#include "client/commands/commands.hpp"
#include "client/json_views.hpp"
#include "client/lock_explanation.hpp"
#include "client/pool_view.hpp"
#include "common/duration.hpp"
#include "common/lock_name.hpp"

namespace lokt::client {
namespace {

struct WhyFlags {
    std::string name;
    bool json = false;
};

int run_why(CliContext& cli, const WhyFlags& flags) {
    auto fail = [&](const Error& error) { return flags.json ? report_json(error) : report(error); };
    if (auto valid = validate_lock_name(flags.name); !valid) return fail(valid.error());
    auto backend = cli.backend(true);
    if (!backend) return fail(backend.error());
    auto view = (*backend)->inspect(flags.name);
    if (!view) return fail(view.error());
    auto queue = (*backend)->queue(flags.name);
    if (!queue) return fail(queue.error());
    const WallTime now = wall_now();
    std::optional<PoolView> pool;
    if (view->state == HoldState::absent && !view->freeze) {
        auto found = inspect_pool(**backend, flags.name);
        if (!found) return fail(found.error());
        pool = std::move(found.value());
    }
    const Explanation e = pool ? explain_pool(*pool, *queue, now) : explain(*view, *queue, now, cli.identity());
    if (flags.json) {
        JsonWriter out;
        out.begin_object();
        out.field("name", flags.name);
        out.field("acquirable", e.acquirable);
        out.field("state", pool ? std::string_view(e.acquirable ? "free" : "held") : shown_state(*view));
        out.field("summary", e.summary);
        if (pool) {
            out.field("slots", pool->slots);
            out.key("holders").begin_array();
            for (const auto& held : pool->held) write_lock_record(out, held.stored.record);
            out.end_array();
        }
        if (view->stored.kind == StoredRecord::Kind::record) {
            out.key("holder");
            write_lock_record(out, view->stored.record);
        }
        if (view->freeze) {
            out.key("freeze");
            write_freeze(out, flags.name, *view->freeze);
            out.field("frozen_by", owner_at_host(view->freeze->owner, view->freeze->host));
            out.field("until", format_rfc3339(*view->freeze->expiry()));
        }
        write_queue_members(out, *queue);
        out.key("reasons").begin_array();
        for (const auto& reason : e.reasons) out.value(reason);
        out.end_array();
        out.key("suggestions").begin_array();
        for (const auto& suggestion : e.suggestions) out.value(suggestion);
        out.end_array();
        out.end_object();
        std::fputs(out.finish().c_str(), stdout);
    } else {
        std::printf("%s\n", e.summary.c_str());
        for (const auto& reason : e.reasons) std::printf("  because %s\n", reason.c_str());
        for (const auto& suggestion : e.suggestions) std::printf("  try: %s\n", suggestion.c_str());
    }
    return e.acquirable ? 0 : exit_code_for(ErrorCode::held);
}

}  // namespace

CommandSpec why_command(CommandEnv env) {
    auto flags = std::make_shared<WhyFlags>();
    CommandSpec command{"why", "Explain why a lock cannot be acquired now"};
    command.option("name", flags->name, "Lock name").required();
    command.flag("--json", flags->json,
                 "Print JSON: acquirable, state, holder, frozen_by, until, queue_known, waiters, reasons, ...");
    command.footer = R"(Examples:
  lokt why build
  lokt why build --json | jq .holder.owner

Exit status: 0 it could be acquired now, 2 it could not (held or frozen),
1 error, 64 usage error.)";
    command.run = [env, flags] { *env.exit_status = run_why(*env.cli, *flags); };
    return command;
}

}  // namespace lokt::client
