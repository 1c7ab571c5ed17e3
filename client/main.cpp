// lokt: the command-line client. Parses the command line and hands it to one
// command; the only place (with the commands' own error paths) that turns a
// failure into an exit status, and the only file that includes the argument
// parser (see command_spec.hpp).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "client/cli_context.hpp"
#include "client/commands/commands.hpp"
#include "client/completion.hpp"
#include "client/tls_twin.hpp"

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

// The first word that is not a flag: the command (lokt's own flags take no value).
std::size_t command_index(const std::vector<std::string>& args) {
    for (std::size_t i = 1; i < args.size(); ++i) {
        if (!args[i].empty() && args[i][0] != '-') return i;
    }
    return args.size();
}

int usage_error(const std::string& message, const std::string& command) {
    std::string text = message;
    if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
    std::fprintf(stderr, "error: %s\nrun 'lokt %s--help' for usage\n", text.c_str(),
                 command.empty() ? "" : (command + " ").c_str());
    return lokt::exit_code_for(lokt::ErrorCode::usage);
}

using lokt::client::CommandSpec;
using DescribeCommand = CommandSpec (*)(lokt::client::CommandEnv);

// Every command, by name, in the order `lokt --help` lists them.
// clang-format off
constexpr std::pair<std::string_view, DescribeCommand> k_commands[] = {
    {"guard", lokt::client::guard_command},   {"lock", lokt::client::lock_command},
    {"unlock", lokt::client::unlock_command}, {"status", lokt::client::status_command},
    {"exists", lokt::client::exists_command}, {"why", lokt::client::why_command},
    {"freeze", lokt::client::freeze_command}, {"unfreeze", lokt::client::unfreeze_command},
    {"audit", lokt::client::audit_command},   {"doctor", lokt::client::doctor_command},
    {"daemon", lokt::client::daemon_command}, {"version", lokt::client::version_command},
    {"prime", lokt::client::prime_command},   {"top", lokt::client::top_command},
    {"mcp", lokt::client::mcp_command},
    {"reserve", lokt::client::reserve_command}, {"unreserve", lokt::client::unreserve_command},
    {"hook", lokt::client::hook_command},
};
// clang-format on

bool is_command(std::string_view word) {
    return std::any_of(std::begin(k_commands), std::end(k_commands), [&](const auto& entry) { return entry.first == word; });
}

// Edits between two words, a swap of neighbours counting as one ("gaurd").
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.size()][b.size()];
}

// The candidate closest to word, if it is close enough to be a typo.
std::optional<std::string> closest(std::string_view word, const std::vector<std::string>& candidates) {
    std::optional<std::string> best;
    if (word.size() <= 2) return best;  // "-x": any one letter is as close as another
    std::size_t best_distance = std::max<std::size_t>(1, std::min<std::size_t>(2, word.size() / 3));
    for (const auto& candidate : candidates) {
        const std::size_t distance = edit_distance(word, candidate);
        if (distance <= best_distance && (!best || distance < best_distance)) {
            best = candidate;
            best_distance = distance;
        }
    }
    return best;
}

int unknown_command(const std::string& word) {
    std::vector<std::string> names;
    for (const auto& entry : k_commands) names.emplace_back(entry.first);
    names.emplace_back("help");
    std::string message = "unknown command \"" + word + "\"";
    if (auto guess = closest(word, names)) message += "; did you mean \"" + *guess + "\"?";
    return usage_error(message, "");
}

// A command-line word naming a flag that `command` (or lokt itself) does not
// know, and the closest one it knows; nullopt when every flag is known.
struct UnknownFlag {
    std::string flag;
    std::optional<std::string> guess;
};

std::optional<UnknownFlag> find_unknown_flag(const CLI::App& app, const CLI::App* command, const std::vector<std::string>& args) {
    std::vector<std::string> known;
    for (const CLI::App* scope : {&app, command}) {
        if (scope == nullptr) continue;
        for (const CLI::Option* option : scope->get_options()) {
            for (const auto& name : option->get_lnames()) known.push_back("--" + name);
            for (const auto& name : option->get_snames()) known.push_back("-" + name);
        }
    }
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg.size() < 2 || arg[0] != '-' || (arg[1] >= '0' && arg[1] <= '9')) continue;
        const std::string flag = arg.substr(0, arg.find('='));
        if (std::find(known.begin(), known.end(), flag) != known.end()) {
            // Skip the value of an option that takes one.
            const CLI::Option* option = command != nullptr ? command->get_option_no_throw(flag) : nullptr;
            if (option == nullptr) option = app.get_option_no_throw(flag);
            if (option != nullptr && option->get_items_expected_min() > 0 && flag == arg) ++i;
            continue;
        }
        if (arg.size() > 2 && arg[1] != '-' && flag == arg) {
            // -vq: short flags together are known if each is.
            bool all_known = true;
            for (std::size_t c = 1; c < arg.size(); ++c) {
                all_known = all_known && std::find(known.begin(), known.end(), std::string("-") + arg[c]) != known.end();
            }
            if (all_known) continue;
        }
        return UnknownFlag{flag, closest(flag, known)};
    }
    return std::nullopt;
}

// `lokt guard build make -j4`: the words after the name were meant as the
// command. Returns the command line with "--" where it belongs, or "" if that
// is not it (a flag before the command that guard does not know, say).
std::string with_missing_dashes(const CLI::App& app, const CLI::App& guard, const std::vector<std::string>& args,
                                std::size_t at) {
    std::vector<std::string> words(args.begin() + static_cast<std::ptrdiff_t>(at), args.end());
    std::size_t positionals = 0;
    for (std::size_t i = 1; i < words.size(); ++i) {
        const std::string& word = words[i];
        if (word.size() > 1 && word[0] == '-') {
            const std::string flag = word.substr(0, word.find('='));
            const CLI::Option* option = guard.get_option_no_throw(flag);
            if (option == nullptr) option = app.get_option_no_throw(flag);
            if (option == nullptr) return "";
            if (option->get_items_expected_min() > 0 && flag == word) ++i;
            continue;
        }
        if (++positionals == 2) {
            words.insert(words.begin() + static_cast<std::ptrdiff_t>(i), "--");
            std::string line = "lokt";
            for (const auto& w : words) line += " " + w;
            return line;
        }
    }
    return "";
}

// A named command needs only its own definition: describing all of them
// (their options, validators and help texts) was a measurable part of a short
// command's run. Help, completion and the bare `lokt` get the whole set.
std::vector<CommandSpec> describe_commands(const lokt::client::CommandEnv& env, std::string_view command) {
    std::vector<CommandSpec> specs;
    for (const auto& [name, describe] : k_commands) {
        if (name == command) {
            specs.push_back(describe(env));
            return specs;
        }
    }
    for (const auto& [name, describe] : k_commands) specs.push_back(describe(env));
    return specs;
}

// The argument parser's view of one command. spec must outlive app: the
// parser writes into the variables spec points at and runs spec.run.
void add_to_parser(CLI::App& app, const CommandSpec& spec) {
    CLI::App* command = app.add_subcommand(spec.name, spec.summary);
    if (!spec.footer.empty()) command->footer(spec.footer);
    std::vector<std::pair<const CLI::Option*, bool*>> given;
    for (const lokt::client::OptionSpec& option : spec.options) {
        CLI::Option* added = std::visit(
            [&](auto* target) -> CLI::Option* {
                if constexpr (std::is_same_v<decltype(target), bool*>) {
                    return command->add_flag(option.names, *target, option.help);
                } else {
                    return command->add_option(option.names, *target, option.help);
                }
            },
            option.target);
        if (option.is_required) added->required();
        if (!option.allowed.empty()) added->check(CLI::IsMember(option.allowed));
        if (option.bounds) added->check(CLI::Range(option.bounds->first, option.bounds->second));
        if (!option.value_name.empty()) added->type_name(option.value_name);
        if (option.given != nullptr) given.emplace_back(added, option.given);
    }
    for (const CommandSpec& action : spec.actions) add_to_parser(*command, action);
    if (!spec.actions.empty()) command->require_subcommand(1);
    if (spec.run) {
        command->callback([&spec, given] {
            for (const auto& [option, flag] : given) *flag = option->count() > 0;
            spec.run();
        });
    }
}

constexpr const char* k_main_footer = R"(Run 'lokt help COMMAND' (or 'lokt COMMAND --help') for a command's options and examples.

Exit status: 0 success, 1 error, 2 held by another (or frozen, or --wait timed
out), 3 not found, 4 not the owner, 5 deadlock, 64 usage error; guard exits as
its command, or 6 when it lost its lock while the command ran.)";

int run(int argc, char** argv) {
    SplitArguments split = split_at_dashes(argc, argv);
    std::size_t at = command_index(split.before);
    // git's habits: `lokt --version` is `lokt version`; `lokt help [CMD...]` is
    // `lokt [CMD...] --help`.
    if (at == split.before.size()) {
        const auto version = std::find(split.before.begin() + 1, split.before.end(), "--version");
        if (version != split.before.end()) {
            *version = "version";
            at = command_index(split.before);
        }
    }
    bool bare = false;
    if (at < split.before.size() && split.before[at] == "help" && !split.had_dashes) {
        split.before.erase(split.before.begin() + static_cast<std::ptrdiff_t>(at));
        bare = at == split.before.size();
        split.before.emplace_back("--help");
        at = command_index(split.before);
    }
    const std::string command = at < split.before.size() ? split.before[at] : "";
    if (!command.empty() && command != "__complete" && !is_command(command)) return unknown_command(command);
    // Only lokt's own flags (or none): the command list, as `git` alone prints it.
    if (command.empty() && std::all_of(split.before.begin() + 1, split.before.end(), [](const std::string& arg) {
            return arg == "-v" || arg == "--verbose" || arg == "-q" || arg == "--quiet";
        })) {
        bare = true;
    }

    CLI::App app{"lokt: named locks for agents sharing a repository"};
    app.name("lokt");
    app.require_subcommand(1);
    app.fallthrough();  // -v and -q after the command name too (commands inherit it)
    lokt::client::CliContext cli;
    app.add_flag("-v,--verbose", cli.parsed_options().verbose, "Say which root and backend are used (on stderr)");
    app.add_flag("-q,--quiet", cli.parsed_options().quiet, "No warnings and no live waiting line");
    app.add_flag("--version")->description("Print the version (as 'lokt version')");
    int exit_status = 0;
    const lokt::client::CommandEnv env{&cli, &exit_status, &split.after};
    const std::vector<CommandSpec> specs = describe_commands(env, command);
    for (const CommandSpec& spec : specs) add_to_parser(app, spec);
    app.footer(k_main_footer);  // after the commands, which would inherit it

    if (command == "__complete") {
        // Hidden: candidates for shell completion (see completion.hpp).
        const auto complete = std::find(split.before.begin(), split.before.end(), "__complete");
        std::vector<std::string> words(complete + 1, split.before.end());
        if (split.had_dashes) {
            words.push_back("--");
            words.insert(words.end(), split.after.begin(), split.after.end());
        }
        if (words.empty()) words.emplace_back();
        return lokt::client::print_completions(specs, cli, words);
    }
    if (bare && !split.had_dashes) {
        std::fputs(app.help().c_str(), stdout);
        return 0;
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
        const auto named = app.get_subcommands([&](const CLI::App* candidate) { return candidate->get_name() == command; });
        const CLI::App* sub = named.empty() ? nullptr : named.front();
        if (command == "guard" && !split.had_dashes && sub != nullptr) {
            if (const std::string fixed = with_missing_dashes(app, *sub, split.before, at); !fixed.empty()) {
                return usage_error("missing \"--\" before the command: " + fixed, command);
            }
        }
        if (auto unknown = find_unknown_flag(app, sub, split.before)) {
            std::string message = "unknown flag \"" + unknown->flag + "\"";
            if (unknown->guess) message += "; did you mean \"" + *unknown->guess + "\"?";
            return usage_error(message, command);
        }
        return usage_error(error.what(), command);
    }
    return exit_status;
}

}  // namespace

int main(int argc, char** argv) {
    lokt::client::remember_command_line(argc, argv);
    int status = 1;
    try {
        status = run(argc, argv);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: internal: %s\n", error.what());
        status = 1;
    }
#ifdef LOKT_FAST_EXIT
    // Every command has let go of what it held by now (holds, files, the
    // terminal: each in its own scope). What exit() would still do is run the
    // static destructors and atexit handlers of the libraries linked in (the
    // argument parser's validators, Asio's and OpenSSL's clean-up), touching
    // pages that nothing else needed, at the end of every guarded command. Only
    // the output buffers matter: flush them, and leave. Sanitizer builds exit
    // normally (their leak and race reports run at exit).
    std::fflush(nullptr);
    std::_Exit(status);
#else
    return status;
#endif
}
