// `lokt top`: a live full-screen view of the root: who holds what, who waits
// behind whom, what is frozen, what just happened. Redrawn when the daemon
// reports an event (or the files change, without one), and every second for
// the clocks. --json and --once give the same data without a terminal.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <memory>

#include "client/commands/commands.hpp"
#include "client/terminal_screen.hpp"
#include "client/top_render.hpp"
#include "client/top_snapshot.hpp"

namespace lokt::client {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A burst of events (a hundred guards starting) is one redraw, not a hundred.
constexpr milliseconds k_min_refresh_gap{100};
// Without a terminal, --once draws this wide unless $COLUMNS says otherwise.
constexpr std::size_t k_default_width = 160;

struct TopFlags {
    std::string sort = "name";
    std::string filter;
    bool json = false;
    bool once = false;
    std::size_t events = 5;
};

std::size_t env_size(const char* name, std::size_t fallback) {
    const char* text = std::getenv(name);
    if (text == nullptr) return fallback;
    char* end = nullptr;
    const unsigned long value = std::strtoul(text, &end, 10);
    return end != text && *end == '\0' && value > 0 && value < 100'000 ? value : fallback;
}

// What a key (or an escape sequence) does to the view; false to quit.
bool apply_keys(const std::string& keys, TopView& view, std::size_t page) {
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const char c = keys[i];
        if (view.help) {
            view.help = false;
            if (c == 'q') return false;
            continue;
        }
        if (c == '\033') {
            // An arrow or page key: ESC [ A, ESC [ 5 ~ ...; a lone ESC is Esc.
            if (i + 2 < keys.size() + 0 && keys[i + 1] == '[') {
                const char code = keys[i + 2];
                std::size_t used = 2;
                if (code == 'A') view.scroll = view.scroll > 0 ? view.scroll - 1 : 0;
                if (code == 'B') ++view.scroll;
                if ((code == '5' || code == '6') && i + 3 < keys.size() && keys[i + 3] == '~') {
                    used = 3;
                    view.scroll = code == '5' ? (view.scroll > page ? view.scroll - page : 0) : view.scroll + page;
                }
                i += used;
                continue;
            }
            if (view.editing_filter || !view.filter.empty()) {
                view.filter.clear();
                view.editing_filter = false;
                view.scroll = 0;
            }
            continue;
        }
        if (view.editing_filter) {
            if (c == '\r' || c == '\n') {
                view.editing_filter = false;
            } else if (c == 0x7f || c == 0x08) {
                if (!view.filter.empty()) view.filter.pop_back();
            } else if (static_cast<unsigned char>(c) >= 0x20) {
                view.filter.push_back(c);
                view.scroll = 0;
            }
            continue;
        }
        switch (c) {
            case 'q':
            case 'Q': return false;
            case 's':
                view.sort = next_sort(view.sort);
                view.scroll = 0;
                break;
            case '/':
                view.editing_filter = true;
                view.filter.clear();
                view.scroll = 0;
                break;
            case '?':
            case 'h': view.help = true; break;
            case 'k': view.scroll = view.scroll > 0 ? view.scroll - 1 : 0; break;
            case 'j': ++view.scroll; break;
            case ' ': view.scroll += page; break;
            default: break;
        }
    }
    return true;
}

int run_interactive(Backend& backend, const SnapshotOptions& options, TopView view) {
    auto feed = backend.watch_changes();
    if (!feed) return report(feed.error());
    auto snapshot = take_top_snapshot(backend, options);
    if (!snapshot) return report(snapshot.error());
    auto signals = SignalInbox::open(true);
    if (!signals) return report(signals.error());
    auto screen = TerminalScreen::open(STDIN_FILENO, STDOUT_FILENO);
    if (!screen) return report(screen.error());

    bool change_pending = false;
    Clock::time_point last_snapshot = Clock::now();
    for (;;) {
        const Clock::time_point now = Clock::now();
        const milliseconds reread = (*feed)->reread_every();
        const bool reread_due = reread.count() > 0 && now - last_snapshot >= reread;
        if ((change_pending && now - last_snapshot >= k_min_refresh_gap) || reread_due) {
            change_pending = false;
            last_snapshot = now;
            if (auto fresh = take_top_snapshot(backend, options)) {
                *snapshot = std::move(fresh.value());
                view.message.clear();
            } else {
                view.message = fresh.error().message;
            }
        }
        view.source = std::string((*feed)->source());
        const ScreenSize size = screen->size();
        const WallTime wall = wall_now();
        if (!screen->draw(render_top(*snapshot, view, wall, size.cols, size.rows))) return 1;

        // Sleep until a key, a signal, a change, or the next second (the clocks).
        const auto into_second = std::chrono::duration_cast<milliseconds>(wall.time_since_epoch()) % 1000;
        milliseconds wait = milliseconds(1000) - into_second + milliseconds(5);
        if (change_pending)
            wait = std::min(wait, k_min_refresh_gap - std::chrono::duration_cast<milliseconds>(now - last_snapshot));
        if (reread.count() > 0) wait = std::min(wait, std::chrono::duration_cast<milliseconds>(reread - (now - last_snapshot)));
        wait = std::max(wait, milliseconds(1));
        struct pollfd fds[3] = {{STDIN_FILENO, POLLIN, 0}, {signals->fd(), POLLIN, 0}, {(*feed)->fd(), POLLIN, 0}};
        const int ready = ::poll(fds, 3, static_cast<int>(wait.count()));
        if (ready <= 0) continue;
        for (int signal_number : signals->take()) {
            if (signal_number == SIGTSTP) {
                screen->suspend();  // ^Z: the shell gets its terminal back until `fg`
            } else if (signal_number != SIGWINCH) {
                return 0;  // ^C, SIGTERM, SIGHUP: the terminal is restored on the way out
            }
        }
        if ((fds[0].revents & POLLIN) != 0) {
            const std::string keys = screen->read_keys();
            const std::size_t page = size.rows > 8 ? size.rows - 8 : 1;
            if (!apply_keys(keys, view, page)) return 0;
            // Keep the scroll within the list.
            view.scroll = std::min(view.scroll, top_list_lines(*snapshot, view));
        } else if ((fds[0].revents & (POLLHUP | POLLERR)) != 0) {
            return 0;  // the terminal went away
        }
        if ((fds[2].revents & (POLLIN | POLLHUP | POLLERR)) != 0 && (*feed)->drain()) change_pending = true;
    }
}

int run_top(CliContext& cli, const TopFlags& flags) {
    auto sort = top_sort_from_string(flags.sort);
    if (!sort)
        return report(make_error(ErrorCode::usage, "--sort must be name, held-for or waiters, not \"" + flags.sort + "\""));
    const bool on_terminal = ::isatty(STDOUT_FILENO) != 0 && ::isatty(STDIN_FILENO) != 0;
    if (!flags.json && !flags.once && !on_terminal) {
        return report(make_error(
            ErrorCode::usage, "lokt top needs a terminal; use 'lokt status --watch' (or 'lokt top --once', 'lokt top --json')"));
    }
    auto backend = cli.backend(true);
    if (!backend) return flags.json ? report_json(backend.error()) : report(backend.error());
    SnapshotOptions options;
    options.max_events = flags.json ? std::max<std::size_t>(flags.events, 20) : flags.events;
    options.local_host = cli.identity().host;
    TopView view;
    view.sort = *sort;
    view.filter = flags.filter;

    if (flags.json || flags.once) {
        auto snapshot = take_top_snapshot(**backend, options);
        if (!snapshot) return flags.json ? report_json(snapshot.error()) : report(snapshot.error());
        if (flags.json) {
            JsonWriter out;
            write_top_snapshot(out, *snapshot);
            std::fputs(out.finish().c_str(), stdout);
            return 0;
        }
        const auto size = terminal_size(STDOUT_FILENO);
        const std::size_t width = size ? size->cols : env_size("COLUMNS", k_default_width);
        // The whole list, whatever the height of the terminal.
        const std::size_t height = 3 + top_list_lines(*snapshot, view) + 2 * (flags.events + 3) + 8;
        view.source = std::string((*backend)->kind());
        view.compact = true;
        std::string text;
        for (const auto& line : render_top(*snapshot, view, snapshot->taken, width, height)) text += line + "\n";
        std::fwrite(text.data(), 1, text.size(), stdout);
        return 0;
    }
    return run_interactive(**backend, options, view);
}

}  // namespace

CommandSpec top_command(CommandEnv env) {
    auto flags = std::make_shared<TopFlags>();
    CommandSpec command{"top", "Live view: holders, their waiters, freezes, latest events"};
    command.option("--sort", flags->sort, "Order of the held names: name, held-for or waiters (key s)");
    command.option("--filter", flags->filter, "Only names containing this text (key /)");
    command.option("--events", flags->events, "How many of the latest audit events to show (default 5)");
    command.flag("--once", flags->once, "Print one screen as text and exit (no terminal needed)");
    command.flag("--json", flags->json, "Print one snapshot of the data as JSON and exit");
    command.footer = R"(Keys: q quit, s sort (name, held for, waiters), / filter by name (Enter keeps,
Esc clears), Up/Down/PgUp/PgDn scroll, ? help. ^C quits too.

Through loktd the view follows the daemon's audit stream and shows each name's
queue; without it, it follows the files (inotify) and reads them again every
2s (nobody keeps a queue then).

Examples:
  lokt top
  lokt top --sort waiters --filter build
  lokt top --json | jq '.held[] | {name, waiters: [.waiters[].pid]}'

Exit status: 0 success (q, ^C, SIGTERM), 1 error, 64 usage error (also when
stdout or stdin is not a terminal without --once or --json: see status --watch).)";
    command.run = [env, flags] { *env.exit_status = run_top(*env.cli, *flags); };
    return command;
}

}  // namespace lokt::client
