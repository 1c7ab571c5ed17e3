// The requests a root's service runs straight on the files (status, unlock,
// freeze, unfreeze): a status of a root that does not exist creates nothing,
// and a change made here grants the waiter it frees before the call returns,
// with no event loop turning (so not through the root's inotify watch). Once
// nothing is held or awaited, the root's files are closed again.
#include <doctest/doctest.h>
#include <unistd.h>

#include <asio.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "daemon/root_service.hpp"

namespace fs = std::filesystem;
using namespace lokt;
using namespace lokt::daemon;

namespace {

struct ServiceFixture {
    fs::path scratch = make_scratch();
    fs::path root = scratch / "root";
    asio::io_context io;  // never run: nothing reaches the service but its calls
    FileEventHub file_events{io};
    std::vector<AcquireAnswer> answers;
    Identity me = current_identity();
    Identity other = as_owner("agent-2");
    RootService service{io, file_events, root, me.host,
                        RootOutput{[this](Effects& effects) {
                                       for (auto& answer : effects.answers) answers.push_back(std::move(answer));
                                   },
                                   {},
                                   {}}};

    ~ServiceFixture() {
        std::error_code ignored;
        fs::remove_all(scratch, ignored);
    }

    static fs::path make_scratch() {
        std::string pattern = (fs::temp_directory_path() / "lokt-root-service-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        return pattern;
    }

    Identity as_owner(const std::string& owner) const {
        Identity identity = current_identity();
        identity.owner = owner;
        identity.owner_explicit = true;
        return identity;
    }

    // A manual lock with a TTL, as `lokt lock NAME --ttl 10m [--wait]` asks for it.
    void acquire(ConnectionId connection, const std::string& name, const Identity& who, bool wait) {
        AcquireTicket ticket;
        ticket.connection = connection;
        ticket.request_id = connection;
        ticket.actor = who;
        ticket.wait = wait;
        ticket.timeout = std::chrono::minutes(1);
        ticket.spec.name = name;
        ticket.spec.binding = Binding::ttl;
        ticket.spec.ttl = std::chrono::minutes(10);
        ticket.spec.holder = who;
        ticket.spec.waiting = wait;
        service.acquire(std::move(ticket));
    }

    bool granted(std::size_t answer, ConnectionId connection) const {
        return answers.size() > answer && answers[answer].connection == connection && answers[answer].result.ok() &&
               answers[answer].result->granted();
    }

    // How many descriptors of this process are open on something in the root.
    std::size_t open_in_root() const {
        std::size_t count = 0;
        for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
            std::error_code error;
            const auto target = fs::read_symlink(entry.path(), error).string();
            if (!error && target.rfind(root.string(), 0) == 0) ++count;
        }
        return count;
    }
};

}  // namespace

TEST_SUITE("root_service") {
    TEST_CASE("a status of a root that does not exist creates nothing; with prune_expired it creates the root") {
        ServiceFixture f;
        auto listed = f.service.status("", false, f.me);
        REQUIRE(listed.ok());
        CHECK(listed->locks.empty());
        CHECK(listed->freezes.empty());
        CHECK(listed->waiting.empty());
        auto named = f.service.status("build", false, f.me);
        REQUIRE(named.ok());
        CHECK(named->locks.empty());
        CHECK_FALSE(fs::exists(f.root));
        CHECK(f.open_in_root() == 0);

        // Pruning writes (audited removals), so it opens the root as every write does.
        auto pruned = f.service.status("", true, f.me);
        REQUIRE(pruned.ok());
        CHECK(fs::is_directory(f.root / "locks"));
        CHECK(f.open_in_root() == 0);
    }

    TEST_CASE("an unlock grants the waiter it frees before it returns, and an idle root is closed again") {
        ServiceFixture f;
        f.acquire(1, "build", f.me, false);
        REQUIRE(f.granted(0, 1));
        f.acquire(2, "build", f.other, true);
        REQUIRE(f.answers.size() == 1);  // waits
        CHECK(f.open_in_root() > 0);     // busy: the engine stays open

        auto status = f.service.status("build", false, f.me);
        REQUIRE(status.ok());
        REQUIRE(status->locks.size() == 1);
        CHECK(status->locks[0].waiters == 1);
        REQUIRE(status->waiting.size() == 1);
        CHECK(status->waiting[0].queued.holder.owner == "agent-2");

        auto removed = f.service.unlock("build", UnlockMode::owner, f.me);
        REQUIRE(removed.ok());
        CHECK(removed->name == "build");
        CHECK(f.granted(1, 2));
        CHECK(f.service.state().waiter_count() == 0);

        auto released = f.service.unlock("build", UnlockMode::owner, f.other);
        REQUIRE(released.ok());
        CHECK(f.service.idle());
        CHECK(f.open_in_root() == 0);
    }

    TEST_CASE("unlock --all grants every waiter it frees") {
        ServiceFixture f;
        f.acquire(1, "one", f.me, false);
        f.acquire(2, "two", f.me, false);
        f.acquire(3, "one", f.other, true);
        f.acquire(4, "two", f.other, true);
        REQUIRE(f.answers.size() == 2);
        auto done = f.service.unlock_many(std::nullopt, false, f.me);
        REQUIRE(done.ok());
        CHECK(done->released.size() == 2);
        CHECK(f.granted(2, 3));
        CHECK(f.granted(3, 4));
    }

    TEST_CASE("a freeze keeps a waiter waiting, names itself to another freezer, and its unfreeze grants the waiter") {
        ServiceFixture f;
        auto frozen = f.service.freeze("deploy", std::chrono::minutes(10), false, f.me);
        REQUIRE(frozen.frozen.ok());
        f.acquire(1, "deploy", f.other, true);
        CHECK(f.answers.empty());

        auto refused = f.service.freeze("deploy", std::chrono::minutes(5), false, f.other);
        REQUIRE_FALSE(refused.frozen.ok());
        CHECK(refused.frozen.error().code == ErrorCode::frozen);
        REQUIRE(refused.standing.has_value());
        CHECK(refused.standing->owner == f.me.owner);

        auto lifted = f.service.unfreeze("deploy", false, f.me);
        REQUIRE(lifted.ok());
        CHECK(f.granted(0, 1));
    }

}  // TEST_SUITE
