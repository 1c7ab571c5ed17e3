// Who the files lokt creates in a lock root belong to. Normally the process
// that creates them; but `sudo lokt ...` in a root another user owns must not
// leave root-owned files there (a root-owned mutex file or audit log would
// lock that user out of their own root). So when lokt runs as root in a root
// owned by another user, every directory and file it creates is handed to the
// root directory's owner (fchown), as if that user had made it.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>

#include "common/result.hpp"

namespace lokt {

struct FileOwner {
    uid_t uid = 0;
    gid_t gid = 0;
};

// Whom files created under root must belong to: nullopt unless this process
// runs as root (euid 0) and root (or, when it does not exist yet, its nearest
// existing parent directory) is owned by another user.
std::optional<FileOwner> owner_to_hand_over(const std::filesystem::path& root);

// Gives the open file fd to owner (nothing when nullopt); path is for the message.
Result<void> hand_over(int fd, const std::optional<FileOwner>& owner, const std::filesystem::path& path);
// The same for a path (a directory just made), not following symlinks.
Result<void> hand_over(const std::filesystem::path& path, const std::optional<FileOwner>& owner);

}  // namespace lokt
