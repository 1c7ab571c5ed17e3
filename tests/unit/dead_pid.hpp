// A pid that no process has any more (a child that exited and was reaped),
// for tests that judge a dead holder.
#pragma once

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lokt::test {

inline pid_t dead_pid() {
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    int status = 0;
    ::waitpid(child, &status, 0);
    return child;
}

}  // namespace lokt::test
