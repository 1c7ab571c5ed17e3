// Starts the guarded command, in the caller's process group (so that a kill of
// the agent's group or a key typed at its terminal reaches it), with the signal
// mask and default dispositions it should have and the hold's liveness handle
// inherited. posix_spawn does the same but queries every one of the 64
// signal dispositions in the child and maps a stack for it, all while the
// guard (and the lock) waits: 145 µs against 84 µs here for vfork + execve
// (docs/performance.md). The command is looked up in $PATH as execvp does,
// without its fallback of running a file that is no program through /bin/sh.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace lokt::client {

struct SpawnRequest {
    std::vector<std::string> argv;  // argv[0] is searched in $PATH unless it contains '/'
    std::vector<std::string> env;   // "NAME=value"
    sigset_t mask;                  // the child's signal mask
    sigset_t defaults;              // signals whose disposition is reset to SIG_DFL
    int inherit_fd = -1;            // a close-on-exec descriptor the command inherits all the same
    pid_t process_group = 0;        // nonzero: the group the child joins before exec (ours otherwise)
};

// The executables argv0 may name, in the order execvp tries them.
std::vector<std::string> command_candidates(const std::string& argv0, const char* path_variable);

// 0 and the child's pid, or the errno of the failed start (ENOENT when the
// command is nowhere, EACCES when only non-executable files were found).
int spawn_command(const SpawnRequest& request, pid_t* child);

}  // namespace lokt::client
