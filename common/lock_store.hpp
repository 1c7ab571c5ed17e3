// The lock root on disk: locks/, freezes/, audit.log, and our side directory
// mutex/ (per-name flock files, outside locks/ so other tools never see them).
//
// Every file is opened relative to a directory fd with O_NOFOLLOW|O_NONBLOCK,
// must be a regular file, and is read at most 64 KiB, so a FIFO, a
// symlink to /dev/zero or a huge file can neither hang nor exhaust a command.
// New files are published fully written (O_TMPFILE + linkat, or a hidden temp
// file + link), so no reader ever sees an empty or half-written lock.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/file_owner.hpp"
#include "common/lock_record.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace lokt {

enum class Area { locks, freezes };

inline constexpr std::size_t k_max_record_bytes = 64 * 1024;
// An empty file younger than this is another tool's lock being written.
inline constexpr std::chrono::seconds k_empty_file_grace{2};

// Identifies one file version. The inode alone is not enough: filesystems reuse
// a freed inode number at once, so a new lock can have its predecessor's inode.
// The change time (nanoseconds) tells such files apart.
struct FileIdentity {
    dev_t device = 0;
    ino_t inode = 0;
    std::int64_t change_ns = 0;
    bool operator==(const FileIdentity&) const = default;
};

FileIdentity identity_of(const struct stat& info);

struct StoredRecord {
    enum class Kind {
        absent,         // no file
        record,         // a parsed lock record
        corrupt,        // a file that is not a lock record (problem says why)
        being_written,  // an empty file younger than the grace period
    };
    Kind kind = Kind::absent;
    LockRecord record;
    std::string problem;
    FileIdentity file;
};

// Held while we read-check-remove or rewrite one name; the kernel drops it if we die.
class NameMutex {
public:
    NameMutex() = default;
    explicit NameMutex(UniqueFd fd) : m_fd(std::move(fd)) {}
    bool held() const { return m_fd.valid(); }
    // The locked mutex file, which also keeps the name's fence counter (fence_counter.hpp).
    int fd() const { return m_fd.get(); }

private:
    friend class LockStore;
    UniqueFd m_fd;
};

// A new version of a lock or freeze file, written in full under a hidden
// temp name in its directory and not yet in place (LockStore::stage). It is
// removed again unless LockStore::commit puts it in place.
class StagedFile {
public:
    StagedFile() = default;
    StagedFile(StagedFile&& other) noexcept;
    StagedFile& operator=(StagedFile&& other) noexcept;
    StagedFile(const StagedFile&) = delete;
    StagedFile& operator=(const StagedFile&) = delete;
    ~StagedFile() { discard(); }

private:
    friend class LockStore;
    void discard();

    Area m_area = Area::locks;
    int m_dir = -1;
    std::string m_name;
    std::string m_temp;  // empty once committed
    UniqueFd m_fd;
};

class LockStore {
public:
    enum class Mode { read_only, create };

    // read_only does not create anything: a missing root reads as empty.
    static Result<LockStore> open(const std::filesystem::path& root, Mode mode);

    const std::filesystem::path& root() const { return m_root; }
    bool exists() const { return m_locks.valid(); }
    std::filesystem::path path_of(Area area, std::string_view name) const;
    // Path relative to the current directory when shorter, for messages.
    std::string display_path(Area area, std::string_view name) const;
    int directory_fd(Area area) const { return area == Area::locks ? m_locks.get() : m_freezes.get(); }
    // Whom the files created in this root are handed to, when not this process (file_owner.hpp).
    const std::optional<FileOwner>& owner() const { return m_owner; }

    Result<StoredRecord> read(Area area, std::string_view name) const;
    // read() of names[begin, end), handing each result to visit(i, result), in
    // order: the same results, with a fraction of the system calls where the
    // kernel can batch them (platform/batch_reads.hpp). For listing a root.
    void read_many(Area area, const std::vector<std::string>& names, std::size_t begin, std::size_t end,
                   const std::function<void(std::size_t, Result<StoredRecord>)>& visit) const;
    // Creates NAME.json with these contents unless it exists; false when it does.
    // `created`, if given, is set to the new file's identity.
    Result<bool> publish(Area area, std::string_view name, std::string_view contents, FileIdentity* created = nullptr);
    // The identity of NAME.json now (nullopt: no such file), without opening it.
    Result<std::optional<FileIdentity>> identify(Area area, std::string_view name) const;
    // Atomically replaces NAME.json (rename of a temp file, ".NAME.renew.tmp",
    // written unnamed first). Call with the name's mutex held.
    // `replaced`, if given, is set to the new file's identity (zero when unknown).
    Result<void> replace(Area area, std::string_view name, std::string_view contents, FileIdentity* replaced = nullptr);
    // replace in two steps, so that something (the audit line) can go in
    // between: the new contents are written first (where a full disk
    // shows), and put in place by commit, which needs no new space.
    Result<StagedFile> stage(Area area, std::string_view name, std::string_view contents) const;
    Result<void> commit(StagedFile& staged, FileIdentity* replaced = nullptr) const;
    // Ok when this process may remove files from the area now (the directory is
    // writable and searchable, on a writable filesystem), else the cause. Asked
    // before an audit line announces a removal, so that a root that lost its
    // permissions gets no line for a removal that cannot happen.
    Result<void> check_removable(Area area) const;
    // Removes NAME.json only if it is still the file identified. Call with the mutex held.
    // false when the file is gone or was replaced in the meantime.
    Result<bool> remove_if_same(Area area, std::string_view name, const FileIdentity& expected);
    // What remove_leftovers looks for: the rewrite's temp file alone (one
    // unlink), or also hidden temp files of publishers whose process is gone
    // (a directory listing: for breaking a stale lock, which is rare).
    enum class Leftovers { replacement, all };
    // Removes temp files of NAME that a killed writer left in the area. Call
    // with the name's mutex held. Best effort: nothing depends on it.
    void remove_leftovers(Area area, std::string_view name, Leftovers which);
    // Names (without .json) of the files in an area, sorted.
    Result<std::vector<std::string>> list(Area area) const;

    // Waits (bounded) for exclusive use of a name for read-check-remove. A
    // store told never to wait tries once and fails at once with an error
    // marked busy, for a caller that must not block (the daemon's event loop).
    // `moot`, when given, says that what the mutex is wanted for no longer
    // needs doing (another process published the lock meanwhile); it is asked
    // only while the mutex is busy and once after a wait for it, and when it
    // says so the returned mutex is not held(). Waiters woken by one release
    // then give way to the winner instead of queueing behind it.
    Result<NameMutex> lock_name(std::string_view name, const std::function<bool()>& moot = {});
    // Makes sure mutex/NAME.lock exists, and keeps it open for the next
    // lock_name(name). Called before a hold is published, so that ending it
    // later needs no new inode (a file system out of inodes can still
    // release) and a root that cannot take it refuses the hold up front.
    Result<void> prepare_mutex(std::string_view name);
    // Lets go of a name's mutex and keeps its file open for the next
    // lock_name(name), as prepare_mutex does.
    void unlock_and_keep(std::string_view name, NameMutex mutex);
    // The size recorded for the pool NAME (mutex/NAME.pool, see slot_pool.hpp);
    // nullopt when there is none or it cannot be read. Both are called with
    // the pool name's mutex held.
    std::optional<std::uint64_t> pool_size(std::string_view name);
    Result<void> set_pool_size(std::string_view name, std::uint64_t slots);
    // mutex/NAME.lock, for messages.
    std::filesystem::path mutex_path(std::string_view name) const { return m_root / "mutex" / (std::string(name) + ".lock"); }
    void never_wait_for_mutex() { m_mutex_try_once = true; }
    bool never_waits() const { return m_mutex_try_once; }

    // For a store kept open across operations (the daemon's): are the open
    // directories still the ones the paths name? False once locks/ or freezes/
    // was removed, renamed or replaced; the store must then be opened afresh.
    // A replaced mutex/ is simply reopened at its next use.
    bool unchanged_on_disk();

private:
    LockStore() = default;
    Result<void> create_layout();
    Result<void> open_directories();
    Result<UniqueFd> open_mutex_file(std::string_view name);

    std::filesystem::path m_root;
    UniqueFd m_locks;
    UniqueFd m_freezes;
    UniqueFd m_mutex;
    UniqueFd m_prepared;  // see prepare_mutex
    std::string m_prepared_name;
    // Whom the files we create are handed to (file_owner.hpp), when not us.
    std::optional<FileOwner> m_owner;
    // What the directory fds were opened on (device, inode).
    std::pair<dev_t, ino_t> m_locks_id{};
    std::pair<dev_t, ino_t> m_freezes_id{};
    std::pair<dev_t, ino_t> m_mutex_id{};
    bool m_mutex_try_once = false;
};

}  // namespace lokt
