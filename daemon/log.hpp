// The daemon's log. spdlog's headers cost about ten seconds of compilation in
// every file that includes them, so only log.cpp does: the rest of loktd logs
// through these few functions. A message is formatted (fmt, header-only from
// Debian) only when its level is enabled, so debug lines on the request path
// cost a comparison when nobody asked for them.
#pragma once

#include <fmt/core.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace lokt::daemon::log {

enum class Level { trace, debug, info, warn, error, off };

// Parses "trace", "debug", "info", "warn", "error" or "off".
std::optional<Level> parse_level(std::string_view text);

// Sends the log to stderr (flushed at once, for journald and launchd), or to
// a rotating file when `file` is set (4 MiB, two old files kept).
void open(const std::optional<std::filesystem::path>& file, Level level);

bool enabled(Level level) noexcept;
void write(Level level, std::string_view message);

template <typename... Args>
void at(Level level, fmt::format_string<Args...> format, Args&&... args) {
    if (!enabled(level)) return;
    write(level, fmt::vformat(format, fmt::make_format_args(args...)));
}

template <typename... Args>
void debug(fmt::format_string<Args...> format, Args&&... args) {
    at(Level::debug, format, std::forward<Args>(args)...);
}
template <typename... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
    at(Level::info, format, std::forward<Args>(args)...);
}
template <typename... Args>
void warn(fmt::format_string<Args...> format, Args&&... args) {
    at(Level::warn, format, std::forward<Args>(args)...);
}
template <typename... Args>
void error(fmt::format_string<Args...> format, Args&&... args) {
    at(Level::error, format, std::forward<Args>(args)...);
}

}  // namespace lokt::daemon::log
