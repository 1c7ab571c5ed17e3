// The reserve tool: claims repository paths (globs) for this agent session,
// all or none, exclusive or shared, optionally waiting a bounded time while
// another owner's reservation is in the way. The reservations are bound to
// the server process, so they end with the session (session_reservations.hpp).
#include "client/mcp/tools/lock_shapes.hpp"
#include "client/mcp/tools/reservation_shapes.hpp"
#include "client/mcp/tools/tools.hpp"
#include "common/hold_state.hpp"

namespace lokt::client::mcp {
namespace {

// The longest wait one call may ask for, as for acquire.
constexpr Nanoseconds k_reserve_max_wait = std::chrono::minutes(5);

class ReserveTool final : public Tool {
public:
    ReserveTool() {
        m_input = std::string(R"js({"type":"object","properties":{"globs":)js") + k_globs_schema + R"js(,
"ttl":{"anyOf":[{"type":"string"},{"type":"integer","minimum":1}],"description":"How long the reservation lasts: a duration (\"30s\", \"30m\", \"2h\") or seconds. Without it, it lasts until unreserve. Either way it ends when this MCP server exits; reserving the same glob again renews it."},
"mode":{"type":"string","enum":["exclusive","shared"],"description":"\"exclusive\" (default): no other owner may reserve or edit an overlapping path. \"shared\": other shared reservations of it are allowed, for files several agents only add to."},
"wait":{"anyOf":[{"type":"string"},{"type":"integer","minimum":0}],"description":"How long to wait while another owner's reservation is in the way: a duration or seconds, at most \"5m\". Default 0: answer at once."}},
"required":["globs"],"additionalProperties":false})js";
        m_output = std::string(R"js({"type":"object","properties":{
"reserved":{"type":"boolean","description":"true when this session holds every glob now"},
"outcome":{"type":"string","enum":["reserved","held","timeout"]},
"globs":{"type":"array","items":{"type":"string"}},"mode":{"type":"string","enum":["exclusive","shared"]},
"reservations":{"type":"array","items":)js") +
                   k_reservation_schema + R"js(},
"conflicts":{"type":"array","items":{"type":"object","properties":{"glob":{"type":"string"},"holder":)js" +
                   k_reservation_schema + R"js(},"required":["glob","holder"]}},
"waited_ms":{"type":"integer"},"message":{"type":"string"}},
"required":["reserved","outcome","globs","mode","reservations","conflicts","waited_ms","message"]})js";
    }

    std::string_view name() const override { return "reserve"; }
    std::string_view title() const override { return "Reserve paths"; }
    std::string_view description() const override {
        return "Claim repository paths (globs such as \"src/auth/**\") before editing them, so that other agents' edits of "
               "them are refused. All globs or none: returns reserved=false with the holders when another owner's "
               "reservation overlaps; pass wait to wait for them. Lasts until unreserve, its TTL, or the end of this "
               "session.";
    }
    std::string_view input_schema() const override { return m_input; }
    std::string_view output_schema() const override { return m_output; }
    bool read_only() const override { return false; }

    ToolResult call(const ToolArgs& args, ToolContext& context) override {
        if (auto ok = args.only({"globs", "ttl", "mode", "wait"}); !ok) return ToolResult::error(ok.error().message);
        auto globs = args.string_list("globs", k_max_reservation_items);
        if (!globs) return ToolResult::error(globs.error().message);
        if (!*globs) return ToolResult::error("\"globs\" is required");
        for (const auto& glob : **globs) {
            if (auto parsed = PathGlob::parse(glob); !parsed) return ToolResult::error(parsed.error().message);
        }
        auto mode = args.string("mode");
        if (!mode) return ToolResult::error(mode.error().message);
        SessionReserve request;
        request.globs = **globs;
        if (*mode) {
            auto word = value_of(k_reservation_mode_words, **mode);
            if (!word) return ToolResult::error("\"mode\" must be \"exclusive\" or \"shared\", not \"" + **mode + "\"");
            request.mode = *word;
        }
        auto ttl = args.duration("ttl", k_min_ttl, k_max_duration);
        if (!ttl) return ToolResult::error(ttl.error().message);
        request.ttl = *ttl;
        auto wait_for = args.duration("wait", Nanoseconds::zero(), k_reserve_max_wait);
        if (!wait_for) return ToolResult::error(wait_for.error().message);
        request.wait = wait_for->value_or(Nanoseconds::zero());

        SessionReservations& reservations = context.reservations;
        const auto started = std::chrono::steady_clock::now();
        auto result = reservations.reserve(request, context.progress);
        if (!result) return ToolResult::error(result.error().message);
        const Nanoseconds waited = std::chrono::steady_clock::now() - started;
        const WallTime now = wall_now();

        JsonWriter out = JsonWriter::compact();
        out.begin_object();
        out.field("reserved", result->granted());
        const bool timed_out = !result->granted() && request.wait > Nanoseconds::zero();
        out.field("outcome", result->granted() ? "reserved" : timed_out ? "timeout" : "held");
        out.key("globs").begin_array();
        for (const auto& glob : request.globs) out.value(glob);
        out.end_array();
        out.field("mode", to_string(request.mode));
        out.key("reservations").begin_array();
        for (const auto& r : result->reserved) write_session_reservation(out, r, reservations);
        out.end_array();
        out.key("conflicts").begin_array();
        for (const auto& conflict : result->conflicts) {
            out.begin_object();
            out.field("glob", conflict.glob);
            out.key("holder");
            write_session_reservation(out, conflict.blocker, reservations);
            out.end_object();
        }
        out.end_array();
        out.field("waited_ms", to_ms(waited));
        std::string message;
        if (result->granted()) {
            message = "reserved";
            for (const auto& r : result->reserved) message += " " + r.glob.text();
            message += " (" + std::string(to_string(request.mode)) + ")";
            message += request.ttl ? " until " + format_rfc3339_seconds(now + *request.ttl) : std::string(" for this session");
            message += "; unreserve when done";
        } else {
            const auto& first = result->conflicts.front();
            message = std::string(timed_out ? "timed out waiting: " : "") + "\"" + first.glob + "\" overlaps " +
                      describe_reservation(first.blocker, now);
            if (result->conflicts.size() > 1) message += " (and " + std::to_string(result->conflicts.size() - 1) + " more)";
            message += "; nothing was reserved";
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

std::unique_ptr<Tool> make_reserve_tool() { return std::make_unique<ReserveTool>(); }

}  // namespace lokt::client::mcp
