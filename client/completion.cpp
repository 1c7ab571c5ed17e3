// See completion.hpp.
#include "client/completion.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

namespace lokt::client {
namespace {

const std::set<std::string> k_commands_taking_names = {"guard",  "lock", "unlock", "status",
                                                       "exists", "why",  "freeze", "unfreeze"};
// lokt's own flags, taken before or after any command.
const std::vector<std::string> k_global_flags = {"--verbose", "--quiet"};

void emit_matching(const std::vector<std::string>& candidates, const std::string& prefix) {
    for (const auto& candidate : candidates) {
        if (candidate.rfind(prefix, 0) == 0) std::printf("%s\n", candidate.c_str());
    }
}

std::vector<std::string> lock_names(CliContext& cli, bool freezes) {
    std::vector<std::string> names;
    auto backend = cli.backend(true);
    if (!backend) return names;
    auto listed = (*backend)->names(freezes ? Area::freezes : Area::locks);
    if (listed) names = std::move(listed.value());
    return names;
}

// The paths that start with prefix, directories with a trailing '/': the value
// of an option that names an output file (audit --timeline FILE).
void emit_paths(const std::string& prefix) {
    const auto slash = prefix.rfind('/');
    const std::string dir = slash == std::string::npos ? std::string() : prefix.substr(0, slash + 1);
    const std::string start = slash == std::string::npos ? prefix : prefix.substr(slash + 1);
    std::error_code error;
    std::vector<std::string> paths;
    for (const auto& entry : std::filesystem::directory_iterator(dir.empty() ? "." : dir, error)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind(start, 0) != 0 || (start.empty() && name[0] == '.')) continue;
        paths.push_back(dir + name + (entry.is_directory(error) ? "/" : ""));
    }
    std::sort(paths.begin(), paths.end());
    emit_matching(paths, prefix);
}

}  // namespace

int print_completions(const std::vector<CommandSpec>& specs, CliContext& cli, const std::vector<std::string>& words) {
    const std::string current = words.empty() ? "" : words.back();
    std::vector<std::string> commands;
    for (const CommandSpec& spec : specs) commands.push_back(spec.name);
    if (words.size() <= 1) {
        if (current.rfind("-", 0) == 0) {
            emit_matching(k_global_flags, current);
            emit_matching({"--version", "--help"}, current);
            return 0;
        }
        commands.emplace_back("help");
        emit_matching(commands, current);
        return 0;
    }
    const std::string& command = words.front();
    if (command == "help") {  // `lokt help CMD`
        if (words.size() == 2) emit_matching(commands, current);
        return 0;
    }
    const auto named = std::find_if(specs.begin(), specs.end(), [&](const CommandSpec& spec) { return spec.name == command; });
    if (named == specs.end()) return 0;
    const CommandSpec& sub = *named;
    for (std::size_t i = 1; i + 1 < words.size(); ++i) {
        if (words[i] == "--") return 0;  // guard's command: the shell completes files
    }
    const std::string previous = words[words.size() - 2];
    if (previous.size() > 1 && previous[0] == '-') {
        const auto option = std::find_if(sub.options.begin(), sub.options.end(), [&](const OptionSpec& candidate) {
            const auto names = candidate.spellings();
            return std::find(names.begin(), names.end(), previous) != names.end();
        });
        if (option != sub.options.end() && option->takes_value()) {
            if (previous == "--format")
                emit_matching({"claude-md", "cursorrules", "windsurfrules", "copilot", "clinerules", "aider"}, current);
            if (previous == "--on-lost") emit_matching({"terminate", "warn"}, current);
            if (previous == "--sort") emit_matching({"name", "held-for", "waiters"}, current);
            if (option->value_name == "FILE") emit_paths(current);
            return 0;  // a value: durations, owners
        }
    }
    if (words.size() == 2 && !sub.actions.empty() && current.rfind("-", 0) != 0) {
        std::vector<std::string> names;  // `lokt daemon start|stop|status`
        for (const CommandSpec& action : sub.actions) names.push_back(action.name);
        emit_matching(names, current);
        return 0;
    }
    if (current.rfind("-", 0) == 0) {
        std::vector<std::string> flags = {"--help"};
        for (const OptionSpec& option : sub.options) {
            const auto longs = option.long_names();
            flags.insert(flags.end(), longs.begin(), longs.end());
        }
        flags.insert(flags.end(), k_global_flags.begin(), k_global_flags.end());
        emit_matching(flags, current);
        return 0;
    }
    if (k_commands_taking_names.count(command) == 0) return 0;
    const auto comma = current.rfind(',');
    const bool takes_list = command == "guard" || command == "lock" || command == "unlock";
    if (takes_list && comma != std::string::npos) {
        // A list of names (`lokt guard db,ca`): the name after the last comma.
        std::vector<std::string> lists;
        for (const auto& name : lock_names(cli, false)) lists.push_back(current.substr(0, comma + 1) + name);
        emit_matching(lists, current);
        return 0;
    }
    emit_matching(lock_names(cli, command == "unfreeze"), current);
    return 0;
}

}  // namespace lokt::client
