// See claude_hook.hpp.
#include "client/claude_hook.hpp"

#include <nlohmann/json.hpp>

namespace lokt::client {
namespace {

using HookJson = nlohmann::json;

Error bad_payload(const std::string& why) { return make_error(ErrorCode::usage, "PreToolUse payload: " + why); }

std::string string_field(const HookJson& object, const char* key) {
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

bool tool_writes_file(std::string_view tool_name) {
    return tool_name == "Edit" || tool_name == "Write" || tool_name == "MultiEdit" || tool_name == "NotebookEdit";
}

Result<ClaudeToolCall> parse_pretooluse_payload(std::string_view text) {
    HookJson payload;
    try {
        payload = HookJson::parse(text.begin(), text.end());
    } catch (const HookJson::exception&) {
        return bad_payload("not JSON");
    }
    if (!payload.is_object()) return bad_payload("not a JSON object");
    ClaudeToolCall call;
    call.tool_name = string_field(payload, "tool_name");
    if (call.tool_name.empty()) return bad_payload("no \"tool_name\"");
    call.cwd = string_field(payload, "cwd");
    call.session_id = string_field(payload, "session_id");
    if (!tool_writes_file(call.tool_name)) return call;
    const auto input = payload.find("tool_input");
    if (input == payload.end() || !input->is_object()) return bad_payload("no \"tool_input\" object for " + call.tool_name);
    call.file_path = string_field(*input, call.tool_name == "NotebookEdit" ? "notebook_path" : "file_path");
    if (call.file_path.empty()) call.file_path = string_field(*input, "file_path");
    if (call.file_path.empty()) return bad_payload(call.tool_name + " without a file path");
    return call;
}

std::string pretooluse_deny(const std::string& reason) {
    HookJson output;
    output["hookSpecificOutput"] = {
        {"hookEventName", "PreToolUse"}, {"permissionDecision", "deny"}, {"permissionDecisionReason", reason}};
    return output.dump() + "\n";
}

}  // namespace lokt::client
