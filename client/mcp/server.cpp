// See server.hpp.
#include "client/mcp/server.hpp"

#include <signal.h>

#include <cstdio>

#include "client/mcp/hold_book.hpp"
#include "client/mcp/session.hpp"
#include "client/mcp/stdio_channel.hpp"

namespace lokt::client::mcp {
namespace {

volatile sig_atomic_t g_stop_signal = 0;
// Set while an acquire waits for its lock, which may take minutes.
volatile sig_atomic_t g_waiting = 0;

// Otherwise a stop signal ends the loop, which releases every hold. During a
// waiting acquire the server dies of the signal at once: its holds end with
// it anyway (the daemon drops its connection, the files see its pid gone),
// and the agent's client is not kept waiting.
void note_stop(int signal_number) {
    g_stop_signal = signal_number;
    if (g_waiting != 0) {
        ::signal(signal_number, SIG_DFL);
        ::raise(signal_number);
    }
}

// Stop signals interrupt the wait for input (no SA_RESTART), so the holds are
// released before we exit; a closed stdout is an error from write, not a signal.
void install_signal_handlers() {
    struct sigaction action {};
    action.sa_handler = note_stop;
    sigemptyset(&action.sa_mask);
    for (int signal_number : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(signal_number, &action, nullptr);
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    ::sigaction(SIGPIPE, &ignore, nullptr);
}

}  // namespace

int serve(Backend& backend, const Identity& identity, SessionReservations::Opener open_reservations, int in_fd, int out_fd,
          bool quiet) {
    auto log = [quiet](const std::string& message) {
        if (!quiet) std::fprintf(stderr, "lokt mcp: %s\n", message.c_str());
    };
    install_signal_handlers();
    StdioChannel channel(in_fd, out_fd);
    auto note_waiting = [](bool waiting) {
        g_waiting = waiting ? 1 : 0;
        // A signal that came just before the wait began is acted on now.
        if (waiting && g_stop_signal != 0) note_stop(g_stop_signal);
    };
    HoldBook holds(backend, identity, note_waiting);
    // Its reservations are bound to this process like its holds: declared
    // after them, they are removed first when the server returns.
    SessionReservations reservations(std::move(open_reservations), identity, note_waiting);
    Session session(channel, make_tools(), holds, reservations);
    log("serving lock root " + backend.root() + " through " + (backend.kind() == "daemon" ? "loktd" : "the files") + " as pid " +
        std::to_string(identity.pid));

    for (;;) {
        if (g_stop_signal != 0) {
            log("stopped by signal " + std::to_string(g_stop_signal));
            break;
        }
        const auto now = std::chrono::steady_clock::now();
        for (const auto& name : holds.release_lapsed(now)) log("lock \"" + name + "\" released: its TTL ran out without a renew");
        std::optional<std::chrono::milliseconds> timeout;
        if (auto next = holds.next_lapse()) {
            timeout = std::max(std::chrono::milliseconds(0), std::chrono::ceil<std::chrono::milliseconds>(*next - now));
        }
        std::string line;
        const StdioChannel::Read read = channel.next(timeout, line);
        if (read == StdioChannel::Read::closed) break;
        if (read == StdioChannel::Read::timeout || read == StdioChannel::Read::interrupted) continue;
        if (g_stop_signal != 0) continue;
        auto answered = read == StdioChannel::Read::oversized ? session.reject_oversized() : session.handle(line);
        if (!answered) {
            log(answered.error().message);
            break;
        }
    }
    const auto held = holds.names();
    holds.release_all();
    if (!held.empty()) log("released " + std::to_string(held.size()) + (held.size() == 1 ? " hold" : " holds") + " on exit");
    if (const std::size_t removed = reservations.release_all(); removed != 0) {
        log("removed " + std::to_string(removed) + (removed == 1 ? " reservation" : " reservations") + " on exit");
    }
    return 0;
}

}  // namespace lokt::client::mcp
