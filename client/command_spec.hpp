// What a command accepts on the command line, described as plain data: its
// name, help, flags and options (bound to the command's own variables) and
// what to run. Commands build one of these; only main.cpp turns them into an
// argument parser. The parser (CLI11) is a large header whose static objects
// are constructed once per file that includes it, at every start of lokt, so
// it is kept to that one file.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace lokt::client {

// A flag (bool), an option with a value (string or number), or a positional
// argument (a name without a leading '-'); a list takes every value given.
using OptionTarget = std::variant<bool*, std::string*, int*, std::size_t*, std::vector<std::string>*>;

struct OptionSpec {
    std::string names;  // "name", "--ttl", "-E,--conflict-exit-code"
    std::string help;
    OptionTarget target;
    bool is_required = false;
    bool* given = nullptr;                      // set to whether it appeared at all
    std::vector<std::string> allowed;           // the only values accepted, if any
    std::optional<std::pair<int, int>> bounds;  // an int's accepted range
    std::string value_name;                     // "FILE": shown in help, completed as a path

    OptionSpec& required() {
        is_required = true;
        return *this;
    }
    OptionSpec& record_given(bool& flag) {
        given = &flag;
        return *this;
    }
    OptionSpec& choices(std::vector<std::string> values) {
        allowed = std::move(values);
        return *this;
    }
    OptionSpec& value_name_is(std::string name) {
        value_name = std::move(name);
        return *this;
    }
    OptionSpec& range(int low, int high) {
        bounds = std::pair{low, high};
        return *this;
    }

    bool takes_value() const { return !std::holds_alternative<bool*>(target); }
    bool is_positional() const { return !names.empty() && names[0] != '-'; }
    // Every spelling ("-E", "--conflict-exit-code"), and the "--long" ones.
    std::vector<std::string> spellings() const;
    std::vector<std::string> long_names() const;
};

struct CommandSpec {
    CommandSpec(std::string name_, std::string summary_, std::string footer_ = {}, std::function<void()> run_ = {})
        : name(std::move(name_)), summary(std::move(summary_)), footer(std::move(footer_)), run(std::move(run_)) {}

    std::string name;
    std::string summary;
    std::string footer;  // examples and exit statuses
    std::vector<OptionSpec> options;
    std::vector<CommandSpec> actions;  // `lokt daemon start|stop|...`: one is required
    std::function<void()> run;         // after a successful parse

    OptionSpec& flag(std::string names, bool& target, std::string help) {
        return add(std::move(names), &target, std::move(help));
    }
    OptionSpec& option(std::string names, std::string& target, std::string help) {
        return add(std::move(names), &target, std::move(help));
    }
    OptionSpec& option(std::string names, int& target, std::string help) {
        return add(std::move(names), &target, std::move(help));
    }
    OptionSpec& option(std::string names, std::size_t& target, std::string help) {
        return add(std::move(names), &target, std::move(help));
    }

private:
    OptionSpec& add(std::string names, OptionTarget target, std::string help) {
        OptionSpec& added = options.emplace_back();
        added.names = std::move(names);
        added.help = std::move(help);
        added.target = target;
        return added;
    }
};

inline std::vector<std::string> OptionSpec::spellings() const {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (start <= names.size()) {
        const std::size_t comma = names.find(',', start);
        parts.push_back(names.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return parts;
}

inline std::vector<std::string> OptionSpec::long_names() const {
    std::vector<std::string> longs;
    for (auto& part : spellings()) {
        if (part.rfind("--", 0) == 0) longs.push_back(std::move(part));
    }
    return longs;
}

}  // namespace lokt::client
