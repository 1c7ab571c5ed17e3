// `lokt hook claude-pretooluse` and `lokt hook git-pre-commit [--install]`:
// the places where a reservation is enforced rather than merely reported.
// The first refuses a Claude Code Edit/Write/MultiEdit/NotebookEdit of a file
// another owner reserved; the second refuses a commit that touches one.
//
// Who "we" are: the owner of the process running the hook, LOKT_OWNER (else
// the user name), inherited from the agent's environment exactly as its own
// `lokt reserve` commands see it. When lokt itself fails (an unreadable root,
// a corrupt table, a payload it cannot read), LOKT_HOOK_ON_ERROR decides:
// "allow" (the default: the edit or commit goes ahead, with a warning on
// stderr) or "deny" (it is refused, with the error as the reason).
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "client/claude_hook.hpp"
#include "client/commands/commands.hpp"
#include "client/reservation_views.hpp"
#include "common/audit_log.hpp"
#include "common/lock_root.hpp"
#include "common/repo_path.hpp"

namespace lokt::client {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t k_max_payload_bytes = 16 * 1024 * 1024;
constexpr const char* k_pre_commit_marker = "lokt hook git-pre-commit";

enum class OnError { allow, deny };

// LOKT_HOOK_ON_ERROR; a value that is neither word denies (and says so), since
// whoever set it meant to choose.
OnError on_error(std::string& note) {
    const char* value = std::getenv("LOKT_HOOK_ON_ERROR");
    if (value == nullptr || *value == '\0' || std::string_view(value) == "allow") return OnError::allow;
    if (std::string_view(value) == "deny") return OnError::deny;
    note = " (LOKT_HOOK_ON_ERROR=\"" + std::string(value) + "\" is neither allow nor deny: denying)";
    return OnError::deny;
}

// Reads stdin whole, up to the limit.
Result<std::string> read_stdin() {
    std::string text;
    char buffer[65536];
    for (;;) {
        const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return make_error(ErrorCode::io, "cannot read the hook's input");
        if (n == 0) break;
        text.append(buffer, static_cast<std::size_t>(n));
        if (text.size() > k_max_payload_bytes) return make_error(ErrorCode::usage, "the hook's input is larger than 16 MiB");
    }
    return text;
}

// The reservations in the way of owner writing path (a repository path), and
// the root they were read from.
struct Blocked {
    fs::path root;
    std::vector<Reservation> blockers;
};

Result<Blocked> blockers_of(const fs::path& working_directory, const Identity& actor, const std::string& path) {
    LOKT_TRY(validate_identity(actor));
    LOKT_TRY_LET(root, discover_lock_root(working_directory, std::getenv("LOKT_ROOT")));
    LOKT_TRY_LET(book, open_file_reservation_book(root->path, actor, true));
    LOKT_TRY_LET(checks, (*book)->check(actor.owner, {path}));
    return Blocked{root->path, std::move(checks->front().blockers)};
}

// A refused edit or commit in the audit log, best effort: the refusal stands either way.
void audit_refusal(const fs::path& root, const char* event_name, const std::string& path, const Identity& actor,
                   const Reservation& blocker) {
    AuditEvent event = make_audit_event(event_name, path, actor);
    std::string extra = "{\"holder\":";
    append_json_string(extra, owner_at_host(blocker.holder.owner, blocker.holder.host));
    extra += ",\"holder_glob\":";
    append_json_string(extra, blocker.glob.text());
    extra += ",\"holder_reservation_id\":";
    append_json_string(extra, blocker.holder.lock_id);
    extra += "}";
    event.extra_json = extra;
    (void)AuditWriter(root / "audit.log").append(event);
}

std::string refusal_reason(const std::string& path, const Reservation& blocker, WallTime now) {
    return "lokt: " + path + " is reserved by " + blocker.holder.owner + ": " + reservation_text(blocker, now) +
           ". Do not edit it: work on something else, or ask " + blocker.holder.owner + " to release it (lokt unreserve '" +
           blocker.glob.text() + "'). Check with: lokt reserve --check " + path;
}

int run_claude_pretooluse(CliContext& cli) {
    std::string note;
    const OnError mode = on_error(note);
    auto failed = [&](const Error& error) {
        const std::string message = "lokt could not check reservations: " + error.message + note;
        if (mode == OnError::deny) {
            std::fputs(pretooluse_deny(message + " (LOKT_HOOK_ON_ERROR=deny)").c_str(), stdout);
        } else {
            std::fprintf(stderr, "warning: %s; allowing (LOKT_HOOK_ON_ERROR=allow)\n", message.c_str());
        }
        return 0;
    };
    auto text = read_stdin();
    if (!text) return failed(text.error());
    auto call = parse_pretooluse_payload(*text);
    if (!call) return failed(call.error());
    if (!tool_writes_file(call->tool_name)) return 0;
    std::error_code ec;
    fs::path cwd = call->cwd.empty() ? fs::current_path(ec) : fs::path(call->cwd);
    if (ec) return failed(make_error(ErrorCode::io, "cannot determine the current directory"));
    const auto path = repository_path_of(call->file_path, cwd);
    if (!path) return 0;  // outside the work tree: nothing there can be reserved
    // The root of the work tree the file is in, so that an edit in another
    // worktree of the same repository meets the same reservations.
    const fs::path file = fs::path(call->file_path).is_absolute() ? fs::path(call->file_path) : cwd / call->file_path;
    fs::path look_from = file.parent_path();
    while (!look_from.empty() && !fs::is_directory(look_from, ec) && look_from != look_from.root_path()) {
        look_from = look_from.parent_path();
    }
    auto blocked = blockers_of(look_from.empty() ? cwd : look_from, cli.identity(), *path);
    if (!blocked) return failed(blocked.error());
    if (blocked->blockers.empty()) return 0;
    const Reservation& blocker = blocked->blockers.front();
    audit_refusal(blocked->root, "edit-deny", *path, cli.identity(), blocker);
    std::fputs(pretooluse_deny(refusal_reason(*path, blocker, wall_now())).c_str(), stdout);
    return 0;
}

// Runs a command and returns its standard output; an error unless it exits 0.
Result<std::string> command_output(const std::string& command) {
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return make_error(ErrorCode::io, "cannot run " + command);
    std::string out;
    char buffer[65536];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
    const int status = ::pclose(pipe);
    if (status != 0) return make_error(ErrorCode::io, command + " failed");
    return out;
}

int install_pre_commit() {
    auto hooks = command_output("git rev-parse --git-path hooks");
    if (!hooks) return report(make_error(ErrorCode::io, "not in a git repository (" + hooks.error().message + ")"));
    std::string dir = *hooks;
    while (!dir.empty() && (dir.back() == '\n' || dir.back() == '\r')) dir.pop_back();
    const fs::path target = fs::path(dir) / "pre-commit";
    std::error_code ec;
    if (fs::exists(target, ec)) {
        std::ifstream in(target);
        const std::string existing((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (existing.find(k_pre_commit_marker) != std::string::npos) {
            std::printf("%s already runs lokt hook git-pre-commit\n", target.c_str());
            return 0;
        }
        return report(make_error(ErrorCode::io, target.string() +
                                                    " already exists and is not lokt's; left as it is. Add this line to it:\n"
                                                    "  lokt hook git-pre-commit || exit 1"));
    }
    fs::create_directories(target.parent_path(), ec);
    const fs::path temp = target.string() + ".lokt-tmp";
    {
        std::ofstream out(temp);
        out << "#!/bin/sh\n"
               "# Refuses a commit that touches paths another owner reserved (lokt reserve).\n"
               "# Installed by: lokt hook git-pre-commit --install\n"
               "if ! command -v lokt >/dev/null 2>&1; then\n"
               "  echo \"pre-commit: lokt is not on PATH; reservations were not checked\" >&2\n"
               "  [ \"${LOKT_HOOK_ON_ERROR:-allow}\" = allow ] || exit 1\n"
               "  exit 0\n"
               "fi\n"
               "exec lokt hook git-pre-commit\n";
        if (!out) return report(make_error(ErrorCode::io, "cannot write " + temp.string()));
    }
    ::chmod(temp.c_str(), 0755);
    // A link, not a rename: a hook that appeared in the meantime is not replaced.
    if (::link(temp.c_str(), target.c_str()) != 0) {
        const int error = errno;
        ::unlink(temp.c_str());
        return report(make_error(ErrorCode::io, "cannot install " + target.string() + ": " + std::strerror(error)));
    }
    ::unlink(temp.c_str());
    std::printf("installed %s\n", target.c_str());
    return 0;
}

int run_git_pre_commit(CliContext& cli, bool install) {
    if (install) return install_pre_commit();
    std::string note;
    const OnError mode = on_error(note);
    auto failed = [&](const Error& error) {
        std::fprintf(stderr, "lokt: could not check reservations: %s%s\n", error.message.c_str(), note.c_str());
        if (mode == OnError::deny) {
            std::fprintf(stderr, "lokt: commit refused (LOKT_HOOK_ON_ERROR=deny)\n");
            return 1;
        }
        std::fprintf(stderr, "lokt: committing anyway (LOKT_HOOK_ON_ERROR=allow)\n");
        return 0;
    };
    // Renames as a deletion and an addition, so that both paths are checked.
    auto staged = command_output("git diff --cached --name-only -z --no-renames");
    if (!staged) return failed(staged.error());
    auto top = command_output("git rev-parse --show-toplevel");
    if (!top) return failed(top.error());
    std::string top_dir = *top;
    while (!top_dir.empty() && (top_dir.back() == '\n' || top_dir.back() == '\r')) top_dir.pop_back();
    std::vector<std::string> paths;
    for (std::size_t start = 0; start < staged->size();) {
        const std::size_t end = staged->find('\0', start);
        const std::string path = staged->substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (!path.empty()) {
            if (auto normal = normalize_repo_path(path)) paths.push_back(*normal);
        }
        if (end == std::string::npos) break;
        start = end + 1;
    }
    if (paths.empty()) return 0;
    const Identity& actor = cli.identity();
    if (auto valid = validate_identity(actor); !valid) return failed(valid.error());
    auto root = discover_lock_root(top_dir, std::getenv("LOKT_ROOT"));
    if (!root) return failed(root.error());
    auto book = open_file_reservation_book(root->path, actor, true);
    if (!book) return failed(book.error());
    auto checks = (*book)->check(actor.owner, paths);
    if (!checks) return failed(checks.error());
    const WallTime now = wall_now();
    bool refused = false;
    for (const auto& check : *checks) {
        if (check.allowed()) continue;
        if (!refused)
            std::fprintf(stderr, "lokt: commit refused: it touches paths another owner reserved (you are %s)\n",
                         actor.owner.c_str());
        refused = true;
        std::fprintf(stderr, "  %s: reserved as %s\n", check.path.c_str(), reservation_text(check.blockers.front(), now).c_str());
        audit_refusal(root->path, "commit-deny", check.path, actor, check.blockers.front());
    }
    if (refused) std::fprintf(stderr, "Unstage those paths, or ask their owner to run lokt unreserve.\n");
    return refused ? 1 : 0;
}

}  // namespace

CommandSpec hook_command(CommandEnv env) {
    CommandSpec command{"hook", "Enforce reservations: Claude Code's PreToolUse hook, a git pre-commit guard"};
    command.footer = R"(Examples:
  lokt hook claude-pretooluse < payload.json      (as a Claude Code PreToolUse hook)
  lokt hook git-pre-commit --install              (once per repository)

The owner is LOKT_OWNER (else the user name) of the agent that runs the hook.
When lokt cannot check (a broken root, a payload it cannot read),
LOKT_HOOK_ON_ERROR=allow (the default) lets the edit or commit go ahead with a
warning, and LOKT_HOOK_ON_ERROR=deny refuses it.

Exit status: claude-pretooluse exits 0 and prints a deny decision when it
refuses; git-pre-commit exits 1 when it refuses the commit.)";
    command.actions.push_back({"claude-pretooluse",
                               "Read a PreToolUse payload on stdin; deny an edit of a file another owner reserved", "",
                               [env] { *env.exit_status = run_claude_pretooluse(*env.cli); }});
    auto install = std::make_shared<bool>(false);
    CommandSpec pre_commit{"git-pre-commit", "Refuse a commit touching paths another owner reserved (--install: set it up)", "",
                           [env, install] { *env.exit_status = run_git_pre_commit(*env.cli, *install); }};
    pre_commit.flag("--install", *install, "Install it as this repository's pre-commit hook (never replaces another hook)");
    command.actions.push_back(std::move(pre_commit));
    return command;
}

}  // namespace lokt::client
