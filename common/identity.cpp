// See identity.hpp.
#include "identity.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "process_liveness.hpp"

namespace lokt {
namespace {

// $USER names the login; it is only looked up in the user database when unset,
// because that lookup (NSS) costs more than the whole lock operation.
std::string os_user_name() {
    for (const char* variable : {"USER", "LOGNAME"}) {
        if (const char* user = std::getenv(variable); user != nullptr && *user != '\0') return user;
    }
    if (struct passwd* entry = ::getpwuid(::geteuid()); entry != nullptr) return entry->pw_name;
    return "uid" + std::to_string(::geteuid());
}

std::string host_name() {
    char buffer[256] = {};
    if (::gethostname(buffer, sizeof buffer - 1) != 0) return "localhost";
    return buffer;
}

}  // namespace

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
