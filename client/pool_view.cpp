// See pool_view.hpp.
#include "client/pool_view.hpp"

#include <algorithm>
#include <map>

namespace lokt::client {

const LockView* PoolView::slot(std::uint64_t k) const {
    for (const auto& view : held) {
        if (view.stored.record.slot == k) return &view;
    }
    return nullptr;
}

std::vector<PoolView> pools_among(const std::vector<LockView>& locks) {
    std::map<std::string, PoolView> pools;
    for (const auto& view : locks) {
        if (view.state != HoldState::live || view.stored.kind != StoredRecord::Kind::record) continue;
        const LockRecord& r = view.stored.record;
        if (r.pool.empty() || !r.slot) continue;
        PoolView& pool = pools[r.pool];
        pool.name = r.pool;
        pool.slots = std::max(pool.slots, std::max(r.slots.value_or(0), *r.slot + 1));
        pool.held.push_back(view);
    }
    std::vector<PoolView> out;
    for (auto& [name, pool] : pools) {
        std::sort(pool.held.begin(), pool.held.end(),
                  [](const LockView& a, const LockView& b) { return a.stored.record.slot < b.stored.record.slot; });
        out.push_back(std::move(pool));
    }
    return out;
}

Result<std::optional<PoolView>> inspect_pool(Backend& backend, const std::string& name) {
    LOKT_TRY_LET(locks, backend.list(false));
    for (auto& pool : pools_among(*locks)) {
        if (pool.name == name) return std::optional<PoolView>(std::move(pool));
    }
    return std::optional<PoolView>{};
}

std::string describe_slots(const PoolView& pool, WallTime now) {
    std::string text;
    for (std::uint64_t k = 0; k < pool.slots; ++k) {
        if (!text.empty()) text += ", ";
        text += "slot " + std::to_string(k);
        if (const LockView* view = pool.slot(k)) {
            text += " by " + describe_holder(view->stored.record, now, view->kept_by);
        } else {
            text += " free";
        }
    }
    return text;
}

}  // namespace lokt::client
