// A fresh directory per test case, removed when the case passes and kept (its
// path printed) when any assertion of the case failed, so the lock files, the
// audit log and the transcript of every command can be inspected afterwards.
#pragma once

#include <filesystem>

namespace lokt::cli_test {

// Failed assertions so far in this run (counted by a doctest listener).
long failed_assertions();

class ScratchDir {
public:
    ScratchDir();
    ~ScratchDir();
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;

    const std::filesystem::path& path() const { return m_path; }
    // True when an assertion failed (or an exception is unwinding) since construction.
    bool failed() const;
    void keep() { m_keep = true; }

private:
    std::filesystem::path m_path;
    long m_failures_at_start = 0;
    bool m_keep = false;
};

}  // namespace lokt::cli_test
