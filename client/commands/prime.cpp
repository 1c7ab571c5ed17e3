// `lokt prime [--format F]`: prints the text an AI agent should have in its
// context file (CLAUDE.md, .cursorrules, ...) to use lokt in this repository:
// the rules and the guarded operations found in scripts/ and bin/. Not the
// holds: a context file is committed and read for weeks, and a list of holds
// in it is stale within minutes, so it tells agents to ask `lokt status`.
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "client/commands/commands.hpp"
#include "common/lock_name.hpp"

namespace lokt::client {
namespace {

namespace fs = std::filesystem;

struct Format {
    std::string_view name;
    std::string_view file;  // where the text usually goes
    bool markdown;
};

constexpr std::array k_formats{
    Format{"claude-md", "CLAUDE.md", true},           Format{"cursorrules", ".cursorrules", false},
    Format{"windsurfrules", ".windsurfrules", false}, Format{"copilot", ".github/copilot-instructions.md", true},
    Format{"clinerules", ".clinerules", true},        Format{"aider", "CONVENTIONS.md", true},
};

struct GuardedOperation {
    std::string script;  // path relative to the repository top
    std::string lock;
    std::string verb;  // guard or lock
};

// Lock names used by `lokt guard|lock NAME` in a script line, flags skipped.
void scan_line(const std::string& line, const std::string& script, std::vector<GuardedOperation>& out) {
    std::istringstream words(line);
    std::vector<std::string> tokens;
    for (std::string token; words >> token;) tokens.push_back(token);
    for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
        const std::string program = fs::path(tokens[i]).filename().string();
        if (program != "lokt" || (tokens[i + 1] != "guard" && tokens[i + 1] != "lock")) continue;
        for (std::size_t j = i + 2; j < tokens.size() && tokens[j] != "--"; ++j) {
            const std::string& word = tokens[j];
            if (word == "--ttl" || word == "--timeout" || word == "--on-lost") {
                ++j;
                continue;
            }
            if (word.starts_with("-")) continue;
            std::string name = word;
            name.erase(std::remove(name.begin(), name.end(), '"'), name.end());
            name.erase(std::remove(name.begin(), name.end(), '\''), name.end());
            if (validate_lock_name(name).ok()) out.push_back({script, name, tokens[i + 1]});
            break;
        }
    }
}

std::vector<GuardedOperation> find_guarded_operations(const fs::path& top) {
    std::vector<GuardedOperation> found;
    for (const char* folder : {"scripts", "bin"}) {
        std::error_code ec;
        fs::recursive_directory_iterator it(top / folder, fs::directory_options::skip_permission_denied, ec);
        for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (it.depth() > 2) {
                it.disable_recursion_pending();
                continue;
            }
            struct stat info {};
            if (::lstat(it->path().c_str(), &info) != 0 || !S_ISREG(info.st_mode) || info.st_size > 256 * 1024) continue;
            std::ifstream in(it->path());
            const std::string relative = it->path().lexically_relative(top).string();
            for (std::string line; std::getline(in, line);) {
                if (line.find("lokt") != std::string::npos) scan_line(line, relative, found);
            }
        }
    }
    std::sort(found.begin(), found.end(),
              [](const auto& a, const auto& b) { return std::tie(a.script, a.lock) < std::tie(b.script, b.lock); });
    found.erase(std::unique(found.begin(), found.end(),
                            [](const auto& a, const auto& b) { return a.script == b.script && a.lock == b.lock; }),
                found.end());
    return found;
}

// The top of the working tree: the directory holding .git, else the current one.
fs::path repository_top() {
    std::error_code ec;
    const fs::path cwd = fs::current_path(ec);
    for (fs::path dir = cwd; !dir.empty(); dir = dir.parent_path()) {
        if (fs::exists(dir / ".git", ec)) return dir;
        if (dir == dir.root_path()) break;
    }
    return cwd;
}

std::string render(const Format& format, const std::vector<GuardedOperation>& operations) {
    const std::string h2 = format.markdown ? "## " : "";
    const std::string h3 = format.markdown ? "### " : "";
    const std::string code = format.markdown ? "`" : "";
    std::string out;
    out += h2 + "Shared resources in this repository: use lokt\n\n";
    out +=
        "Other agents work in this repository at the same time. Anything that must not run twice at once "
        "(builds, test databases, git push, deploys) is guarded by a named lock. Rules:\n\n";
    out += "- Run such work through " + code + "lokt guard NAME --ttl 10m -- COMMAND" + code +
           ": it takes the lock, runs the command, and releases the lock however the command ends.\n";
    out += "- Set " + code + "LOKT_OWNER" + code +
           " to your agent's name once (export LOKT_OWNER=...), so holds and the audit log say who you are.\n";
    out += "- Exit status 2 means another holder has the lock (or it is frozen). Do not retry in a loop: run " + code +
           "lokt why NAME" + code + ", then either wait with " + code + "--wait --timeout 10m" + code +
           " or do other work first.\n";
    out += "- Never break another agent's lock (" + code + "lokt unlock NAME --force" + code + ") unless a human asks you to; " +
           code + "lokt unlock NAME --break-stale" + code + " is safe: it only removes locks whose holder is dead or expired.\n";
    out += "- A frozen lock is a human's decision: wait for " + code + "lokt unfreeze" + code + ", do not work around it.\n";
    out += "- For steps across several commands: " + code + "lokt lock NAME --ttl 10m" + code + " ... " + code +
           "lokt unlock NAME" + code + ".\n";
    out +=
        "- Other exit codes: 0 success, 1 error, 3 not found, 4 not the owner, 64 bad usage. Guard passes the command's own "
        "status through.\n\n";

    out += h3 + "Guarded operations\n\n";
    if (operations.empty()) {
        out += "No wrapper scripts under scripts/ or bin/ use lokt yet. Guard shared work directly, e.g. " + code +
               "lokt guard build --ttl 10m -- make build" + code + ".\n";
    } else {
        for (const auto& op : operations) {
            out += "- " + code + op.script + code + " runs under lock " + code + op.lock + code +
                   (op.verb == "lock" ? " (manual lock)" : "") + "\n";
        }
    }
    out += "\n" + h3 + "Who holds what\n\n";
    out += "Holds change by the minute, so none are listed here. Ask when it matters: " + code + "lokt status" + code +
           " lists every hold and freeze now, " + code + "lokt why NAME" + code + " explains one. With lokt's MCP server (" +
           code + "lokt mcp install --claude" + code + ", " + code + "--cursor" + code + ", " + code + "--codex" + code + " or " +
           code + "--gemini" + code +
           "), use its acquire, release, renew, status and why tools instead: holds taken "
           "through it end when your session ends.\n";
    return out;
}

int run_prime(const std::string& format_name) {
    const auto format = std::find_if(k_formats.begin(), k_formats.end(), [&](const Format& f) { return f.name == format_name; });
    if (format == k_formats.end()) {
        std::string known;
        for (const auto& f : k_formats) known += (known.empty() ? "" : ", ") + std::string(f.name);
        return report(make_error(ErrorCode::usage, "unknown format \"" + format_name + "\" (use one of: " + known + ")"));
    }
    const std::string text = render(*format, find_guarded_operations(repository_top()));
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
}

}  // namespace

CommandSpec prime_command(CommandEnv env) {
    auto format = std::make_shared<std::string>("claude-md");
    CommandSpec command{"prime", "Print instructions for an AI agent's context file"};
    command.option("--format", *format, "claude-md (CLAUDE.md), cursorrules, windsurfrules, copilot, clinerules or aider");
    command.footer = R"(Examples:
  lokt prime >> CLAUDE.md
  lokt prime --format cursorrules >> .cursorrules

Exit status: 0 success, 1 error, 64 usage error (an unknown format).)";
    command.run = [env, format] { *env.exit_status = run_prime(*format); };
    return command;
}

}  // namespace lokt::client
