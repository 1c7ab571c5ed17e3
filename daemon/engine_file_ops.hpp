// FileOps over the real lock engine: every operation the daemon performs on a
// root runs LockEngine on that root's files, with the requester as the actor,
// so lock files and audit lines are exactly those of file mode. Beside the
// queue's operations (FileOps) it runs those a client asks of the files
// directly: unlock, freeze, unfreeze and status.
//
// The engine stays open between operations while the root is busy: reopening
// the root's directories and audit.log for every acquire and release was a
// third of the daemon's work per lock handoff under contention. Before each
// operation it is checked against the paths (a few stat calls); a root
// removed or replaced, or a rotated audit.log, is opened afresh, as a
// file-mode command would find it. One check serves a whole turn of the event
// loop: a release, the grant to the next waiter and a newcomer's denial often
// come in one turn, and each check is four path lookups. Once nothing is held
// or awaited the files are closed, so an idle daemon keeps no filesystem busy
// (unmount, remount read-only).
//
// The engine never waits for a name's mutex (mutex/NAME.lock): a file-mode
// process stopped while it holds one would stop the whole daemon. An
// operation that finds it held stops there, with the files consistent, and
// fails with an error marked busy; its caller tries it again later.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>

#include "daemon/root_state.hpp"

namespace lokt::daemon {

class EngineFileOps final : public FileOps {
public:
    // at_turn_end(f) runs f after the event loop's current turn.
    using AtTurnEnd = std::function<void(std::function<void()>)>;

    EngineFileOps(std::filesystem::path root, AtTurnEnd at_turn_end)
        : m_root(std::move(root)), m_at_turn_end(std::move(at_turn_end)) {}

    Result<AcquireResult> try_acquire(const AcquireSpec& spec, const Identity& actor) override;
    Result<LockRecord> renew(const std::string& name, const std::string& lock_id, Nanoseconds ttl, const Identity& actor,
                             WrittenFile expected = {}, WrittenFile* written = nullptr) override;
    Result<void> release(const std::string& name, const std::string& lock_id, const Identity& actor, WrittenFile written,
                         const ReleaseNote& note) override;
    Result<HoldCheck> end_if_stale(const std::string& name, const std::string& lock_id, const Identity& actor) override;
    void record_denial(const AcquireSpec& spec, const Refusal& refusal, const Identity& actor) override;
    bool lock_file_is(const std::string& name, WrittenFile written) override;

    // `lokt unlock NAME`, `unlock --owner O | --all`, `freeze`, `unfreeze`
    // (see LockEngine), performed for actor. Each creates the root if it is missing.
    Result<LockRecord> unlock(const std::string& name, UnlockMode mode, const Identity& actor);
    Result<UnlockManyResult> unlock_many(const std::string& owner, bool force, const Identity& actor);
    Result<LockRecord> freeze(const std::string& name, Nanoseconds ttl, bool force, const Identity& actor);
    Result<LockRecord> unfreeze(const std::string& name, bool force, const Identity& actor);
    Result<std::optional<LockRecord>> live_freeze(const std::string& name, const Identity& actor);
    // What `lokt status` reads. With LockStore::Mode::read_only a missing root
    // is not created and reads as empty; list(prune = true) needs create.
    Result<LockView> inspect(const std::string& name, const Identity& actor, LockStore::Mode mode);
    Result<std::vector<LockView>> list(bool prune, const Identity& actor, LockStore::Mode mode);
    Result<std::vector<FreezeView>> list_freezes(const Identity& actor, LockStore::Mode mode);

    // Closes the root's files until the next operation.
    void close_files() { m_engine.reset(); }

private:
    // The open engine, acting for actor; reopened when its files were
    // replaced, or when it was opened read-only and mode may create.
    Result<LockEngine*> engine_for(const Identity& actor, LockStore::Mode mode = LockStore::Mode::create);
    // Is the open engine's root still the one at the paths? Asked of the
    // filesystem once per turn; closes the engine when it is not.
    bool engine_current();
    void checked_this_turn();

    std::filesystem::path m_root;
    AtTurnEnd m_at_turn_end;
    std::optional<LockEngine> m_engine;
    LockStore::Mode m_mode = LockStore::Mode::create;  // what m_engine was opened with
    bool m_checked_this_turn = false;
};

}  // namespace lokt::daemon
