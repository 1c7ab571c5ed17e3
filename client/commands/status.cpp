// `lokt status [NAME] [--json] [--prune-expired]`: the holds and freezes of this
// root, or one lock in detail.
#include <algorithm>
#include <map>
#include <memory>

#include "client/commands/commands.hpp"
#include "client/json_views.hpp"
#include "client/pool_view.hpp"
#include "client/reservation_views.hpp"
#include "client/terminal_screen.hpp"
#include "client/top_snapshot.hpp"
#include "common/duration.hpp"
#include "common/lock_name.hpp"
#include "common/parallel_chunks.hpp"
#include "common/platform/huge_pages.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

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

// Puts each freeze on the lock of its name, in place, and returns the frozen
// names nobody holds (rows of their own in the table: they cannot be taken
// either). In place, because a copy of 100,000 views is most of the cost of
// listing them.
std::vector<LockView> attach_freezes(std::vector<LockView>& locks, const std::vector<FreezeView>& freezes) {
    std::vector<LockView> unheld;
    if (freezes.empty()) return unheld;
    std::map<std::string_view, std::size_t> index;
    for (std::size_t i = 0; i < locks.size(); ++i) index.emplace(locks[i].name, i);
    for (const auto& freeze : freezes) {
        if (auto held = index.find(freeze.name); held != index.end()) {
            locks[held->second].freeze = freeze.record;
            continue;
        }
        LockView frozen;
        frozen.name = freeze.name;
        frozen.freeze = freeze.record;
        unheld.push_back(std::move(frozen));
    }
    return unheld;
}

struct StatusFlags {
    std::string name;
    bool has_name = false;  // given, even if empty
    bool json = false;
    bool prune_expired = false;
    bool watch = false;
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

// The table's text, one row per lock and then the frozen names nobody holds,
// built in one buffer and written at once.
void print_table(std::vector<LockView>& held, const std::vector<FreezeView>& freezes, WallTime now) {
    const std::vector<LockView> unheld = attach_freezes(held, freezes);
    const std::size_t rows = held.size() + unheld.size();
    auto row = [&](std::size_t i) -> const LockView& { return i < held.size() ? held[i] : unheld[i - held.size()]; };
    if (rows == 0) {
        std::printf("no locks held\n");
    } else {
        std::vector<std::string> holders(rows);
        std::size_t name_width = 4, holder_width = 6;
        for (std::size_t i = 0; i < rows; ++i) {
            holders[i] = holder_text(row(i));
            name_width = std::max(name_width, row(i).name.size());
            holder_width = std::max(holder_width, holders[i].size());
        }
        std::string out;
        out.reserve((rows + 1) * (name_width + holder_width + 48));
        platform::prefer_huge_pages(out.data(), out.capacity());
        char line[1024];
        std::snprintf(line, sizeof line, "%-*s  %-*s  %8s  %9s  %10s  %s\n", int(name_width), "NAME", int(holder_width), "HOLDER",
                      "PID", "AGE", "EXPIRES IN", "STATE");
        out += line;
        for (std::size_t i = 0; i < rows; ++i) {
            const LockView& view = row(i);
            const bool has_record = view.stored.kind == StoredRecord::Kind::record;
            const LockRecord& r = view.stored.record;
            std::snprintf(line, sizeof line, "%-*s  %-*s  %8s  %9s  %10s  %s\n", int(name_width), view.name.c_str(),
                          int(holder_width), holders[i].c_str(), has_record ? std::to_string(r.pid).c_str() : "-",
                          has_record ? format_duration(now - r.acquired).c_str() : "-",
                          has_record ? expires_text(r, now).c_str() : "-", state_text(view).c_str());
            out += line;
        }
        std::fwrite(out.data(), 1, out.size(), stdout);
    }
    for (const auto& view : held) {
        if (view.state != HoldState::live || !view.stored.record.is_shared()) continue;
        std::printf("shared: %s held by %s\n", view.name.c_str(),
                    describe_shared(view.stored.record, now, view.stored.record.host).c_str());
    }
    for (const auto& pool : pools_among(held)) {
        std::printf("pool: %s %zu/%llu held: %s\n", pool.name.c_str(), pool.held_count(),
                    static_cast<unsigned long long>(pool.slots), describe_slots(pool, now).c_str());
    }
    for (const auto& freeze : freezes) {
        std::printf("frozen: %s by %s until %s\n", freeze.name.c_str(),
                    owner_at_host(freeze.record.owner, freeze.record.host).c_str(),
                    freeze.record.expiry() ? format_rfc3339_seconds(*freeze.record.expiry()).c_str() : "lifted");
    }
}

// The "waiting:" lines of `status NAME`: the daemon's queue, or without one
// the waiters seen in waits/ (no queue order is kept there).
void print_waiting(const QueueView& queue, bool with_modes) {
    if (!queue.known && queue.waiters.empty()) {
        std::printf("  waiting:   not known (no daemon: waiters poll the files, nobody keeps a queue)\n");
        return;
    }
    if (queue.waiters.empty()) {
        std::printf("  waiting:   nobody\n");
        return;
    }
    if (queue.known) {
        std::printf("  waiting:   %zu in %s\n", queue.waiters.size(), queue.keeper.c_str());
    } else {
        std::printf("  waiting:   %zu seen in %s, oldest first (no daemon: nobody keeps a queue, the fastest wins)\n",
                    queue.waiters.size(), queue.keeper.c_str());
    }
    for (const auto& waiter : queue.waiters) {
        std::printf("    %zu. %s\n", waiter.position, describe_waiter(waiter, with_modes).c_str());
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
        if (r.slot) {
            std::printf("  pool:      slot %llu of %llu of pool \"%s\"\n", static_cast<unsigned long long>(*r.slot),
                        static_cast<unsigned long long>(r.slots.value_or(0)), r.pool.c_str());
        }
        if (r.is_shared()) {
            // The lines above describe the representative member; every member follows.
            std::printf("  mode:      shared, %zu %s\n", r.holders.size(), r.holders.size() == 1 ? "member" : "members");
            for (const LockRecord& member : r.holders) {
                std::printf("    %s, lock id %s", describe_holder(member, now).c_str(), member.lock_id.c_str());
                if (member.fence) std::printf(", fence %llu", static_cast<unsigned long long>(*member.fence));
                if (auto expiry = member.expiry()) std::printf(", expires in %s", expires_text(member, now).c_str());
                std::printf("\n");
            }
        }
    } else if (!view.stored.problem.empty()) {
        std::printf("  problem:   %s\n", view.stored.problem.c_str());
    }
    if (view.freeze) {
        std::printf("  frozen:    by %s until %s\n", owner_at_host(view.freeze->owner, view.freeze->host).c_str(),
                    format_rfc3339_seconds(*view.freeze->expiry()).c_str());
    }
    print_waiting(queue,
                  queue_shows_modes(queue, view.stored.kind == StoredRecord::Kind::record ? &view.stored.record : nullptr));
}

// `status POOL`: how many of its slots are held, each holder with its slot, and who waits.
void print_pool(const PoolView& pool, const QueueView& queue, WallTime now, bool json) {
    if (json) {
        JsonWriter out;
        out.begin_object();
        out.field("name", pool.name);
        out.field("state", "held");
        out.field("slots", pool.slots);
        out.field("held", static_cast<std::uint64_t>(pool.held_count()));
        out.key("holders").begin_array();
        for (const auto& view : pool.held) write_lock_view(out, view, now);
        out.end_array();
        write_queue_members(out, queue);
        out.end_object();
        std::fputs(out.finish().c_str(), stdout);
        return;
    }
    std::printf("pool \"%s\": %zu/%llu held\n", pool.name.c_str(), pool.held_count(),
                static_cast<unsigned long long>(pool.slots));
    for (std::uint64_t k = 0; k < pool.slots; ++k) {
        const LockView* view = pool.slot(k);
        if (view == nullptr) {
            std::printf("  slot %llu:    free\n", static_cast<unsigned long long>(k));
            continue;
        }
        const LockRecord& r = view->stored.record;
        std::printf("  slot %llu:    %s, lock \"%s\"", static_cast<unsigned long long>(k),
                    describe_holder(r, now, view->kept_by).c_str(), view->name.c_str());
        if (r.fence) std::printf(", fence %llu", static_cast<unsigned long long>(*r.fence));
        std::printf("\n");
    }
    print_waiting(queue, false);
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
        platform::prefer_huge_pages(piece.text().data(), piece.text().capacity());
        for (std::size_t i = begin; i < end; ++i) write_lock_view(piece, locks[i], now);
        pieces[chunk] = std::move(piece.text());
    });
    out.flush_to_stdout();
    for (const auto& piece : pieces) std::fwrite(piece.data(), 1, piece.size(), stdout);
    if (!locks.empty()) out.mark_has_members();
}

// One listing of --watch in text: a header with the time, the table, then who
// waits for what (when a daemon keeps the queues).
std::string watch_text(const TopSnapshot& snapshot) {
    std::string out = "--- " + format_rfc3339_seconds(snapshot.taken) + "  " + std::to_string(snapshot.holds.size()) + " held, " +
                      (snapshot.queues_known ? std::to_string(snapshot.waiter_count()) : std::string("?")) + " waiting, " +
                      std::to_string(snapshot.freezes.size()) + " frozen ---\n";
    const WallTime now = snapshot.taken;
    if (snapshot.holds.empty()) {
        out += "no locks held\n";
    } else {
        std::size_t name_width = 4, holder_width = 6;
        auto holder = [](const TopHold& hold) {
            return hold.record ? owner_at_host(hold.record->owner, hold.record->host) : std::string("-");
        };
        for (const auto& hold : snapshot.holds) {
            name_width = std::max(name_width, hold.name.size());
            holder_width = std::max(holder_width, holder(hold).size());
        }
        char line[1024];
        std::snprintf(line, sizeof line, "%-*s  %-*s  %8s  %9s  %10s  %s\n", int(name_width), "NAME", int(holder_width), "HOLDER",
                      "PID", "AGE", "EXPIRES IN", "STATE");
        out += line;
        for (const auto& hold : snapshot.holds) {
            std::string state = hold.state + (hold.frozen ? ", frozen" : "");
            std::snprintf(line, sizeof line, "%-*s  %-*s  %8s  %9s  %10s  %s\n", int(name_width), hold.name.c_str(),
                          int(holder_width), holder(hold).c_str(), hold.record ? std::to_string(hold.record->pid).c_str() : "-",
                          hold.record ? format_duration(now - hold.record->acquired).c_str() : "-",
                          hold.record ? expires_text(*hold.record, now).c_str() : "-", state.c_str());
            out += line;
        }
    }
    for (const auto& freeze : snapshot.freezes) {
        out += "frozen: " + freeze.name + " by " + owner_at_host(freeze.record.owner, freeze.record.host) + " until " +
               (freeze.record.expiry() ? format_rfc3339_seconds(*freeze.record.expiry()) : std::string("lifted")) + "\n";
    }
    auto waiting = [&](const std::string& name, const std::vector<TopWaiter>& waiters) {
        for (const auto& waiter : waiters) {
            out += "waiting: " + name + " " + std::to_string(waiter.position) + ". " +
                   describe_waiter(QueuedWaiter{waiter.position, waiter.who, now - waiter.since, {}}) + "\n";
        }
    };
    for (const auto& hold : snapshot.holds) waiting(hold.name, hold.waiters);
    for (const auto& freeze : snapshot.freezes) waiting(freeze.name, freeze.waiters);
    return out;
}

bool write_out(const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(STDOUT_FILENO, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

// --watch: the listing again whenever it changes, until ^C, SIGTERM or the
// reader goes away (all exit 0).
int run_watch(CliContext& cli, const StatusFlags& flags) {
    auto fail = [&](const Error& error) { return flags.json ? report_json_line(error) : report(error); };
    auto backend = cli.backend(true);
    if (!backend) return fail(backend.error());
    auto feed = (*backend)->watch_changes();
    if (!feed) return fail(feed.error());
    auto signals = SignalInbox::open(false);
    if (!signals) return fail(signals.error());
    std::signal(SIGPIPE, SIG_IGN);  // a closed pipe is a failed write, which ends the watch
    SnapshotOptions options;
    options.local_host = cli.identity().host;
    options.max_events = flags.json ? 5 : 0;
    using Clock = std::chrono::steady_clock;
    constexpr std::chrono::milliseconds k_min_gap{100};  // a burst of events is one listing
    std::string shown;
    bool due = true;
    Clock::time_point last = Clock::now() - k_min_gap;
    for (;;) {
        const auto now = Clock::now();
        const auto reread = (*feed)->reread_every();
        if (reread.count() > 0 && now - last >= reread) due = true;
        if (due && now - last >= k_min_gap) {
            due = false;
            last = now;
            auto snapshot = take_top_snapshot(**backend, options);
            if (!snapshot) return fail(snapshot.error());
            std::string signature = snapshot_signature(*snapshot);
            if (signature != shown) {
                shown = std::move(signature);
                std::string text;
                if (flags.json) {
                    JsonWriter out = JsonWriter::compact();
                    write_top_snapshot(out, *snapshot);
                    text = out.finish();
                } else {
                    text = watch_text(*snapshot);
                }
                if (!write_out(text)) return 0;
            }
        }
        long wait = -1;
        if (due) wait = std::chrono::duration_cast<std::chrono::milliseconds>(k_min_gap - (now - last)).count();
        if (reread.count() > 0) {
            const long left = std::chrono::duration_cast<std::chrono::milliseconds>(reread - (now - last)).count();
            wait = wait < 0 ? left : std::min(wait, left);
        }
        if (wait >= 0) wait = std::max(wait, 1L);
        struct pollfd fds[3] = {{signals->fd(), POLLIN, 0}, {(*feed)->fd(), POLLIN, 0}, {STDOUT_FILENO, 0, 0}};
        const int ready = ::poll(fds, 3, static_cast<int>(wait));
        if (ready <= 0) continue;
        if (!signals->take().empty()) return 0;
        if ((fds[2].revents & (POLLERR | POLLHUP)) != 0) return 0;  // a pipe whose reader left
        if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0 && (*feed)->drain()) due = true;
    }
}

int run_status(CliContext& cli, const StatusFlags& flags) {
    if (flags.watch) {
        if (flags.has_name) return report(make_error(ErrorCode::usage, "--watch lists every lock: give no name"));
        if (flags.prune_expired) return report(make_error(ErrorCode::usage, "--watch does not prune: drop --prune-expired"));
        return run_watch(cli, flags);
    }
    auto fail = [&](const Error& error) { return flags.json ? report_json(error) : report(error); };
    auto backend = cli.backend(true);
    if (!backend) return fail(backend.error());
    const WallTime now = wall_now();

    if (flags.has_name) {
        if (auto valid = validate_lock_name(flags.name); !valid) return fail(valid.error());
        auto view = (*backend)->inspect(flags.name);
        if (!view) return fail(view.error());
        if (view->state == HoldState::absent && !view->freeze) {
            auto pool = inspect_pool(**backend, flags.name);
            if (!pool) return fail(pool.error());
            if (*pool) {
                auto queue = (*backend)->queue(flags.name);
                if (!queue) return fail(queue.error());
                print_pool(**pool, *queue, now, flags.json);
                return 0;
            }
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
    // Path reservations live beside the locks; a table that cannot be read
    // does not hide the locks.
    std::vector<Reservation> reservations;
    if (auto book = open_reservations(cli, true); book) {
        if (auto listed = (*book)->list(); listed) {
            reservations = std::move(*listed);
        } else {
            warn("reservations: " + listed.error().message);
        }
    }
    if (flags.json) {
        JsonWriter out;
        out.begin_object();
        out.field("root", (*backend)->root());
        out.key("locks").begin_array();
        attach_freezes(*locks, *freezes);  // --json's "locks" lists held names only
        write_lock_views(out, *locks, now);
        out.end_array();
        out.key("freezes").begin_array();
        for (const auto& freeze : *freezes) write_freeze(out, freeze.name, freeze.record);
        out.end_array();
        out.key("reservations").begin_array();
        for (const auto& reservation : reservations) write_reservation(out, reservation);
        out.end_array();
        out.end_object();
        const std::string text = out.finish();
        std::fwrite(text.data(), 1, text.size(), stdout);
    } else {
        print_table(*locks, *freezes, now);
        for (const auto& reservation : reservations) std::printf("reserved: %s\n", reservation_text(reservation, now).c_str());
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
    command.flag("--watch", flags->watch,
                 "Print the listing again whenever it changes (with --json: lokt top's snapshot, one JSON object a line)");
    command.footer = R"(Examples:
  lokt status
  lokt status build
  lokt status --json | jq -r '.locks[].name'
  lokt status --watch
  lokt status --watch --json | jq -c '[.held[].name]'

--watch follows loktd's events (or the files, read again every 2s without a
daemon) until ^C, SIGTERM or a closed pipe, which all end it with status 0.

Exit status: 0 success, 3 the named lock is not held, 1 error, 64 usage error.)";
    command.run = [env, flags] { *env.exit_status = run_status(*env.cli, *flags); };
    return command;
}

}  // namespace lokt::client
