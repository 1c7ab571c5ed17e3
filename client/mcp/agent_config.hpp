// `lokt mcp install`: the MCP configuration each coding agent reads from a
// project (Claude Code's .mcp.json, Cursor's .cursor/mcp.json, Codex's
// .codex/config.toml, Gemini CLI's .gemini/settings.json), merged into what is
// already there: other servers and keys are kept, only lokt's entry is added
// or replaced, and a file that already has it is left untouched.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace lokt::client::mcp {

enum class Agent { claude, cursor, codex, gemini };

// "Claude Code", ".mcp.json", ...
std::string_view agent_title(Agent agent);
std::string_view agent_config_path(Agent agent);

struct ConfigPlan {
    std::filesystem::path path;
    bool existed = false;
    std::string before;  // the file as it is (empty when absent)
    std::string after;   // the file with lokt's entry
    bool changed() const { return !existed || before != after; }
};

// The file for `agent` under `project`, with lokt's server entry (`command mcp`).
// An error when the file is there but cannot be merged safely (not JSON or
// TOML lokt can edit, comments that rewriting would lose): nothing is written.
Result<ConfigPlan> plan_agent_config(Agent agent, const std::filesystem::path& project, const std::string& command);

// Writes a plan's file (creating its folder), atomically.
Result<void> apply_config(const ConfigPlan& plan);

}  // namespace lokt::client::mcp
