// See file_wait_records.hpp.
#include "client/file_wait_records.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "client/atomic_file.hpp"
#include "common/platform/files.hpp"
#include "common/process_liveness.hpp"
#include "common/sys_error.hpp"
#include "common/unique_fd.hpp"

namespace lokt::client {
namespace {

namespace fs = std::filesystem;

fs::path waits_dir(const fs::path& root) { return root / "waits"; }

// A side file bigger than this is not one of ours.
constexpr std::size_t k_max_wait_file_bytes = 16 * 1024;

std::optional<std::string> read_small_file(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    struct stat st {};
    std::string text;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<std::size_t>(st.st_size) <= k_max_wait_file_bytes) {
        text.resize(static_cast<std::size_t>(st.st_size));
        const ssize_t got = ::read(fd, text.data(), text.size());
        text.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
    }
    ::close(fd);
    return text;
}

bool write_whole(int fd, std::string_view text) {
    while (!text.empty()) {
        const ssize_t n = ::write(fd, text.data(), text.size());
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) errno = EIO;
        if (n <= 0) return false;
        text.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

}  // namespace

Result<WaitRecord> WaitRecord::write(const fs::path& root, const WaitAgent& agent, const std::string& name, WallTime since,
                                     bool shared, const std::string& who, const Identity* holder) {
    const fs::path dir = waits_dir(root);
    UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd && errno == ENOENT) {  // the root's first waiter
        if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return sys_error("cannot create", dir.string(), errno);
        dir_fd.reset(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    }
    if (!dir_fd) return sys_error("cannot open", dir.string(), errno);
    nlohmann::ordered_json record;
    record["agent"] = agent.key;
    record["label"] = agent.label;
    record["name"] = name;
    const pid_t self = ::getpid();
    record["pid"] = self;
    // The holder-to-be is usually this very process, its start already known.
    std::optional<std::uint64_t> start;
    if (holder != nullptr && holder->pid == self) start = holder->pid_start;
    if (!start) start = process_start_ticks(self);
    if (start) record["pid_start"] = *start;
    record["since"] = format_rfc3339(since);
    if (shared) record["mode"] = "shared";  // absent: exclusive (older waiters' files say nothing)
    if (!who.empty()) record["who"] = who;
    if (holder != nullptr) {
        record["owner"] = holder->owner;
        record["host"] = holder->host;
        record["holder_pid"] = holder->pid;
        if (!holder->agent_id.empty()) record["agent_id"] = holder->agent_id;
    }
    const std::string file = new_lock_id() + ".json";
    const fs::path path = dir / file;
    const std::string text = record.dump() + "\n";
    // A wait record lasts as long as its waiter, who removes it; one left by a
    // crash is judged by its pid: it never needs to reach the disk. Written
    // without a name and then linked, readers see all of it or nothing.
    platform::UnnamedFile unnamed = platform::create_unnamed_file(dir_fd.get(), 0600);
    if (unnamed.unsupported) {
        LOKT_TRY(write_file_atomically(path, text, Durability::while_writer_runs));
        return WaitRecord(path);
    }
    if (!unnamed.fd) return sys_error("cannot write", path.string(), unnamed.error);
    if (!write_whole(unnamed.fd.get(), text) || platform::link_unnamed_file(unnamed.fd.get(), dir_fd.get(), file) != 0) {
        return sys_error("cannot write", path.string(), errno);
    }
    return WaitRecord(path);
}

WaitRecord::~WaitRecord() {
    if (!m_path.empty()) ::unlink(m_path.c_str());
}

std::optional<std::string> exclusive_waiter_ahead(const fs::path& root, const std::string& name, WallTime before) {
    std::error_code error;
    std::optional<std::pair<WallTime, std::string>> earliest;
    for (const auto& entry : fs::directory_iterator(waits_dir(root), error)) {
        if (entry.path().extension() != ".json") continue;
        const auto text = read_small_file(entry.path());
        if (!text) continue;
        const auto record = nlohmann::json::parse(*text, nullptr, false);
        if (!record.is_object() || record.value("name", std::string()) != name ||
            record.value("mode", std::string()) == "shared") {
            continue;
        }
        try {
            const auto since = parse_rfc3339(record.value("since", std::string()));
            if (!since || *since >= before) continue;
            const auto pid = record["pid"].get<pid_t>();
            std::optional<std::uint64_t> start;
            if (record.contains("pid_start")) start = record["pid_start"].get<std::uint64_t>();
            if (process_liveness(pid, start) == Liveness::dead) continue;  // removed by the next deadlock check
            std::string who = record.value("who", record.value("label", std::string()));
            if (who.empty()) who = "pid " + std::to_string(pid);
            if (!earliest || *since < earliest->first) earliest.emplace(*since, std::move(who));
        } catch (const nlohmann::json::exception&) {
            continue;
        }
    }
    if (!earliest) return std::nullopt;
    return earliest->second + " waiting since " + format_duration_seconds(wall_now() - earliest->first);
}

std::vector<QueuedWaiter> waiters_on_disk(const fs::path& root, const std::string& name) {
    std::vector<std::pair<WallTime, QueuedWaiter>> found;
    std::error_code error;
    const WallTime now = wall_now();
    for (const auto& entry : fs::directory_iterator(waits_dir(root), error)) {
        if (entry.path().extension() != ".json") continue;
        const auto text = read_small_file(entry.path());
        if (!text) continue;
        const auto record = nlohmann::json::parse(*text, nullptr, false);
        if (!record.is_object() || record.value("name", std::string()) != name) continue;
        try {
            const auto since = parse_rfc3339(record.value("since", std::string()));
            if (!since) continue;
            const auto pid = record["pid"].get<pid_t>();
            std::optional<std::uint64_t> start;
            if (record.contains("pid_start")) start = record["pid_start"].get<std::uint64_t>();
            if (process_liveness(pid, start) == Liveness::dead) continue;  // a waiter killed while it waited
            QueuedWaiter waiter;
            waiter.holder.owner = record.value("owner", record.value("label", std::string()));
            waiter.holder.host = record.value("host", std::string());
            waiter.holder.pid = record.value("holder_pid", pid);
            waiter.holder.agent_id = record.value("agent_id", std::string());
            waiter.waited = std::max(Nanoseconds::zero(), Nanoseconds(now - *since));
            waiter.mode = record.value("mode", std::string("exclusive"));
            found.emplace_back(*since, std::move(waiter));
        } catch (const nlohmann::json::exception&) {
            continue;  // not one of ours, or damaged: ignored
        }
    }
    std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<QueuedWaiter> waiters;
    for (auto& [since, waiter] : found) {
        waiter.position = waiters.size() + 1;
        waiters.push_back(std::move(waiter));
    }
    return waiters;
}

std::optional<std::vector<WaitEdge>> file_wait_cycle(LockEngine& engine, const WaitEdge& request) {
    const fs::path dir = waits_dir(engine.store().root());
    std::error_code error;
    WaitForGraph graph;
    for (const auto& entry : fs::directory_iterator(dir, error)) {
        if (entry.path().extension() != ".json") continue;
        const auto text = read_small_file(entry.path());
        if (!text) continue;
        const auto record = nlohmann::json::parse(*text, nullptr, false);
        if (!record.is_object() || !record.contains("agent") || !record.contains("name") || !record.contains("pid")) continue;
        try {
            if (record["agent"].get<std::string>().empty()) continue;  // a waiter for fairness only
            const auto pid = record["pid"].get<pid_t>();
            std::optional<std::uint64_t> start;
            if (record.contains("pid_start")) start = record["pid_start"].get<std::uint64_t>();
            if (process_liveness(pid, start) == Liveness::dead) {
                ::unlink(entry.path().c_str());  // a waiter killed while it waited
                continue;
            }
            const std::string name = record["name"].get<std::string>();
            auto view = engine.inspect(name);
            if (!view || view->state != HoldState::live || view->stored.kind != StoredRecord::Kind::record) continue;
            // A waiter for a shared group waits for every member.
            for (const LockRecord* hold : holds_waited_for(view->stored.record)) {
                const auto holder = holding_agent_of(*hold);
                if (!holder) continue;
                WaitEdge edge{WaitAgent{record["agent"].get<std::string>(), record.value("label", std::string())}, name, *holder,
                              hold->acquired, std::nullopt};
                if (auto since = parse_rfc3339(record.value("since", std::string()))) edge.waiting_since = *since;
                if (edge.waiter.key == request.waiter.key && edge.name == request.name) continue;  // our own
                graph.add(std::move(edge));
            }
        } catch (const nlohmann::json::exception&) {
            continue;  // not one of ours, or damaged: ignored
        }
    }
    return graph.cycle_closed_by(request);
}

}  // namespace lokt::client
