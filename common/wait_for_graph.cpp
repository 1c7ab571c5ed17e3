// See wait_for_graph.hpp.
#include "common/wait_for_graph.hpp"

#include <chrono>
#include <deque>
#include <nlohmann/json.hpp>
#include <set>

#include "common/duration.hpp"

namespace lokt {
namespace {

std::string ago(WallTime then, WallTime now) {
    const auto elapsed = std::chrono::floor<std::chrono::seconds>(std::max(Nanoseconds::zero(), now - then));
    return format_rfc3339_seconds(then) + " (" + format_duration_seconds(elapsed) + " ago)";
}

}  // namespace

std::optional<WaitAgent> wait_agent_of(const Identity& who, Binding binding) {
    const std::string at = owner_at_host(who.owner, who.host);
    if (who.owner_explicit) return WaitAgent{at, at};
    if (binding == Binding::process && who.pid > 0) {
        const std::string pid = std::to_string(who.pid);
        return WaitAgent{at + " pid " + pid, at + " (pid " + pid + ")"};
    }
    return std::nullopt;
}

std::vector<const LockRecord*> holds_waited_for(const LockRecord& record) {
    std::vector<const LockRecord*> holds;
    if (!record.is_shared()) {
        holds.push_back(&record);
        return holds;
    }
    for (const LockRecord& member : record.holders) holds.push_back(&member);
    return holds;
}

std::optional<WaitAgent> holding_agent_of(const LockRecord& record) {
    if (!record.bound_to || *record.bound_to == Binding::guard) return std::nullopt;
    return wait_agent_of(holder_identity(record), *record.bound_to);
}

void WaitForGraph::add(WaitEdge edge) {
    if (edge.waiter.key == edge.holder.key) return;
    m_out[edge.waiter.key].push_back(std::move(edge));
}

std::optional<std::vector<WaitEdge>> WaitForGraph::cycle_closed_by(const WaitEdge& request) const {
    if (request.waiter.key == request.holder.key) return std::nullopt;
    // Breadth first from the holder: the shortest way back to the waiter.
    struct Step {
        std::string agent;
        std::vector<const WaitEdge*> path;
    };
    std::deque<Step> todo{Step{request.holder.key, {}}};
    std::set<std::string> seen{request.holder.key};
    while (!todo.empty()) {
        Step step = std::move(todo.front());
        todo.pop_front();
        auto out = m_out.find(step.agent);
        if (out == m_out.end()) continue;
        for (const WaitEdge& edge : out->second) {
            std::vector<const WaitEdge*> path = step.path;
            path.push_back(&edge);
            if (edge.holder.key == request.waiter.key) {
                std::vector<WaitEdge> cycle{request};
                for (const WaitEdge* e : path) cycle.push_back(*e);
                return cycle;
            }
            if (seen.insert(edge.holder.key).second) todo.push_back(Step{edge.holder.key, std::move(path)});
        }
    }
    return std::nullopt;
}

std::string deadlock_message(const std::vector<WaitEdge>& cycle, WallTime now) {
    std::string text = "deadlock: waiting for lock \"" + cycle.front().name + "\" would never end:";
    for (const WaitEdge& edge : cycle) {
        text += "\n  " + edge.waiter.label + " waits for lock \"" + edge.name + "\"";
        text += edge.waiting_since ? " since " + ago(*edge.waiting_since, now) : std::string(" (this request)");
        text += ", held by " + edge.holder.label + " since " + ago(edge.held_since, now);
    }
    text += "\nnot waiting; the others keep waiting until one of these holds is released (lokt unlock NAME)";
    return text;
}

std::string cycle_json(const std::vector<WaitEdge>& cycle) {
    nlohmann::ordered_json edges = nlohmann::ordered_json::array();
    for (const WaitEdge& edge : cycle) {
        nlohmann::ordered_json item;
        item["waiter"] = edge.waiter.label;
        item["name"] = edge.name;
        item["holder"] = edge.holder.label;
        item["held_since"] = format_rfc3339(edge.held_since);
        if (edge.waiting_since) item["waiting_since"] = format_rfc3339(*edge.waiting_since);
        edges.push_back(std::move(item));
    }
    return edges.dump();
}

}  // namespace lokt
