// See acquire_options.hpp.
#include "client/acquire_options.hpp"

#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "client/multi_acquire.hpp"
#include "common/hold_state.hpp"
#include "common/lock_name.hpp"
#include "common/slot_pool.hpp"

namespace lokt::client {
namespace {

using Clock = std::chrono::steady_clock;

// How often the live line is redrawn between the backend's own news (a daemon
// sends progress only when a waiter's place changes).
constexpr std::chrono::milliseconds k_tick{1000};

// Can stderr take "\r\033[K" updates? A terminal that says what it is and is
// not "dumb" (TERM=dumb is Emacs' shell, some CI logs, editors' panes).
bool stderr_takes_updates() {
    if (::isatty(STDERR_FILENO) != 1) return false;
    const char* term = std::getenv("TERM");
    return term != nullptr && *term != '\0' && std::strcmp(term, "dumb") != 0;
}

// The refusal's text as of now: a holder's age grows while we wait.
std::string blocker_text(const Refusal& refusal, const std::string& name) {
    if (refusal.code == ErrorCode::held && refusal.holder) {
        return "lock \"" + name + "\" held by " +
               describe_holder(*refusal.holder, wall_now(), refusal.kept_by_command ? "command" : "");
    }
    return refusal.message;
}

// The live line: redrawn with each piece of news from the backend and once a
// second in between, from a thread of its own (with every signal blocked, so
// that signals still reach the thread that handles them).
class LiveLine {
public:
    explicit LiveLine(std::string name) : m_name(std::move(name)) {}
    ~LiveLine() { stop(); }

    void update(const WaitProgress& progress) {
        std::lock_guard lock(m_mutex);
        m_progress = progress;
        m_at = Clock::now();
        draw_locked();
        if (!m_ticker.joinable()) start_locked();
    }

    // Stops the ticker and clears the line.
    void stop() {
        {
            std::lock_guard lock(m_mutex);
            m_stopping = true;
        }
        m_wake.notify_all();
        if (m_ticker.joinable()) m_ticker.join();
        std::lock_guard lock(m_mutex);
        if (m_shown) {
            std::fputs("\r\033[K", stderr);
            std::fflush(stderr);
            m_shown = false;
        }
    }

private:
    void start_locked() {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        m_ticker = std::thread([this] {
            std::unique_lock lock(m_mutex);
            while (!m_stopping) {
                m_wake.wait_for(lock, k_tick);
                if (!m_stopping) draw_locked();
            }
        });
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }

    void draw_locked() {
        if (!m_progress || m_stopping) return;
        const auto waited = m_progress->waited + (Clock::now() - m_at);
        std::string line = "waiting " + format_duration_seconds(waited) + ": " + blocker_text(m_progress->refusal, m_name);
        if (m_progress->position) line += " (queue position " + std::to_string(*m_progress->position) + ")";
        std::fprintf(stderr, "\r\033[K%s", line.c_str());
        std::fflush(stderr);
        m_shown = true;
    }

    std::string m_name;
    std::mutex m_mutex;
    std::condition_variable m_wake;
    std::thread m_ticker;
    std::optional<WaitProgress> m_progress;
    Clock::time_point m_at{};
    bool m_stopping = false;
    bool m_shown = false;
};

}  // namespace

void add_acquire_flags(CommandSpec& command, AcquireFlags& flags) {
    command.option("name", flags.name, "Lock name, or several: a,b (all or none)").required();
    command.option("--ttl", flags.ttl, "Hold expires after this long without renewal (e.g. 30s, 5m, 300)");
    command.flag("--wait", flags.wait, "Wait for the lock instead of failing with exit 2");
    command.option("--timeout", flags.timeout, "With --wait: give up after this long (default 10m)");
    command
        .option("-E,--conflict-exit-code", flags.conflict_exit_code,
                "Exit with N (0-255) instead of 2 when the lock is held or frozen or --wait times out")
        .range(0, 255);
    command
        .option("--slots", flags.slots,
                "Take one of N slots of the pool NAME (up to N holders at once; the slot is in LOKT_SLOT)")
        .range(1, static_cast<int>(k_max_pool_slots));
    command.flag("--shared", flags.shared,
                 "Hold NAME in shared mode: with any number of shared holders, never with an exclusive one");
}

Result<AcquirePlan> plan_acquire(const AcquireFlags& flags, Binding binding, const Identity& holder) {
    if (auto valid = validate_lock_name(flags.name); !valid) return valid.take_error();
    AcquirePlan plan;
    plan.spec.name = flags.name;
    plan.spec.binding = binding;
    plan.spec.holder = holder;
    if (flags.shared && flags.slots > 0) return make_error(ErrorCode::usage, "--shared cannot be combined with --slots");
    plan.spec.shared = flags.shared;
    if (flags.slots > 0) {
        if (auto valid = validate_pool(flags.name, static_cast<std::uint64_t>(flags.slots)); !valid) return valid.take_error();
        plan.spec.slots = static_cast<std::uint64_t>(flags.slots);
    }
    if (!flags.ttl.empty()) {
        auto ttl = parse_ttl(flags.ttl, "--ttl");
        if (!ttl) return ttl.take_error();
        plan.spec.ttl = *ttl;
    }
    plan.wait.wait = flags.wait;
    if (!flags.timeout.empty()) {
        if (!flags.wait) return make_error(ErrorCode::usage, "--timeout needs --wait");
        auto timeout = parse_duration_flag(flags.timeout, "--timeout", Nanoseconds::zero());
        if (!timeout) return timeout.take_error();
        plan.wait.timeout = *timeout;
    }
    plan.spec.inherited_lock_id = inherited_lock_id(flags.name);  // from an enclosing guard of one name or several
    return plan;
}

Result<Acquired> acquire_with_progress(Backend& backend, const AcquirePlan& plan, bool quiet) {
    if (quiet || !plan.wait.wait) return backend.acquire(plan.spec, plan.wait, {});
    if (stderr_takes_updates()) {
        LiveLine line(plan.spec.name);
        auto result = backend.acquire(plan.spec, plan.wait, [&](const WaitProgress& progress) { line.update(progress); });
        line.stop();
        return result;
    }
    if (::isatty(STDERR_FILENO) == 1) {
        // A terminal that cannot redraw a line: say once that we wait, in plain text.
        bool said = false;
        return backend.acquire(plan.spec, plan.wait, [&](const WaitProgress& progress) {
            if (said) return;
            said = true;
            std::fprintf(stderr, "waiting: %s\n", progress.refusal.message.c_str());
            std::fflush(stderr);
        });
    }
    return backend.acquire(plan.spec, plan.wait, {});
}

Error refusal_error(const Refusal& refusal) { return Error{refusal.code, refusal.message}; }

Blocker refusal_blocker(const Refusal& refusal) { return Blocker{refusal.holder, refusal.freeze}; }

int refusal_exit_status(const Refusal& refusal, const AcquireFlags& flags) {
    const bool busy = refusal.code == ErrorCode::held || refusal.code == ErrorCode::frozen || refusal.code == ErrorCode::timeout;
    return busy ? flags.conflict_exit_code : exit_code_for(refusal.code);
}

}  // namespace lokt::client
