// A fresh directory per test case, removed when the case passes and kept (its
// path printed) when any assertion of the case failed, so the files a test
// left (lock files, the audit log, a daemon's log, the transcript of every
// command) can be inspected afterwards.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace lokt::test {

// Failed assertions so far in this run (counted by a doctest listener).
long failed_assertions();

class ScratchDir {
public:
    // A new directory under the temporary directory, named PREFIX-XXXXXX.
    explicit ScratchDir(std::string_view prefix = "lokt-test");
    ~ScratchDir();
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;

    const std::filesystem::path& path() const { return m_path; }
    std::filesystem::path operator/(const std::string& child) const { return m_path / child; }
    // True when an assertion failed (or an exception is unwinding) since construction.
    bool failed() const;
    void keep() { m_keep = true; }

private:
    std::filesystem::path m_path;
    long m_failures_at_start = 0;
    bool m_keep = false;
};

}  // namespace lokt::test
