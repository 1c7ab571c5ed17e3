// See audit_scan.hpp.
#include "client/audit_scan.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/audit_line_scan.hpp"
#include "common/audit_seek.hpp"
#include "common/json_line_cursor.hpp"
#include "common/sys_error.hpp"
#include "common/unique_fd.hpp"

namespace lokt::client {
namespace {

bool scan_extra(JsonLineCursor& c, AuditExtra& extra) {
    if (!c.eat('{')) return false;
    if (c.eat('}')) return true;
    do {
        std::string_view key;
        if (!c.string(key) || !c.eat(':')) return false;
        std::string_view text;
        if (key == "waiting" && json_kind_at(c) == JsonKind::boolean) {
            if (c.word("true"))
                extra.waiting = true;
            else if (!c.word("false"))
                return false;
        } else if (key == "held_ms" && json_kind_at(c) == JsonKind::integer) {
            if (!c.integer(extra.held_ms)) return false;
        } else if ((key == "reason" || key == "holder" || key == "frozen_by") && json_kind_at(c) == JsonKind::string) {
            if (!c.string(text)) return false;
            (key == "reason" ? extra.reason : key == "holder" ? extra.holder : extra.frozen_by) = text;
        } else if (!skip_json_value(c)) {
            return false;
        }
    } while (c.eat(','));
    return c.eat('}');
}

}  // namespace

bool scan_audit_line(std::string_view line, AuditEvent& e, AuditExtra& extra) {
    extra = AuditExtra{};
    if (!scan_audit_event(line, e)) return false;
    if (e.extra_json.empty()) return true;
    JsonLineCursor c(e.extra_json);
    return scan_extra(c, extra) && c.at_end();
}

Result<void> scan_audit_into(const std::filesystem::path& log, const AuditQuery& query, AuditAnalyzer& analyzer) {
    UniqueFd fd(::open(log.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd) {
        if (errno == ENOENT) return {};
        return sys_error("cannot open", log.string(), errno);
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) return sys_error("cannot stat", log.string(), errno);
    if (!S_ISREG(info.st_mode)) return make_error(ErrorCode::io, "cannot read " + log.string() + ": not a regular file");
    const auto size = static_cast<std::size_t>(info.st_size);
    if (size == 0) return {};
    void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (mapped == MAP_FAILED) return sys_error("cannot map", log.string(), errno);
    ::madvise(mapped, size, MADV_SEQUENTIAL);
    const std::string_view text(static_cast<const char*>(mapped), size);

    std::size_t pos = query.since ? audit_seek_offset(text, *query.since) : 0;
    AuditEvent event;
    AuditExtra extra;
    while (pos < text.size()) {
        const std::size_t newline = text.find('\n', pos);
        if (newline == std::string_view::npos) break;  // a line still being written
        const std::string_view line = text.substr(pos, newline - pos);
        pos = newline + 1;
        if (line.empty()) continue;
        if (scan_audit_line(line, event, extra)) {
            if (audit_event_matches(event, query)) analyzer.add(event, extra);
        } else if (auto parsed = parse_audit_line(line); parsed && audit_event_matches(*parsed, query)) {
            analyzer.add(*parsed);
        }
    }
    ::munmap(mapped, size);
    return {};
}

}  // namespace lokt::client
