// Runs the command under `lokt guard`, with a periodic heartbeat while it runs.
//
// The command stays in the process group guard was started in, as with
// flock(1): a kill of the agent's whole group, a key typed at its terminal
// (^C, ^Z) and job control (fg, bg) reach the command directly. When guard is
// not that group's leader it steps into a group of its own as it starts the
// command (which joins the caller's group before it runs), so that such a
// group kill ends the command while guard lives on to release the lock at
// once, and ^Z stops the job while guard keeps renewing the hold. When guard
// leads the group (a shell's job, a harness's session)
// it shares the group's fate: ^Z stops guard and command together, and a
// group kill ends both (the hold then ends when the command's last process
// lets go of the liveness handle).
//
// INT, TERM, HUP and QUIT sent to guard (kill PID) are passed on: to the
// whole group when guard leads it (the command's processes), else to the
// command's first process. Those the terminal sent to the foreground group
// reached the command already and are not passed on twice; a group kill sent
// with kill(2) cannot be told from one sent to guard alone, so there the
// command may see the signal twice.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace lokt::client {

// What a heartbeat found.
struct Beat {
    // False: the hold is lost, or cannot be renewed and is about to lapse; the
    // child is then terminated if terminate_on_lost.
    bool keep = true;
    // When to beat again (zero: after the usual interval).
    std::chrono::nanoseconds next{0};
    // How long the child has after SIGTERM before SIGKILL (zero: ten
    // seconds). A hold about to lapse gives it less, so that the command is
    // gone before the hold is.
    std::chrono::nanoseconds kill_within{0};
};

struct ChildSpec {
    std::vector<std::string> argv;
    std::vector<std::pair<std::string, std::string>> extra_env;
    // Called every interval while the child runs (zero: never), or when the
    // last beat asked to be called again.
    std::chrono::nanoseconds heartbeat_interval{0};
    std::function<Beat()> heartbeat;
    bool terminate_on_lost = true;
    // The hold's liveness handle, inherited by the command (-1: none).
    int handle_fd = -1;
};

struct ChildOutcome {
    int exit_status = 0;        // the child's status, or 128+N if killed by signal N
    bool spawn_failed = false;  // the command could not be started (message already printed)
    bool lost = false;          // a heartbeat reported the hold lost
};

ChildOutcome run_guarded_child(const ChildSpec& spec);

// guard's own exit status when its lock was lost while the command ran, or
// could not be renewed before it lapsed (docs/design.md, "Lost locks").
inline constexpr int k_exit_lost = 6;

// How guard exits after such a loss: 6 when it stopped the command; when the
// command ran on to its end (--on-lost warn, or a loss found only at the
// release), the command's own status if it failed, else 6.
inline int exit_status_after_loss(int command_status, bool command_stopped) {
    return !command_stopped && command_status != 0 ? command_status : k_exit_lost;
}

}  // namespace lokt::client
