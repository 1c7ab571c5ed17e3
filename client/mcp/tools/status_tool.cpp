// The status tool: every hold and freeze in the lock root (or one name's, with
// its queue), marking the holds this session owns.
#include "client/json_views.hpp"
#include "client/mcp/tools/lock_shapes.hpp"
#include "client/mcp/tools/tools.hpp"
#include "common/lock_name.hpp"

namespace lokt::client::mcp {
namespace {

class StatusTool final : public Tool {
public:
    StatusTool() {
        m_input = std::string(R"({"type":"object","properties":{"name":)") + k_name_schema + R"(},"additionalProperties":false})";
    }
    std::string_view name() const override { return "status"; }
    std::string_view title() const override { return "List locks"; }
    std::string_view description() const override {
        return "List the locks held now and the freezes in force (or one lock, with who waits for it), marking those this "
               "session holds. Cheap: call it instead of trusting a list written down earlier.";
    }
    std::string_view input_schema() const override { return m_input; }
    std::string_view output_schema() const override {
        return R"({"type":"object","properties":{
"backend":{"type":"string","enum":["daemon","files"]},"root":{"type":"string"},
"locks":{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"},"state":{"type":"string"},
"owner":{"type":"string"},"host":{"type":"string"},"pid":{"type":"integer"},"agent_id":{"type":"string"},
"acquired_ts":{"type":"string"},"expires_at":{"type":["string","null"]},"mine":{"type":"boolean"}},"required":["name","state","mine"]}},
"freezes":{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"},"owner":{"type":"string"},
"host":{"type":"string"},"until":{"type":"string"}},"required":["name","owner","until"]}},
"queue_known":{"type":"boolean"},
"waiters":{"type":"array","items":{"type":"object","properties":{"position":{"type":"integer"},"owner":{"type":"string"},
"host":{"type":"string"},"pid":{"type":"integer"},"agent_id":{"type":"string"},"waited_ms":{"type":"integer"},"mode":{"type":"string","enum":["shared","exclusive"]}},"required":["position"]}},
"session_holds":{"type":"array","items":{"type":"string"}},
"message":{"type":"string"}},
"required":["backend","root","locks","freezes","session_holds","message"]})";
    }
    bool read_only() const override { return true; }

    ToolResult call(const ToolArgs& args, ToolContext& context) override {
        if (auto ok = args.only({"name"}); !ok) return ToolResult::error(ok.error().message);
        auto name = args.string("name");
        if (!name) return ToolResult::error(name.error().message);
        if (*name) {
            if (auto valid = validate_lock_name(**name); !valid) return ToolResult::error(valid.error().message);
        }
        Backend& backend = context.holds.backend();
        std::vector<LockView> locks;
        std::vector<FreezeView> freezes;
        std::optional<QueueView> queue;
        if (*name) {
            auto view = backend.inspect(**name);
            if (!view) return ToolResult::error(view.error().message);
            if (view->state != HoldState::absent) locks.push_back(*view);
            if (view->freeze) freezes.push_back(FreezeView{**name, *view->freeze});
            auto waiting = backend.queue(**name);
            if (!waiting) return ToolResult::error(waiting.error().message);
            queue = std::move(*waiting);
        } else {
            auto listed = backend.list(false);
            if (!listed) return ToolResult::error(listed.error().message);
            for (auto& view : *listed) {
                if (view.state != HoldState::absent) locks.push_back(std::move(view));
            }
            auto frozen = backend.list_freezes();
            if (!frozen) return ToolResult::error(frozen.error().message);
            freezes = std::move(*frozen);
        }
        const WallTime now = wall_now();
        JsonWriter out = JsonWriter::compact();
        out.begin_object();
        out.field("backend", backend_word(backend));
        out.field("root", backend.root());
        out.key("locks").begin_array();
        std::size_t mine = 0;
        for (const auto& view : locks) {
            out.begin_object();
            write_lock_view_members(out, view, now);
            const bool ours =
                view.stored.kind == StoredRecord::Kind::record && context.holds.holds_lock_id(view.stored.record.lock_id);
            mine += ours ? 1 : 0;
            out.field("mine", ours);
            out.end_object();
        }
        out.end_array();
        out.key("freezes").begin_array();
        for (const auto& freeze : freezes) {
            out.begin_object();
            out.field("name", freeze.name);
            out.field("owner", freeze.record.owner);
            out.field("host", freeze.record.host);
            if (auto until = freeze.record.expiry()) out.field("until", format_rfc3339(*until));
            out.end_object();
        }
        out.end_array();
        if (queue) write_queue_members(out, *queue);
        out.key("session_holds").begin_array();
        for (const auto& held : context.holds.names()) out.value(held);
        out.end_array();
        std::string message = std::to_string(locks.size()) + (locks.size() == 1 ? " lock held" : " locks held") + " (" +
                              std::to_string(mine) + " by this session), " + std::to_string(freezes.size()) +
                              (freezes.size() == 1 ? " freeze" : " freezes");
        out.field("message", message);
        out.end_object();
        return ToolResult::success(out.finish());
    }

private:
    std::string m_input;
};

}  // namespace

std::unique_ptr<Tool> make_status_tool() { return std::make_unique<StatusTool>(); }

}  // namespace lokt::client::mcp
