// See agent_config.hpp.
#include "client/mcp/agent_config.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <vector>

#include "client/atomic_file.hpp"

namespace lokt::client::mcp {
namespace {

namespace fs = std::filesystem;
// Key order as the user wrote it survives a rewrite.
using OrderedJson = nlohmann::ordered_json;

Result<std::string> read_text(const fs::path& path, bool& existed) {
    std::error_code ec;
    existed = fs::exists(path, ec);
    if (!existed) return std::string();
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(ErrorCode::io, "cannot read " + path.string());
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Every agent reads the same shape: {"mcpServers": {"lokt": {"command": ..., "args": ["mcp"]}}}.
Result<std::string> merge_json(const fs::path& path, const std::string& before, const std::string& command) {
    OrderedJson document = OrderedJson::object();
    if (before.find_first_not_of(" \t\r\n") != std::string::npos) {
        document = OrderedJson::parse(before, nullptr, false);
        if (document.is_discarded()) {
            // JSON with comments parses only when comments are allowed; a rewrite would drop them.
            const bool commented = !OrderedJson::parse(before, nullptr, false, true).is_discarded();
            return make_error(ErrorCode::usage,
                              path.string() +
                                  (commented ? " has comments, which rewriting it would lose" : " is not valid JSON") +
                                  "; add lokt by hand (see lokt mcp install --print)");
        }
        if (!document.is_object()) return make_error(ErrorCode::usage, path.string() + " is not a JSON object");
    }
    OrderedJson& servers = document["mcpServers"];
    if (servers.is_null()) servers = OrderedJson::object();
    if (!servers.is_object()) return make_error(ErrorCode::usage, path.string() + ": \"mcpServers\" is not an object");
    OrderedJson& entry = servers["lokt"];
    if (!entry.is_object()) entry = OrderedJson::object();
    // Only the keys lokt owns are set; others the user added (env, ...) stay.
    entry["command"] = command;
    entry["args"] = OrderedJson::array({"mcp"});
    std::string after = document.dump(2) + "\n";
    // An unchanged document keeps its exact bytes (indentation included).
    if (!before.empty() && OrderedJson::parse(before, nullptr, false) == document) return before;
    return after;
}

std::string toml_string(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

// Codex's TOML: the [mcp_servers.lokt] table alone is added or replaced; every
// other line stays as it is.
Result<std::string> merge_toml(const fs::path& path, const std::string& before, const std::string& command) {
    const std::string table = "[mcp_servers.lokt]\ncommand = " + toml_string(command) + "\nargs = [\"mcp\"]\n";
    std::vector<std::string> lines;
    {
        std::istringstream in(before);
        for (std::string line; std::getline(in, line);) lines.push_back(line);
    }
    static const std::regex header(R"(^\s*\[\s*mcp_servers\s*\.\s*("lokt"|lokt)\s*\]\s*(#.*)?$)");
    static const std::regex any_header(R"(^\s*\[)");
    static const std::regex elsewhere(R"(^\s*mcp_servers\s*(\.|=))");
    static const std::regex servers_header(R"(^\s*\[\s*mcp_servers\s*\]\s*(#.*)?$)");
    static const std::regex key_in_servers(R"(^\s*("lokt"|lokt)\s*(\.|=))");
    std::size_t start = lines.size();
    bool in_servers = false;  // inside a [mcp_servers] table, where `lokt = {...}` would define it too
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (std::regex_search(lines[i], header)) {
            start = i;
            break;
        }
        if (std::regex_search(lines[i], any_header)) in_servers = std::regex_search(lines[i], servers_header);
        if ((!in_servers && std::regex_search(lines[i], elsewhere)) ||
            (in_servers && std::regex_search(lines[i], key_in_servers))) {
            return make_error(ErrorCode::usage, path.string() +
                                                    " sets mcp_servers with dotted keys or an inline table; add lokt by hand "
                                                    "(see lokt mcp install --codex --print)");
        }
    }
    std::string after;
    if (start == lines.size()) {
        after = before;
        if (!after.empty() && after.back() != '\n') after += '\n';
        if (!after.empty()) after += '\n';
        after += table;
        return after;
    }
    std::size_t end = start + 1;
    while (end < lines.size() && !std::regex_search(lines[end], any_header)) ++end;
    // Blank lines before the next table belong to the layout, not to ours.
    std::size_t body_end = end;
    while (body_end > start + 1 && lines[body_end - 1].find_first_not_of(" \t\r") == std::string::npos) --body_end;
    for (std::size_t i = 0; i < start; ++i) after += lines[i] + "\n";
    after += table;
    for (std::size_t i = body_end; i < lines.size(); ++i) after += lines[i] + "\n";
    return after;
}

}  // namespace

std::string_view agent_title(Agent agent) {
    switch (agent) {
        case Agent::claude: return "Claude Code";
        case Agent::cursor: return "Cursor";
        case Agent::codex: return "Codex";
        case Agent::gemini: return "Gemini CLI";
    }
    return "";
}

std::string_view agent_config_path(Agent agent) {
    switch (agent) {
        case Agent::claude: return ".mcp.json";
        case Agent::cursor: return ".cursor/mcp.json";
        case Agent::codex: return ".codex/config.toml";
        case Agent::gemini: return ".gemini/settings.json";
    }
    return "";
}

Result<ConfigPlan> plan_agent_config(Agent agent, const fs::path& project, const std::string& command) {
    ConfigPlan plan;
    plan.path = project / agent_config_path(agent);
    LOKT_TRY_LET(before, read_text(plan.path, plan.existed));
    plan.before = std::move(*before);
    if (agent == Agent::codex) {
        LOKT_TRY_LET(after, merge_toml(plan.path, plan.before, command));
        plan.after = std::move(*after);
    } else {
        LOKT_TRY_LET(after, merge_json(plan.path, plan.before, command));
        plan.after = std::move(*after);
    }
    return plan;
}

Result<void> apply_config(const ConfigPlan& plan) {
    std::error_code ec;
    fs::create_directories(plan.path.parent_path(), ec);
    if (ec) return make_error(ErrorCode::io, "cannot create " + plan.path.parent_path().string() + ": " + ec.message());
    return write_file_atomically(plan.path, plan.after);
}

}  // namespace lokt::client::mcp
