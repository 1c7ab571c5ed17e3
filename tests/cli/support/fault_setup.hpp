// The faults the CLI scenarios stage on a root: a small tmpfs (full, out of
// inodes, remounted read-only), filling it to the last byte, and running lokt
// as another user (root ignores permission bits). Shared by the bad-input
// and disk-fault suites.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace lokt::cli_test {

// A tmpfs mounted for one test and always unmounted afterwards.
class TmpfsMount {
public:
    TmpfsMount(const std::filesystem::path& where, const std::string& options);
    ~TmpfsMount();
    TmpfsMount(const TmpfsMount&) = delete;
    TmpfsMount& operator=(const TmpfsMount&) = delete;

    bool mounted() const { return m_mounted; }
    const std::string& error() const { return m_error; }
    bool remount_read_only();
    bool remount_read_write();

private:
    std::filesystem::path m_where;
    bool m_mounted = false;
    std::string m_error;
};

// Writes to `path` until the filesystem is full; true when it got ENOSPC.
bool fill_disk(const std::filesystem::path& path);
// Creates empty files under `dir` until the filesystem has no inode left; true when it got ENOSPC.
bool use_up_inodes(const std::filesystem::path& dir);

// The unprivileged user the permission scenarios run lokt as.
inline constexpr unsigned k_other_uid = 65534;
// argv that runs lokt as k_other_uid (through setpriv).
std::vector<std::string> as_nobody(std::vector<std::string> args);
bool have_setpriv();

}  // namespace lokt::cli_test
