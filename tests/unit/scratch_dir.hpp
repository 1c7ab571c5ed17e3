// A fresh directory per test case, removed when the case passes and kept (with
// its path printed) when it fails, so a failure can be inspected afterwards.
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>

#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace lokt::test {

// True once an assertion of the running test case has failed (defined in main.cpp).
bool current_test_failed();

class ScratchDir {
public:
    ScratchDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "lokt-unit-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        m_path = pattern;
    }
    ~ScratchDir() {
        if (m_keep || current_test_failed() || std::uncaught_exceptions() > 0) {
            MESSAGE("scratch directory kept: " << m_path.string());
            return;
        }
        std::error_code ignored;
        std::filesystem::remove_all(m_path, ignored);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;

    const std::filesystem::path& path() const { return m_path; }
    std::filesystem::path operator/(const std::string& child) const { return m_path / child; }
    void keep() { m_keep = true; }

private:
    std::filesystem::path m_path;
    bool m_keep = false;
};

}  // namespace lokt::test
