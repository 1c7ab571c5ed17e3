// `lokt reserve GLOB... [--ttl D] [--shared] [--wait [--timeout D]] [--json]`:
// claim repository paths for this owner, all globs or none; and
// `lokt reserve --check PATH... [--owner O] [--json]`: may this owner write
// these files now? (the question every edit hook asks).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>

#include "client/commands/commands.hpp"
#include "client/reservation_views.hpp"
#include "common/repo_path.hpp"
#include "common/reservation_wait.hpp"

namespace lokt::client {
namespace {

struct ReserveFlags {
    std::vector<std::string> words;  // globs, or paths with --check
    std::string ttl;
    bool shared = false;
    bool wait = false;
    std::string timeout;
    bool timeout_given = false;
    bool json = false;
    bool check = false;
    std::string owner;
    bool owner_given = false;
};

constexpr auto k_default_wait = std::chrono::minutes(10);
// A waiter wakes at a change of the table or a blocker's exit on this host, and
// looks again this often anyway (a holder on another host, a pid it missed).
constexpr auto k_reservation_relook = std::chrono::milliseconds(250);

void write_conflicts_json(const std::vector<ReservationConflict>& conflicts, const Error& error) {
    JsonWriter out;
    out.begin_object();
    out.key("error").begin_object();
    out.field("code", to_string(error.code));
    out.field("message", error.message);
    out.key("conflicts").begin_array();
    for (const auto& conflict : conflicts) {
        out.begin_object();
        out.field("glob", conflict.glob);
        out.key("holder");
        write_reservation(out, conflict.blocker);
        out.end_object();
    }
    out.end_array();
    out.end_object();
    out.end_object();
    std::fputs(out.finish().c_str(), stdout);
}

Error conflict_error(const std::vector<ReservationConflict>& conflicts, WallTime now) {
    const auto& first = conflicts.front();
    std::string message = "\"" + first.glob + "\" overlaps " + describe_reservation(first.blocker, now);
    if (conflicts.size() > 1) message += " (and " + std::to_string(conflicts.size() - 1) + " more)";
    return make_error(ErrorCode::held, message);
}

int run_reserve(CliContext& cli, const ReserveFlags& flags) {
    auto fail = [&](const Error& error) { return flags.json ? report_json(error) : report(error); };
    if (flags.words.empty()) return fail(make_error(ErrorCode::usage, "give at least one glob"));
    ReserveRequest request;
    request.globs = flags.words;
    request.mode = flags.shared ? ReservationMode::shared : ReservationMode::exclusive;
    if (!flags.ttl.empty()) {
        auto ttl = parse_ttl(flags.ttl, "--ttl");
        if (!ttl) return fail(ttl.error());
        request.ttl = *ttl;
    }
    // Without a TTL the reservation lasts as long as the shell or script
    // that ran lokt, as `lokt lock` does; with one, it lasts the TTL.
    request.binding = request.ttl ? Binding::ttl : Binding::process;
    request.holder = identity_for_process(cli.identity(), ::getppid());
    if (flags.timeout_given && !flags.wait) return fail(make_error(ErrorCode::usage, "--timeout needs --wait"));
    Nanoseconds wait_for = k_default_wait;
    if (flags.timeout_given) {
        auto timeout = parse_duration_flag(flags.timeout, "--timeout", Nanoseconds(0));
        if (!timeout) return fail(timeout.error());
        wait_for = *timeout;
    }
    for (const auto& glob : request.globs) {
        if (auto parsed = PathGlob::parse(glob); !parsed) return fail(parsed.error());
    }
    auto book = open_reservations(cli, false);
    if (!book) return fail(book.error());

    const auto deadline = std::chrono::steady_clock::now() + wait_for;
    UniqueFd feed;
    bool first = true;
    for (;;) {
        request.audit_denial = first;
        request.waiting = flags.wait;
        auto result = (*book)->reserve(request);
        if (!result) return fail(result.error());
        const WallTime now = wall_now();
        if (result->granted()) {
            if (flags.json) {
                JsonWriter out;
                out.begin_object();
                out.key("reserved").begin_array();
                for (const auto& r : result->reserved) write_reservation(out, r);
                out.end_array();
                out.end_object();
                std::fputs(out.finish().c_str(), stdout);
            } else {
                for (const auto& r : result->reserved) std::printf("reserved %s\n", reservation_text(r, now).c_str());
            }
            return 0;
        }
        Error error = conflict_error(result->conflicts, now);
        const bool out_of_time = std::chrono::steady_clock::now() >= deadline;
        if (!flags.wait || out_of_time) {
            if (out_of_time && flags.wait) {
                error.code = ErrorCode::timeout;
                error.message = "timed out waiting: " + error.message;
            }
            if (flags.json) {
                write_conflicts_json(result->conflicts, error);
                return report(error);
            }
            report(error);
            for (std::size_t i = 1; i < result->conflicts.size(); ++i) {
                std::fprintf(stderr, "  \"%s\" overlaps %s\n", result->conflicts[i].glob.c_str(),
                             describe_reservation(result->conflicts[i].blocker, now).c_str());
            }
            return exit_code_for(error.code);
        }
        if (first) {
            if (!flags.json && !cli.options().quiet) std::fprintf(stderr, "waiting: %s\n", error.message.c_str());
            feed = (*book)->open_change_feed();
            first = false;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        const int wait_ms = static_cast<int>(std::max<long>(1, std::min<long>(left.count(), k_reservation_relook.count())));
        await_reservation_change(**book, feed ? feed.get() : -1, result->conflicts, cli.identity().host, wait_ms);
    }
}

int run_check(CliContext& cli, const ReserveFlags& flags) {
    auto fail = [&](const Error& error) { return flags.json ? report_json(error) : report(error); };
    if (flags.words.empty()) return fail(make_error(ErrorCode::usage, "--check needs at least one path"));
    if (flags.shared || flags.wait || flags.timeout_given || !flags.ttl.empty()) {
        return fail(make_error(ErrorCode::usage, "--check takes only paths, --owner and --json"));
    }
    const std::string owner = flags.owner_given ? flags.owner : cli.identity().owner;
    if (owner.empty()) return fail(make_error(ErrorCode::usage, "--owner: empty owner"));
    std::error_code ec;
    const std::filesystem::path cwd = std::filesystem::current_path(ec);
    if (ec) return fail(make_error(ErrorCode::io, "cannot determine the current directory"));
    std::vector<std::string> repository_paths;
    std::vector<std::size_t> checked;  // which of the words are inside a work tree
    for (std::size_t i = 0; i < flags.words.size(); ++i) {
        if (flags.words[i].empty()) return fail(make_error(ErrorCode::usage, "an empty path"));
        if (auto path = repository_path_of(flags.words[i], cwd)) {
            repository_paths.push_back(*path);
            checked.push_back(i);
        }
    }
    auto book = open_reservations(cli, true);
    if (!book) return fail(book.error());
    auto checks = (*book)->check(owner, repository_paths);
    if (!checks) return fail(checks.error());
    const bool allowed = std::all_of(checks->begin(), checks->end(), [](const PathCheck& c) { return c.allowed(); });
    const WallTime now = wall_now();
    if (flags.json) {
        JsonWriter out;
        out.begin_object();
        out.field("owner", owner);
        out.field("allowed", allowed);
        out.key("paths").begin_array();
        std::size_t next = 0;
        for (std::size_t i = 0; i < flags.words.size(); ++i) {
            out.begin_object();
            out.field("given", flags.words[i]);
            const PathCheck* check = next < checked.size() && checked[next] == i ? &(*checks)[next++] : nullptr;
            out.key("path");
            if (check != nullptr)
                out.value(check->path);
            else
                out.null();
            out.field("allowed", check == nullptr || check->allowed());
            out.key("blockers").begin_array();
            if (check != nullptr) {
                for (const auto& blocker : check->blockers) write_reservation(out, blocker);
            }
            out.end_array();
            out.end_object();
        }
        out.end_array();
        out.end_object();
        std::fputs(out.finish().c_str(), stdout);
    } else {
        std::size_t next = 0;
        for (std::size_t i = 0; i < flags.words.size(); ++i) {
            const PathCheck* check = next < checked.size() && checked[next] == i ? &(*checks)[next++] : nullptr;
            if (check == nullptr) {
                std::printf("%s: free (outside the work tree)\n", flags.words[i].c_str());
            } else if (check->allowed()) {
                std::printf("%s: free\n", check->path.c_str());
            } else {
                for (const auto& blocker : check->blockers) {
                    std::printf("%s: reserved as %s\n", check->path.c_str(), reservation_text(blocker, now).c_str());
                }
            }
        }
    }
    return allowed ? 0 : exit_code_for(ErrorCode::held);
}

}  // namespace

CommandSpec reserve_command(CommandEnv env) {
    auto flags = std::make_shared<ReserveFlags>();
    CommandSpec command{"reserve", "Reserve repository paths (globs) for this owner, or check whether paths may be written"};
    command.options.emplace_back();
    OptionSpec& words = command.options.back();
    words.names = "glob";
    words.help = "Globs relative to the top of the work tree (src/auth/**, docs/*.md); paths with --check";
    words.target = &flags->words;
    command.option("--ttl", flags->ttl, "How long the reservation lasts (without: as long as the shell that ran lokt)");
    command.flag("--shared", flags->shared, "A shared reservation: other shared reservations of the same paths are allowed");
    command.flag("--wait", flags->wait, "Wait while another owner's reservation is in the way");
    command.option("--timeout", flags->timeout, "With --wait: give up after this long (default 10m)")
        .record_given(flags->timeout_given);
    command.flag("--check", flags->check, "Say whether the owner may write each PATH (exit 2 when one is reserved by another)");
    command.option("--owner", flags->owner, "With --check: ask for this owner (default: LOKT_OWNER, else the user)")
        .record_given(flags->owner_given);
    command.flag("--json", flags->json, "Print JSON");
    command.footer = R"(Examples:
  lokt reserve 'src/auth/**' --ttl 30m
  lokt reserve 'docs/**' --shared --ttl 1h
  lokt reserve 'src/db/**' --ttl 30m --wait --timeout 5m
  lokt reserve --check src/auth/login.c --json
  lokt unreserve 'src/auth/**'

Two reservations conflict when some path matches both globs, they are not
both --shared, and their owners (LOKT_OWNER) differ. Globs match whole paths
from the top of the work tree: `*` and `?` stay within a segment, `**` spans
segments, and a plain name or a trailing '/' covers everything under it.

Exit status: 0 reserved (--check: every path may be written), 2 another
owner's reservation is in the way (or --wait timed out), 1 error, 64 usage
error.)";
    command.run = [env, flags] { *env.exit_status = flags->check ? run_check(*env.cli, *flags) : run_reserve(*env.cli, *flags); };
    return command;
}

}  // namespace lokt::client
