// `lokt mcp install --claude`'s second file: the PreToolUse hook entry in
// Claude Code's project settings (.claude/settings.json) that runs
// `lokt hook claude-pretooluse` before every Edit, Write, MultiEdit and
// NotebookEdit, so that edits of paths another agent reserved are refused.
// Merged like the MCP entries: other hooks and keys stay, and a file that
// already runs the hook is left untouched.
#pragma once

#include <filesystem>
#include <string>

#include "client/mcp/agent_config.hpp"

namespace lokt::client::mcp {

// Where the hook goes, relative to the project.
inline constexpr std::string_view k_claude_settings_path = ".claude/settings.json";
// The tools whose edits the hook checks (a PreToolUse matcher).
inline constexpr std::string_view k_claude_edit_matcher = "Edit|Write|MultiEdit|NotebookEdit";

// The settings file under project with the hook entry for `command`. An
// error when the file is there but cannot be merged safely (not a JSON
// object, comments that rewriting would lose, hooks of another shape).
Result<ConfigPlan> plan_claude_hook_config(const std::filesystem::path& project, const std::string& command);

}  // namespace lokt::client::mcp
