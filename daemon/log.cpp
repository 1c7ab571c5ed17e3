// The one file that compiles spdlog: sinks, pattern and level for loktd's log.
#include "daemon/log.hpp"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>

namespace lokt::daemon::log {
namespace {

// Mirrors the logger's level so that enabled() needs no call into spdlog.
std::atomic<Level> g_level{Level::info};

spdlog::level::level_enum to_spdlog(Level level) {
    switch (level) {
        case Level::trace: return spdlog::level::trace;
        case Level::debug: return spdlog::level::debug;
        case Level::info: return spdlog::level::info;
        case Level::warn: return spdlog::level::warn;
        case Level::error: return spdlog::level::err;
        case Level::off: return spdlog::level::off;
    }
    return spdlog::level::info;
}

}  // namespace

std::optional<Level> parse_level(std::string_view text) {
    if (text == "trace") return Level::trace;
    if (text == "debug") return Level::debug;
    if (text == "info") return Level::info;
    if (text == "warn" || text == "warning") return Level::warn;
    if (text == "error" || text == "err") return Level::error;
    if (text == "off") return Level::off;
    return std::nullopt;
}

void open(const std::optional<std::filesystem::path>& file, Level level) {
    std::shared_ptr<spdlog::logger> logger;
    if (file) {
        logger = spdlog::rotating_logger_mt("loktd", file->string(), 4 * 1024 * 1024, 2);
        logger->flush_on(spdlog::level::info);
    } else {
        logger = spdlog::stderr_logger_mt("loktd");
        logger->flush_on(spdlog::level::trace);
    }
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e loktd[%P] %l: %v");
    logger->set_level(to_spdlog(level));
    spdlog::set_default_logger(logger);
    g_level.store(level, std::memory_order_relaxed);
}

bool enabled(Level level) noexcept {
    const Level threshold = g_level.load(std::memory_order_relaxed);
    return threshold != Level::off && level >= threshold && level != Level::off;
}

void write(Level level, std::string_view message) { spdlog::default_logger_raw()->log(to_spdlog(level), "{}", message); }

}  // namespace lokt::daemon::log
