// A guard's liveness handle: what keeps a hold alive for exactly as long as
// the work it guards runs, whatever happens to the guard process itself.
//
// The guard creates live/TOKEN in the lock root and takes an exclusive
// flock(2) on it before the hold is published. The guarded command inherits
// the descriptor, and with it the lock: flock locks belong to the open file,
// which the kernel releases only when the last process holding a descriptor
// to it exits (or closes it). So "is the hold's work still running?" is the
// question "is that flock still held?", asked with one non-blocking attempt,
// and loktd can be told the moment the answer changes: closing the last
// descriptor of a file opened for writing raises inotify's IN_CLOSE_WRITE.
// Nothing is polled, and a killed guard cannot free the lock under a command
// that still runs.
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace lokt {

// The side directory of the root that holds the handles (outside locks/, so
// other tools never see them).
inline constexpr std::string_view k_handle_directory = "live";

enum class HandleState {
    held,      // some process still holds the flock: the work runs
    released,  // the file is there but nobody holds it: the work has ended
    missing,   // no such handle (removed, or never created)
};

std::string_view to_string(HandleState state);

// 32 lowercase hex digits, as new_lock_id() makes them: nothing else is ever
// opened as a handle, so a record cannot point a prober elsewhere.
bool is_handle_token(std::string_view token);

class HoldHandle {
public:
    HoldHandle() = default;
    HoldHandle(HoldHandle&& other) noexcept = default;
    HoldHandle& operator=(HoldHandle&& other) noexcept;
    HoldHandle(const HoldHandle&) = delete;
    HoldHandle& operator=(const HoldHandle&) = delete;
    ~HoldHandle() { dispose(); }

    // Creates root/live/TOKEN (and live/ when missing) and locks it.
    static Result<HoldHandle> create(const std::filesystem::path& root);

    bool valid() const { return m_fd.valid(); }
    const std::string& token() const { return m_token; }
    // The locked descriptor (close-on-exec: the spawner hands it to the command).
    int fd() const { return m_fd.get(); }

    // Removes the file and closes our descriptor. Copies a command still has
    // keep their lock on a file nobody can name any more, which no hold refers to.
    void dispose();

private:
    std::filesystem::path m_path;
    std::string m_token;
    UniqueFd m_fd;
};

// Is the handle TOKEN under root still held? One open and one flock attempt.
HandleState probe_handle(const std::filesystem::path& root, std::string_view token);

// Removes root/live/TOKEN if it is there (after the hold that named it was removed).
void remove_handle(const std::filesystem::path& root, std::string_view token);

// Removes the handles no hold names and nobody holds: those of guards killed
// while they waited (a guard about to publish its hold holds its handle, and
// is left alone). Returns how many were removed.
std::size_t remove_orphan_handles(const std::filesystem::path& root, const std::set<std::string>& named);

}  // namespace lokt
