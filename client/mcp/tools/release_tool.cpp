// The release tool: ends a hold this agent session took with acquire.
#include "client/mcp/tools/lock_shapes.hpp"
#include "client/mcp/tools/tools.hpp"
#include "common/lock_name.hpp"

namespace lokt::client::mcp {
namespace {

class ReleaseTool final : public Tool {
public:
    ReleaseTool() {
        m_input = std::string(R"({"type":"object","properties":{"name":)") + k_name_schema +
                  R"(},"required":["name"],"additionalProperties":false})";
    }
    std::string_view name() const override { return "release"; }
    std::string_view title() const override { return "Release a lock"; }
    std::string_view description() const override {
        return "Release a lock this session acquired, as soon as the work it guards is done, so the next agent in line gets "
               "it.";
    }
    std::string_view input_schema() const override { return m_input; }
    std::string_view output_schema() const override {
        return R"({"type":"object","properties":{"released":{"type":"boolean"},"name":{"type":"string"},
"lock_id":{"type":"string"},"held_ms":{"type":"integer"},"message":{"type":"string"}},
"required":["released","name","lock_id","held_ms","message"]})";
    }
    bool read_only() const override { return false; }

    ToolResult call(const ToolArgs& args, ToolContext& context) override {
        if (auto ok = args.only({"name"}); !ok) return ToolResult::error(ok.error().message);
        auto name = args.required_string("name");
        if (!name) return ToolResult::error(name.error().message);
        if (auto valid = validate_lock_name(*name); !valid) return ToolResult::error(valid.error().message);
        auto released = context.holds.release(*name);
        if (!released) {
            std::string message = released.error().message;
            if (released.error().code == ErrorCode::not_found) {
                const auto held = context.holds.names();
                std::string list;
                for (const auto& held_name : held) list += (list.empty() ? "" : ", ") + held_name;
                message += held.empty() ? " (it holds none)" : " (it holds: " + list + ")";
            }
            return ToolResult::error(message);
        }
        JsonWriter out = JsonWriter::compact();
        out.begin_object();
        out.field("released", true);
        out.field("name", *name);
        out.field("lock_id", released->lease.lock_id());
        out.field("held_ms", to_ms(wall_now() - released->acquired));
        out.field("message", "lock \"" + *name + "\" released");
        out.end_object();
        return ToolResult::success(out.finish());
    }

private:
    std::string m_input;
};

}  // namespace

std::unique_ptr<Tool> make_release_tool() { return std::make_unique<ReleaseTool>(); }

}  // namespace lokt::client::mcp
