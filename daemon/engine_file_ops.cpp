// See engine_file_ops.hpp.
#include "engine_file_ops.hpp"

namespace lokt::daemon {

Result<LockEngine> open_engine(const std::filesystem::path& root, const Identity& actor, bool read_only) {
    auto store = LockStore::open(root, read_only ? LockStore::Mode::read_only : LockStore::Mode::create);
    if (!store) return store.take_error();
    return LockEngine(std::move(store.value()), actor);
}

Result<LockEngine*> EngineFileOps::engine_for(const Identity& actor) {
    if (m_engine && !m_engine->files_unchanged()) m_engine.reset();
    if (!m_engine) {
        auto engine = open_engine(m_root, actor);
        if (!engine) return engine.take_error();
        m_engine.emplace(std::move(engine.value()));
    } else {
        m_engine->act_as(actor);
    }
    return &*m_engine;
}

Result<AcquireResult> EngineFileOps::try_acquire(const AcquireSpec& spec, const Identity& actor) {
    auto engine = engine_for(actor);
    if (!engine) return engine.take_error();
    return (*engine)->try_acquire(spec);
}

Result<LockRecord> EngineFileOps::renew(const std::string& name, const std::string& lock_id, Nanoseconds ttl,
                                        const Identity& actor) {
    auto engine = engine_for(actor);
    if (!engine) return engine.take_error();
    return (*engine)->renew(name, lock_id, ttl);
}

Result<void> EngineFileOps::release(const std::string& name, const std::string& lock_id, const Identity& actor) {
    auto engine = engine_for(actor);
    if (!engine) return engine.take_error();
    return (*engine)->release(name, lock_id);
}

}  // namespace lokt::daemon
