// See terminal_screen.hpp.
#include "client/terminal_screen.hpp"

#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/platform/signal_queue.hpp"
#include "common/sys_error.hpp"

namespace lokt::client {
namespace {

// Alternate screen, cursor hidden, no autowrap (a line that reaches the last
// column must not push the screen up).
constexpr std::string_view k_enter = "\033[?1049h\033[?25l\033[?7l\033[H\033[2J";
constexpr std::string_view k_leave = "\033[?7h\033[?25h\033[?1049l";

// For the crash handlers: what to put back, set while a screen is active.
// Only async-signal-safe calls (write, tcsetattr) use them.
volatile sig_atomic_t g_active = 0;
int g_out = -1;
int g_in = -1;
struct termios g_saved {};

void write_all(int fd, std::string_view text) {
    while (!text.empty()) {
        const ssize_t n = ::write(fd, text.data(), text.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        text.remove_prefix(static_cast<std::size_t>(n));
    }
}

extern "C" void restore_and_reraise(int signal_number) {
    if (g_active != 0) {
        g_active = 0;
        ::write(g_out, k_leave.data(), k_leave.size());
        ::tcsetattr(g_in, TCSAFLUSH, &g_saved);
    }
    ::signal(signal_number, SIG_DFL);
    ::raise(signal_number);
}

void install_crash_handlers() {
    for (int signal_number : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
        struct sigaction action {};
        action.sa_handler = restore_and_reraise;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_RESETHAND;
        ::sigaction(signal_number, &action, nullptr);
    }
}

}  // namespace

std::optional<ScreenSize> terminal_size(int fd) {
    struct winsize size {};
    if (::ioctl(fd, TIOCGWINSZ, &size) != 0 || size.ws_row == 0 || size.ws_col == 0) return std::nullopt;
    return ScreenSize{size.ws_row, size.ws_col};
}

Result<SignalInbox> SignalInbox::open(bool full_screen) {
    sigset_t mask;
    sigemptyset(&mask);
    for (int signal_number : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&mask, signal_number);
    if (full_screen) {
        sigaddset(&mask, SIGWINCH);
        sigaddset(&mask, SIGTSTP);
    }
    SignalInbox inbox;
    if (::sigprocmask(SIG_BLOCK, &mask, &inbox.m_old_mask) != 0)
        return make_error(ErrorCode::io, "sigprocmask: " + errno_text(errno));
    inbox.m_restore = true;
    inbox.m_fd = platform::open_signal_queue(mask);
    if (!inbox.m_fd) return make_error(ErrorCode::io, "signalfd: " + errno_text(errno));
    return inbox;
}

SignalInbox::SignalInbox(SignalInbox&& other) noexcept
    : m_fd(std::move(other.m_fd)), m_old_mask(other.m_old_mask), m_restore(other.m_restore) {
    other.m_restore = false;
}

SignalInbox::~SignalInbox() {
    if (m_restore) ::sigprocmask(SIG_SETMASK, &m_old_mask, nullptr);
}

std::vector<int> SignalInbox::take() {
    std::vector<int> signals;
    for (const auto& received : platform::take_signals(m_fd.get())) signals.push_back(received.number);
    return signals;
}

Result<TerminalScreen> TerminalScreen::open(int in_fd, int out_fd) {
    TerminalScreen screen;
    screen.m_in = in_fd;
    screen.m_out = out_fd;
    if (::tcgetattr(in_fd, &screen.m_saved) != 0) return make_error(ErrorCode::io, "the terminal: " + errno_text(errno));
    g_saved = screen.m_saved;
    g_in = in_fd;
    g_out = out_fd;
    install_crash_handlers();
    if (!screen.take_over()) return make_error(ErrorCode::io, "the terminal: " + errno_text(errno));
    return screen;
}

bool TerminalScreen::take_over() {
    struct termios raw = m_saved;
    // Keys as they are typed, not echoed; ^C still raises SIGINT (ISIG stays).
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | IEXTEN);
    raw.c_iflag &= ~static_cast<tcflag_t>(IXON | ICRNL);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (::tcsetattr(m_in, TCSAFLUSH, &raw) != 0) return false;
    m_active = true;
    g_active = 1;
    write_all(m_out, k_enter);
    return true;
}

void TerminalScreen::suspend() {
    restore();
    // Stopped here until `fg`; SIGSTOP cannot be blocked or caught.
    ::kill(::getpid(), SIGSTOP);
    take_over();
}

TerminalScreen::TerminalScreen(TerminalScreen&& other) noexcept
    : m_in(other.m_in), m_out(other.m_out), m_saved(other.m_saved), m_active(other.m_active) {
    other.m_active = false;
}

TerminalScreen::~TerminalScreen() { restore(); }

void TerminalScreen::restore() {
    if (!m_active) return;
    m_active = false;
    g_active = 0;
    write_all(m_out, k_leave);
    ::tcsetattr(m_in, TCSAFLUSH, &m_saved);
}

ScreenSize TerminalScreen::size() const { return terminal_size(m_out).value_or(ScreenSize{}); }

bool TerminalScreen::draw(const std::vector<std::string>& lines) {
    std::string frame;
    std::size_t bytes = 16;
    for (const auto& line : lines) bytes += line.size() + 16;
    frame.reserve(bytes);
    std::size_t row = 1;
    for (const auto& line : lines) {
        frame += "\033[" + std::to_string(row++) + ";1H\033[2K";
        frame += line;
    }
    // Below the last line, if the screen goes further (moving past the bottom
    // row would land on it and clear it).
    if (row <= size().rows) frame += "\033[" + std::to_string(row) + ";1H\033[J";
    const std::string_view text(frame);
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(m_out, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

std::string TerminalScreen::read_keys() {
    std::string keys;
    char buffer[256];
    for (;;) {
        const ssize_t n = ::read(m_in, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        keys.append(buffer, static_cast<std::size_t>(n));
    }
    return keys;
}

}  // namespace lokt::client
