// See hold_handle.hpp.
#include "common/hold_handle.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "common/file_owner.hpp"
#include "common/lock_record.hpp"
#include "common/sys_error.hpp"

namespace lokt {
namespace {

namespace fs = std::filesystem;

constexpr int k_handle_mode = 0600;
constexpr int k_directory_mode = 0700;

// O_NOFOLLOW: a symlink planted at the name is refused, never followed.
int open_new_handle(const fs::path& path) {
    return ::open(path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, k_handle_mode);
}

}  // namespace

std::string_view to_string(HandleState state) {
    switch (state) {
        case HandleState::held: return "held";
        case HandleState::released: return "released";
        case HandleState::missing: return "missing";
    }
    return "missing";
}

bool is_handle_token(std::string_view token) {
    if (token.size() != 32) return false;
    for (char c : token) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

HoldHandle& HoldHandle::operator=(HoldHandle&& other) noexcept {
    if (this != &other) {
        dispose();
        m_path = std::move(other.m_path);
        m_token = std::move(other.m_token);
        m_fd = std::move(other.m_fd);
    }
    return *this;
}

Result<HoldHandle> HoldHandle::create(const fs::path& root) {
    HoldHandle handle;
    handle.m_token = new_lock_id();
    const fs::path directory = root / k_handle_directory;
    handle.m_path = directory / handle.m_token;
    // Run as root in a root another user owns, what we create is that user's (file_owner.hpp).
    const auto owner = owner_to_hand_over(root);
    // The directory usually exists: try the file first, make the directory only when that fails.
    UniqueFd fd(open_new_handle(handle.m_path));
    if (!fd && errno == ENOENT) {
        int made = ::mkdir(directory.c_str(), k_directory_mode);
        if (made != 0 && errno == ENOENT) {  // no root yet: this is its first hold
            std::error_code ignored;
            fs::create_directories(root.parent_path(), ignored);
            if (::mkdir(root.c_str(), k_directory_mode) == 0) {
                LOKT_TRY(hand_over(root, owner));
            } else if (errno != EEXIST) {
                return sys_error("cannot create directory", root.string(), errno);
            }
            made = ::mkdir(directory.c_str(), k_directory_mode);
        }
        if (made == 0) {
            LOKT_TRY(hand_over(directory, owner));
        } else if (errno != EEXIST) {
            return sys_error("cannot create directory", directory.string(), errno);
        }
        fd.reset(open_new_handle(handle.m_path));
    }
    if (!fd) return sys_error("cannot create", handle.m_path.string(), errno);
    if (auto given = hand_over(fd.get(), owner, handle.m_path); !given) {
        ::unlink(handle.m_path.c_str());
        return given.take_error();
    }
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        const int error = errno;
        ::unlink(handle.m_path.c_str());
        return sys_error("cannot lock", handle.m_path.string(), error);
    }
    handle.m_fd = std::move(fd);
    return handle;
}

void HoldHandle::dispose() {
    if (!m_fd.valid()) return;
    ::unlink(m_path.c_str());
    m_fd.reset();
}

HandleState probe_handle(const fs::path& root, std::string_view token) {
    if (!is_handle_token(token)) return HandleState::missing;
    const fs::path path = root / k_handle_directory / token;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd) return HandleState::missing;
    // A shared attempt: probers never conflict with each other, only with the
    // holders' exclusive lock. Closing the descriptor drops it again.
    if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return HandleState::released;
    return errno == EWOULDBLOCK ? HandleState::held : HandleState::missing;
}

void remove_handle(const fs::path& root, std::string_view token) {
    if (!is_handle_token(token)) return;
    const fs::path path = root / k_handle_directory / token;
    ::unlink(path.c_str());
}

std::size_t remove_orphan_handles(const fs::path& root, const std::set<std::string>& named) {
    std::size_t removed = 0;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(root / k_handle_directory, error)) {
        const std::string token = entry.path().filename().string();
        if (!is_handle_token(token) || named.count(token) != 0) continue;
        if (probe_handle(root, token) != HandleState::released) continue;
        if (::unlink(entry.path().c_str()) == 0) ++removed;
    }
    return removed;
}

}  // namespace lokt
