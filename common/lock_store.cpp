// See lock_store.hpp.
#include "common/lock_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <memory>
#include <thread>

#include "common/file_owner.hpp"
#include "common/lock_name.hpp"
#include "common/platform/batch_reads.hpp"
#include "common/platform/boot_clock.hpp"
#include "common/platform/files.hpp"
#include "common/platform/processes.hpp"
#include "common/sys_error.hpp"

namespace lokt {
namespace fs = std::filesystem;
namespace {

constexpr int k_dir_mode = 0700;
constexpr int k_file_mode = 0600;

std::string file_name(std::string_view name) {
    std::string file(name);
    file += ".json";
    return file;
}

// fstat(2) of an open file through the same call that stats a name
// (fstatat), so that the two always agree on a file's identity: a library
// preloaded to fake file times (libfaketime) replaces fstat() but not
// fstatat(), and a mismatch made every removal look like a lost race.
int stat_open_file(int fd, struct stat* info) { return ::fstatat(fd, "", info, AT_EMPTY_PATH); }

std::string_view area_dir(Area area) { return area == Area::locks ? "locks" : "freezes"; }

std::pair<dev_t, ino_t> fd_id(int fd) {
    struct stat info {};
    if (fd < 0 || ::fstat(fd, &info) != 0) return {};
    return {info.st_dev, info.st_ino};
}

// Does path still name the directory that was opened as `opened`?
bool still_names(const fs::path& path, std::pair<dev_t, ino_t> opened) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) return false;
    return std::pair{info.st_dev, info.st_ino} == opened;
}

Result<void> write_all(int fd, std::string_view data, const std::function<std::string()>& path) {
    while (!data.empty()) {
        const ssize_t wrote = ::write(fd, data.data(), data.size());
        if (wrote < 0) {
            if (errno == EINTR) continue;
            return sys_error("cannot write", path(), errno);
        }
        data.remove_prefix(static_cast<std::size_t>(wrote));
    }
    return {};
}

Result<void> make_directory(const fs::path& path, const std::optional<FileOwner>& owner) {
    if (::mkdir(path.c_str(), k_dir_mode) == 0) return hand_over(path, owner);
    if (errno == EEXIST) return {};
    return sys_error("cannot create directory", path.string(), errno);
}

// A temp name no other tool lists: hidden, and not ending in ".json".
std::string temp_name(std::string_view name) {
    static unsigned counter = 0;
    char suffix[48];
    std::snprintf(suffix, sizeof suffix, ".%d.%u.tmp", static_cast<int>(::getpid()), counter++);
    std::string temp = ".";
    temp += name;
    temp += suffix;
    return temp;
}

// Writes contents to an unnamed or hidden temp file in dir; returns its fd and
// (for the hidden kind) its name.
Result<std::pair<UniqueFd, std::string>> write_temp(int dir_fd, std::string_view name, std::string_view contents,
                                                    const std::function<std::string()>& display, bool allow_unnamed,
                                                    const std::optional<FileOwner>& owner) {
    if (allow_unnamed) {
        auto unnamed = platform::create_unnamed_file(dir_fd, k_file_mode);
        if (unnamed.fd) {
            // The path for messages is built only when there is someone to hand over to.
            if (owner) LOKT_TRY(hand_over(unnamed.fd.get(), owner, display()));
            LOKT_TRY(write_all(unnamed.fd.get(), contents, display));
            return std::pair{std::move(unnamed.fd), std::string()};
        }
        if (!unnamed.unsupported) return sys_error("cannot create", display(), unnamed.error);
    }
    std::string temp = temp_name(name);
    UniqueFd fd(::openat(dir_fd, temp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, k_file_mode));
    if (!fd) return sys_error("cannot create", display(), errno);
    Result<void> wrote;
    if (owner) wrote = hand_over(fd.get(), owner, display());
    if (wrote) wrote = write_all(fd.get(), contents, display);
    if (!wrote) {
        ::unlinkat(dir_fd, temp.c_str(), 0);
        return wrote.take_error();
    }
    return std::pair{std::move(fd), std::move(temp)};
}

// The one temp name a rewrite of NAME.json uses. Rewrites happen only under
// the name's mutex, so one name per lock is enough, and the next writer of the
// name finds (and removes, or reuses) what a killed one left behind.
std::string replacement_name(std::string_view name) {
    std::string temp = ".";
    temp += name;
    temp += ".renew.tmp";
    return temp;
}

}  // namespace

FileIdentity identity_of(const struct stat& info) {
    return FileIdentity{info.st_dev, info.st_ino,
                        static_cast<std::int64_t>(info.st_ctim.tv_sec) * 1000000000 + info.st_ctim.tv_nsec};
}

Result<LockStore> LockStore::open(const fs::path& root, Mode mode) {
    LockStore store;
    store.m_root = root;
    if (mode == Mode::read_only) {
        // Missing directories read as empty: nothing has been locked here yet.
        for (auto [sub, out] : {std::pair{"locks", &store.m_locks}, std::pair{"freezes", &store.m_freezes}}) {
            const fs::path path = root / sub;
            out->reset(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            if (!out->valid() && errno != ENOENT) return sys_error("cannot open directory", path.string(), errno);
        }
        return store;
    }
    store.m_owner = owner_to_hand_over(root);
    if (auto opened = store.open_directories(); opened) return store;
    LOKT_TRY(store.create_layout());
    LOKT_TRY(store.open_directories());
    return store;
}

Result<void> LockStore::open_directories() {
    for (auto [sub, out] : {std::pair{"locks", &m_locks}, std::pair{"freezes", &m_freezes}}) {
        const fs::path path = m_root / sub;
        out->reset(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!out->valid()) return sys_error("cannot open directory", path.string(), errno);
    }
    // Their identities are asked only by unchanged_on_disk (a store kept
    // open, as the daemon's): an fd names the same directory for its life.
    m_locks_id = {};
    m_freezes_id = {};
    return {};
}

bool LockStore::unchanged_on_disk() {
    if (!m_locks.valid() || !m_freezes.valid()) return false;
    if (m_locks_id == std::pair<dev_t, ino_t>{}) m_locks_id = fd_id(m_locks.get());
    if (m_freezes_id == std::pair<dev_t, ino_t>{}) m_freezes_id = fd_id(m_freezes.get());
    if (m_mutex.valid() && m_mutex_id == std::pair<dev_t, ino_t>{}) m_mutex_id = fd_id(m_mutex.get());
    if (!still_names(m_root / "locks", m_locks_id) || !still_names(m_root / "freezes", m_freezes_id)) return false;
    if (m_mutex.valid() && !still_names(m_root / "mutex", m_mutex_id)) m_mutex.reset();
    return true;
}

Result<void> LockStore::create_layout() {
    std::error_code ignored;
    const fs::path parent = m_root.parent_path();
    if (!parent.empty() && !fs::is_directory(parent, ignored)) {
        fs::create_directories(parent, ignored);
    }
    LOKT_TRY(make_directory(m_root, m_owner));
    for (std::string_view sub : {"locks", "freezes", "mutex", "live"}) LOKT_TRY(make_directory(m_root / sub, m_owner));
    return {};
}

fs::path LockStore::path_of(Area area, std::string_view name) const { return m_root / area_dir(area) / file_name(name); }

std::string LockStore::display_path(Area area, std::string_view name) const {
    const fs::path full = path_of(area, name);
    std::error_code ec;
    const fs::path relative = full.lexically_proximate(fs::current_path(ec));
    if (!ec && !relative.empty() && relative.string().size() < full.string().size()) return relative.string();
    return full.string();
}

namespace {
// The record a lock file's text holds, or why it is corrupt (out.kind is corrupt until then).
void parse_stored_text(StoredRecord& out, std::string_view text) {
    auto parsed = parse_lock_record(text);
    if (!parsed) {
        out.problem = parsed.error().message;
        return;
    }
    out.kind = StoredRecord::Kind::record;
    out.record = std::move(parsed.value());
}
}  // namespace

Result<StoredRecord> LockStore::read(Area area, std::string_view name) const {
    StoredRecord out;
    if (directory_fd(area) < 0) return out;
    const std::string file = file_name(name);
    UniqueFd fd(::openat(directory_fd(area), file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
        if (errno == ENOENT) return out;
        if (errno == ELOOP) {
            struct stat link_info {};
            if (::fstatat(directory_fd(area), file.c_str(), &link_info, AT_SYMLINK_NOFOLLOW) == 0) {
                out.file = identity_of(link_info);
            }
            out.kind = StoredRecord::Kind::corrupt;
            out.problem = "it is a symbolic link, not a lock file";
            return out;
        }
        return sys_error("cannot open", display_path(area, name), errno);
    }
    struct stat info {};
    if (stat_open_file(fd.get(), &info) != 0) return sys_error("cannot stat", display_path(area, name), errno);
    out.file = identity_of(info);
    out.kind = StoredRecord::Kind::corrupt;
    if (!S_ISREG(info.st_mode)) {
        out.problem = "it is not a regular file";
        return out;
    }
    // Whoever owns the file (another uid: `sudo lokt` wrote it, or lokt run
    // as root reads a user's lock), it is judged by what it says: only the
    // root's owner and root can create files in its 0700 directories.
    if (info.st_size == 0) {
        // File times are the kernel's wall clock: compared with the kernel's
        // own reading of it, not this process's (which may be faked).
        const std::int64_t modified_ns = static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
        const std::int64_t now_ns = platform::kernel_wall_clock_ns().value_or(wall_now().time_since_epoch().count());
        if (std::chrono::nanoseconds(now_ns - modified_ns) < k_empty_file_grace) {
            out.kind = StoredRecord::Kind::being_written;
        } else {
            out.problem = "it is empty";
        }
        return out;
    }
    if (static_cast<std::size_t>(info.st_size) > k_max_record_bytes) {
        out.problem = "it is larger than 64 KiB";
        return out;
    }
    std::string text(static_cast<std::size_t>(info.st_size) + 1, '\0');
    std::size_t have = 0;
    // One read normally returns the whole file; stop as soon as we have its size.
    while (have < text.size()) {
        const ssize_t got = ::read(fd.get(), text.data() + have, text.size() - have);
        if (got < 0) {
            if (errno == EINTR) continue;
            return sys_error("cannot read", display_path(area, name), errno);
        }
        if (got == 0) break;
        have += static_cast<std::size_t>(got);
        if (have >= static_cast<std::size_t>(info.st_size)) break;
    }
    text.resize(have);
    parse_stored_text(out, text);
    return out;
}

void LockStore::read_many(Area area, const std::vector<std::string>& names, std::size_t begin, std::size_t end,
                          const std::function<void(std::size_t, Result<StoredRecord>)>& visit) const {
    // Lock files are a few hundred bytes: a bigger one (up to 64 KiB) is read
    // the slow way, as is anything the batch could not vouch for.
    constexpr std::size_t k_batch_bytes = 4096;
    constexpr std::size_t k_files_per_batch = 1024;
    std::unique_ptr<platform::BatchReader> reader;
    if (directory_fd(area) >= 0 && end > begin + 16) reader = platform::BatchReader::open();
    std::vector<std::string> files;
    std::vector<platform::BatchRead> batch;
    for (std::size_t first = begin; first < end; first += k_files_per_batch) {
        const std::size_t last = std::min(end, first + k_files_per_batch);
        bool batched = false;
        if (reader) {
            files.clear();
            for (std::size_t i = first; i < last; ++i) files.push_back(file_name(names[i]));
            batched = reader->read(directory_fd(area), files, 0, files.size(), k_batch_bytes, batch);
            if (!batched) reader.reset();
        }
        for (std::size_t i = first; i < last; ++i) {
            if (!batched || !batch[i - first].complete) {
                visit(i, read(area, names[i]));
                continue;
            }
            platform::BatchRead& entry = batch[i - first];
            StoredRecord out;
            out.file = FileIdentity{entry.device, entry.inode, entry.change_ns};
            out.kind = StoredRecord::Kind::corrupt;
            parse_stored_text(out, entry.contents);
            visit(i, std::move(out));
        }
    }
}

Result<std::optional<FileIdentity>> LockStore::identify(Area area, std::string_view name) const {
    struct stat info {};
    if (::fstatat(directory_fd(area), file_name(name).c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return std::optional<FileIdentity>();
        return sys_error("cannot inspect", display_path(area, name), errno);
    }
    return std::optional<FileIdentity>(identity_of(info));
}

Result<bool> LockStore::publish(Area area, std::string_view name, std::string_view contents, FileIdentity* created) {
    const int dir = directory_fd(area);
    const std::string file = file_name(name);
    const auto display = [&] { return display_path(area, name); };  // only built for errors
    LOKT_TRY_LET(temp, write_temp(dir, name, contents, display, true, m_owner));
    auto& [fd, temp_file] = temp.value();
    int linked;
    if (temp_file.empty()) {
        linked = platform::link_unnamed_file(fd.get(), dir, file);
    } else {
        linked = ::linkat(dir, temp_file.c_str(), dir, file.c_str(), 0);
        const int saved = errno;
        ::unlinkat(dir, temp_file.c_str(), 0);
        errno = saved;
    }
    if (linked == 0) {
        // After the link (and the temp name's removal), so the change time is final.
        struct stat info {};
        if (created != nullptr) *created = stat_open_file(fd.get(), &info) == 0 ? identity_of(info) : FileIdentity{};
        return true;
    }
    if (errno == EEXIST) return false;
    return sys_error("cannot create", display(), errno);
}

Result<StagedFile> LockStore::stage(Area area, std::string_view name, std::string_view contents) const {
    const int dir = directory_fd(area);
    const auto display = [&] { return display_path(area, name); };  // only built for errors
    // Written unnamed and given the temp name only once complete, so that a
    // kill leaves at most a whole file under the temp name, and only between
    // the link and the rename (the change's audit line is written in between,
    // see LockEngine). Rewrites happen under the name's mutex, so the temp name
    // is ours: a file left there by a writer that died is simply replaced.
    LOKT_TRY_LET(temp, write_temp(dir, name, contents, display, true, m_owner));
    auto& [fd, named] = temp.value();
    // Where the file system has no unnamed files, the publisher's kind of
    // hidden temp file is renamed instead (a killed writer's is removed when
    // the name is next broken, see remove_leftovers).
    std::string from = std::move(named);
    if (from.empty()) {
        from = replacement_name(name);
        int linked = platform::link_unnamed_file(fd.get(), dir, from);
        if (linked != 0 && errno == EEXIST) {
            ::unlinkat(dir, from.c_str(), 0);
            linked = platform::link_unnamed_file(fd.get(), dir, from);
        }
        if (linked != 0) return sys_error("cannot create", display(), errno);
    }
    StagedFile staged;
    staged.m_area = area;
    staged.m_dir = dir;
    staged.m_name = name;
    staged.m_fd = std::move(fd);
    staged.m_temp = std::move(from);
    return staged;
}

Result<void> LockStore::commit(StagedFile& staged, FileIdentity* replaced) const {
    const std::string file = file_name(staged.m_name);
    if (::renameat(staged.m_dir, staged.m_temp.c_str(), staged.m_dir, file.c_str()) != 0) {
        return sys_error("cannot replace", display_path(staged.m_area, staged.m_name), errno);
    }
    staged.m_temp.clear();  // in place now: nothing to clean up
    // After the rename, so the change time is final.
    struct stat info {};
    if (replaced != nullptr) *replaced = stat_open_file(staged.m_fd.get(), &info) == 0 ? identity_of(info) : FileIdentity{};
    return {};
}

Result<void> LockStore::replace(Area area, std::string_view name, std::string_view contents, FileIdentity* replaced) {
    LOKT_TRY_LET(staged, stage(area, name, contents));
    return commit(*staged, replaced);
}

StagedFile& StagedFile::operator=(StagedFile&& other) noexcept {
    if (this != &other) {
        discard();
        m_area = other.m_area;
        m_dir = other.m_dir;
        m_name = std::move(other.m_name);
        m_temp = std::exchange(other.m_temp, std::string());
        m_fd = std::move(other.m_fd);
    }
    return *this;
}

StagedFile::StagedFile(StagedFile&& other) noexcept
    : m_area(other.m_area),
      m_dir(other.m_dir),
      m_name(std::move(other.m_name)),
      m_temp(std::exchange(other.m_temp, std::string())),
      m_fd(std::move(other.m_fd)) {}

void StagedFile::discard() {
    if (!m_temp.empty()) ::unlinkat(m_dir, m_temp.c_str(), 0);
    m_temp.clear();
}

void LockStore::remove_leftovers(Area area, std::string_view name, Leftovers which) {
    const int dir = directory_fd(area);
    if (dir < 0) return;
    ::unlinkat(dir, replacement_name(name).c_str(), 0);
    if (which == Leftovers::replacement) return;
    // Temp files of publishers on a file system without O_TMPFILE:
    // ".NAME.PID.N.tmp", left behind when the publisher was killed.
    const int dup = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dup < 0) return;
    DIR* listing = ::fdopendir(dup);
    if (listing == nullptr) {
        ::close(dup);
        return;
    }
    std::string prefix = ".";
    prefix += name;
    prefix += '.';
    std::vector<std::string> orphans;
    while (struct dirent* entry = ::readdir(listing)) {
        const std::string_view entry_name = entry->d_name;
        if (!entry_name.starts_with(prefix) || !entry_name.ends_with(".tmp")) continue;
        // What lies between is "PID.N": both numbers, nothing else.
        const std::string_view middle = entry_name.substr(prefix.size(), entry_name.size() - prefix.size() - 4);
        const auto dot = middle.find('.');
        if (dot == std::string_view::npos || dot == 0 || dot + 1 == middle.size()) continue;
        const std::string_view pid_text = middle.substr(0, dot);
        const std::string_view count_text = middle.substr(dot + 1);
        const auto all_digits = [](std::string_view text) {
            return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
        };
        if (!all_digits(pid_text) || !all_digits(count_text) || pid_text.size() > 9) continue;
        const auto pid = static_cast<pid_t>(std::stol(std::string(pid_text)));
        if (pid == ::getpid()) continue;
        const auto stat = platform::read_process_stat(pid);
        if (stat && stat->state != 'Z') continue;  // its writer may still be at work
        orphans.emplace_back(entry_name);
    }
    ::closedir(listing);
    for (const std::string& orphan : orphans) {
        struct stat info {};
        if (::fstatat(dir, orphan.c_str(), &info, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(info.st_mode)) {
            ::unlinkat(dir, orphan.c_str(), 0);
        }
    }
}

Result<bool> LockStore::remove_if_same(Area area, std::string_view name, const FileIdentity& expected) {
    const int dir = directory_fd(area);
    const std::string file = file_name(name);
    struct stat info {};
    if (::fstatat(dir, file.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return false;
        return sys_error("cannot stat", display_path(area, name), errno);
    }
    if (identity_of(info) != expected) return false;
    if (::unlinkat(dir, file.c_str(), 0) != 0) {
        if (errno == ENOENT) return false;
        return sys_error("cannot remove", display_path(area, name), errno);
    }
    return true;
}

Result<void> LockStore::check_removable(Area area) const {
    if (::faccessat(directory_fd(area), ".", W_OK | X_OK, AT_EACCESS) != 0) {
        return sys_error("cannot remove files in", (m_root / area_dir(area)).string(), errno);
    }
    return {};
}

Result<std::vector<std::string>> LockStore::list(Area area) const {
    std::vector<std::string> names;
    if (directory_fd(area) < 0) return names;
    const int dup = ::openat(directory_fd(area), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dup < 0) return sys_error("cannot open directory", (m_root / area_dir(area)).string(), errno);
    DIR* dir = ::fdopendir(dup);
    if (dir == nullptr) {
        ::close(dup);
        return sys_error("cannot list", (m_root / area_dir(area)).string(), errno);
    }
    while (struct dirent* entry = ::readdir(dir)) {
        if (auto name = lock_name_from_file(entry->d_name)) names.push_back(std::move(*name));
    }
    ::closedir(dir);
    std::sort(names.begin(), names.end());
    return names;
}

Result<UniqueFd> LockStore::open_mutex_file(std::string_view name) {
    if (!m_mutex) {
        // Opened first: the directory is there but for the first lock of a root.
        const fs::path dir = m_root / "mutex";
        m_mutex.reset(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!m_mutex && errno == ENOENT) {
            LOKT_TRY(make_directory(dir, m_owner));
            m_mutex.reset(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        }
        if (!m_mutex) return sys_error("cannot open directory", dir.string(), errno);
        m_mutex_id = {};  // see unchanged_on_disk
    }
    const std::string file = std::string(name) + ".lock";
    UniqueFd fd(::openat(m_mutex.get(), file.c_str(), O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, k_file_mode));
    if (!fd) return sys_error("cannot open", (m_root / "mutex" / file).string(), errno);
    LOKT_TRY(hand_over(fd.get(), m_owner, m_root / "mutex" / file));
    return fd;
}

Result<void> LockStore::prepare_mutex(std::string_view name) {
    if (m_prepared.valid() && m_prepared_name == name) return {};
    LOKT_TRY_LET(fd, open_mutex_file(name));
    m_prepared = std::move(fd.value());
    m_prepared_name = name;
    return {};
}

std::optional<std::uint64_t> LockStore::pool_size(std::string_view name) {
    if (!m_mutex) return std::nullopt;
    const std::string file = std::string(name) + ".pool";
    UniqueFd fd(::openat(m_mutex.get(), file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd) return std::nullopt;
    char text[32];
    const ssize_t got = ::read(fd.get(), text, sizeof text - 1);
    if (got <= 0) return std::nullopt;
    std::uint64_t value = 0;
    ssize_t i = 0;
    for (; i < got && text[i] >= '0' && text[i] <= '9' && i < 8; ++i)
        value = value * 10 + static_cast<std::uint64_t>(text[i] - '0');
    if (i == 0 || i >= got || text[i] != '\n') return std::nullopt;
    return value;
}

Result<void> LockStore::set_pool_size(std::string_view name, std::uint64_t slots) {
    if (!m_mutex) return make_error(ErrorCode::io, "the mutex directory is not open");
    const std::string file = std::string(name) + ".pool";
    const fs::path path = m_root / "mutex" / file;
    UniqueFd fd(
        ::openat(m_mutex.get(), file.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, k_file_mode));
    if (!fd) return sys_error("cannot open", path.string(), errno);
    LOKT_TRY(hand_over(fd.get(), m_owner, path));
    const std::string text = std::to_string(slots) + "\n";
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        return sys_error("cannot write", path.string(), errno);
    }
    return {};
}

void LockStore::unlock_and_keep(std::string_view name, NameMutex mutex) {
    if (!mutex.m_fd) return;
    (void)::flock(mutex.m_fd.get(), LOCK_UN);
    m_prepared = std::move(mutex.m_fd);
    m_prepared_name = name;
}

Result<NameMutex> LockStore::lock_name(std::string_view name, const std::function<bool()>& moot) {
    UniqueFd fd;
    if (m_prepared.valid() && m_prepared_name == name) fd = std::move(m_prepared);  // opened at the acquire
    if (!fd) {
        LOKT_TRY_LET(opened, open_mutex_file(name));
        fd = std::move(opened.value());
    }
    const std::string file = std::string(name) + ".lock";
    // Our holders keep this for microseconds; back off briefly rather than block
    // forever behind a stopped process.
    auto delay = std::chrono::microseconds(50);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    // A few yields first: the holder is usually a releaser a few system calls
    // from letting go (waiters wake at its unlink, while it still holds the
    // mutex), and on a busy machine even a 50 us sleep can cost a time slice.
    int yields = m_mutex_try_once ? 0 : 16;
    bool waited = false;
    const auto give_way = [&] {
        m_prepared = std::move(fd);
        m_prepared_name = name;
        return NameMutex();
    };
    while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            return sys_error("cannot lock", (m_root / "mutex" / file).string(), errno);
        }
        waited = true;
        if (moot && moot()) return give_way();
        if (m_mutex_try_once || std::chrono::steady_clock::now() > deadline) {
            Error busy = make_error(ErrorCode::io, "timed out waiting for " + (m_root / "mutex" / file).string() +
                                                       " (another lokt process is stuck while changing this lock)");
            busy.busy = m_mutex_try_once;
            return busy;
        }
        if (yields > 0) {
            --yields;
            sched_yield();
            continue;
        }
        std::this_thread::sleep_for(delay);
        delay = std::min(delay * 2, std::chrono::microseconds(5000));
    }
    // Whoever held it may have done what we came to do.
    if (waited && moot && moot()) {
        (void)::flock(fd.get(), LOCK_UN);
        return give_way();
    }
    return NameMutex(std::move(fd));
}

}  // namespace lokt
