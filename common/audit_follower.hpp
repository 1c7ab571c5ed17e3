// Following audit.log as it grows, for `lokt audit --tail` and the daemon's
// audit subscriptions: how far the log has been read, the start of a line
// still being written, and what to do when the log is truncated or replaced.
// Each read hands over the whole lines written since the last one; a torn or
// unfinished last line waits for the rest of it.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "common/audit_log.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace lokt {

class AuditFollower {
public:
    using Visitor = std::function<void(std::string_view line, const AuditEvent& event)>;

    // Follows root/audit.log, the audit log of a lock root. An unfinished line
    // that grows longer than longest_line is dropped (its end, when it comes,
    // does not parse).
    explicit AuditFollower(std::filesystem::path root, std::size_t longest_line = std::numeric_limits<std::size_t>::max());

    // Starts after what the log holds now: only lines written later are read.
    void start_at_end();
    // Starts at the top: visits the lines the log holds now that match query
    // (as read_audit_prefix does), then goes on after the last of them.
    Result<void> start_with_history(const AuditQuery& query, const Visitor& visit);
    // Starts at the first line at or after since (binary search: a few pages
    // read, however long the log), without reading anything yet: the lines
    // from there on come with read_new, as many at a time as the caller
    // asks. Returns the log's size now (0 without a log): the history ends there.
    std::size_t start_at_time(WallTime since);

    // Visits, in file order, every whole line written since the last read that
    // parses and matches query. A log shorter than what was read, or a file
    // other than the one read before under the name, was truncated or replaced:
    // it is read again from the top. A missing log has nothing to read yet.
    // At most about max_bytes are read; returns true when more is left.
    bool read_new(const AuditQuery& query, const Visitor& visit, std::size_t max_bytes = std::numeric_limits<std::size_t>::max());
    // How far the log has been read.
    std::size_t offset() const { return m_offset; }
    // The name stands for a new file (the caller saw it replaced): the next
    // read starts at the top of whatever file is there then.
    void restart();
    // Goes back over a line a writer took back since we read it (see
    // AuditWriter::append_for); restarts when the log was truncated instead.
    void forget_taken_back(int fd);

    // For a caller with no watch of its own on the root: starts watching it,
    // so that wait() returns when the log may have grown, been created or been
    // replaced. Fails when the root cannot be watched.
    Result<void> watch();
    // Blocks until something happened to the log since the last wait (or a
    // signal arrived); a replaced log is restarted. Needs watch().
    Result<void> wait();

private:
    struct FileId {
        dev_t device = 0;
        ino_t inode = 0;
        bool operator==(const FileId&) const = default;
    };

    std::filesystem::path m_root;
    std::filesystem::path m_path;  // root/audit.log
    std::size_t m_longest_line;
    std::size_t m_offset = 0;  // how far the file has been read
    std::string m_partial;     // the start of a line not finished yet
    // The last two whole lines read (with their newlines) and where the last
    // began: to tell a writer taking back its last line from a truncated log.
    std::string m_last_line;
    std::string m_line_before;
    std::size_t m_last_line_start = 0;
    std::optional<FileId> m_file;  // the file that was read, once there was one
    UniqueFd m_watch;              // the root's file events, after watch()
};

}  // namespace lokt
