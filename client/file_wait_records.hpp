// Deadlock reports without a daemon. Nobody keeps the queues in file mode, so
// each waiter that can be told apart (wait_for_graph.hpp) writes a side file,
// waits/TOKEN.json in the root, for as long as it waits: who waits (the
// agent), for which name, since when, and its own pid to be judged by. A new
// waiter writes its own first, then reads every live waiter's file and the
// lock file of the name each waits for: the wait-for graph at that moment.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "client/backend.hpp"
#include "common/lock_engine.hpp"
#include "common/wait_for_graph.hpp"

namespace lokt::client {

// This process's wait, on disk while the object lives.
class WaitRecord {
public:
    // Writes waits/TOKEN.json (0600; the directory 0700), atomically. An
    // agent with an empty key is a waiter that takes no part in deadlock
    // reports but must be seen by shared requests (an exclusive waiter);
    // `who` names it in their refusal.
    // `holder`: who would hold it (owner, host, pid, agent id), for the
    // queue view (waiters_on_disk).
    static Result<WaitRecord> write(const std::filesystem::path& root, const WaitAgent& agent, const std::string& name,
                                    WallTime since, bool shared = false, const std::string& who = {},
                                    const Identity* holder = nullptr);
    WaitRecord(WaitRecord&& other) noexcept : m_path(std::move(other.m_path)) { other.m_path.clear(); }
    WaitRecord& operator=(WaitRecord&&) = delete;
    ~WaitRecord();

private:
    explicit WaitRecord(std::filesystem::path path) : m_path(std::move(path)) {}
    std::filesystem::path m_path;
};

// Fairness without a queue (docs/design.md, "Shared locks"): a live
// exclusive waiter for `name` whose wait began before `before`, described for
// a refusal ("agent-1@host (pid 42) since 3s"); nullopt when there is none.
std::optional<std::string> exclusive_waiter_ahead(const std::filesystem::path& root, const std::string& name, WallTime before);

// The live waiters for `name` on disk, oldest wait first (position 1), each
// with its mode ("shared" or "exclusive"; "exclusive" for a side file that
// does not say, as exclusive waiters wrote before shared ones did). No queue
// is kept on the files: the order is when each began waiting, not who will
// be served first.
std::vector<QueuedWaiter> waiters_on_disk(const std::filesystem::path& root, const std::string& name);

// The cycle `request` closes with the waits on disk and the holds they wait
// for, if any. Side files of waiters that are gone are removed on the way.
std::optional<std::vector<WaitEdge>> file_wait_cycle(LockEngine& engine, const WaitEdge& request);

}  // namespace lokt::client
