// See audit_scan.hpp.
#include "client/audit_scan.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/sys_error.hpp"
#include "common/unique_fd.hpp"

namespace lokt::client {
namespace {

// A cursor over one line. Every method returns false on anything it does not
// know, which sends the line to the full parser.
struct Cursor {
    const char* p;
    const char* end;

    void skip_space() {
        while (p < end && (*p == ' ' || *p == '\t')) ++p;
    }
    bool eat(char c) {
        skip_space();
        if (p == end || *p != c) return false;
        ++p;
        return true;
    }
    bool peek(char c) {
        skip_space();
        return p < end && *p == c;
    }
    // A string without escapes, returned in place.
    bool string(std::string_view& out) {
        if (!eat('"')) return false;
        const char* start = p;
        const void* quote = std::memchr(p, '"', static_cast<std::size_t>(end - p));
        if (quote == nullptr) return false;
        const char* stop = static_cast<const char*>(quote);
        if (std::memchr(start, '\\', static_cast<std::size_t>(stop - start)) != nullptr) return false;
        out = std::string_view(start, static_cast<std::size_t>(stop - start));
        p = stop + 1;
        return true;
    }
    bool integer(std::int64_t& out) {
        skip_space();
        auto [next, error] = std::from_chars(p, end, out);
        if (error != std::errc() || (next < end && (*next == '.' || *next == 'e' || *next == 'E'))) return false;
        p = next;
        return true;
    }
    bool word(std::string_view w) {
        skip_space();
        if (static_cast<std::size_t>(end - p) < w.size() || std::string_view(p, w.size()) != w) return false;
        p += w.size();
        return true;
    }
};

enum class Kind { string, integer, boolean, null, object, other };

Kind kind_at(Cursor& c) {
    c.skip_space();
    if (c.p == c.end) return Kind::other;
    const char ch = *c.p;
    if (ch == '"') return Kind::string;
    if (ch == '-' || (ch >= '0' && ch <= '9')) return Kind::integer;
    if (ch == 't' || ch == 'f') return Kind::boolean;
    if (ch == 'n') return Kind::null;
    if (ch == '{') return Kind::object;
    return Kind::other;
}

// A plain value we do not need.
bool skip_value(Cursor& c) {
    std::string_view text;
    std::int64_t number = 0;
    switch (kind_at(c)) {
        case Kind::string: return c.string(text);
        case Kind::integer: return c.integer(number);
        case Kind::boolean: return c.word("true") || c.word("false");
        case Kind::null: return c.word("null");
        default: return false;
    }
}

bool scan_extra(Cursor& c, AuditExtra& extra) {
    if (!c.eat('{')) return false;
    if (c.eat('}')) return true;
    do {
        std::string_view key;
        if (!c.string(key) || !c.eat(':')) return false;
        std::string_view text;
        if (key == "waiting" && kind_at(c) == Kind::boolean) {
            if (c.word("true"))
                extra.waiting = true;
            else if (!c.word("false"))
                return false;
        } else if (key == "held_ms" && kind_at(c) == Kind::integer) {
            if (!c.integer(extra.held_ms)) return false;
        } else if ((key == "reason" || key == "holder" || key == "frozen_by") && kind_at(c) == Kind::string) {
            if (!c.string(text)) return false;
            (key == "reason" ? extra.reason : key == "holder" ? extra.holder : extra.frozen_by) = text;
        } else if (!skip_value(c)) {
            return false;
        }
    } while (c.eat(','));
    return c.eat('}');
}

}  // namespace

bool scan_audit_line(std::string_view line, AuditEvent& e, AuditExtra& extra) {
    e = AuditEvent{};
    extra = AuditExtra{};
    Cursor c{line.data(), line.data() + line.size()};
    if (!c.eat('{')) return false;
    bool has_ts = false;
    if (c.eat('}')) return false;
    do {
        std::string_view key;
        if (!c.string(key) || !c.eat(':')) return false;
        const Kind kind = kind_at(c);
        std::string_view text;
        if (kind == Kind::string) {
            if (!c.string(text)) return false;
            if (key == "ts") {
                auto ts = parse_rfc3339(text);
                if (!ts) return false;
                e.ts = *ts;
                has_ts = true;
            } else if (key == "event") {
                e.event = text;
            } else if (key == "name") {
                e.name = text;
            } else if (key == "lock_id") {
                e.lock_id = text;
            } else if (key == "owner") {
                e.owner = text;
            } else if (key == "host") {
                e.host = text;
            } else if (key == "agent_id") {
                e.agent_id = text;
            }
        } else if (kind == Kind::integer) {
            std::int64_t number = 0;
            if (!c.integer(number)) return false;
            if (key == "pid")
                e.pid = number;
            else if (key == "ttl_sec")
                e.ttl_sec = number;
        } else if (kind == Kind::object) {
            if (key != "extra" || !scan_extra(c, extra)) return false;
        } else if (!skip_value(c)) {
            return false;
        }
    } while (c.eat(','));
    if (!c.eat('}')) return false;
    c.skip_space();
    return c.p == c.end && has_ts && !e.event.empty();
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

    std::size_t pos = query.since ? find_first_at_or_after(text, *query.since) : 0;
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
