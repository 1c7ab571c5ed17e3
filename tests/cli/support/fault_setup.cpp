// See fault_setup.hpp.
#include "tests/cli/support/fault_setup.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tests/cli/support/lokt_fixture.hpp"

namespace lokt::cli_test {

TmpfsMount::TmpfsMount(const std::filesystem::path& where, const std::string& options) : m_where(where) {
    std::filesystem::create_directories(where);
    if (::mount("tmpfs", where.c_str(), "tmpfs", 0, options.c_str()) == 0) {
        m_mounted = true;
    } else {
        m_error = std::strerror(errno);
    }
}

TmpfsMount::~TmpfsMount() {
    if (m_mounted) ::umount2(m_where.c_str(), MNT_DETACH);
}

bool TmpfsMount::remount_read_only() { return ::mount(nullptr, m_where.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr) == 0; }

bool TmpfsMount::remount_read_write() { return ::mount(nullptr, m_where.c_str(), nullptr, MS_REMOUNT, nullptr) == 0; }

bool fill_disk(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    const std::string block(4096, 'x');
    while (::write(fd, block.data(), block.size()) > 0) {
    }
    while (::write(fd, "x", 1) == 1) {  // the last partial page too
    }
    const bool full = errno == ENOSPC;
    ::close(fd);
    return full;
}

bool use_up_inodes(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    for (int i = 0;; ++i) {
        const std::string path = (dir / std::to_string(i)).string();
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) return errno == ENOSPC;
        ::close(fd);
    }
}

std::vector<std::string> as_nobody(std::vector<std::string> args) {
    std::vector<std::string> argv{"setpriv",
                                  "--reuid=" + std::to_string(k_other_uid),
                                  "--regid=" + std::to_string(k_other_uid),
                                  "--clear-groups",
                                  "--",
                                  LoktFixture::binary().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

bool have_setpriv() { return ::access("/usr/bin/setpriv", X_OK) == 0 || ::access("/bin/setpriv", X_OK) == 0; }

}  // namespace lokt::cli_test
