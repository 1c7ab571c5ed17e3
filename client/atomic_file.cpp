// See atomic_file.hpp.
#include "client/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/sys_error.hpp"
#include "common/unique_fd.hpp"

namespace lokt::client {

Result<void> write_file_atomically(const std::filesystem::path& path, std::string_view content, Durability durability) {
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    std::string temp = (dir / ("." + path.filename().string() + ".XXXXXX")).string();
    UniqueFd fd(::mkostemp(temp.data(), O_CLOEXEC));
    if (!fd) return sys_error("cannot write", path.string(), errno);
    auto fail = [&](int error) {
        ::unlink(temp.c_str());
        return sys_error("cannot write", path.string(), error);
    };
    // mkostemp makes the file private; give it the mode a plain create would.
    const mode_t mask = ::umask(0);
    ::umask(mask);
    if (::fchmod(fd.get(), 0666 & ~mask) != 0) return fail(errno);
    std::size_t done = 0;
    while (done < content.size()) {
        const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(errno);
        done += static_cast<std::size_t>(n);
    }
    if (durability == Durability::survives_crash && ::fsync(fd.get()) != 0) return fail(errno);
    if (::close(fd.release()) != 0) return fail(errno);
    if (::rename(temp.c_str(), path.c_str()) != 0) return fail(errno);
    return {};
}

}  // namespace lokt::client
