// FileOps over the real lock engine: every operation the daemon performs on a
// root runs LockEngine on that root's files, with the requester as the actor,
// so lock files and audit lines are exactly those of file mode.
#pragma once

#include <filesystem>

#include "root_state.hpp"

namespace lokt::daemon {

// An engine on root acting for actor. read_only never creates the root.
Result<LockEngine> open_engine(const std::filesystem::path& root, const Identity& actor, bool read_only = false);

class EngineFileOps final : public FileOps {
public:
    explicit EngineFileOps(std::filesystem::path root) : m_root(std::move(root)) {}

    Result<AcquireResult> try_acquire(const AcquireSpec& spec, const Identity& actor) override;
    Result<LockRecord> renew(const std::string& name, const std::string& lock_id, Nanoseconds ttl,
                             const Identity& actor) override;
    Result<void> release(const std::string& name, const std::string& lock_id, const Identity& actor) override;

private:
    std::filesystem::path m_root;
};

}  // namespace lokt::daemon
