// `lokt audit [--since D|RFC3339] [--name N] [--tail] [--json]`: query or follow
// the audit log. --json prints an array; with --tail, one JSON object per line.
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <memory>

#include "audit_log.hpp"
#include "commands.hpp"
#include "daemon_audit_follow.hpp"
#include "lock_name.hpp"
#include "sys_error.hpp"

namespace lokt::client {
namespace {

struct AuditFlags {
    std::string since;
    std::string name;
    bool has_name = false;  // --name given, even if empty
    bool tail = false;
    bool json = false;
};

std::string text_line(const AuditEvent& e) {
    std::string line = format_rfc3339_seconds(e.ts) + "  " + e.event;
    line.append(e.event.size() < 14 ? 14 - e.event.size() : 1, ' ');
    line += e.name;
    if (!e.owner.empty()) line += "  " + owner_at_host(e.owner, e.host);
    if (e.pid != 0) line += " pid=" + std::to_string(e.pid);
    if (!e.agent_id.empty()) line += " agent=" + e.agent_id;
    if (e.ttl_sec != 0) line += " ttl=" + std::to_string(e.ttl_sec) + "s";
    if (!e.lock_id.empty()) line += " lock=" + e.lock_id.substr(0, 8);
    if (!e.extra_json.empty()) line += " " + e.extra_json;
    return line;
}

Result<AuditQuery> build_query(const AuditFlags& flags) {
    AuditQuery query;
    if (flags.has_name) {
        if (auto valid = validate_lock_name(flags.name); !valid) return valid.take_error();
        query.name = flags.name;
    }
    if (!flags.since.empty()) {
        if (auto absolute = parse_rfc3339(flags.since)) {
            query.since = *absolute;
        } else {
            auto ago = parse_duration(flags.since);
            if (!ago) {
                return make_error(ErrorCode::usage, "--since: \"" + flags.since +
                                                        "\" is neither a duration (8h, 30m) nor an RFC 3339 time");
            }
            query.since = wall_now() - *ago;
        }
    }
    return query;
}

// Follows the log, printing complete new lines as they arrive, including the
// log's creation. Runs until interrupted or stdout fails. With `resume` (the
// daemon's stream ended), the log is read from there on, minus what was printed.
int follow(const std::filesystem::path& root, const AuditQuery& query, const AuditPrinter& print,
           AuditResume* resume = nullptr) {
    const std::filesystem::path log = root / "audit.log";
    UniqueFd inotify(::inotify_init1(IN_CLOEXEC));
    if (!inotify) return report(sys_error("cannot watch", root.string(), errno));
    if (::inotify_add_watch(inotify.get(), root.c_str(), IN_CREATE | IN_MOVED_TO | IN_MODIFY | IN_DELETE) < 0) {
        return report(sys_error("cannot watch", root.string(), errno));
    }
    // Whatever exists when we start is history: shown only with --since.
    UniqueFd fd(::open(log.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    std::size_t offset = 0;
    if (fd) {
        struct stat info {};
        ::fstat(fd.get(), &info);
        if (resume != nullptr) {
            AuditQuery rest = query;
            rest.since = resume->from();
            auto reached = read_audit_prefix(fd.get(), log.string(), static_cast<std::size_t>(info.st_size), rest,
                                             [&](std::string_view line, const AuditEvent& event) {
                                                 if (!resume->already_printed(line, event)) print(line, event);
                                             });
            if (!reached) return report(reached.error());
            offset = *reached;
        } else if (query.since) {
            auto reached = read_audit_prefix(fd.get(), log.string(), static_cast<std::size_t>(info.st_size), query, print);
            if (!reached) return report(reached.error());
            offset = *reached;
        } else {
            offset = static_cast<std::size_t>(info.st_size);
        }
        std::fflush(stdout);
    }
    std::string pending;
    char buffer[65536];
    for (;;) {
        if (!fd) {
            fd.reset(::open(log.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
            offset = 0;
            pending.clear();
        }
        if (fd) {
            struct stat info {};
            if (::fstat(fd.get(), &info) == 0 && static_cast<std::size_t>(info.st_size) < offset) {
                offset = 0;  // truncated or replaced: start over
                pending.clear();
            }
            for (;;) {
                const ssize_t got = ::pread(fd.get(), buffer, sizeof buffer, static_cast<off_t>(offset));
                if (got <= 0) break;
                offset += static_cast<std::size_t>(got);
                pending.append(buffer, static_cast<std::size_t>(got));
            }
            std::size_t start = 0;
            for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
                std::string_view line(pending.data() + start, nl - start);
                if (line.empty()) continue;
                if (auto event = parse_audit_line(line); event && audit_event_matches(*event, query)) print(line, *event);
            }
            pending.erase(0, start);
            std::fflush(stdout);
            if (std::ferror(stdout)) return 0;  // the reader went away
        }
        alignas(struct inotify_event) char events[4096];
        struct pollfd pfd = {inotify.get(), POLLIN, 0};
        if (::poll(&pfd, 1, -1) < 0 && errno != EINTR) return report(sys_error("cannot watch", root.string(), errno));
        const ssize_t got = ::read(inotify.get(), events, sizeof events);
        for (char* p = events; got > 0 && p < events + got;) {
            auto* event = reinterpret_cast<struct inotify_event*>(p);
            if (event->len > 0 && std::string_view(event->name) == "audit.log" && (event->mask & (IN_DELETE | IN_MOVED_TO | IN_CREATE)) != 0) {
                fd.reset();  // a new file under the name: reopen it
            }
            p += sizeof(struct inotify_event) + event->len;
        }
    }
}

int run_audit(CliContext& cli, const AuditFlags& flags) {
    auto fail = [&](const Error& error) { return flags.json && !flags.tail ? report_json(error) : report(error); };
    auto query = build_query(flags);
    if (!query) return fail(query.error());

    if (flags.tail) {
        std::signal(SIGPIPE, SIG_IGN);
        auto backend = cli.backend(false);  // following needs the directory to exist
        if (!backend) return report(backend.error());
        auto print = [&](std::string_view line, const AuditEvent& event) {
            if (flags.json) std::printf("%.*s\n", static_cast<int>(line.size()), line.data());
            else std::printf("%s\n", text_line(event).c_str());
        };
        const auto& root = (*backend)->store().root();
        // Through the daemon, a subscription; the file again if the daemon goes away.
        if (auto* daemon = dynamic_cast<DaemonBackend*>(*backend)) {
            auto followed = follow_audit_through_daemon(daemon->connection(), root, *query, print);
            if (!followed) return report(followed.error());
            if (followed->reader_gone) return 0;
            return follow(root, *query, print, &followed->resume);
        }
        return follow(root, *query, print);
    }

    auto root = cli.root();
    if (!root) return fail(root.error());
    const auto log = root->path / "audit.log";
    std::string out;
    bool first = true;
    if (flags.json) out = "[";
    auto visit = [&](std::string_view line, const AuditEvent& event) {
        if (flags.json) {
            out += first ? "\n  " : ",\n  ";
            out.append(line);
        } else {
            out += text_line(event);
            out.push_back('\n');
        }
        first = false;
        if (out.size() > (1 << 20)) {
            std::fwrite(out.data(), 1, out.size(), stdout);
            out.clear();
        }
    };
    if (auto read = read_audit(log, *query, visit); !read) return fail(read.error());
    if (flags.json) out += first ? "]\n" : "\n]\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
}

}  // namespace

void add_audit_command(CLI::App& app, CommandEnv env) {
    auto flags = std::make_shared<AuditFlags>();
    auto* command = app.add_subcommand("audit", "Show or follow the audit log");
    command->add_option("--since", flags->since, "Only events since a duration ago (8h) or an RFC 3339 time");
    auto* name = command->add_option("--name", flags->name, "Only events of this lock");
    command->add_flag("--tail", flags->tail, "Follow new events as they are written");
    command->add_flag("--json", flags->json, "JSON: an array, or one object per line with --tail");
    command->callback([env, flags, name] {
        flags->has_name = name->count() > 0;
        *env.exit_status = run_audit(*env.cli, *flags);
    });
}

}  // namespace lokt::client
