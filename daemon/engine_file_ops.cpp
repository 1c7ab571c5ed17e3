// See engine_file_ops.hpp.
#include "daemon/engine_file_ops.hpp"

#include <sys/stat.h>

namespace lokt::daemon {

void EngineFileOps::checked_this_turn() {
    if (m_checked_this_turn) return;
    m_checked_this_turn = true;
    m_at_turn_end([this] { m_checked_this_turn = false; });
}

bool EngineFileOps::engine_current() {
    if (!m_engine) return false;
    if (m_checked_this_turn) return true;
    if (!m_engine->files_unchanged()) {
        m_engine.reset();
        return false;
    }
    checked_this_turn();
    return true;
}

Result<LockEngine*> EngineFileOps::engine_for(const Identity& actor, LockStore::Mode mode) {
    // An engine that may create serves every operation; a read-only one, reads only.
    if (engine_current() && (m_mode == LockStore::Mode::create || mode == LockStore::Mode::read_only)) {
        m_engine->act_as(actor);
        return &*m_engine;
    }
    LOKT_TRY_LET(store, LockStore::open(m_root, mode));
    // The event loop never waits on a name's mutex: an operation that finds
    // it held fails as busy, and is tried again later (see busy_retries.hpp).
    store->never_wait_for_mutex();
    m_engine.emplace(std::move(store.value()), actor);
    m_mode = mode;
    checked_this_turn();  // just opened from the paths
    return &*m_engine;
}

Result<AcquireResult> EngineFileOps::try_acquire(const AcquireSpec& spec, const Identity& actor) {
    LOKT_TRY_LET(engine, engine_for(actor));
    return (*engine)->try_acquire(spec);
}

Result<LockRecord> EngineFileOps::renew(const std::string& name, const std::string& lock_id, Nanoseconds ttl,
                                        const Identity& actor, WrittenFile expected, WrittenFile* written) {
    LOKT_TRY_LET(engine, engine_for(actor));
    return (*engine)->renew(name, lock_id, ttl, written, expected);
}

Result<void> EngineFileOps::release(const std::string& name, const std::string& lock_id, const Identity& actor,
                                    WrittenFile written, const ReleaseNote& note) {
    LOKT_TRY_LET(engine, engine_for(actor));
    return (*engine)->release(name, lock_id, written, note);
}

Result<HoldCheck> EngineFileOps::end_if_stale(const std::string& name, const std::string& lock_id, const Identity& actor) {
    LOKT_TRY_LET(engine, engine_for(actor));
    return (*engine)->end_if_stale(name, lock_id);
}

void EngineFileOps::record_denial(const AcquireSpec& spec, const Refusal& refusal, const Identity& actor) {
    auto engine = engine_for(actor);
    if (!engine) return;  // as in try_acquire, a denial that cannot be logged refuses all the same
    (*engine)->record_denial(spec.name, refusal, spec.waiting);
}

Result<LockRecord> EngineFileOps::unlock(const std::string& name, UnlockMode mode, const Identity& actor) {
    LOKT_TRY_LET(engine, engine_for(actor));
    return (*engine)->unlock(name, mode);
}

Result<UnlockManyResult> EngineFileOps::unlock_many(const std::string& owner, bool force, const Identity& actor) {
    LOKT_TRY_LET(engine, engine_for(actor));
    return (*engine)->unlock_many(owner, force);
}

Result<LockRecord> EngineFileOps::freeze(const std::string& name, Nanoseconds ttl, bool force, const Identity& actor) {
    LOKT_TRY_LET(engine, engine_for(actor));
    return (*engine)->freeze(name, ttl, force);
}

Result<LockRecord> EngineFileOps::unfreeze(const std::string& name, bool force, const Identity& actor) {
    LOKT_TRY_LET(engine, engine_for(actor));
    return (*engine)->unfreeze(name, force);
}

Result<std::optional<LockRecord>> EngineFileOps::live_freeze(const std::string& name, const Identity& actor) {
    LOKT_TRY_LET(engine, engine_for(actor));
    return (*engine)->live_freeze(name);
}

Result<LockView> EngineFileOps::inspect(const std::string& name, const Identity& actor, LockStore::Mode mode) {
    LOKT_TRY_LET(engine, engine_for(actor, mode));
    return (*engine)->inspect(name);
}

Result<std::vector<LockView>> EngineFileOps::list(bool prune, const Identity& actor, LockStore::Mode mode) {
    LOKT_TRY_LET(engine, engine_for(actor, mode));
    return (*engine)->list(prune);
}

Result<std::vector<FreezeView>> EngineFileOps::list_freezes(const Identity& actor, LockStore::Mode mode) {
    LOKT_TRY_LET(engine, engine_for(actor, mode));
    return (*engine)->list_freezes();
}

bool EngineFileOps::lock_file_is(const std::string& name, WrittenFile written) {
    // By path, not through the open directory: what counts is the file others
    // find there now, and one lookup answers that without checking first
    // that the open directories are still the root's.
    if (!m_engine) return false;  // unsure: look properly
    struct stat info {};
    if (::lstat(m_engine->store().path_of(Area::locks, name).c_str(), &info) != 0) return false;
    return written.is(identity_of(info));
}

}  // namespace lokt::daemon
