// See completion.hpp.
#include "completion.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

namespace lokt::client {
namespace {

const std::set<std::string> k_commands_taking_names = {"guard", "lock", "unlock", "status", "exists", "why", "freeze", "unfreeze"};
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
    auto listed = (*backend)->store().list(freezes ? Area::freezes : Area::locks);
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

int print_completions(CLI::App& app, CliContext& cli, const std::vector<std::string>& words) {
    const std::string current = words.empty() ? "" : words.back();
    std::vector<std::string> commands;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        if (!sub->get_group().empty()) commands.push_back(sub->get_name());
    }
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
    CLI::App* sub = nullptr;
    for (CLI::App* candidate : app.get_subcommands([](const CLI::App*) { return true; })) {
        if (candidate->get_name() == command) sub = candidate;
    }
    if (sub == nullptr) return 0;
    for (std::size_t i = 1; i + 1 < words.size(); ++i) {
        if (words[i] == "--") return 0;  // guard's command: the shell completes files
    }
    const std::string previous = words[words.size() - 2];
    if (previous.size() > 1 && previous[0] == '-') {
        if (const CLI::Option* option = sub->get_option_no_throw(previous); option != nullptr && option->get_items_expected_min() > 0) {
            if (previous == "--format") emit_matching({"claude-md", "cursorrules", "windsurfrules", "copilot", "clinerules", "aider"}, current);
            if (previous == "--on-lost") emit_matching({"terminate", "warn"}, current);
            if (option->get_type_name() == "FILE") emit_paths(current);
            return 0;  // a value: durations, owners
        }
    }
    const auto actions = sub->get_subcommands([](const CLI::App*) { return true; });
    if (words.size() == 2 && !actions.empty() && current.rfind("-", 0) != 0) {
        std::vector<std::string> names;  // `lokt daemon start|stop|status`
        for (const CLI::App* action : actions) names.push_back(action->get_name());
        emit_matching(names, current);
        return 0;
    }
    if (current.rfind("-", 0) == 0) {
        std::vector<std::string> flags;
        for (const CLI::Option* option : sub->get_options()) {
            for (const auto& name : option->get_lnames()) flags.push_back("--" + name);
        }
        flags.insert(flags.end(), k_global_flags.begin(), k_global_flags.end());
        emit_matching(flags, current);
        return 0;
    }
    if (k_commands_taking_names.count(command) != 0) emit_matching(lock_names(cli, command == "unfreeze"), current);
    return 0;
}

}  // namespace lokt::client
