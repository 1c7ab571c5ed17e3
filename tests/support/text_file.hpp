// Whole files as text, for tests that read back what a program left on disk
// (lock files, audit logs, a daemon's log) or put a file in place.
#pragma once

#include <filesystem>
#include <string>

namespace lokt::test {

// The file's bytes; "" when it cannot be read.
std::string read_text(const std::filesystem::path& path);
// Replaces the file's contents; throws std::runtime_error when it cannot.
void write_text(const std::filesystem::path& path, const std::string& text);

}  // namespace lokt::test
