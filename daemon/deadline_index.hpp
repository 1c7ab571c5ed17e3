// The moments a root has something to do, in time order: a waiter's timeout,
// a queue's retry, a hold's renewal or lapse. RootState keeps one entry per
// item that is due some time and moves it whenever the item changes, so the
// next deadline and what is due now are found without walking every hold and
// waiter of the root.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "daemon/clock.hpp"

namespace lokt::daemon {

struct DueItem {
    enum class Kind : std::uint8_t { waiter_timeout, queue_retry, hold };
    Kind kind = Kind::hold;
    std::string name;
    std::uint64_t waiter = 0;  // a waiter's number (waiter_timeout only)
    auto operator<=>(const DueItem&) const = default;
};

class DeadlineIndex {
public:
    // The item was due at `from` and is now due at `to` (nullopt: not due at all).
    void move(const DueItem& item, std::optional<SteadyTime> from, std::optional<SteadyTime> to) {
        if (from == to) return;
        if (from) m_entries.erase({*from, item});
        if (to) m_entries.emplace(*to, item);
    }
    std::optional<SteadyTime> earliest() const {
        if (m_entries.empty()) return std::nullopt;
        return m_entries.begin()->first;
    }
    // The items of one kind due at or before now, earliest first.
    std::vector<DueItem> due(SteadyTime now, DueItem::Kind kind) const {
        std::vector<DueItem> out;
        for (auto it = m_entries.begin(); it != m_entries.end() && it->first <= now; ++it) {
            if (it->second.kind == kind) out.push_back(it->second);
        }
        return out;
    }
    bool contains(SteadyTime when, const DueItem& item) const { return m_entries.count({when, item}) != 0; }
    std::size_t size() const { return m_entries.size(); }

private:
    std::set<std::pair<SteadyTime, DueItem>> m_entries;
};

}  // namespace lokt::daemon
