// See session.hpp.
#include "client/mcp/session.hpp"

#include <lokt/build_info.hpp>

#include <exception>
#include <nlohmann/json.hpp>

namespace lokt::client::mcp {
namespace {

using Json = nlohmann::json;

// JSON-RPC 2.0's codes, and the one MCP 2026-07-28 adds for versions.
constexpr int k_parse_error = -32700;
constexpr int k_invalid_request = -32600;
constexpr int k_method_not_found = -32601;
constexpr int k_invalid_params = -32602;
constexpr int k_unsupported_version = -32022;

constexpr const char* k_meta_version = "io.modelcontextprotocol/protocolVersion";
constexpr const char* k_meta_capabilities = "io.modelcontextprotocol/clientCapabilities";
constexpr const char* k_meta_server_info = "io.modelcontextprotocol/serverInfo";

// How long a client may keep tools/list and server/discover: the tools change
// only with the binary.
constexpr std::int64_t k_list_ttl_ms = 60 * 60 * 1000;

constexpr const char* k_instructions =
    "lokt coordinates agents that share this machine and repository with named locks. Take a lock with the acquire "
    "tool before work that must not run twice at once (a build, a migration, a push, a deploy) and release it when "
    "done; renew it if the work outlasts its TTL. Holds taken here end at once when this session ends. The why tool "
    "explains a refusal and the status tool lists every hold. Before editing an area of the repository another agent "
    "could be editing, reserve its paths (globs) with the reserve tool and unreserve them when done; check_paths says "
    "whether files may be written, and by whom they are reserved if not.";

// How deeply a message may nest arrays and objects. The JSON library parses,
// copies and prints values recursively, so a line of a million '[' would
// overflow the stack; no MCP request comes near this.
constexpr int k_max_depth = 128;

// Whether a JSON text nests deeper than k_max_depth (strings skipped).
bool nests_too_deep(std::string_view text) {
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > k_max_depth) return true;
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return false;
}

std::string dump(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

bool is_legacy(std::string_view version) {
    for (auto known : k_legacy_versions) {
        if (known == version) return true;
    }
    return false;
}

Json supported_versions() {
    Json list = Json::array({std::string(k_modern_version)});
    for (auto version : k_legacy_versions) list.push_back(std::string(version));
    return list;
}

Json server_info() { return Json{{"name", "lokt"}, {"title", "lokt"}, {"version", k_version}}; }

// Raised while handling a request: answered as a JSON-RPC error.
struct RpcError {
    int code;
    std::string message;
    Json data = nullptr;
};

// How one request is to be answered.
struct Era {
    std::string version;
    bool modern = false;  // 2026-07-28 shapes: resultType, serverInfo in _meta, cache hints
    // 2025-06-18 and later: titles, output schemas and structured content.
    bool structured() const { return modern || version >= "2025-06-18"; }
};

}  // namespace

struct Session::Impl {
    StdioChannel& channel;
    std::vector<std::unique_ptr<Tool>> tools;
    HoldBook& holds;
    SessionReservations& reservations;
    std::string& negotiated;

    Result<void> send(const Json& message) { return channel.send(dump(message)); }
    Result<void> send_error(const Json& id, int code, const std::string& message, const Json& data = nullptr) {
        Json error{{"code", code}, {"message", message}};
        if (!data.is_null()) error["data"] = data;
        return send(Json{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}});
    }

    Era era_of(const std::string& method, const Json& params) const {
        const Json* meta = params.is_object() && params.contains("_meta") ? &params["_meta"] : nullptr;
        if (meta != nullptr && !meta->is_object()) throw RpcError{k_invalid_params, "_meta must be an object"};
        const bool carries_version = meta != nullptr && meta->contains(k_meta_version);
        if (method == "initialize" || !carries_version) {
            if (method == "server/discover") {
                throw RpcError{k_invalid_params, std::string("server/discover needs _meta[\"") + k_meta_version +
                                                     "\"] and _meta[\"" + k_meta_capabilities + "\"]"};
            }
            return Era{negotiated.empty() ? std::string(k_legacy_versions[0]) : negotiated, false};
        }
        const Json& version = (*meta)[k_meta_version];
        if (!version.is_string())
            throw RpcError{k_invalid_params, std::string("_meta[\"") + k_meta_version + "\"] must be a string"};
        const std::string requested = version.get<std::string>();
        if (requested != k_modern_version && !is_legacy(requested)) {
            throw RpcError{k_unsupported_version, "Unsupported protocol version",
                           Json{{"supported", supported_versions()}, {"requested", requested}}};
        }
        if (!meta->contains(k_meta_capabilities) || !(*meta)[k_meta_capabilities].is_object()) {
            throw RpcError{k_invalid_params, std::string("_meta[\"") + k_meta_capabilities + "\"] is required (an object)"};
        }
        return Era{requested, requested == k_modern_version};
    }

    Json finish(Json result, const Era& era) const {
        if (era.modern) {
            result["resultType"] = "complete";
            result["_meta"] = Json{{k_meta_server_info, server_info()}};
        }
        return result;
    }

    Json initialize(const Json& params) {
        if (!params.is_object() || !params.contains("protocolVersion") || !params["protocolVersion"].is_string())
            throw RpcError{k_invalid_params, "initialize needs params.protocolVersion (a string)"};
        const std::string requested = params["protocolVersion"].get<std::string>();
        // The client's version when we speak it, else our newest: the client
        // then decides whether it can go on (the legacy negotiation).
        negotiated = is_legacy(requested) ? requested : std::string(k_legacy_versions[0]);
        Json result{{"protocolVersion", negotiated},
                    {"capabilities", Json{{"tools", Json{{"listChanged", false}}}}},
                    {"serverInfo", server_info()},
                    {"instructions", k_instructions}};
        return result;
    }

    Json discover() const {
        return Json{{"supportedVersions", supported_versions()},
                    {"capabilities", Json{{"tools", Json{{"listChanged", false}}}}},
                    {"instructions", k_instructions},
                    {"ttlMs", k_list_ttl_ms},
                    {"cacheScope", "public"}};
    }

    Json list_tools(const Era& era) const {
        Json list = Json::array();
        for (const auto& tool : tools) {
            Json entry{{"name", tool->name()}};
            if (era.structured()) entry["title"] = tool->title();
            entry["description"] = tool->description();
            entry["inputSchema"] = Json::parse(tool->input_schema());
            if (era.structured()) entry["outputSchema"] = Json::parse(tool->output_schema());
            entry["annotations"] = Json{{"title", tool->title()},
                                        {"readOnlyHint", tool->read_only()},
                                        {"destructiveHint", false},
                                        {"idempotentHint", tool->read_only()},
                                        {"openWorldHint", false}};
            list.push_back(std::move(entry));
        }
        Json result{{"tools", std::move(list)}};
        if (era.modern) {
            result["ttlMs"] = k_list_ttl_ms;
            result["cacheScope"] = "public";
        }
        return result;
    }

    Json call_tool(const Json& params, const Era& era) {
        if (!params.is_object() || !params.contains("name") || !params["name"].is_string())
            throw RpcError{k_invalid_params, "tools/call needs params.name (a string)"};
        const std::string name = params["name"].get<std::string>();
        Tool* tool = nullptr;
        for (const auto& candidate : tools) {
            if (candidate->name() == name) tool = candidate.get();
        }
        if (tool == nullptr) throw RpcError{k_invalid_params, "Unknown tool: " + name};

        Json progress_token = nullptr;
        if (params.contains("_meta") && params["_meta"].is_object() && params["_meta"].contains("progressToken")) {
            const Json& token = params["_meta"]["progressToken"];
            if (token.is_string() || token.is_number()) progress_token = token;
        }
        int progress_count = 0;
        ToolContext context{
            holds, reservations, [&](const std::string& message) {
                if (progress_token.is_null()) return;
                Json note{{"progressToken", progress_token}, {"progress", ++progress_count}, {"message", message}};
                (void)send(Json{{"jsonrpc", "2.0"}, {"method", "notifications/progress"}, {"params", note}});
            }};

        ToolResult outcome;
        const Json arguments = params.contains("arguments") ? params["arguments"] : Json(nullptr);
        if (!arguments.is_null() && !arguments.is_object()) {
            outcome = ToolResult::error("the arguments must be a JSON object");
        } else {
            auto args = ToolArgs::parse(arguments.is_null() ? std::string() : dump(arguments));
            if (!args) {
                outcome = ToolResult::error(args.error().message);
            } else {
                try {
                    outcome = tool->call(*args, context);
                } catch (const std::exception& e) {
                    outcome = ToolResult::error(std::string("internal error: ") + e.what());
                }
            }
        }
        Json result;
        if (outcome.is_error) {
            result["content"] = Json::array({Json{{"type", "text"}, {"text", outcome.text}}});
            result["isError"] = true;
            return result;
        }
        const Json structured = Json::parse(outcome.structured);
        result["content"] = Json::array({Json{{"type", "text"}, {"text", dump(structured)}}});
        if (era.structured()) result["structuredContent"] = structured;
        result["isError"] = false;
        return result;
    }

    Result<void> answer(const Json& id, const std::string& method, const Json& params) {
        try {
            const Era era = era_of(method, params);
            Json result;
            if (method == "initialize") {
                result = initialize(params);
            } else if (method == "ping" && !era.modern) {
                result = Json::object();
            } else if (method == "server/discover") {
                result = discover();
            } else if (method == "tools/list") {
                result = list_tools(era);
            } else if (method == "tools/call") {
                result = call_tool(params, era);
            } else {
                throw RpcError{k_method_not_found, "Method not found: " + method};
            }
            return send(Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", finish(std::move(result), era)}});
        } catch (const RpcError& error) {
            return send_error(id, error.code, error.message, error.data);
        } catch (const std::exception& e) {
            return send_error(id, -32603, std::string("Internal error: ") + e.what());
        }
    }
};

Session::Session(StdioChannel& channel, std::vector<std::unique_ptr<Tool>> tools, HoldBook& holds,
                 SessionReservations& reservations)
    : m_impl(std::make_unique<Impl>(Impl{channel, std::move(tools), holds, reservations, m_negotiated})) {}

Session::~Session() = default;

Result<void> Session::reject_oversized() {
    return m_impl->send_error(nullptr, k_parse_error, "Parse error: the message is longer than the server accepts");
}

Result<void> Session::handle(std::string_view line) {
    // Blank lines between messages carry nothing.
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) return {};
    if (nests_too_deep(line)) return m_impl->send_error(nullptr, k_parse_error, "Parse error: nested too deeply");
    Json message = Json::parse(line, nullptr, false);
    if (message.is_discarded()) return m_impl->send_error(nullptr, k_parse_error, "Parse error");
    if (message.is_array()) return m_impl->send_error(nullptr, k_invalid_request, "Invalid Request: batches are not supported");
    if (!message.is_object()) return m_impl->send_error(nullptr, k_invalid_request, "Invalid Request: not a JSON-RPC object");

    const bool has_id = message.contains("id");
    Json id = has_id ? message["id"] : Json(nullptr);
    const bool id_valid = id.is_string() || id.is_number();
    if (!message.contains("method")) {
        // A response to a request of ours: we send none, so there is nothing to match.
        if (has_id && (message.contains("result") || message.contains("error"))) return {};
        return m_impl->send_error(id_valid ? id : Json(nullptr), k_invalid_request, "Invalid Request: no method");
    }
    const Json& method = message["method"];
    const bool version_ok = message.contains("jsonrpc") && message["jsonrpc"] == "2.0";
    if (!has_id) {
        // A notification is never answered, even a malformed one.
        return {};
    }
    if (!id_valid) return m_impl->send_error(nullptr, k_invalid_request, "Invalid Request: id must be a string or a number");
    if (!version_ok) return m_impl->send_error(id, k_invalid_request, "Invalid Request: jsonrpc must be \"2.0\"");
    if (!method.is_string()) return m_impl->send_error(id, k_invalid_request, "Invalid Request: method must be a string");
    const Json params = message.contains("params") ? message["params"] : Json::object();
    if (!params.is_object()) return m_impl->send_error(id, k_invalid_params, "Invalid params: params must be an object");
    return m_impl->answer(id, method.get<std::string>(), params);
}

}  // namespace lokt::client::mcp
