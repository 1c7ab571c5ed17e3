// lokt: the command-line client. Parses the command line and hands it to one
// command; the only place (with the commands' own error paths) that turns a
// failure into an exit status.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli_context.hpp"
#include "completion.hpp"
#include "commands/commands.hpp"

namespace {

// Everything after the first "--" is guard's command, passed through untouched.
struct SplitArguments {
    std::vector<std::string> before;
    std::vector<std::string> after;
    bool had_dashes = false;
};

SplitArguments split_at_dashes(int argc, char** argv) {
    SplitArguments split;
    for (int i = 0; i < argc; ++i) {
        if (!split.had_dashes && std::string_view(argv[i]) == "--") {
            split.had_dashes = true;
            continue;
        }
        (split.had_dashes ? split.after : split.before).emplace_back(argv[i]);
    }
    return split;
}

std::string first_command_word(const std::vector<std::string>& args) {
    for (std::size_t i = 1; i < args.size(); ++i) {
        if (!args[i].empty() && args[i][0] != '-') return args[i];
    }
    return "";
}

int usage_error(const std::string& message, const std::string& command) {
    std::string text = message;
    if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
    std::fprintf(stderr, "error: %s\nrun 'lokt %s--help' for usage\n", text.c_str(),
                 command.empty() ? "" : (command + " ").c_str());
    return lokt::exit_code_for(lokt::ErrorCode::usage);
}

using AddCommand = void (*)(CLI::App&, lokt::client::CommandEnv);

// Every command, by name, in the order `lokt --help` lists them.
constexpr std::pair<std::string_view, AddCommand> k_commands[] = {
    {"guard", lokt::client::add_guard_command},       {"lock", lokt::client::add_lock_command},
    {"unlock", lokt::client::add_unlock_command},     {"status", lokt::client::add_status_command},
    {"exists", lokt::client::add_exists_command},     {"why", lokt::client::add_why_command},
    {"freeze", lokt::client::add_freeze_command},     {"unfreeze", lokt::client::add_unfreeze_command},
    {"audit", lokt::client::add_audit_command},       {"doctor", lokt::client::add_doctor_command},
    {"daemon", lokt::client::add_daemon_command},     {"version", lokt::client::add_version_command},
    {"prime", lokt::client::add_prime_command},
};

// A named command needs only its own definition: building all thirteen (their
// options, validators and help texts) was a measurable part of a short
// command's run. Help, completion and unknown words get the whole set.
void add_commands(CLI::App& app, const lokt::client::CommandEnv& env, std::string_view command) {
    for (const auto& [name, add] : k_commands) {
        if (name == command) {
            add(app, env);
            return;
        }
    }
    for (const auto& [name, add] : k_commands) add(app, env);
}

int run(int argc, char** argv) {
    SplitArguments split = split_at_dashes(argc, argv);
    const std::string command = first_command_word(split.before);

    CLI::App app{"lokt: named locks for agents sharing a repository"};
    app.name("lokt");
    app.require_subcommand(1);
    lokt::client::GlobalOptions options;
    app.add_flag("-v,--verbose", options.verbose, "Say which root and backend are used");
    lokt::client::CliContext cli(options);
    int exit_status = 0;
    const lokt::client::CommandEnv env{&cli, &exit_status, &split.after};
    add_commands(app, env, command);

    if (command == "__complete") {
        // Hidden: candidates for shell completion (see completion.hpp).
        const auto at = std::find(split.before.begin(), split.before.end(), "__complete");
        std::vector<std::string> words(at + 1, split.before.end());
        if (split.had_dashes) {
            words.push_back("--");
            words.insert(words.end(), split.after.begin(), split.after.end());
        }
        if (words.empty()) words.emplace_back();
        return lokt::client::print_completions(app, cli, words);
    }

    if (split.had_dashes && command != "guard") {
        return usage_error("\"--\" is only used by guard, before the command to run", command);
    }

    std::vector<char*> parse_argv;
    for (auto& arg : split.before) parse_argv.push_back(arg.data());
    try {
        app.parse(static_cast<int>(parse_argv.size()), parse_argv.data());
    } catch (const CLI::CallForHelp& help) {
        return app.exit(help);
    } catch (const CLI::CallForAllHelp& help) {
        return app.exit(help);
    } catch (const CLI::ParseError& error) {
        if (!command.empty() && app.get_subcommands([&](const CLI::App* sub) { return sub->get_name() == command; }).empty()) {
            return usage_error("unknown command \"" + command + "\"", "");
        }
        return usage_error(error.what(), command);
    }
    return exit_status;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: internal: %s\n", error.what());
        return 1;
    }
}
