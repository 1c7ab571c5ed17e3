// The acquire tool: takes a named lock for this agent session, waiting in line
// for a bounded time if asked, with progress that reports the queue position.
// Its `mode` is "exclusive" (one holder, the default) or "shared" (with other
// shared holders, never with an exclusive one: docs/design.md, "Shared locks");
// `slots` takes one slot of a pool instead, as `--slots N` ("Slot pools").
#include "client/mcp/tools/lock_shapes.hpp"
#include "client/mcp/tools/tools.hpp"
#include "common/hold_state.hpp"
#include "common/lock_name.hpp"
#include "common/slot_pool.hpp"

namespace lokt::client::mcp {
namespace {

// The TTL when none is given, and the longest wait one call may ask for (a
// client's request times out after about a minute unless progress resets it).
constexpr Nanoseconds k_default_ttl = std::chrono::minutes(10);
constexpr Nanoseconds k_max_wait = std::chrono::minutes(5);

class AcquireTool final : public Tool {
public:
    AcquireTool() {
        m_input = std::string(R"({"type":"object","properties":{"name":)") + k_name_schema + R"(,
"ttl":{"anyOf":[{"type":"string"},{"type":"integer","minimum":1}],"description":"How long the hold lasts without a renew: a duration (\"30s\", \"10m\", \"2h\") or seconds. Default \"10m\". The hold also ends when this MCP server exits."},
"wait":{"anyOf":[{"type":"string"},{"type":"integer","minimum":0}],"description":"How long to wait in line if the lock is held: a duration or seconds, at most \"5m\". Default 0: answer at once."},
"mode":{"type":"string","enum":["exclusive","shared"],"description":"How the lock is held: \"exclusive\" (one holder, the default) or \"shared\" (together with other shared holders, never with an exclusive one; a shared request does not overtake an exclusive one that waits)."},
"slots":{"type":"integer","minimum":1,"maximum":1024,"description":"Take one slot of the pool `name` of this many slots (up to that many holders at once, like `lokt guard NAME --slots N`); the result's `slot` (0 to slots-1) says which, e.g. which GPU. Every holder of a pool must give the same number. Not with mode \"shared\"."}},
"required":["name"],"additionalProperties":false})";
        m_output = std::string(R"({"type":"object","properties":{
"acquired":{"type":"boolean","description":"true when this session holds the lock now"},
"outcome":{"type":"string","enum":["acquired","refreshed","held","frozen","timeout","unsupported"]},
"name":{"type":"string"},"mode":{"type":"string","enum":["exclusive","shared"]},
"slot":{"type":"integer","description":"the slot held, 0 to slots-1: what LOKT_SLOT is for a guard"},"slots":{"type":"integer"},
"lock_name":{"type":"string","description":"the slot's own lock name, NAME.slot-K, as status lists it"},
"lock_id":{"type":"string"},"ttl_sec":{"type":"integer"},"expires_at":{"type":"string"},"fence":{"type":"integer"},
"waited_ms":{"type":"integer"},
"queue_position":{"type":"integer","description":"the last place in the daemon's queue while waiting, 1 being next"},
"holder":)") + k_holder_schema +
                   R"(,
"frozen_until":{"type":"string"},
"backend":{"type":"string","enum":["daemon","files"]},
"message":{"type":"string"}},
"required":["acquired","outcome","name","mode","waited_ms","backend","message"]})";
    }

    std::string_view name() const override { return "acquire"; }
    std::string_view title() const override { return "Acquire a lock"; }
    std::string_view description() const override {
        return "Take a named lock before work that must not run twice at once across agents (a build, a migration, a "
               "push). Returns acquired=false with the holder when someone else has it; pass wait to queue for it. "
               "The hold lasts until release, its TTL without a renew, or the end of this session. With slots=N it takes "
               "one of N slots of a pool (N GPUs, N test databases) and says which.";
    }
    std::string_view input_schema() const override { return m_input; }
    std::string_view output_schema() const override { return m_output; }
    bool read_only() const override { return false; }

    ToolResult call(const ToolArgs& args, ToolContext& context) override {
        if (auto ok = args.only({"name", "ttl", "wait", "mode", "slots"}); !ok) return ToolResult::error(ok.error().message);
        auto name = args.required_string("name");
        if (!name) return ToolResult::error(name.error().message);
        if (auto valid = validate_lock_name(*name); !valid) return ToolResult::error(valid.error().message);
        auto mode = args.string("mode");
        if (!mode) return ToolResult::error(mode.error().message);
        if (*mode && **mode != "exclusive" && **mode != "shared")
            return ToolResult::error("\"mode\": \"exclusive\" or \"shared\", not \"" + **mode + "\"");
        const bool shared = *mode && **mode == "shared";
        const char* mode_word = shared ? "shared" : "exclusive";
        auto slots_arg = args.integer("slots", 1, static_cast<std::int64_t>(k_max_pool_slots));
        if (!slots_arg) return ToolResult::error(slots_arg.error().message);
        std::optional<std::uint64_t> slots;
        if (*slots_arg) {
            if (shared) return ToolResult::error("\"slots\" cannot be combined with mode \"shared\": a slot is held alone");
            slots = static_cast<std::uint64_t>(**slots_arg);
            if (auto valid = validate_pool(*name, *slots); !valid) return ToolResult::error(valid.error().message);
        }
        auto ttl = args.duration("ttl", k_min_ttl, k_max_duration);
        if (!ttl) return ToolResult::error(ttl.error().message);
        auto wait_for = args.duration("wait", Nanoseconds::zero(), k_max_wait);
        if (!wait_for) return ToolResult::error(wait_for.error().message);

        const Nanoseconds hold_ttl = ttl->value_or(k_default_ttl);
        WaitOptions wait;
        wait.wait = wait_for->value_or(Nanoseconds::zero()) > Nanoseconds::zero();
        wait.timeout = wait_for->value_or(Nanoseconds::zero());
        std::optional<std::size_t> position;
        auto observer = [&](const WaitProgress& progress) {
            if (progress.position) position = progress.position;
            std::string text = progress.refusal.message;
            if (progress.position) text += " (queue position " + std::to_string(*progress.position) + ")";
            context.progress(text);
        };
        const auto started = std::chrono::steady_clock::now();
        auto acquired = context.holds.acquire(*name, hold_ttl, wait, observer, shared, slots);
        if (!acquired) return ToolResult::error(acquired.error().message);
        const Nanoseconds waited = std::chrono::steady_clock::now() - started;

        JsonWriter out = JsonWriter::compact();
        out.begin_object();
        out.field("acquired", acquired->granted());
        if (acquired->granted()) {
            const LockRecord& record = acquired->lease.record;
            const std::string expires = format_rfc3339(wall_now() + hold_ttl);
            out.field("outcome", acquired->outcome == Acquired::Outcome::refreshed ? "refreshed" : "acquired");
            out.field("name", *name);
            out.field("mode", mode_word);
            if (record.slot) {
                out.field("slot", *record.slot);
                if (record.slots) out.field("slots", *record.slots);
                out.field("lock_name", record.name);
            }
            out.field("lock_id", record.lock_id);
            out.field("ttl_sec", static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::seconds>(hold_ttl).count()));
            out.field("expires_at", expires);
            if (record.fence) out.field("fence", *record.fence);
            out.field("waited_ms", to_ms(waited));
            out.field("backend", backend_word(context.holds.backend()));
            const std::string what = record.slot ? "slot " + std::to_string(*record.slot) + " of pool \"" + *name + "\"" +
                                                       " (lock \"" + record.name + "\")"
                                                 : "lock \"" + *name + "\"";
            out.field("message", what + " " + (acquired->outcome == Acquired::Outcome::refreshed ? "renewed" : "acquired") +
                                     " until " + expires + "; release it when done (renew to keep it longer)");
        } else {
            const Refusal& refusal = acquired->refusal;
            const char* outcome = refusal.code == ErrorCode::frozen    ? "frozen"
                                  : refusal.code == ErrorCode::timeout ? "timeout"
                                  : refusal.code == ErrorCode::held    ? "held"
                                                                       : "unsupported";
            out.field("outcome", outcome);
            out.field("name", *name);
            out.field("mode", mode_word);
            if (slots) out.field("slots", *slots);
            out.field("waited_ms", to_ms(waited));
            if (position) out.field("queue_position", static_cast<std::uint64_t>(*position));
            if (refusal.holder) {
                out.key("holder");
                write_holder(out, *refusal.holder);
            }
            if (refusal.freeze) {
                if (auto until = refusal.freeze->expiry()) out.field("frozen_until", format_rfc3339(*until));
            }
            out.field("backend", backend_word(context.holds.backend()));
            out.field("message", refusal.message);
        }
        out.end_object();
        return ToolResult::success(out.finish());
    }

private:
    std::string m_input;
    std::string m_output;
};

}  // namespace

std::unique_ptr<Tool> make_acquire_tool() { return std::make_unique<AcquireTool>(); }

}  // namespace lokt::client::mcp
