// See audit_analysis.hpp.
#include "client/audit_analysis.hpp"

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>

#include "common/identity.hpp"

namespace lokt::client {
namespace {

using Json = nlohmann::json;

std::optional<HoldEnd> ending_of(const std::string& event) {
    if (event == "release") return HoldEnd::released;
    if (event == "force-break") return HoldEnd::force_break;
    if (event == "stale-break") return HoldEnd::stale_break;
    if (event == "auto-prune") return HoldEnd::auto_prune;
    if (event == "corrupt-break") return HoldEnd::corrupt_break;
    if (event == "lost") return HoldEnd::lost;
    return std::nullopt;
}

bool is_break(HoldEnd how) {
    return how == HoldEnd::force_break || how == HoldEnd::stale_break || how == HoldEnd::auto_prune ||
           how == HoldEnd::corrupt_break;
}

// A cheap fingerprint of a lock id, to remember which holds the window saw.
std::uint64_t id_hash(const std::string& lock_id) { return std::hash<std::string>{}(lock_id); }

// Sorts the strings and returns, for each old index, its new one.
std::vector<std::uint32_t> sort_with_map(std::vector<std::string>& strings) {
    std::vector<std::uint32_t> order(strings.size());
    std::iota(order.begin(), order.end(), 0U);
    std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return strings[a] < strings[b]; });
    std::vector<std::uint32_t> new_index(strings.size());
    std::vector<std::string> sorted(strings.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) {
        new_index[order[i]] = i;
        sorted[i] = std::move(strings[order[i]]);
    }
    strings = std::move(sorted);
    return new_index;
}

}  // namespace

AuditExtra read_audit_extra(const std::string& text) {
    AuditExtra extra;
    if (text.empty()) return extra;
    const Json json = Json::parse(text, nullptr, false);
    if (!json.is_object()) return extra;
    auto string_of = [&](const char* key, std::string& out) {
        if (auto it = json.find(key); it != json.end() && it->is_string()) out = it->get<std::string>();
    };
    if (auto it = json.find("waiting"); it != json.end() && it->is_boolean()) extra.waiting = it->get<bool>();
    if (auto it = json.find("held_ms"); it != json.end() && it->is_number_integer()) extra.held_ms = it->get<std::int64_t>();
    string_of("reason", extra.reason);
    string_of("holder", extra.holder);
    string_of("frozen_by", extra.frozen_by);
    return extra;
}

std::string_view hold_end_name(HoldEnd how) {
    switch (how) {
        case HoldEnd::released: return "released";
        case HoldEnd::force_break: return "force-break";
        case HoldEnd::stale_break: return "stale-break";
        case HoldEnd::auto_prune: return "auto-prune";
        case HoldEnd::corrupt_break: return "corrupt-break";
        case HoldEnd::lost: return "lost";
        case HoldEnd::expired: return "expired";
        case HoldEnd::replaced: return "replaced";
        case HoldEnd::open: return "open";
    }
    return "open";
}

std::string_view freeze_end_name(FreezeEnd how) {
    switch (how) {
        case FreezeEnd::unfrozen: return "unfrozen";
        case FreezeEnd::force_unfrozen: return "force-unfrozen";
        case FreezeEnd::expired: return "expired";
        case FreezeEnd::replaced: return "replaced";
        case FreezeEnd::open: return "open";
    }
    return "open";
}

std::string_view mark_kind_name(MarkKind kind) {
    switch (kind) {
        case MarkKind::refusal: return "refusal";
        case MarkKind::break_: return "break";
        case MarkKind::lost: return "lost";
        case MarkKind::expired: return "expired";
    }
    return "refusal";
}

std::int64_t millis_between(WallTime from, WallTime to) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

std::uint32_t AuditAnalyzer::name_id(const std::string& name) {
    auto [it, added] = m_name_ids.try_emplace(name, static_cast<std::uint32_t>(m_out.names.size()));
    if (added) m_out.names.push_back(name);
    return it->second;
}

std::uint32_t AuditAnalyzer::agent_id(const std::string& owner, const std::string& host) {
    // One buffer for the key: a lookup per line should not allocate.
    if (host.empty())
        m_key.assign(owner.empty() ? std::string_view("?") : std::string_view(owner));
    else
        m_key.assign(owner).append("@").append(host);
    if (auto it = m_agent_ids.find(m_key); it != m_agent_ids.end()) return it->second;
    const auto id = static_cast<std::uint32_t>(m_out.agents.size());
    m_agent_ids.emplace(m_key, id);
    m_out.agents.push_back(m_key);
    return id;
}

bool AuditAnalyzer::recently_closed(std::uint32_t name, const std::string& lock_id) const {
    if (name >= m_recent.size()) return false;
    const auto& ids = m_recent[name].ids;
    return std::find(ids.begin(), ids.end(), id_hash(lock_id)) != ids.end();
}

WallTime AuditAnalyzer::window_start() const { return m_since ? *m_since : m_first.value_or(WallTime{}); }

void AuditAnalyzer::close_hold(std::uint32_t name, WallTime at, HoldEnd how) {
    auto it = m_open_holds.find(name);
    if (it == m_open_holds.end()) return;
    Hold hold = std::move(it->second.hold);
    const auto expiry = it->second.expiry;
    m_open_holds.erase(it);
    if (!hold.lock_id.empty()) {
        if (m_recent.size() <= name) m_recent.resize(name + 1);
        auto& recent = m_recent[name];
        recent.ids[recent.next++ % recent.ids.size()] = id_hash(hold.lock_id);
    }
    // Expired before anyone noticed: the hold ended when its TTL ran out.
    if (expiry && *expiry < at && (how == HoldEnd::replaced || how == HoldEnd::open || how == HoldEnd::expired)) {
        at = std::max(*expiry, hold.start);
        how = HoldEnd::expired;
    }
    hold.end = std::max(at, hold.start);
    hold.how = how;
    if (how == HoldEnd::expired) {
        m_out.marks.push_back(Mark{MarkKind::expired, hold.name, hold.agent, hold.end, "expired", "its TTL ran out"});
    }
    m_out.holds.push_back(std::move(hold));
}

void AuditAnalyzer::close_freeze(std::uint32_t name, WallTime at, FreezeEnd how) {
    auto it = m_open_freezes.find(name);
    if (it == m_open_freezes.end()) return;
    Freeze freeze = it->second.freeze;
    if (it->second.expiry && *it->second.expiry < at) {
        at = std::max(*it->second.expiry, freeze.start);
        how = FreezeEnd::expired;
    }
    m_open_freezes.erase(it);
    freeze.end = std::max(at, freeze.start);
    freeze.how = how;
    m_out.freezes.push_back(freeze);
}

void AuditAnalyzer::add(const AuditEvent& e) { add(e, read_audit_extra(e.extra_json)); }

void AuditAnalyzer::add(const AuditEvent& e, const AuditExtra& extra) {
    ++m_out.events;
    if (!m_first) m_first = e.ts;
    m_last = std::max(m_last, e.ts);
    const std::uint32_t name = name_id(e.name);
    const std::uint32_t agent = agent_id(e.owner, e.host);
    const std::string& event = e.event;

    if (event == "acquire") {
        close_hold(name, e.ts, HoldEnd::replaced);  // an earlier hold nobody ended in the log
        OpenHold open;
        open.hold = Hold{name, agent, e.ts, e.ts, HoldEnd::open, false, e.pid, e.lock_id};
        if (e.ttl_sec > 0) open.expiry = e.ts + std::chrono::seconds(e.ttl_sec);
        m_open_holds.emplace(name, std::move(open));
        // The end of this agent's wait for the name, if it was waiting.
        if (auto waits = m_open_waits.find(name); waits != m_open_waits.end()) {
            auto& queue = waits->second;
            auto match =
                std::find_if(queue.begin(), queue.end(), [&](const OpenWait& w) { return w.agent == agent && w.pid == e.pid; });
            if (match == queue.end()) {
                match = std::find_if(queue.begin(), queue.end(), [&](const OpenWait& w) { return w.agent == agent; });
            }
            if (match != queue.end()) {
                m_out.waits.push_back(Wait{name, agent, match->start, e.ts, true});
                queue.erase(match);
            }
        }
        return;
    }
    if (event == "renew") {
        auto it = m_open_holds.find(name);
        if (it != m_open_holds.end() &&
            (e.lock_id.empty() || it->second.hold.lock_id.empty() || it->second.hold.lock_id == e.lock_id)) {
            if (e.ttl_sec > 0) it->second.expiry = e.ts + std::chrono::seconds(e.ttl_sec);
        } else if (it == m_open_holds.end() && !e.lock_id.empty() && !recently_closed(name, e.lock_id)) {
            // Renewed before the window began: held since before it.
            OpenHold open;
            open.hold = Hold{name, agent, window_start(), window_start(), HoldEnd::open, true, e.pid, e.lock_id};
            if (e.ttl_sec > 0) open.expiry = e.ts + std::chrono::seconds(e.ttl_sec);
            m_open_holds.emplace(name, std::move(open));
        }
        return;
    }
    if (auto how = ending_of(event)) {
        if (is_break(*how)) {
            std::string detail = extra.holder.empty() ? std::string() : "holder " + extra.holder;
            if (!extra.reason.empty()) detail += (detail.empty() ? "" : ": ") + extra.reason;
            m_out.marks.push_back(Mark{MarkKind::break_, name, agent, e.ts, event, std::move(detail)});
        } else if (*how == HoldEnd::lost) {
            m_out.marks.push_back(Mark{MarkKind::lost, name, agent, e.ts, event, extra.reason});
        }
        auto it = m_open_holds.find(name);
        const bool ours = it != m_open_holds.end() &&
                          (e.lock_id.empty() || it->second.hold.lock_id.empty() || it->second.hold.lock_id == e.lock_id);
        if (ours) {
            // A break of an expired hold: it ended when its TTL ran out.
            const bool expired = extra.reason == "expired" && it->second.expiry && *it->second.expiry < e.ts;
            close_hold(name, e.ts, expired ? HoldEnd::expired : *how);
            return;
        }
        if (it == m_open_holds.end() && *how != HoldEnd::lost && (e.lock_id.empty() || !recently_closed(name, e.lock_id))) {
            // The end of a hold that began before the window: draw it from the
            // window's start (or from when the release says it began).
            std::uint32_t holder = agent;
            if (is_break(*how)) {
                const auto at = extra.holder.rfind('@');
                holder = extra.holder.empty() ? agent
                                              : agent_id(extra.holder.substr(0, at),
                                                         at == std::string::npos ? std::string() : extra.holder.substr(at + 1));
            }
            WallTime start = window_start();
            bool before = true;
            if (extra.held_ms >= 0 && e.ts - std::chrono::milliseconds(extra.held_ms) >= start) {
                start = e.ts - std::chrono::milliseconds(extra.held_ms);
                before = false;
            }
            OpenHold open;
            open.hold = Hold{name, holder, start, start, HoldEnd::open, before, 0, e.lock_id};
            m_open_holds.emplace(name, std::move(open));
            close_hold(name, e.ts, extra.reason == "expired" ? HoldEnd::expired : *how);
        }
        return;
    }
    if (event == "deny" || event == "freeze-deny" || event == "deadlock") {  // a deadlock: refused at once
        if (extra.waiting) {
            m_open_waits[name].push_back(OpenWait{agent, e.pid, e.ts});
            return;
        }
        std::string detail = event == "freeze-deny" ? "frozen by " + extra.frozen_by
                                                    : (extra.holder.empty() ? std::string() : "held by " + extra.holder);
        m_out.marks.push_back(Mark{MarkKind::refusal, name, agent, e.ts, event, std::move(detail)});
        return;
    }
    if (event == "freeze" || event == "force-freeze") {
        auto it = m_open_freezes.find(name);
        const std::optional<WallTime> expiry =
            e.ttl_sec > 0 ? std::optional<WallTime>(e.ts + std::chrono::seconds(e.ttl_sec)) : std::nullopt;
        if (it != m_open_freezes.end() && it->second.freeze.agent == agent && event == "freeze" &&
            !(it->second.expiry && *it->second.expiry < e.ts)) {
            it->second.expiry = expiry;  // the same owner extends (or shortens) its freeze
            return;
        }
        close_freeze(name, e.ts, FreezeEnd::replaced);
        m_open_freezes.emplace(name, OpenFreeze{Freeze{name, agent, e.ts, e.ts, FreezeEnd::open}, expiry});
        return;
    }
    if (event == "unfreeze" || event == "force-unfreeze") {
        const FreezeEnd how = event == "unfreeze" ? FreezeEnd::unfrozen : FreezeEnd::force_unfrozen;
        if (!m_open_freezes.contains(name)) {
            // Frozen before the window began.
            m_open_freezes.emplace(
                name, OpenFreeze{Freeze{name, agent, window_start(), window_start(), FreezeEnd::open}, std::nullopt});
        }
        close_freeze(name, e.ts, how);
        return;
    }
    // renewals of freezes, unknown events: counted, not drawn.
}

AuditAnalysis AuditAnalyzer::finish(WallTime end) {
    m_out.window_start = window_start();
    if (!m_since && !m_first) m_out.window_start = end;
    m_out.window_end = std::max(end, m_last);
    const WallTime last = m_out.window_end;

    std::vector<std::uint32_t> open_names;
    for (const auto& [name, open] : m_open_holds) open_names.push_back(name);
    for (auto name : open_names) close_hold(name, last, HoldEnd::open);
    open_names.clear();
    for (const auto& [name, open] : m_open_freezes) open_names.push_back(name);
    for (auto name : open_names) close_freeze(name, last, FreezeEnd::open);
    for (auto& [name, queue] : m_open_waits) {
        for (const auto& wait : queue) m_out.waits.push_back(Wait{name, wait.agent, wait.start, wait.start, false});
    }
    m_open_waits.clear();

    // Names and agents in alphabetical order, everything else by time.
    const auto names = sort_with_map(m_out.names);
    const auto agents = sort_with_map(m_out.agents);
    auto remap = [&](auto& items) {
        for (auto& item : items) {
            item.name = names[item.name];
            item.agent = agents[item.agent];
        }
    };
    remap(m_out.holds);
    remap(m_out.waits);
    remap(m_out.freezes);
    remap(m_out.marks);
    auto by_start = [](const auto& a, const auto& b) { return a.start < b.start; };
    std::stable_sort(m_out.holds.begin(), m_out.holds.end(), by_start);
    std::stable_sort(m_out.waits.begin(), m_out.waits.end(), by_start);
    std::stable_sort(m_out.freezes.begin(), m_out.freezes.end(), by_start);
    std::stable_sort(m_out.marks.begin(), m_out.marks.end(), [](const Mark& a, const Mark& b) { return a.at < b.at; });
    m_name_ids.clear();
    m_agent_ids.clear();
    return std::move(m_out);
}

AuditAnalysis analyze_audit(const std::vector<AuditEvent>& events, std::optional<WallTime> since, WallTime end) {
    AuditAnalyzer analyzer(since);
    for (const auto& event : events) analyzer.add(event);
    return analyzer.finish(end);
}

AuditSummary summarize(const AuditAnalysis& a) {
    AuditSummary s;
    s.window_start = a.window_start;
    s.window_end = a.window_end;
    s.events = a.events;
    std::vector<NameStats> names(a.names.size());
    for (std::size_t i = 0; i < names.size(); ++i) names[i].name = a.names[i];
    std::vector<AgentStats> agents(a.agents.size());
    for (std::size_t i = 0; i < agents.size(); ++i) agents[i].agent = a.agents[i];
    std::vector<bool> active(agents.size(), false);

    for (const auto& hold : a.holds) {
        const std::int64_t ms = millis_between(hold.start, hold.end);
        auto& n = names[hold.name];
        ++n.holds;
        n.held_ms += ms;
        n.longest_hold_ms = std::max(n.longest_hold_ms, ms);
        auto& who = agents[hold.agent];
        who.held_ms += ms;
        if (!hold.began_before_window) ++who.acquisitions;
        if (is_break(hold.how)) ++who.broken;
        active[hold.agent] = true;
        if (hold.how == HoldEnd::open) {
            ++n.open;
            ++s.open;
        }
        ++s.holds;
        s.held_ms += ms;
    }
    for (const auto& wait : a.waits) {
        ++names[wait.name].waits;
        ++agents[wait.agent].waits;
        active[wait.agent] = true;
        ++s.waits;
        if (!wait.granted) continue;
        const std::int64_t ms = millis_between(wait.start, wait.end);
        names[wait.name].wait_ms += ms;
        agents[wait.agent].wait_ms += ms;
        ++s.waits_granted;
        s.wait_ms += ms;
        s.longest_waits.push_back(WaitStats{a.names[wait.name], a.agents[wait.agent], wait.start, ms});
    }
    for (const auto& freeze : a.freezes) {
        ++names[freeze.name].freezes;
        active[freeze.agent] = true;
        ++s.freezes;
    }
    for (const auto& mark : a.marks) {
        auto& n = names[mark.name];
        auto& who = agents[mark.agent];
        active[mark.agent] = true;
        switch (mark.kind) {
            case MarkKind::refusal: ++n.refusals, ++who.refusals, ++s.refusals; break;
            case MarkKind::break_: ++n.breaks, ++who.breaks, ++s.breaks; break;
            case MarkKind::lost: ++n.lost, ++who.lost, ++s.lost; break;
            case MarkKind::expired: ++n.expired, ++s.expired; break;
        }
    }

    std::stable_sort(s.longest_waits.begin(), s.longest_waits.end(),
                     [](const WaitStats& x, const WaitStats& y) { return x.wait_ms > y.wait_ms; });
    if (s.longest_waits.size() > k_longest_waits) s.longest_waits.resize(k_longest_waits);
    std::erase_if(names, [](const NameStats& n) { return n.holds + n.refusals + n.waits + n.breaks + n.lost + n.freezes == 0; });
    std::stable_sort(names.begin(), names.end(), [](const NameStats& x, const NameStats& y) {
        if (x.holds != y.holds) return x.holds > y.holds;
        return x.held_ms > y.held_ms;
    });
    s.names = std::move(names);
    for (std::size_t i = 0; i < agents.size(); ++i) {
        if (active[i]) s.agents.push_back(std::move(agents[i]));
    }
    std::stable_sort(s.agents.begin(), s.agents.end(), [](const AgentStats& x, const AgentStats& y) {
        if (x.refusals + x.waits != y.refusals + y.waits) return x.refusals + x.waits > y.refusals + y.waits;
        return x.acquisitions > y.acquisitions;
    });
    return s;
}

}  // namespace lokt::client
