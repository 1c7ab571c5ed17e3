// What wakes `lokt top` and `lokt status --watch` without a daemon: inotify on
// the root's locks/ and freezes/ directories and on its audit log. A holder
// that dies or lapses changes no file, so the views also look again every few
// seconds (reread_every).
#pragma once

#include <filesystem>

#include "client/backend.hpp"
#include "common/unique_fd.hpp"

namespace lokt::client {

class FileChangeFeed final : public ChangeFeed {
public:
    explicit FileChangeFeed(const std::filesystem::path& root);

    int fd() const override { return m_queue.get(); }
    bool drain() override;
    std::string_view source() const override { return "file events"; }
    std::chrono::milliseconds reread_every() const override;

private:
    UniqueFd m_queue;
    int m_root_watch = -1;
};

}  // namespace lokt::client
