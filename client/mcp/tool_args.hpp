// A tool call's arguments, read with checks that name the offending argument,
// so that bad input becomes a tool error the model can act on. The JSON
// library stays inside tool_args.cpp (no header exposes it).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/duration.hpp"
#include "common/result.hpp"

namespace lokt::client::mcp {

class ToolArgs {
public:
    // The arguments object's JSON text; empty text means no arguments ({}).
    static Result<ToolArgs> parse(std::string_view json_text);
    ToolArgs(ToolArgs&&) noexcept;
    ToolArgs& operator=(ToolArgs&&) noexcept;
    ~ToolArgs();

    // An error naming the first argument not in `known`.
    Result<void> only(std::initializer_list<std::string_view> known) const;
    bool has(std::string_view key) const;
    // A string argument; an error when present with another type.
    Result<std::optional<std::string>> string(std::string_view key) const;
    Result<std::string> required_string(std::string_view key) const;
    // A boolean argument; an error when present with another type.
    Result<std::optional<bool>> boolean(std::string_view key) const;
    // An array of strings (a lone string is one item); an error for another
    // type, an empty array, or more than max_items items.
    Result<std::optional<std::vector<std::string>>> string_list(std::string_view key, std::size_t max_items) const;
    // A whole number within [min, max]; an error for another type (a
    // fraction, a string) or a number out of range.
    Result<std::optional<std::int64_t>> integer(std::string_view key, std::int64_t min, std::int64_t max) const;
    // A duration: a string lokt reads ("30s", "10m", "1h30m") or a whole
    // number of seconds; within [min, max].
    Result<std::optional<Nanoseconds>> duration(std::string_view key, Nanoseconds min, Nanoseconds max) const;

private:
    struct Impl;
    explicit ToolArgs(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

}  // namespace lokt::client::mcp
