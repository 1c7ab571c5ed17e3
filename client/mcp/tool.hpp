// One MCP tool as the session sees it: its name, description, input and output
// JSON Schemas, and what a call does. Each tool lives in a file of its own
// under client/mcp/tools/ and is listed once in tool_registry.cpp, so a new
// tool (path reservations, say) is one file and one line.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "client/mcp/hold_book.hpp"
#include "client/mcp/session_reservations.hpp"
#include "client/mcp/tool_args.hpp"

namespace lokt::client::mcp {

// What a call came to. A tool never throws and never fails the JSON-RPC
// request: bad arguments and refused operations are results with is_error,
// which the model reads and can correct.
struct ToolResult {
    bool is_error = false;
    // A JSON object's text matching the tool's output schema (empty with is_error).
    std::string structured;
    // The text content: for a success the structured object serialised (the
    // mirror clients without structured output read), for an error the message.
    std::string text;

    static ToolResult error(std::string message) { return ToolResult{true, {}, std::move(message)}; }
    static ToolResult success(std::string structured_json) {
        ToolResult result;
        result.structured = std::move(structured_json);
        return result;
    }
};

// What a call may use: the session's holds (and through them the backend),
// its path reservations, and a way to report progress while it waits.
struct ToolContext {
    HoldBook& holds;
    SessionReservations& reservations;
    // Sends a progress notification when the client asked for them (a no-op otherwise).
    std::function<void(const std::string& message)> progress;
};

class Tool {
public:
    virtual ~Tool() = default;
    virtual std::string_view name() const = 0;
    virtual std::string_view title() const = 0;
    virtual std::string_view description() const = 0;
    // JSON Schema texts (objects), as tools/list publishes them.
    virtual std::string_view input_schema() const = 0;
    virtual std::string_view output_schema() const = 0;
    // Only reads (annotations.readOnlyHint).
    virtual bool read_only() const = 0;
    virtual ToolResult call(const ToolArgs& args, ToolContext& context) = 0;
};

// Every tool `lokt mcp` offers, in the order tools/list gives them.
std::vector<std::unique_ptr<Tool>> make_tools();

}  // namespace lokt::client::mcp
