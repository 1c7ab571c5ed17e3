// `lokt audit [--since TIME] [--name N] [--tail [-n N]] [--json]`: query or
// follow the audit log. On a terminal a table; into a pipe or a file (and
// always with --json) the log's own lines, one JSON object per line, so that
// `lokt audit | jq` works and a stream never waits for a closing bracket.
// `--stats` and `--timeline FILE` read the same window as a whole instead:
// a summary in the terminal, or an HTML incident timeline.
#include <unistd.h>

#include <csignal>
#include <functional>
#include <memory>
#include <optional>

#include "client/atomic_file.hpp"
#include "client/audit_analysis.hpp"
#include "client/audit_scan.hpp"
#include "client/audit_stats_format.hpp"
#include "client/backend_factory.hpp"
#include "client/commands/commands.hpp"
#include "client/since_time.hpp"
#include "client/timeline_html.hpp"
#include "common/audit_log.hpp"
#include "common/lock_name.hpp"
#include "common/path_glob.hpp"

namespace lokt::client {
namespace {

struct AuditFlags {
    std::string since;
    std::string name;
    bool has_name = false;  // --name given, even if empty
    bool tail = false;
    std::optional<std::size_t> lines;  // -n: how much history --tail starts with
    std::size_t lines_given = 0;
    bool has_lines = false;
    bool json = false;
    std::string timeline;  // --timeline FILE ("-": stdout)
    bool has_timeline = false;
    bool stats = false;
};

// Like tail -f: the last lines first, then what comes.
constexpr std::size_t k_default_tail_lines = 10;

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
        // A lock's name, or a reservation's glob as it was reserved (its
        // events carry the glob as their name).
        if (auto valid = validate_lock_name(flags.name); !valid) {
            if (auto glob = PathGlob::parse(flags.name); !glob) {
                return make_error(ErrorCode::usage, "--name: " + flags.name + " is neither a lock name nor a reservation glob: " +
                                                        valid.error().message + "; " + glob.error().message);
            }
        }
        query.name = flags.name;
    }
    if (!flags.since.empty()) {
        auto since = parse_since(flags.since, wall_now());
        if (!since) return since.take_error();
        query.since = *since;
    }
    return query;
}

// How the window was chosen, for the page's heading.
std::string filter_text(const AuditFlags& flags) {
    std::string text;
    if (!flags.since.empty()) text += "--since " + flags.since;
    if (flags.has_name) text += (text.empty() ? "" : " ") + std::string("--name ") + flags.name;
    return text;
}

// --stats and --timeline: the whole window analysed at once. feed gives the
// analyzer the window's events, oldest first (from audit.log, or from etcd).
int run_analysis(const std::function<Result<void>(AuditAnalyzer&)>& feed, const AuditQuery& query, const AuditFlags& flags) {
    AuditAnalyzer analyzer(query.since);
    auto read = feed(analyzer);
    if (!read) return flags.json ? report_json(read.error()) : report(read.error());
    const AuditAnalysis analysis = analyzer.finish(wall_now());
    const AuditSummary summary = summarize(analysis);
    if (flags.has_timeline) {
        const std::string page = render_timeline_html(TimelinePage{analysis, summary, filter_text(flags)});
        if (flags.timeline == "-") {
            std::fwrite(page.data(), 1, page.size(), stdout);
        } else if (auto written = write_file_atomically(flags.timeline, page); !written) {
            return flags.json ? report_json(written.error()) : report(written.error());
        }
    }
    if (flags.stats) {
        const std::string text = flags.json ? format_summary_json(summary) : format_summary_text(summary);
        std::fwrite(text.data(), 1, text.size(), stdout);
    }
    std::fflush(stdout);
    return std::ferror(stdout) ? 1 : 0;
}

int run_audit(CliContext& cli, const AuditFlags& flags) {
    auto fail = [&](const Error& error) { return flags.json ? report_json_line(error) : report(error); };
    auto query = build_query(flags);
    if (!query) return fail(query.error());
    if (flags.lines && !flags.tail) return fail(make_error(ErrorCode::usage, "--lines needs --tail"));
    if (flags.tail && (flags.has_timeline || flags.stats)) {
        return fail(make_error(ErrorCode::usage, std::string(flags.stats ? "--stats" : "--timeline") +
                                                     " reads a finished window and cannot follow the log: drop --tail"));
    }
    if (flags.has_timeline && flags.timeline.empty())
        return fail(make_error(ErrorCode::usage, "--timeline needs a file name (or - for stdout)"));
    if (flags.has_timeline && flags.timeline == "-" && flags.stats) {
        return fail(
            make_error(ErrorCode::usage, "--timeline - and --stats would both write to stdout: write the page to a file"));
    }
    // The table is for people; anything else reads the log's own lines.
    const bool table = !flags.json && ::isatty(STDOUT_FILENO) == 1;

    if (flags.tail) {
        std::signal(SIGPIPE, SIG_IGN);
        auto backend = cli.backend(false);  // following needs the directory to exist
        if (!backend) return fail(backend.error());
        auto print = [&](std::string_view line, const AuditEvent& event) {
            if (table)
                std::printf("%s\n", text_line(event).c_str());
            else
                std::printf("%.*s\n", static_cast<int>(line.size()), line.data());
        };
        // History first: the last N lines (10 unless -n says otherwise; all of
        // them since --since when only that is given), by starting the follow
        // at the time of the N-th last line.
        const std::size_t history = flags.lines.value_or(query->since ? 0 : k_default_tail_lines);
        if (history > 0) {
            auto first = (*backend)->audit_time_of_last(*query, history);
            if (!first) return fail(first.error());
            if (*first)
                query->since = **first;
            else if (!query->since)
                query->since = WallTime{};  // fewer lines than asked: all of them
        } else if (flags.lines) {
            query->since.reset();  // -n 0: only what comes, even with --since
        }
        // A subscription through the daemon, or the file itself, until the reader goes away.
        if (auto followed = (*backend)->follow_audit(*query, print); !followed) return report(followed.error());
        return 0;
    }

    if (backend_is_remote()) {
        // etcd keeps the events as keys: read them through the backend.
        auto backend = cli.backend(true);
        if (!backend) return fail(backend.error());
        if (flags.has_timeline || flags.stats) {
            auto feed = [&](AuditAnalyzer& analyzer) -> Result<void> {
                auto read =
                    (*backend)->read_own_audit(*query, [&](std::string_view, const AuditEvent& event) { analyzer.add(event); });
                if (!read) return make_error(ErrorCode::io, "this backend keeps no audit events of its own");
                return *read;
            };
            return run_analysis(feed, *query, flags);
        }
        auto read = (*backend)->read_own_audit(*query, [&](std::string_view line, const AuditEvent& event) {
            if (table)
                std::fputs(text_line(event).c_str(), stdout);
            else
                std::fwrite(line.data(), 1, line.size(), stdout);
            std::fputc('\n', stdout);
        });
        if (read && !*read) return fail(read->error());
        return 0;
    }
    auto root = cli.root();
    if (!root) return fail(root.error());
    const auto log = root->path / "audit.log";
    if (flags.has_timeline || flags.stats) {
        return run_analysis([&](AuditAnalyzer& analyzer) { return scan_audit_into(log, *query, analyzer); }, *query, flags);
    }
    std::string out;
    auto visit = [&](std::string_view line, const AuditEvent& event) {
        if (table)
            out += text_line(event);
        else
            out.append(line);
        out.push_back('\n');
        if (out.size() > (1 << 20)) {
            std::fwrite(out.data(), 1, out.size(), stdout);
            out.clear();
        }
    };
    if (auto read = read_audit(log, *query, visit); !read) return fail(read.error());
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
}

}  // namespace

constexpr const char* k_audit_footer = R"(Examples:
  lokt audit --since 8h                  a table on a terminal, the log's JSON lines in a pipe
  lokt audit --since yesterday --name build | jq .event
  lokt audit --tail -n 50                the last 50 events, then follow
  lokt audit --since 8h --stats          busiest names, longest waits, contention per agent
  lokt audit --since 8h --timeline incident.html
                                         an HTML timeline: a row per name, a bar per hold

Exit status: 0 success, 1 the log cannot be read or the timeline cannot be written, 64 usage error.)";

CommandSpec audit_command(CommandEnv env) {
    auto flags = std::make_shared<AuditFlags>();
    CommandSpec command{"audit", "Show or follow the audit log"};
    command.option("--since", flags->since,
                   "Only events since then: 8h, 2d12h, 2026-12-02, \"2026-12-02 14:00\", today, yesterday, RFC 3339");
    command.option("--name", flags->name, "Only events of this lock, or of this reservation glob (as reserved)")
        .record_given(flags->has_name);
    command.flag("--tail", flags->tail, "Show the last lines, then follow new events as they are written");
    command.option("-n,--lines", flags->lines_given, "With --tail: start with the last N lines (default 10)")
        .record_given(flags->has_lines);
    command.flag("--json", flags->json,
                 "One JSON object per line, as in the log (the default into a pipe); with --stats, one JSON object");
    command.option("--timeline", flags->timeline, "Write an HTML incident timeline of the window to FILE (- for stdout)")
        .value_name_is("FILE")
        .record_given(flags->has_timeline);
    command.flag("--stats", flags->stats, "Summarise the window: busiest names, longest waits, contention per agent");
    command.footer = k_audit_footer;
    command.run = [env, flags] {
        if (flags->has_lines) flags->lines = flags->lines_given;
        *env.exit_status = run_audit(*env.cli, *flags);
    };
    return command;
}

}  // namespace lokt::client
