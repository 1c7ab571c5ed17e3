// Whole files as text, for tests that read back what a program left on disk
// (lock files, audit logs, a daemon's log) or put a file in place.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace lokt::test {

// The file's bytes; "" when it cannot be read.
std::string read_text(const std::filesystem::path& path);
// Replaces the file's contents; throws std::runtime_error when it cannot.
void write_text(const std::filesystem::path& path, const std::string& text);
// How many times `part` occurs in `text` (say, one audit event in a log).
std::size_t count_of(const std::string& text, const std::string& part);

}  // namespace lokt::test
