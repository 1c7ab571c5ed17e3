// The reservation book on a root's files (reservation_book.hpp): the table in
// reservations/table.json, changed only under the flock of reservations/lock.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/file_owner.hpp"
#include "common/hold_deadline.hpp"
#include "common/hold_state.hpp"
#include "common/lock_store.hpp"
#include "common/platform/boot_clock.hpp"
#include "common/platform/file_events.hpp"
#include "common/platform/processes.hpp"
#include "common/reservation_book.hpp"
#include "common/sys_error.hpp"

namespace lokt {
namespace {

namespace fs = std::filesystem;
using BookJson = nlohmann::json;

constexpr const char* k_reservation_directory = "reservations";
constexpr const char* k_reservation_table = "table.json";
constexpr const char* k_reservation_lock = "lock";
// A table of tens of thousands of reservations stays far below this.
constexpr std::size_t k_max_reservation_table_bytes = 64 * 1024 * 1024;

std::string reservation_extra(const Reservation& r, std::string_view reason = {}) {
    BookJson extra;
    extra["mode"] = to_string(r.mode);
    if (!reason.empty()) extra["reason"] = reason;
    return extra.dump();
}

class FileReservationBook final : public ReservationBook {
public:
    FileReservationBook(fs::path root, Identity actor, bool read_only, bool never_wait)
        : m_root(std::move(root)),
          m_directory(m_root / k_reservation_directory),
          m_actor(std::move(actor)),
          m_audit(m_root / "audit.log"),
          m_read_only(read_only),
          m_never_wait(never_wait) {
        if (never_wait) m_audit.never_wait_for_lock();
    }

    Result<void> prepare() {
        if (m_read_only) return {};
        // The root's own layout first (and whom its files belong to, under sudo).
        LOKT_TRY_LET(store, LockStore::open(m_root, LockStore::Mode::create));
        m_owner = store->owner();
        if (m_owner) {
            m_audit.on_open([owner = m_owner](int fd, const fs::path& path) { return hand_over(fd, owner, path); });
        }
        if (::mkdir(m_directory.c_str(), 0700) == 0) {
            LOKT_TRY(hand_over(m_directory, m_owner));
        } else if (errno != EEXIST) {
            return sys_error("cannot create directory", m_directory.string(), errno);
        }
        return {};
    }

    Result<ReserveResult> reserve(const ReserveRequest& request) override {
        std::vector<PathGlob> globs;
        for (const auto& text : request.globs) {
            LOKT_TRY_LET(glob, PathGlob::parse(text));
            globs.push_back(std::move(*glob));
        }
        if (globs.empty()) return make_error(ErrorCode::usage, "reserve needs at least one glob");
        if (request.binding == Binding::ttl && !request.ttl) {
            return make_error(ErrorCode::usage, "a reservation bound to its TTL needs a TTL");
        }
        LOKT_TRY(writable());
        LOKT_TRY_LET(lock, lock_table());
        LOKT_TRY_LET(read, read_table());
        const WallTime now = wall_now();
        std::vector<Reservation> live, stale;
        split_live(std::move(*read), now, live, stale);

        ReserveResult result;
        const std::string& owner = request.holder.owner;
        for (std::size_t i = 0; i < globs.size(); ++i) {
            for (const Reservation& r : live) {
                if (reservation_conflicts(r, globs[i], request.mode, owner)) result.conflicts.push_back({request.globs[i], r});
            }
        }
        if (!result.granted()) {
            if (request.audit_denial) {
                std::set<std::string> denied;
                for (const auto& conflict : result.conflicts) {
                    if (!denied.insert(conflict.glob).second) continue;
                    AuditEvent event = make_audit_event("reserve-deny", conflict.glob, m_actor);
                    BookJson extra;
                    extra["mode"] = to_string(request.mode);
                    extra["holder"] = owner_at_host(conflict.blocker.holder.owner, conflict.blocker.holder.host);
                    extra["holder_pid"] = conflict.blocker.holder.pid;
                    extra["holder_glob"] = conflict.blocker.glob.text();
                    extra["holder_reservation_id"] = conflict.blocker.holder.lock_id;
                    if (request.waiting) extra["waiting"] = true;
                    event.extra_json = extra.dump();
                    (void)m_audit.append(event);  // a refusal stands even if its line cannot be written
                }
            }
            if (!stale.empty()) (void)publish(live, stale, {});  // best effort: readers ignore stale ones anyway
            return result;
        }

        // The same owner reserving the same glob again renews it in place.
        std::vector<Reservation> replaced;
        std::vector<Reservation> kept;
        for (Reservation& r : live) {
            const bool again = same_owner(r, owner) && std::any_of(globs.begin(), globs.end(), [&](const PathGlob& g) {
                                   return g.canonical() == r.glob.canonical();
                               });
            (again ? replaced : kept).push_back(std::move(r));
        }
        for (PathGlob& glob : globs) {
            if (std::any_of(result.reserved.begin(), result.reserved.end(),
                            [&](const Reservation& r) { return r.glob.canonical() == glob.canonical(); })) {
                continue;  // named twice in one request
            }
            Reservation made;
            made.mode = request.mode;
            LockRecord& h = made.holder;
            h.name = glob.text();
            h.lock_id = new_lock_id();
            for (const Reservation& old : replaced) {
                if (old.glob.canonical() == glob.canonical()) h.lock_id = old.holder.lock_id;
            }
            h.owner = request.holder.owner;
            h.owner_explicit = request.holder.owner_explicit;
            h.host = request.holder.host;
            h.pid = request.holder.pid;
            h.pid_start = request.holder.pid_start;
            h.agent_id = request.holder.agent_id;
            h.acquired = now;
            h.bound_to = request.binding;
            h.boot_id = platform::this_boot_id();
            if (request.ttl) set_deadline(h, now, *request.ttl);
            made.glob = std::move(glob);
            result.reserved.push_back(std::move(made));
        }
        std::vector<Reservation> table = std::move(kept);
        for (const Reservation& r : result.reserved) table.push_back(r);
        std::vector<AuditEvent> lines;
        for (const Reservation& r : result.reserved) {
            AuditEvent event = make_audit_event("reserve", r.glob.text(), m_actor);
            event.lock_id = r.holder.lock_id;
            event.ttl_sec = r.holder.ttl_sec;
            event.extra_json = reservation_extra(r);
            lines.push_back(std::move(event));
        }
        LOKT_TRY(publish(table, stale, std::move(lines)));
        return result;
    }

    Result<UnreserveResult> unreserve(const UnreserveRequest& request) override {
        std::vector<PathGlob> globs;
        for (const auto& text : request.globs) {
            LOKT_TRY_LET(glob, PathGlob::parse(text));
            globs.push_back(std::move(*glob));
        }
        if (globs.empty() && !request.all) return make_error(ErrorCode::usage, "unreserve needs a glob, or --all");
        LOKT_TRY(writable());
        LOKT_TRY_LET(lock, lock_table());
        LOKT_TRY_LET(read, read_table());
        const WallTime now = wall_now();
        std::vector<Reservation> live, stale;
        split_live(std::move(*read), now, live, stale);

        UnreserveResult result;
        std::vector<bool> found(globs.size(), false);
        std::vector<Reservation> kept;
        for (Reservation& r : live) {
            bool named = request.all && (request.force || same_owner(r, request.owner));
            for (std::size_t i = 0; i < globs.size(); ++i) {
                if (globs[i].canonical() != r.glob.canonical()) continue;
                found[i] = true;
                named = true;
            }
            if (!named) {
                kept.push_back(std::move(r));
            } else if (request.force || same_owner(r, request.owner)) {
                result.removed.push_back(std::move(r));
            } else {
                result.others.push_back(r);
                kept.push_back(std::move(r));
            }
        }
        for (std::size_t i = 0; i < globs.size(); ++i) {
            if (!found[i]) result.not_found.push_back(request.globs[i]);
        }
        std::vector<AuditEvent> lines;
        for (const Reservation& r : result.removed) {
            const bool own = same_owner(r, request.owner);
            AuditEvent event = make_audit_event(own ? "unreserve" : "force-unreserve", r.glob.text(), m_actor);
            event.lock_id = r.holder.lock_id;
            BookJson extra = BookJson::parse(reservation_extra(r));
            if (!own) extra["holder"] = owner_at_host(r.holder.owner, r.holder.host);
            event.extra_json = extra.dump();
            lines.push_back(std::move(event));
        }
        if (!lines.empty() || !stale.empty()) LOKT_TRY(publish(kept, stale, std::move(lines)));
        return result;
    }

    Result<std::vector<Reservation>> list() override {
        LOKT_TRY_LET(read, read_table());
        std::vector<Reservation> live, stale;
        split_live(std::move(*read), wall_now(), live, stale);
        std::stable_sort(live.begin(), live.end(),
                         [](const Reservation& a, const Reservation& b) { return a.holder.acquired < b.holder.acquired; });
        return live;
    }

    Result<std::vector<PathCheck>> check(std::string_view owner, const std::vector<std::string>& paths) override {
        // Only the reservations that cover one of the paths matter.
        LOKT_TRY_LET(table, read_table(&paths));
        const WallTime now = wall_now();
        std::vector<PathCheck> checks;
        for (const auto& path : paths) {
            PathCheck check;
            check.path = path;
            for (const Reservation* r : path_blockers(*table, path, owner, now, m_actor.host)) check.blockers.push_back(*r);
            checks.push_back(std::move(check));
        }
        return checks;
    }

    UniqueFd open_change_feed() override {
        UniqueFd queue = platform::open_file_event_queue();
        if (!queue) return queue;
        const fs::path watched = fs::exists(m_directory) ? m_directory : m_root;
        if (platform::add_file_watch(queue.get(), watched,
                                     platform::file_created | platform::file_moved_in | platform::file_deleted) < 0) {
            return UniqueFd();
        }
        return queue;
    }

    void drain_changes(int feed) override {
        platform::read_file_events(feed, [](const platform::FileEventRecord&) {});
    }

private:
    Result<void> writable() const {
        if (m_read_only) return make_error(ErrorCode::internal, "reservation book opened read-only");
        return {};
    }

    void split_live(std::vector<Reservation> all, WallTime now, std::vector<Reservation>& live,
                    std::vector<Reservation>& stale) const {
        LivenessMemo memo;
        for (Reservation& r : all) (reservation_live(r, now, m_actor.host, &memo) ? live : stale).push_back(std::move(r));
    }

    // The table as it is; none at all is an empty one.
    Result<std::vector<Reservation>> read_table(const std::vector<std::string>* covering = nullptr) const {
        const fs::path path = m_directory / k_reservation_table;
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        if (!fd) {
            if (errno == ENOENT) return std::vector<Reservation>();
            return sys_error("cannot open", path.string(), errno);
        }
        struct stat info {};
        if (::fstat(fd.get(), &info) != 0) return sys_error("cannot stat", path.string(), errno);
        if (!S_ISREG(info.st_mode)) return make_error(ErrorCode::corrupt, path.string() + " is not a regular file");
        if (static_cast<std::size_t>(info.st_size) > k_max_reservation_table_bytes) {
            return make_error(ErrorCode::corrupt, path.string() + " is larger than the limit of 64 MiB");
        }
        // Mapped, not read: a check before every edit should not copy (or
        // first zero) a table of a thousand reservations to look at a few.
        // lokt never truncates a table in place (a new one is renamed over
        // it), so the mapped file keeps its pages while we read them.
        const auto size = static_cast<std::size_t>(info.st_size);
        void* mapped = size == 0 ? nullptr : ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
        if (mapped == MAP_FAILED) return sys_error("cannot map", path.string(), errno);
        const std::string_view text(static_cast<const char*>(mapped), mapped == nullptr ? 0 : size);
        auto table = parse_reservation_table(text, covering);
        if (mapped != nullptr) ::munmap(mapped, size);
        if (!table) {
            Error error = table.take_error();
            error.message = path.string() + ": " + error.message;
            return error;
        }
        return table;
    }

    // Exclusive use of the table, bounded like a name's mutex (lock_store.hpp).
    Result<UniqueFd> lock_table() {
        const fs::path path = m_directory / k_reservation_lock;
        UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!fd) return sys_error("cannot open", path.string(), errno);
        if (m_owner) LOKT_TRY(hand_over(fd.get(), m_owner, path));
        auto delay = std::chrono::microseconds(50);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
            if (errno != EWOULDBLOCK && errno != EINTR) return sys_error("cannot lock", path.string(), errno);
            if (m_never_wait || std::chrono::steady_clock::now() > deadline) {
                Error busy =
                    make_error(ErrorCode::io, "timed out waiting for " + path.string() + " (held by a stopped process?)");
                busy.busy = m_never_wait;
                return busy;
            }
            std::this_thread::sleep_for(delay);
            delay = std::min(delay * 2, std::chrono::microseconds(20000));
        }
        return fd;
    }

    // Writes the new table and its audit lines: the table is written in full
    // under a temporary name first (where a full disk shows), then the lines
    // go in (stale reservations removed, then the change), and the rename
    // comes last, so that the log never announces a change that did not
    // happen; when the last line cannot be written, it is taken back and the
    // table stays as it was.
    Result<void> publish(const std::vector<Reservation>& table, const std::vector<Reservation>& stale,
                         std::vector<AuditEvent> lines) {
        // One name for every writer: only the lock's holder writes it, and a
        // writer killed before the rename leaves a file the next one replaces.
        const fs::path temp = m_directory / ".table.tmp";
        const fs::path target = m_directory / k_reservation_table;
        {
            UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
            if (!fd) return sys_error("cannot create", temp.string(), errno);
            if (m_owner) LOKT_TRY(hand_over(fd.get(), m_owner, temp));
            const std::string text = serialize_reservation_table(table);
            std::size_t done = 0;
            while (done < text.size()) {
                const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) {
                    const int error = n < 0 ? errno : ENOSPC;
                    ::unlink(temp.c_str());
                    return sys_error("cannot write", temp.string(), error);
                }
                done += static_cast<std::size_t>(n);
            }
        }
        std::vector<AuditEvent> all;
        const WallTime now = wall_now();
        for (const Reservation& r : stale) {
            AuditEvent event = make_audit_event("unreserve", r.glob.text(), m_actor);
            event.lock_id = r.holder.lock_id;
            BookJson extra = BookJson::parse(reservation_extra(
                r, stale_reason(r.holder, has_lapsed(r.holder, now) ? HoldState::expired : HoldState::dead_holder)));
            extra["holder"] = owner_at_host(r.holder.owner, r.holder.host);
            extra["holder_pid"] = r.holder.pid;
            extra["pruned"] = true;
            event.extra_json = extra.dump();
            all.push_back(std::move(event));
        }
        for (auto& line : lines) all.push_back(std::move(line));
        auto rename_in = [&]() -> Result<bool> {
            if (::rename(temp.c_str(), target.c_str()) != 0) return sys_error("cannot rename to", target.string(), errno);
            return true;
        };
        for (std::size_t i = 0; i + 1 < all.size(); ++i) {
            if (auto written = m_audit.append(all[i]); !written) {
                ::unlink(temp.c_str());
                return written.take_error();
            }
        }
        Result<bool> done = all.empty() ? rename_in() : m_audit.append_for(all.back(), rename_in);
        if (!done) {
            ::unlink(temp.c_str());
            return done.take_error();
        }
        return {};
    }

    fs::path m_root;
    fs::path m_directory;
    Identity m_actor;
    AuditWriter m_audit;
    std::optional<FileOwner> m_owner;
    bool m_read_only;
    bool m_never_wait;
};

}  // namespace

Result<std::unique_ptr<ReservationBook>> open_file_reservation_book(const std::filesystem::path& root, Identity actor,
                                                                    bool read_only, bool never_wait) {
    auto book = std::make_unique<FileReservationBook>(root, std::move(actor), read_only, never_wait);
    LOKT_TRY(book->prepare());
    return std::unique_ptr<ReservationBook>(std::move(book));
}

}  // namespace lokt
