// See backend_factory.hpp.
#include "backend_factory.hpp"

#include <cstdio>

#include "file_backend.hpp"

namespace lokt::client {

Result<std::unique_ptr<Backend>> make_backend(const LockRoot& root, const Identity& identity, bool read_only,
                                              bool verbose) {
    auto store = LockStore::open(root.path, read_only ? LockStore::Mode::read_only : LockStore::Mode::create);
    if (!store) return store.take_error();
    if (verbose) std::fprintf(stderr, "lokt: backend files\n");
    return std::unique_ptr<Backend>(std::make_unique<FileBackend>(LockEngine(std::move(store.value()), identity)));
}

}  // namespace lokt::client
