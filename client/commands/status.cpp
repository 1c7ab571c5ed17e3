// `lokt status [NAME] [--json] [--prune-expired]`: the holds and freezes of this
// root, or one lock in detail.
#include <algorithm>
#include <map>
#include <memory>

#include "commands.hpp"
#include "duration.hpp"
#include "json_views.hpp"
#include "lock_name.hpp"
#include "parallel_chunks.hpp"

namespace lokt::client {
namespace {

// "held", or "held (command)" when a guard's command carries the hold on
// without it; ", frozen" when a freeze blocks the name as well; "frozen" alone
// for a frozen name nobody holds.
std::string state_text(const LockView& view) {
    std::string text(shown_state(view));
    if (view.kept_by == "command") text += " (command)";
    if (view.freeze && view.state != HoldState::absent) text += ", frozen";
    return text;
}

// The rows of the table: every lock, with its freeze if any, and then the
// frozen names nobody holds (they cannot be taken either).
// (Without `with_unheld`: only the freezes of the locks, for --json's "locks".)
std::vector<LockView> rows_of(const std::vector<LockView>& locks, const std::vector<FreezeView>& freezes,
                              bool with_unheld = true) {
    std::vector<LockView> rows = locks;
    std::map<std::string_view, std::size_t> index;
    for (std::size_t i = 0; i < rows.size(); ++i) index.emplace(rows[i].name, i);
    std::vector<LockView> unheld;
    for (const auto& freeze : freezes) {
        if (auto held = index.find(freeze.name); held != index.end()) {
            rows[held->second].freeze = freeze.record;
            continue;
        }
        if (!with_unheld) continue;
        LockView frozen;
        frozen.name = freeze.name;
        frozen.freeze = freeze.record;
        unheld.push_back(std::move(frozen));
    }
    for (auto& view : unheld) rows.push_back(std::move(view));
    return rows;
}


struct StatusFlags {
    std::string name;
    bool has_name = false;  // given, even if empty
    bool json = false;
    bool prune_expired = false;
};

std::string expires_text(const LockRecord& record, WallTime now) {
    auto expiry = record.expiry();
    if (!expiry) return "-";
    if (*expiry <= now) return "expired";
    return format_duration(*expiry - now);
}

std::string holder_text(const LockView& view) {
    if (view.stored.kind == StoredRecord::Kind::record) return owner_at_host(view.stored.record.owner, view.stored.record.host);
    if (view.stored.kind == StoredRecord::Kind::being_written) return "(being written)";
    if (view.state == HoldState::absent) return "-";
    return "(corrupt: " + view.stored.problem + ")";
}

void print_table(const std::vector<LockView>& held, const std::vector<FreezeView>& freezes, WallTime now) {
    const std::vector<LockView> locks = rows_of(held, freezes);
    if (locks.empty()) {
        std::printf("no locks held\n");
    } else {
        std::size_t name_width = 4, holder_width = 6;
        for (const auto& view : locks) {
            name_width = std::max(name_width, view.name.size());
            holder_width = std::max(holder_width, holder_text(view).size());
        }
        std::string out;
        out.reserve(locks.size() * 96);
        char line[1024];
        std::snprintf(line, sizeof line, "%-*s  %-*s  %8s  %9s  %10s  %s\n", int(name_width), "NAME", int(holder_width),
                      "HOLDER", "PID", "AGE", "EXPIRES IN", "STATE");
        out += line;
        for (const auto& view : locks) {
            const bool has_record = view.stored.kind == StoredRecord::Kind::record;
            const LockRecord& r = view.stored.record;
            std::snprintf(line, sizeof line, "%-*s  %-*s  %8s  %9s  %10s  %s\n", int(name_width), view.name.c_str(),
                          int(holder_width), holder_text(view).c_str(), has_record ? std::to_string(r.pid).c_str() : "-",
                          has_record ? format_duration(now - r.acquired).c_str() : "-",
                          has_record ? expires_text(r, now).c_str() : "-", state_text(view).c_str());
            out += line;
        }
        std::fwrite(out.data(), 1, out.size(), stdout);
    }
    for (const auto& freeze : freezes) {
        std::printf("frozen: %s by %s until %s\n", freeze.name.c_str(),
                    owner_at_host(freeze.record.owner, freeze.record.host).c_str(),
                    freeze.record.expiry() ? format_rfc3339_seconds(*freeze.record.expiry()).c_str() : "lifted");
    }
}

void print_detail(const LockView& view, const QueueView& queue, WallTime now) {
    std::printf("lock \"%s\": %s\n", view.name.c_str(), state_text(view).c_str());
    if (view.stored.kind == StoredRecord::Kind::record) {
        const LockRecord& r = view.stored.record;
        std::printf("  holder:    %s (pid %lld, agent %s)\n", owner_at_host(r.owner, r.host).c_str(),
                    static_cast<long long>(r.pid), r.agent_id.c_str());
        std::printf("  lock id:   %s\n", r.lock_id.c_str());
        std::printf("  acquired:  %s (%s ago)\n", format_rfc3339_seconds(r.acquired).c_str(),
                    format_duration(now - r.acquired).c_str());
        if (auto expiry = r.expiry()) {
            std::printf("  expires:   %s (in %s, ttl %llds)\n", format_rfc3339_seconds(*expiry).c_str(),
                        expires_text(r, now).c_str(), static_cast<long long>(r.ttl_sec));
        }
        if (view.kept_by == "command") {
            std::printf("  kept by:   its command's processes (the guard, pid %lld, is gone)\n", static_cast<long long>(r.pid));
        }
        if (r.bound_to) {
            const char* rule = *r.bound_to == Binding::guard ? "the guard and its command"
                               : *r.bound_to == Binding::ttl ? "its TTL (until unlock or expiry)"
                                                             : "the process that ran lokt lock";
            std::printf("  bound to:  %s\n", rule);
        }
        if (r.fence) std::printf("  fence:     %llu\n", static_cast<unsigned long long>(*r.fence));
    } else if (!view.stored.problem.empty()) {
        std::printf("  problem:   %s\n", view.stored.problem.c_str());
    }
    if (view.freeze) {
        std::printf("  frozen:    by %s until %s\n", owner_at_host(view.freeze->owner, view.freeze->host).c_str(),
                    format_rfc3339_seconds(*view.freeze->expiry()).c_str());
    }
    if (!queue.known) {
        std::printf("  waiting:   not known (no daemon: waiters poll the files, nobody keeps a queue)\n");
    } else if (queue.waiters.empty()) {
        std::printf("  waiting:   nobody\n");
    } else {
        std::printf("  waiting:   %zu in the daemon's queue\n", queue.waiters.size());
        for (const auto& waiter : queue.waiters) {
            std::printf("    %zu. %s\n", waiter.position, describe_waiter(waiter).c_str());
        }
    }
}

// The members of the "locks" array (depth 2): with thousands of locks, pieces
// are formatted on all cores and written out in order.
void write_lock_views(JsonWriter& out, const std::vector<LockView>& locks, WallTime now) {
    constexpr std::size_t k_min_parallel = 1024;
    constexpr std::size_t k_bytes_per_lock = 640;
    std::vector<std::string> pieces(chunk_count(locks.size(), k_min_parallel));
    for_each_chunk(locks.size(), k_min_parallel, [&](std::size_t chunk, std::size_t begin, std::size_t end) {
        JsonWriter piece = JsonWriter::piece(2, begin > 0);
        // A lock object is a few hundred bytes: room for all at once, instead
        // of growing (and copying into fresh pages) a dozen times.
        piece.text().reserve((end - begin) * k_bytes_per_lock);
        for (std::size_t i = begin; i < end; ++i) write_lock_view(piece, locks[i], now);
        pieces[chunk] = std::move(piece.text());
    });
    out.flush_to_stdout();
    for (const auto& piece : pieces) std::fwrite(piece.data(), 1, piece.size(), stdout);
    if (!locks.empty()) out.mark_has_members();
}

int run_status(CliContext& cli, const StatusFlags& flags) {
    auto fail = [&](const Error& error) { return flags.json ? report_json(error) : report(error); };
    auto backend = cli.backend(true);
    if (!backend) return fail(backend.error());
    const WallTime now = wall_now();

    if (flags.has_name) {
        if (auto valid = validate_lock_name(flags.name); !valid) return fail(valid.error());
        auto view = (*backend)->inspect(flags.name);
        if (!view) return fail(view.error());
        if (view->state == HoldState::absent && !view->freeze) {
            return fail(make_error(ErrorCode::not_found, "lock \"" + flags.name + "\" is not held"));
        }
        auto queue = (*backend)->queue(flags.name);
        if (!queue) return fail(queue.error());
        if (flags.json) {
            JsonWriter out;
            out.begin_object();
            write_lock_view_members(out, *view, now);
            write_queue_members(out, *queue);
            out.end_object();
            std::fputs(out.finish().c_str(), stdout);
        } else {
            print_detail(*view, *queue, now);
        }
        return 0;
    }

    auto locks = (*backend)->list(flags.prune_expired);
    if (!locks) return fail(locks.error());
    auto freezes = (*backend)->list_freezes();
    if (!freezes) return fail(freezes.error());
    if (flags.json) {
        JsonWriter out;
        out.begin_object();
        out.field("root", (*backend)->store().root().string());
        out.key("locks").begin_array();
        write_lock_views(out, freezes->empty() ? *locks : rows_of(*locks, *freezes, false), now);
        out.end_array();
        out.key("freezes").begin_array();
        for (const auto& freeze : *freezes) write_freeze(out, freeze.name, freeze.record);
        out.end_array();
        out.end_object();
        const std::string text = out.finish();
        std::fwrite(text.data(), 1, text.size(), stdout);
    } else {
        print_table(*locks, *freezes, now);
    }
    return 0;
}

}  // namespace

CommandSpec status_command(CommandEnv env) {
    auto flags = std::make_shared<StatusFlags>();
    CommandSpec command{"status", "List held locks and freezes, or show one lock"};
    command.option("name", flags->name, "Show only this lock, in detail").record_given(flags->has_name);
    command.flag("--json", flags->json, "Print JSON");
    command.flag("--prune-expired", flags->prune_expired, "Remove expired and dead holders' locks first");
    command.footer = R"(Examples:
  lokt status
  lokt status build
  lokt status --json | jq -r '.locks[].name'

Exit status: 0 success, 3 the named lock is not held, 1 error, 64 usage error.)";
    command.run = [env, flags] { *env.exit_status = run_status(*env.cli, *flags); };
    return command;
}

}  // namespace lokt::client
