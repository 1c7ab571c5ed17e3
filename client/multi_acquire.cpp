// See multi_acquire.hpp.
#include "client/multi_acquire.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <set>

#include "common/lock_name.hpp"

namespace lokt::client {
namespace {

std::vector<std::string> split_commas(std::string_view text) {
    std::vector<std::string> items;
    std::size_t start = 0;
    for (;;) {
        const std::size_t comma = text.find(',', start);
        items.emplace_back(text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        if (comma == std::string_view::npos) return items;
        start = comma + 1;
    }
}

// The refusals of several names as one: the first one's code, every message.
Refusal combined_refusal(const std::vector<Refusal>& refusals) {
    Refusal combined = refusals.front();
    for (std::size_t i = 1; i < refusals.size(); ++i) combined.message += "; " + refusals[i].message;
    return combined;
}

}  // namespace

bool is_name_list(std::string_view text) { return text.find(',') != std::string_view::npos; }

Result<std::vector<std::string>> parse_name_list(std::string_view text) {
    std::vector<std::string> names = split_commas(text);
    std::set<std::string> seen;
    for (const auto& name : names) {
        if (name.empty()) {
            return make_error(ErrorCode::usage, "invalid lock list \"" + std::string(text) + "\": an empty name between commas");
        }
        if (auto valid = validate_lock_name(name); !valid) return valid.take_error();
        if (!seen.insert(name).second) {
            return make_error(ErrorCode::usage, "invalid lock list \"" + std::string(text) + "\": \"" + name + "\" given twice");
        }
    }
    return names;
}

std::string inherited_lock_id(const std::string& name) {
    const char* names = std::getenv("LOKT_LOCK_NAME");
    const char* ids = std::getenv("LOKT_LOCK_ID");
    if (names == nullptr || ids == nullptr) return {};
    const auto name_list = split_commas(names);
    const auto id_list = split_commas(ids);
    if (name_list.size() != id_list.size()) return {};
    for (std::size_t i = 0; i < name_list.size(); ++i) {
        if (name_list[i] == name) return id_list[i];
    }
    return {};
}

Result<MultiAcquired> acquire_all(Backend& backend, const AcquirePlan& plan, const std::vector<std::string>& names, bool quiet) {
    MultiAcquired result;
    result.group = new_lock_id();
    // Sorted: every request of several names takes them in the same order,
    // so none holds a name another waits for while it waits for one that
    // other holds.
    std::vector<std::size_t> order(names.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return names[a] < names[b]; });

    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + plan.wait.timeout;
    std::vector<std::optional<Acquired>> taken(names.size());
    std::vector<Refusal> refusals;
    auto give_back = [&]() -> Result<void> {
        MultiAcquired partial;
        partial.group = result.group;
        for (auto& hold : taken) {
            // A manual hold refreshed by its own owner was there before: it stays.
            if (hold && hold->outcome == Acquired::Outcome::acquired) partial.holds.push_back(std::move(*hold));
        }
        return release_all(backend, partial, ReleaseNote{});
    };
    for (std::size_t index : order) {
        AcquirePlan one = plan;
        one.spec.name = names[index];
        one.spec.inherited_lock_id = inherited_lock_id(names[index]);
        one.spec.group = result.group;
        if (plan.wait.wait) {
            one.wait.timeout = std::max(Nanoseconds::zero(), std::chrono::duration_cast<Nanoseconds>(deadline - Clock::now()));
        }
        auto acquired = acquire_with_progress(backend, one, quiet);
        if (!acquired) {
            (void)give_back();
            return acquired.take_error();
        }
        if (!acquired->granted()) {
            refusals.push_back(std::move(acquired->refusal));
            // Waiting: the names after this one are not asked for. Without
            // --wait every name is tried, to name every holder in the way.
            if (plan.wait.wait) break;
            continue;
        }
        taken[index] = std::move(acquired.value());
    }
    if (!refusals.empty()) {
        LOKT_TRY(give_back());
        result.refusal = combined_refusal(refusals);
        return result;
    }
    result.granted = true;
    for (auto& hold : taken) result.holds.push_back(std::move(*hold));
    return result;
}

Result<void> release_all(Backend& backend, const MultiAcquired& held, ReleaseNote note) {
    note.group = held.group;
    std::optional<Error> first;
    for (auto it = held.holds.rbegin(); it != held.holds.rend(); ++it) {
        if (it->outcome == Acquired::Outcome::nested) continue;
        note.acquired = it->lease.record.acquired;
        auto released = backend.release(it->lease, note);
        if (!released && !first) first = released.take_error();
    }
    if (first) return std::move(*first);
    return {};
}

std::string joined_names(const MultiAcquired& held) {
    std::string text;
    for (const auto& hold : held.holds) text += (text.empty() ? "" : ",") + hold.lease.name();
    return text;
}

std::string joined_lock_ids(const MultiAcquired& held) {
    std::string text;
    for (const auto& hold : held.holds) text += (text.empty() ? "" : ",") + hold.lease.lock_id();
    return text;
}

}  // namespace lokt::client
