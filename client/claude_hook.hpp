// Claude Code's PreToolUse hook, as lokt speaks it: the tool call read from
// the hook's JSON on stdin, and the JSON that denies it. Claude Code runs the
// hook before every matching tool call; a deny stops the call and shows the
// reason to the model. lokt never answers "allow" (that would also skip the
// user's own permission prompts): a call lokt does not refuse gets no answer
// at all, and Claude Code's permission rules decide as they would without it.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace lokt::client {

struct ClaudeToolCall {
    std::string tool_name;   // "Edit", "Write", "Bash", ...
    std::string file_path;   // the file a writing tool writes; empty otherwise
    std::string cwd;         // the session's working directory
    std::string session_id;  // for messages only
};

// The tools that write a file, and the tool_input field naming it: Edit,
// Write and MultiEdit (file_path), NotebookEdit (notebook_path).
bool tool_writes_file(std::string_view tool_name);

// ErrorCode::usage when the text is not a PreToolUse payload (not JSON, no
// tool_name, a writing tool without its path).
Result<ClaudeToolCall> parse_pretooluse_payload(std::string_view text);

// {"hookSpecificOutput": {"hookEventName": "PreToolUse",
//  "permissionDecision": "deny", "permissionDecisionReason": reason}}
std::string pretooluse_deny(const std::string& reason);

}  // namespace lokt::client
