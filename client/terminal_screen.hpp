// The terminal for `lokt top`: the alternate screen, no cursor, no echo, keys
// read one at a time, and the terminal as it was on every way out (q, ^C,
// SIGTERM, SIGHUP, an error, even a crash). Signals arrive through a signalfd,
// so a resize (SIGWINCH) or ^C is one more thing the poll loop reads. Plain
// ANSI escape sequences and termios: no curses library.
#pragma once

#include <termios.h>

#include <cstddef>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace lokt::client {

struct ScreenSize {
    std::size_t rows = 24;
    std::size_t cols = 80;
};

// The size of the terminal on fd, or nullopt when it is not one.
std::optional<ScreenSize> terminal_size(int fd);

// Blocks SIGINT, SIGTERM, SIGHUP, SIGQUIT (and SIGWINCH and SIGTSTP if asked) and reads
// them from a signalfd instead; the old mask comes back when this goes.
class SignalInbox {
public:
    static Result<SignalInbox> open(bool full_screen);
    SignalInbox(SignalInbox&&) noexcept;
    SignalInbox& operator=(SignalInbox&&) = delete;
    ~SignalInbox();
    int fd() const { return m_fd.get(); }
    // The signals that arrived since the last call, in order (without blocking).
    std::vector<int> take();

private:
    SignalInbox() = default;
    UniqueFd m_fd;
    sigset_t m_old_mask{};
    bool m_restore = false;
};

class TerminalScreen {
public:
    // Takes over the terminal (input on in_fd, output on out_fd).
    static Result<TerminalScreen> open(int in_fd, int out_fd);
    TerminalScreen(TerminalScreen&&) noexcept;
    TerminalScreen& operator=(TerminalScreen&&) = delete;
    ~TerminalScreen();  // restore()

    // Puts the terminal back as it was; safe to call more than once.
    void restore();
    // ^Z: the terminal as it was while stopped, taken over again on `fg`.
    void suspend();
    ScreenSize size() const;
    // Draws a whole frame: each line on its row, the rest of the screen cleared.
    // False when the terminal is gone (write failed).
    bool draw(const std::vector<std::string>& lines);
    // Bytes typed since the last call (without blocking); empty at end of input.
    std::string read_keys();

private:
    TerminalScreen() = default;
    bool take_over();
    int m_in = -1;
    int m_out = -1;
    struct termios m_saved {};
    bool m_active = false;
};

}  // namespace lokt::client
