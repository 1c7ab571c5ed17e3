// The why tool: why a lock cannot be acquired now and what to do, the reasoning
// of `lokt why`.
#include "client/json_views.hpp"
#include "client/lock_explanation.hpp"
#include "client/mcp/tools/lock_shapes.hpp"
#include "client/mcp/tools/tools.hpp"
#include "common/lock_name.hpp"

namespace lokt::client::mcp {
namespace {

class WhyTool final : public Tool {
public:
    WhyTool() {
        m_input = std::string(R"({"type":"object","properties":{"name":)") + k_name_schema +
                  R"(},"required":["name"],"additionalProperties":false})";
        m_output = std::string(R"({"type":"object","properties":{"name":{"type":"string"},"acquirable":{"type":"boolean"},
"state":{"type":"string"},"summary":{"type":"string"},"reasons":{"type":"array","items":{"type":"string"}},
"suggestions":{"type":"array","items":{"type":"string"}},"holder":)") +
                   k_holder_schema + R"(,"mine":{"type":"boolean"},"queue_known":{"type":"boolean"},
"waiters":{"type":"array","items":{"type":"object","properties":{"position":{"type":"integer"},"owner":{"type":"string"},
"host":{"type":"string"},"pid":{"type":"integer"},"agent_id":{"type":"string"},"waited_ms":{"type":"integer"},"mode":{"type":"string","enum":["shared","exclusive"]}},"required":["position"]}},
"message":{"type":"string"}},
"required":["name","acquirable","state","summary","reasons","suggestions","mine","queue_known","waiters","message"]})";
    }
    std::string_view name() const override { return "why"; }
    std::string_view title() const override { return "Explain a lock"; }
    std::string_view description() const override {
        return "Explain why a lock cannot be acquired now: who holds it and since when, what keeps the hold alive, who "
               "waits, and what to do (wait, ask, or have a human break it).";
    }
    std::string_view input_schema() const override { return m_input; }
    std::string_view output_schema() const override { return m_output; }
    bool read_only() const override { return true; }

    ToolResult call(const ToolArgs& args, ToolContext& context) override {
        if (auto ok = args.only({"name"}); !ok) return ToolResult::error(ok.error().message);
        auto name = args.required_string("name");
        if (!name) return ToolResult::error(name.error().message);
        if (auto valid = validate_lock_name(*name); !valid) return ToolResult::error(valid.error().message);
        Backend& backend = context.holds.backend();
        auto view = backend.inspect(*name);
        if (!view) return ToolResult::error(view.error().message);
        auto queue = backend.queue(*name);
        if (!queue) return ToolResult::error(queue.error().message);
        const Explanation e = explain(*view, *queue, wall_now(), context.holds.holder());
        const bool has_record = view->stored.kind == StoredRecord::Kind::record;
        const bool mine = has_record && context.holds.holds_lock_id(view->stored.record.lock_id);

        JsonWriter out = JsonWriter::compact();
        out.begin_object();
        out.field("name", *name);
        out.field("acquirable", e.acquirable);
        out.field("state", shown_state(*view));
        out.field("summary", e.summary);
        out.key("reasons").begin_array();
        for (const auto& reason : e.reasons) out.value(reason);
        out.end_array();
        out.key("suggestions").begin_array();
        for (const auto& suggestion : e.suggestions) out.value(suggestion);
        out.end_array();
        if (has_record && view->state != HoldState::absent) {
            out.key("holder");
            write_holder(out, view->stored.record);
        }
        out.field("mine", mine);
        write_queue_members(out, *queue);
        out.field("message", mine ? e.summary + " (this session holds it)" : e.summary);
        out.end_object();
        return ToolResult::success(out.finish());
    }

private:
    std::string m_input;
    std::string m_output;
};

}  // namespace

std::unique_ptr<Tool> make_why_tool() { return std::make_unique<WhyTool>(); }

}  // namespace lokt::client::mcp
