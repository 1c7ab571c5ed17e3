// See claude_hook_config.hpp.
#include "client/mcp/claude_hook_config.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace lokt::client::mcp {
namespace {

namespace fs = std::filesystem;
using OrderedJson = nlohmann::ordered_json;

constexpr std::string_view k_hook_subcommand = " hook claude-pretooluse";
// Seconds Claude Code gives the hook; the check itself takes milliseconds.
constexpr int k_hook_timeout_sec = 10;

// The lokt command as a shell word (Claude Code runs hook commands through a shell).
std::string shell_word(const std::string& text) {
    if (!text.empty() &&
        text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:,@%") == std::string::npos) {
        return text;
    }
    std::string out = "'";
    for (char c : text) {
        if (c == '\'')
            out.append("'\\''");
        else
            out.push_back(c);
    }
    return out + "'";
}

bool ends_with(const std::string& text, std::string_view tail) {
    return text.size() >= tail.size() && text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

Result<ConfigPlan> plan_claude_hook_config(const fs::path& project, const std::string& command) {
    ConfigPlan plan;
    plan.path = project / k_claude_settings_path;
    std::error_code ec;
    plan.existed = fs::exists(plan.path, ec);
    if (plan.existed) {
        std::ifstream in(plan.path, std::ios::binary);
        if (!in) return make_error(ErrorCode::io, "cannot read " + plan.path.string());
        std::ostringstream text;
        text << in.rdbuf();
        plan.before = text.str();
    }
    const std::string where = plan.path.string();
    const std::string by_hand = "; add the hook by hand (see docs/agents.md, \"Edits that are refused\")";
    OrderedJson document = OrderedJson::object();
    if (plan.before.find_first_not_of(" \t\r\n") != std::string::npos) {
        document = OrderedJson::parse(plan.before, nullptr, false);
        if (document.is_discarded()) {
            const bool commented = !OrderedJson::parse(plan.before, nullptr, false, true).is_discarded();
            return make_error(
                ErrorCode::usage,
                where + (commented ? " has comments, which rewriting it would lose" : " is not valid JSON") + by_hand);
        }
        if (!document.is_object()) return make_error(ErrorCode::usage, where + " is not a JSON object" + by_hand);
    }
    OrderedJson& hooks = document["hooks"];
    if (hooks.is_null()) hooks = OrderedJson::object();
    if (!hooks.is_object()) return make_error(ErrorCode::usage, where + ": \"hooks\" is not an object" + by_hand);
    OrderedJson& pre_tool_use = hooks["PreToolUse"];
    if (pre_tool_use.is_null()) pre_tool_use = OrderedJson::array();
    if (!pre_tool_use.is_array()) return make_error(ErrorCode::usage, where + ": \"hooks.PreToolUse\" is not an array" + by_hand);

    const std::string hook_command = shell_word(command) + std::string(k_hook_subcommand);
    // An entry that already runs lokt's hook (with this lokt or another
    // path to it) is kept where it is, with its matcher; only its command is
    // brought up to date.
    bool found = false;
    for (OrderedJson& entry : pre_tool_use) {
        if (!entry.is_object() || !entry.contains("hooks") || !entry["hooks"].is_array()) continue;
        for (OrderedJson& hook : entry["hooks"]) {
            if (!hook.is_object() || !hook.contains("command") || !hook["command"].is_string()) continue;
            const std::string existing = hook["command"].get<std::string>();
            if (!ends_with(existing, k_hook_subcommand)) continue;
            if (!found) hook["command"] = hook_command;
            found = true;
        }
    }
    if (!found) {
        OrderedJson hook = OrderedJson::object();
        hook["type"] = "command";
        hook["command"] = hook_command;
        hook["timeout"] = k_hook_timeout_sec;
        OrderedJson entry = OrderedJson::object();
        entry["matcher"] = std::string(k_claude_edit_matcher);
        entry["hooks"] = OrderedJson::array({hook});
        pre_tool_use.push_back(std::move(entry));
    }
    // An unchanged document keeps its exact bytes (indentation included).
    if (!plan.before.empty() && OrderedJson::parse(plan.before, nullptr, false) == document) {
        plan.after = plan.before;
    } else {
        plan.after = document.dump(2) + "\n";
    }
    return plan;
}

}  // namespace lokt::client::mcp
