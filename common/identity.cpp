// See identity.hpp.
#include "common/identity.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/process_liveness.hpp"

namespace lokt {
namespace {

// /etc/passwd, read whole (bounded): the user database lokt consults.
std::string read_passwd_file() {
    constexpr std::size_t k_limit = 4 * 1024 * 1024;
    std::string text;
    const int fd = ::open("/etc/passwd", O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return text;
    char buffer[16 * 1024];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || text.size() + static_cast<std::size_t>(n) > k_limit) break;
        text.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return text;
}

// $USER names the login. Only when it is unset is /etc/passwd read: lokt is a
// static binary, so it reads the file itself rather than through NSS modules
// it cannot load. A uid found nowhere is named "uid<N>".
std::string os_user_name() {
    for (const char* variable : {"USER", "LOGNAME"}) {
        if (const char* user = std::getenv(variable); user != nullptr && *user != '\0') return user;
    }
    if (auto name = user_name_in_passwd(read_passwd_file(), ::geteuid())) return *name;
    return "uid" + std::to_string(::geteuid());
}

std::string host_name() {
    char buffer[256] = {};
    if (::gethostname(buffer, sizeof buffer - 1) != 0) return "localhost";
    return buffer;
}

}  // namespace

std::optional<std::string> user_name_in_passwd(std::string_view passwd, uid_t uid) {
    while (!passwd.empty()) {
        const std::size_t end = passwd.find('\n');
        std::string_view line = passwd.substr(0, end);
        passwd = end == std::string_view::npos ? std::string_view() : passwd.substr(end + 1);
        // name:password:uid:... ; comments and NIS "+"/"-" entries name no local user.
        if (line.empty() || line[0] == '#' || line[0] == '+' || line[0] == '-') continue;
        const std::size_t name_end = line.find(':');
        if (name_end == 0 || name_end == std::string_view::npos) continue;
        const std::size_t uid_begin = line.find(':', name_end + 1);
        if (uid_begin == std::string_view::npos) continue;
        const std::size_t uid_end = line.find(':', uid_begin + 1);
        if (uid_end == std::string_view::npos) continue;
        const std::string_view uid_text = line.substr(uid_begin + 1, uid_end - uid_begin - 1);
        unsigned long long value = 0;
        const auto [next, problem] = std::from_chars(uid_text.data(), uid_text.data() + uid_text.size(), value);
        if (problem != std::errc() || next != uid_text.data() + uid_text.size() || uid_text.empty()) continue;
        if (value == static_cast<unsigned long long>(uid)) return std::string(line.substr(0, name_end));
    }
    return std::nullopt;
}

std::string derive_agent_id(pid_t pid, std::optional<std::uint64_t> start_ticks) {
    const std::string text = std::to_string(pid) + "-" + std::to_string(start_ticks.value_or(0));
    std::uint32_t hash = 2166136261u;
    for (unsigned char c : text) {
        hash ^= c;
        hash *= 16777619u;
    }
    char buffer[16];
    std::snprintf(buffer, sizeof buffer, "agent-%04x", hash & 0xffffu);
    return buffer;
}

Identity current_identity() {
    Identity id;
    if (const char* owner = std::getenv("LOKT_OWNER"); owner != nullptr && *owner != '\0') {
        id.owner = owner;
        id.owner_explicit = true;
    } else {
        id.owner = os_user_name();
    }
    id.host = host_name();
    id.pid = ::getpid();
    id.pid_start = process_start_ticks(id.pid);
    if (const char* agent = std::getenv("LOKT_AGENT_ID"); agent != nullptr && *agent != '\0') {
        id.agent_id = agent;
    } else {
        id.agent_id = derive_agent_id(id.pid, id.pid_start);
    }
    return id;
}

Result<void> validate_identity(const Identity& identity) {
    const auto check = [](std::string_view field, std::string_view what) -> Result<void> {
        if (field.size() <= k_max_identity_field_bytes) return {};
        return make_error(ErrorCode::usage, std::string(what) + " is " + std::to_string(field.size()) +
                                                " bytes, longer than the limit of " + std::to_string(k_max_identity_field_bytes));
    };
    LOKT_TRY(check(identity.owner, identity.owner_explicit ? "LOKT_OWNER" : "the owner"));
    LOKT_TRY(check(identity.agent_id, "LOKT_AGENT_ID"));
    return check(identity.host, "the host name");
}

Identity identity_for_process(const Identity& base, pid_t pid) {
    Identity id = base;
    id.pid = pid;
    id.pid_start = process_start_ticks(pid);
    if (std::getenv("LOKT_AGENT_ID") == nullptr || *std::getenv("LOKT_AGENT_ID") == '\0') {
        id.agent_id = derive_agent_id(id.pid, id.pid_start);
    }
    return id;
}

std::string owner_at_host(const std::string& owner, const std::string& host) { return owner + "@" + host; }

}  // namespace lokt
