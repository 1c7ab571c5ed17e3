// The audit log read as a story: events paired into holds (acquire to release,
// break, loss or expiry), waits (a waiter's `deny` to its grant), freezes
// (freeze to unfreeze or expiry) and point markers (refusals, breaks, losses,
// expiries), plus the summary numbers people ask for after an incident.
// `lokt audit --stats` prints the summary and `--timeline` draws the whole
// analysis; both come from here, independent of how they are shown.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/audit_log.hpp"
#include "common/wall_time.hpp"

namespace lokt::client {

// How a hold ended. `open`: still held when the window ends.
enum class HoldEnd : std::uint8_t {
    released,
    force_break,
    stale_break,
    auto_prune,
    corrupt_break,
    lost,
    expired,
    replaced,
    open
};
std::string_view hold_end_name(HoldEnd how);

// How a freeze ended.
enum class FreezeEnd : std::uint8_t { unfrozen, force_unfrozen, expired, replaced, open };
std::string_view freeze_end_name(FreezeEnd how);

// Point events drawn as markers.
enum class MarkKind : std::uint8_t { refusal, break_, lost, expired };
std::string_view mark_kind_name(MarkKind kind);

struct Hold {
    std::uint32_t name = 0;   // index into AuditAnalysis::names
    std::uint32_t agent = 0;  // index into AuditAnalysis::agents: the holder
    WallTime start{};
    WallTime end{};
    HoldEnd how = HoldEnd::open;
    bool began_before_window = false;  // its acquire is older than the window
    std::int64_t pid = 0;
    std::string lock_id;
};

struct Wait {
    std::uint32_t name = 0;
    std::uint32_t agent = 0;  // the waiter
    WallTime start{};
    WallTime end{};        // the grant; for a wait with no grant in the window, its start
    bool granted = false;  // false: no grant seen (gave up, or still waiting)
};

struct Freeze {
    std::uint32_t name = 0;
    std::uint32_t agent = 0;  // who froze it
    WallTime start{};
    WallTime end{};
    FreezeEnd how = FreezeEnd::open;
};

struct Mark {
    MarkKind kind = MarkKind::refusal;
    std::uint32_t name = 0;
    std::uint32_t agent = 0;  // who did it (the refused, the breaker, the loser)
    WallTime at{};
    std::string event;   // the audit event (deny, freeze-deny, force-break, ...; "expired" for an expiry)
    std::string detail;  // the other party or the reason, for people
};

struct AuditAnalysis {
    WallTime window_start{};
    WallTime window_end{};
    std::uint64_t events = 0;
    std::vector<std::string> names;   // sorted
    std::vector<std::string> agents;  // owner@host, sorted
    std::vector<Hold> holds;          // by start
    std::vector<Wait> waits;          // by start
    std::vector<Freeze> freezes;      // by start
    std::vector<Mark> marks;          // by time
};

// The details of an event's `extra` that the analysis reads.
struct AuditExtra {
    bool waiting = false;       // a deny of a waiter
    std::string reason;         // why a hold was broken or lost
    std::string holder;         // a break's or a refusal's holder (owner@host)
    std::string frozen_by;      // a freeze refusal's freeze owner
    std::int64_t held_ms = -1;  // a release's hold length
};
AuditExtra read_audit_extra(const std::string& extra_json);

// Feed events in log order, then finish. The window starts at `since` when
// given (holds already running then start there), else at the first event;
// it ends at `end` (holds still running then end there, marked open).
class AuditAnalyzer {
public:
    explicit AuditAnalyzer(std::optional<WallTime> since = std::nullopt) : m_since(since) {}
    void add(const AuditEvent& event);  // reads event.extra_json
    void add(const AuditEvent& event, const AuditExtra& extra);
    AuditAnalysis finish(WallTime end);

private:
    struct OpenHold {
        Hold hold;
        std::optional<WallTime> expiry;
    };
    struct OpenFreeze {
        Freeze freeze;
        std::optional<WallTime> expiry;
    };
    struct OpenWait {
        std::uint32_t agent = 0;
        std::int64_t pid = 0;
        WallTime start{};
    };
    std::uint32_t name_id(const std::string& name);
    std::uint32_t agent_id(const std::string& owner, const std::string& host);
    void close_hold(std::uint32_t name, WallTime at, HoldEnd how);
    void close_freeze(std::uint32_t name, WallTime at, FreezeEnd how);
    WallTime window_start() const;

    std::optional<WallTime> m_since;
    std::optional<WallTime> m_first;
    WallTime m_last{};
    AuditAnalysis m_out;
    std::unordered_map<std::string, std::uint32_t> m_name_ids;
    std::unordered_map<std::string, std::uint32_t> m_agent_ids;
    std::string m_key;
    std::unordered_map<std::uint32_t, OpenHold> m_open_holds;               // by name
    std::unordered_map<std::uint32_t, OpenFreeze> m_open_freezes;           // by name
    std::unordered_map<std::uint32_t, std::vector<OpenWait>> m_open_waits;  // by name
    // Per name, the lock ids (hashed) of the last holds that ended: a late
    // `lost` or a second break of one of them must not look like a hold that
    // began before the window.
    struct Recent {
        std::array<std::uint64_t, 4> ids{};
        std::size_t next = 0;
    };
    std::vector<Recent> m_recent;
    bool recently_closed(std::uint32_t name, const std::string& lock_id) const;
};

// Convenience for a list of events already in memory.
AuditAnalysis analyze_audit(const std::vector<AuditEvent>& events, std::optional<WallTime> since, WallTime end);

// The numbers behind `--stats` and the timeline's summary table.
struct NameStats {
    std::string name;
    std::uint64_t holds = 0, open = 0, refusals = 0, waits = 0, breaks = 0, lost = 0, expired = 0, freezes = 0;
    std::int64_t held_ms = 0, longest_hold_ms = 0, wait_ms = 0;
};
struct AgentStats {
    std::string agent;
    std::uint64_t acquisitions = 0, refusals = 0, waits = 0, breaks = 0, broken = 0, lost = 0;
    std::int64_t held_ms = 0, wait_ms = 0;
};
struct WaitStats {
    std::string name;
    std::string agent;
    WallTime start{};
    std::int64_t wait_ms = 0;
};
struct AuditSummary {
    WallTime window_start{};
    WallTime window_end{};
    std::uint64_t events = 0;
    std::uint64_t holds = 0, open = 0, refusals = 0, waits = 0, waits_granted = 0, breaks = 0, lost = 0, expired = 0, freezes = 0;
    std::int64_t held_ms = 0, wait_ms = 0;
    std::vector<NameStats> names;          // busiest first: most holds, then most time held
    std::vector<WaitStats> longest_waits;  // granted waits, longest first, at most k_longest_waits
    std::vector<AgentStats> agents;        // most contended first: refusals + waits, then acquisitions
};
inline constexpr std::size_t k_longest_waits = 10;

AuditSummary summarize(const AuditAnalysis& analysis);

std::int64_t millis_between(WallTime from, WallTime to);

}  // namespace lokt::client
