// The renew tool: extends a hold of this agent session before its TTL runs out.
#include "client/mcp/tools/lock_shapes.hpp"
#include "client/mcp/tools/tools.hpp"
#include "common/lock_name.hpp"

namespace lokt::client::mcp {
namespace {

class RenewTool final : public Tool {
public:
    RenewTool() {
        m_input = std::string(R"({"type":"object","properties":{"name":)") + k_name_schema + R"(,
"ttl":{"anyOf":[{"type":"string"},{"type":"integer","minimum":1}],"description":"The new TTL, counted from now: a duration (\"10m\") or seconds. Default: the TTL the hold had."}},
"required":["name"],"additionalProperties":false})";
    }
    std::string_view name() const override { return "renew"; }
    std::string_view title() const override { return "Renew a lock"; }
    std::string_view description() const override {
        return "Extend a lock this session holds, counting its TTL again from now. Call it before the TTL runs out when "
               "the work takes longer than planned; a hold whose TTL runs out is released.";
    }
    std::string_view input_schema() const override { return m_input; }
    std::string_view output_schema() const override {
        return R"({"type":"object","properties":{"renewed":{"type":"boolean"},"name":{"type":"string"},
"lock_id":{"type":"string"},"ttl_sec":{"type":"integer"},"expires_at":{"type":"string"},"message":{"type":"string"}},
"required":["renewed","name","lock_id","ttl_sec","expires_at","message"]})";
    }
    bool read_only() const override { return false; }

    ToolResult call(const ToolArgs& args, ToolContext& context) override {
        if (auto ok = args.only({"name", "ttl"}); !ok) return ToolResult::error(ok.error().message);
        auto name = args.required_string("name");
        if (!name) return ToolResult::error(name.error().message);
        if (auto valid = validate_lock_name(*name); !valid) return ToolResult::error(valid.error().message);
        auto ttl = args.duration("ttl", k_min_ttl, k_max_duration);
        if (!ttl) return ToolResult::error(ttl.error().message);
        const SessionHold* existing = context.holds.find(*name);
        if (existing == nullptr) return ToolResult::error("lock \"" + *name + "\" is not held by this MCP server");
        const Nanoseconds new_ttl = ttl->value_or(existing->ttl);
        auto renewed = context.holds.renew(*name, new_ttl);
        if (!renewed) return ToolResult::error(renewed.error().message);
        const std::string expires = format_rfc3339(wall_now() + new_ttl);
        JsonWriter out = JsonWriter::compact();
        out.begin_object();
        out.field("renewed", true);
        out.field("name", *name);
        out.field("lock_id", renewed->lease.lock_id());
        out.field("ttl_sec", static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::seconds>(new_ttl).count()));
        out.field("expires_at", expires);
        out.field("message", "lock \"" + *name + "\" renewed until " + expires);
        out.end_object();
        return ToolResult::success(out.finish());
    }

private:
    std::string m_input;
};

}  // namespace

std::unique_ptr<Tool> make_renew_tool() { return std::make_unique<RenewTool>(); }

}  // namespace lokt::client::mcp
