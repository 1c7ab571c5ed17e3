// The liveness handle of a guard: held while any process with its descriptor
// lives, released when the last one exits, judged so by every lokt that looks,
// and removed with the hold that names it.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tests/support/process.hpp"

#include "common/hold_handle.hpp"
#include "common/hold_state.hpp"
#include "common/identity.hpp"
#include "common/lock_engine.hpp"
#include "tests/support/scratch_dir.hpp"

using namespace std::chrono_literals;
using lokt::HandleState;
using lokt::HoldState;

using lokt::test::dead_pid;

namespace {

// A child that inherits fd and waits until `go` is closed.
struct Inheritor {
    pid_t pid = -1;
    int go = -1;
    explicit Inheritor(int fd) {
        int pipe_fds[2];
        REQUIRE(::pipe(pipe_fds) == 0);
        pid = ::fork();
        if (pid == 0) {
            ::fcntl(fd, F_SETFD, 0);
            ::close(pipe_fds[1]);
            char byte;
            (void)::read(pipe_fds[0], &byte, 1);
            ::_exit(0);
        }
        ::close(pipe_fds[0]);
        go = pipe_fds[1];
    }
    void finish() {
        if (go >= 0) ::close(go);
        go = -1;
        int status = 0;
        if (pid > 0) ::waitpid(pid, &status, 0);
        pid = -1;
    }
    ~Inheritor() { finish(); }
};

// What a guard killed with -9 leaves: live/TOKEN, locked through a descriptor
// that only its command still has (the guard's copy died with it).
struct LeftHandle {
    std::string token = lokt::new_lock_id();
    int fd = -1;
    explicit LeftHandle(const std::filesystem::path& root) {
        std::filesystem::create_directories(root / "live");
        fd = ::open((root / "live" / token).c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
        REQUIRE(fd >= 0);
        REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
    }
    void guard_killed() {
        ::close(fd);
        fd = -1;
    }
    ~LeftHandle() {
        if (fd >= 0) ::close(fd);
    }
};

lokt::LockRecord guard_record(const std::string& handle, pid_t pid) {
    const lokt::Identity me = lokt::current_identity();
    lokt::LockRecord r;
    r.name = "build";
    r.lock_id = lokt::new_lock_id();
    r.owner = me.owner;
    r.host = me.host;
    r.pid = pid;
    r.acquired = lokt::wall_now();
    r.bound_to = lokt::Binding::guard;
    r.handle = handle;
    return r;
}

// A lock engine on a fresh root in a scratch directory.
struct EngineOnScratchRoot {
    lokt::test::ScratchDir scratch;
    std::filesystem::path root = scratch.path() / "root";
    lokt::LockEngine engine{open_store(root), lokt::current_identity()};

    static lokt::LockStore open_store(const std::filesystem::path& where) {
        auto store = lokt::LockStore::open(where, lokt::LockStore::Mode::create);
        REQUIRE(store);
        return std::move(*store);
    }
};

}  // namespace

TEST_CASE("a handle is held while its guard has it, and gone once disposed") {
    lokt::test::ScratchDir scratch;
    const auto root = scratch.path() / "new-root";
    auto handle = lokt::HoldHandle::create(root);  // makes the root and live/ as needed
    REQUIRE(handle);
    CHECK(lokt::is_handle_token(handle->token()));
    CHECK(lokt::probe_handle(root, handle->token()) == HandleState::held);
    CHECK(lokt::probe_handle(root, handle->token()) == HandleState::held);  // probing takes nothing away
    const std::string token = handle->token();
    handle->dispose();
    CHECK_FALSE(handle->valid());
    CHECK(lokt::probe_handle(root, token) == HandleState::missing);
}

TEST_CASE("a killed guard's handle stays held by its command, then is released") {
    lokt::test::ScratchDir root;
    LeftHandle handle(root.path());
    const std::string token = handle.token;
    Inheritor command(handle.fd);
    handle.guard_killed();
    CHECK(lokt::probe_handle(root.path(), token) == HandleState::held);

    const auto now = lokt::wall_now();
    const std::filesystem::path where = root.path();
    const lokt::JudgeContext context{&where, nullptr};
    lokt::LockRecord record = guard_record(token, dead_pid());
    CHECK(lokt::judge_record(record, now, record.host, context) == HoldState::live);
    CHECK(lokt::kept_by(record, record.host) == "command");
    // Past its TTL too: nobody is left to renew it, and the work still runs.
    record.ttl_sec = 1;
    record.expires_at = now - 10s;
    CHECK(lokt::judge_record(record, now, record.host, context) == HoldState::live);
    // Without a look at the root (another tool's view), the dead pid decides.
    CHECK(lokt::judge_record(record, now, record.host) == HoldState::dead_holder);

    command.finish();
    CHECK(lokt::probe_handle(root.path(), token) == HandleState::released);
    CHECK(lokt::judge_record(record, now, record.host, context) == HoldState::dead_holder);
    CHECK(lokt::stale_reason(record, HoldState::dead_holder) == "guard and its command have exited");
}

TEST_CASE("a live guard that did not renew is expired, whatever its handle") {
    lokt::test::ScratchDir root;
    auto handle = lokt::HoldHandle::create(root.path());
    REQUIRE(handle);
    const std::filesystem::path where = root.path();
    lokt::LockRecord record = guard_record(handle->token(), ::getpid());
    record.pid_start = lokt::current_identity().pid_start;
    const auto now = lokt::wall_now();
    CHECK(lokt::judge_record(record, now, record.host, {&where, nullptr}) == HoldState::live);
    CHECK(lokt::kept_by(record, record.host) == "guard");
    record.ttl_sec = 1;
    record.expires_at = now - 1s;  // stopped (^Z) past its TTL in file mode
    CHECK(lokt::judge_record(record, now, record.host, {&where, nullptr}) == HoldState::expired);
}

TEST_CASE("tokens that are not 32 hex digits are never opened") {
    lokt::test::ScratchDir root;
    for (const char* bad : {"", "..", "../locks/x", "0123456789ABCDEF0123456789abcdef", "0123"}) {
        CAPTURE(bad);
        CHECK_FALSE(lokt::is_handle_token(bad));
        CHECK(lokt::probe_handle(root.path(), bad) == HandleState::missing);
    }
}

TEST_CASE("breaking a guard's hold removes its handle; end_if_stale keeps a live one") {
    EngineOnScratchRoot f;
    const auto& root = f.root;
    lokt::LockEngine& engine = f.engine;

    LeftHandle handle(root);
    const std::string token = handle.token;
    lokt::AcquireSpec spec;
    spec.name = "build";
    spec.binding = lokt::Binding::guard;
    spec.holder = lokt::current_identity();
    spec.holder.pid = dead_pid();  // the guard, already gone
    spec.holder.pid_start.reset();
    spec.handle = token;
    auto acquired = engine.try_acquire(spec);
    REQUIRE(acquired);
    REQUIRE(acquired->granted());
    CHECK(acquired->record.handle == token);

    Inheritor command(handle.fd);
    handle.guard_killed();
    auto kept = engine.end_if_stale("build", acquired->record.lock_id);
    REQUIRE(kept);
    CHECK(kept->state == HoldState::live);
    CHECK(kept->kept_by_command);

    command.finish();
    auto ended = engine.end_if_stale("build", acquired->record.lock_id);
    REQUIRE(ended);
    CHECK(ended->state == HoldState::dead_holder);
    CHECK_FALSE(std::filesystem::exists(root / "locks" / "build.json"));
    CHECK_FALSE(std::filesystem::exists(root / "live" / token));
    auto again = engine.end_if_stale("build", acquired->record.lock_id);
    REQUIRE(again);
    CHECK(again->state == HoldState::absent);
}

TEST_CASE("status --prune-expired removes the handles of guards killed while they waited") {
    EngineOnScratchRoot f;
    const auto& root = f.root;
    lokt::LockEngine& engine = f.engine;
    LeftHandle abandoned(root);
    abandoned.guard_killed();     // nobody holds it, no hold names it
    LeftHandle publishing(root);  // a guard about to publish its hold: held
    REQUIRE(engine.list(false));
    CHECK(std::filesystem::exists(root / "live" / abandoned.token));
    REQUIRE(engine.list(true));
    CHECK_FALSE(std::filesystem::exists(root / "live" / abandoned.token));
    CHECK(std::filesystem::exists(root / "live" / publishing.token));
}
