// The unreserve tool: ends this owner's reservations of some globs, or every
// reservation this session made, as soon as the edits they guard are done.
#include "client/mcp/tools/lock_shapes.hpp"
#include "client/mcp/tools/reservation_shapes.hpp"
#include "client/mcp/tools/tools.hpp"
#include "common/hold_state.hpp"

namespace lokt::client::mcp {
namespace {

class UnreserveTool final : public Tool {
public:
    UnreserveTool() {
        m_input = std::string(R"js({"type":"object","properties":{"globs":)js") + k_globs_schema + R"js(,
"all":{"type":"boolean","description":"true: every reservation this session made (instead of globs)"}},
"additionalProperties":false})js";
        m_output = std::string(R"js({"type":"object","properties":{
"unreserved":{"type":"array","items":)js") +
                   k_reservation_schema + R"js(},
"not_found":{"type":"array","items":{"type":"string"},"description":"globs nobody had reserved (or whose reservation had ended)"},
"not_owner":{"type":"array","items":)js" +
                   k_reservation_schema + R"js(,"description":"reservations of another owner, left alone"},
"message":{"type":"string"}},
"required":["unreserved","not_found","not_owner","message"]})js";
    }

    std::string_view name() const override { return "unreserve"; }
    std::string_view title() const override { return "Release reserved paths"; }
    std::string_view description() const override {
        return "End your reservations of paths (the globs as reserved; \"src/auth\" and \"src/auth/**\" are the same), or "
               "all=true for every reservation this session made, as soon as the edits are done, so other agents may "
               "edit those paths.";
    }
    std::string_view input_schema() const override { return m_input; }
    std::string_view output_schema() const override { return m_output; }
    bool read_only() const override { return false; }

    ToolResult call(const ToolArgs& args, ToolContext& context) override {
        if (auto ok = args.only({"globs", "all"}); !ok) return ToolResult::error(ok.error().message);
        auto globs = args.string_list("globs", k_max_reservation_items);
        if (!globs) return ToolResult::error(globs.error().message);
        auto all = args.boolean("all");
        if (!all) return ToolResult::error(all.error().message);
        const bool every = all->value_or(false);
        if (*globs && every) return ToolResult::error("give \"globs\" or \"all\": true, not both");
        if (!*globs && !every) return ToolResult::error("give the \"globs\" to unreserve, or \"all\": true");
        std::vector<std::string> named = globs->value_or(std::vector<std::string>{});
        for (const auto& glob : named) {
            if (auto parsed = PathGlob::parse(glob); !parsed) return ToolResult::error(parsed.error().message);
        }
        SessionReservations& reservations = context.reservations;
        auto result = reservations.unreserve(named, every);
        if (!result) return ToolResult::error(result.error().message);
        const WallTime now = wall_now();
        // Nothing removed and something named that was not ours: like
        // releasing a lock one does not hold, an error to correct.
        if (result->removed.empty() && !result->others.empty()) {
            const Reservation& other = result->others.front();
            return ToolResult::error("\"" + other.glob.text() + "\" is reserved by " + describe_holder(other.holder, now) +
                                     ", not by " + reservations.holder().owner + "; leave it to its owner");
        }
        if (result->removed.empty() && !result->not_found.empty()) {
            return ToolResult::error("\"" + result->not_found.front() + "\" is not reserved" +
                                     (result->not_found.size() > 1 ? " (nor are the other globs named)" : ""));
        }

        JsonWriter out = JsonWriter::compact();
        out.begin_object();
        out.key("unreserved").begin_array();
        for (const auto& r : result->removed) write_session_reservation(out, r, reservations);
        out.end_array();
        out.key("not_found").begin_array();
        for (const auto& glob : result->not_found) out.value(glob);
        out.end_array();
        out.key("not_owner").begin_array();
        for (const auto& r : result->others) write_session_reservation(out, r, reservations);
        out.end_array();
        std::string message;
        if (result->removed.empty()) {
            message = "this session has no reservations to end";
        } else {
            message = "unreserved";
            for (const auto& r : result->removed) message += " " + r.glob.text();
            if (!result->not_found.empty()) message += "; not reserved: " + result->not_found.front();
            if (!result->others.empty()) message += "; left to its owner: " + result->others.front().glob.text();
        }
        out.field("message", message);
        out.end_object();
        return ToolResult::success(out.finish());
    }

private:
    std::string m_input;
    std::string m_output;
};

}  // namespace

std::unique_ptr<Tool> make_unreserve_tool() { return std::make_unique<UnreserveTool>(); }

}  // namespace lokt::client::mcp
