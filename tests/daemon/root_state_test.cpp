// The wait queues and timers of one root, driven by a fake clock and a fake
// set of lock files: FIFO grants, grant on release, release when a guard's
// connection closes, timeouts, renewals, freezes. No sockets, threads or disk.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "tests/daemon/root_state_fakes.hpp"

namespace lokt::daemon {
namespace {

using namespace root_state_fakes;

}  // namespace

TEST_SUITE("root_state") {
    TEST_CASE("waiters are granted one at a time in the order they arrived") {
        Fixture f;
        Effects effects;
        f.state.acquire(ticket(1, "build", false), effects);
        REQUIRE(Fixture::granted(effects) == std::vector<ConnectionId>{1});
        for (ConnectionId c = 2; c <= 6; ++c) f.state.acquire(ticket(c, "build", true), effects);
        CHECK(f.state.waiters_for("build") == 5);

        for (ConnectionId holder = 1; holder <= 5; ++holder) {
            Effects step;
            REQUIRE(f.state.release("build", f.lock_id("build"), f.actor(holder), {}, step).ok());
            // The head waiter is granted at once, in the same step as the release.
            CHECK(Fixture::granted(step) == std::vector<ConnectionId>{holder + 1});
            CHECK(f.files.locks.at("build").pid == static_cast<std::int64_t>(1000 + holder + 1));
        }
        CHECK(f.state.waiters_for("build") == 0);
    }

    TEST_CASE("a waiter arriving behind others queues without trying the files, even if the lock looks free") {
        Fixture f;
        Effects effects;
        f.holder_and_waiter(effects);
        const int tries_before = f.files.tries;
        // The holder's file vanished and the daemon has not been told yet.
        f.files.locks.erase("build");
        f.state.acquire(ticket(3, "build", true), effects);
        CHECK(f.files.tries == tries_before);
        CHECK(f.state.waiters_for("build") == 2);
        CHECK(std::count(f.files.log.begin(), f.files.log.end(), "deny build by 1003") == 1);
        // When it is told, the first to come is served first.
        Effects step;
        f.state.files_changed("build", step);
        CHECK(Fixture::granted(step) == std::vector<ConnectionId>{2});
    }

    TEST_CASE("a nested guard or the holder's own explicit owner still tries at once, queue or not") {
        Fixture f;
        Effects effects;
        f.holder_and_waiter(effects);
        int tries = f.files.tries;
        AcquireTicket nested = ticket(3, "build", true);
        nested.spec.inherited_lock_id = f.lock_id("build");
        f.state.acquire(std::move(nested), effects);
        CHECK(f.files.tries == tries + 1);

        tries = f.files.tries;
        AcquireTicket stranger = ticket(4, "build", true);
        stranger.spec.holder.owner_explicit = true;
        f.state.acquire(std::move(stranger), effects);
        CHECK(f.files.tries == tries);  // another owner queues

        f.files.locks.at("build").owner_explicit = true;
        f.files.locks.at("build").owner = "agent-1";
        ++f.files.versions["build"];  // a rewritten file
        Effects changed;
        f.state.files_changed("build", changed);  // the head learns the holder's record anew
        tries = f.files.tries;
        AcquireTicket same_owner = ticket(5, "build", true);
        same_owner.spec.holder.owner = "agent-1";
        same_owner.spec.holder.owner_explicit = true;
        f.state.acquire(std::move(same_owner), effects);
        CHECK(f.files.tries == tries + 1);
    }

    TEST_CASE("a change to a name's files while its lock file is still the one granted here tries nobody") {
        Fixture f;
        Effects effects;
        f.holder_and_waiter(effects);
        const int tries = f.files.tries;
        Effects step;
        f.state.files_changed("build", step);  // e.g. the inotify event of our own write
        CHECK(f.files.tries == tries);
        CHECK(f.files.identity_checks == 1);
        // Rewritten or removed outside: the head is tried again.
        f.files.locks.erase("build");
        f.state.files_changed("build", step);
        CHECK(f.files.tries == tries + 1);
        CHECK(Fixture::granted(step) == std::vector<ConnectionId>{2});
    }

    TEST_CASE("a waiter that would close a cycle of manual holds is refused at once; the others wait on") {
        Fixture f;
        Effects effects;
        const auto manual = [](ConnectionId connection, const std::string& name, bool wait, const std::string& owner) {
            AcquireTicket t = ticket(connection, name, wait, std::chrono::seconds(60));
            t.spec.binding = Binding::ttl;
            t.actor.owner = owner;
            t.actor.owner_explicit = true;
            t.spec.holder = t.actor;
            return t;
        };
        f.state.acquire(manual(1, "a", false, "agent-1"), effects);
        f.state.acquire(manual(2, "b", false, "agent-2"), effects);
        f.state.acquire(manual(3, "b", true, "agent-1"), effects);  // agent-1 holds a, waits for b
        f.state.acquire(manual(4, "a", true, "agent-3"), effects);  // a plain queue behind agent-1
        CHECK(f.state.waiters_for("a") == 1);
        CHECK(f.state.waiters_for("b") == 1);

        Effects closing;
        f.state.acquire(manual(5, "a", true, "agent-2"), closing);  // agent-2 holds b: a cycle
        REQUIRE(closing.answers.size() == 1);
        REQUIRE(closing.answers[0].result.ok());
        const Refusal& refusal = closing.answers[0].result->refusal;
        CHECK(refusal.code == ErrorCode::deadlock);
        REQUIRE(refusal.cycle.size() == 2);
        CHECK(refusal.cycle[0].waiter.key == "agent-2@testhost");
        CHECK(refusal.cycle[1].waiter.key == "agent-1@testhost");
        CHECK(refusal.cycle[1].name == "b");
        CHECK(f.state.waiters_for("a") == 1);  // not queued; the others still wait
        CHECK(f.state.waiters_for("b") == 1);
        CHECK(f.state.indexes_consistent());
    }

    TEST_CASE("a waiter writes one deny when it starts waiting, not one per retry") {
        Fixture f;
        Effects effects;
        f.holder_and_waiter(effects);
        f.state.files_changed("build", effects);
        f.state.files_changed("build", effects);
        CHECK(std::count(f.files.log.begin(), f.files.log.end(), "deny build by 1002") == 1);
    }

    TEST_CASE("progress tells each waiter its place, and again when the queue moves") {
        Fixture f;
        Effects effects;
        f.holder_and_waiter(effects);
        f.state.acquire(ticket(3, "build", true), effects);
        REQUIRE(effects.progress.size() == 2);
        CHECK(effects.progress[1].connection == 3);
        CHECK(effects.progress[1].position == 2);
        CHECK(effects.progress[1].queue_length == 2);
        REQUIRE(effects.progress[1].refusal.holder);
        Effects step;
        REQUIRE(f.state.release("build", f.lock_id("build"), f.actor(1), {}, step).ok());
        REQUIRE(step.progress.size() == 1);
        CHECK(step.progress[0].connection == 3);
        CHECK(step.progress[0].position == 1);
    }

    TEST_CASE("closing a dead guard's connection ends its hold as stale and grants the next waiter") {
        Fixture f;
        Effects effects;
        f.holder_and_waiter(effects);
        Effects step;
        f.state.connection_closed(1, false, step);
        CHECK(Fixture::granted(step) == std::vector<ConnectionId>{2});
        // Never a plain release: the guard did not release, it died (as file mode audits it).
        CHECK(std::count(f.files.log.begin(), f.files.log.end(), "stale-break build by 1001") == 1);
        CHECK(std::count_if(f.files.log.begin(), f.files.log.end(),
                            [](const std::string& line) { return line.starts_with("release"); }) == 0);
    }

    TEST_CASE("a closed guard whose command still runs keeps its hold until the handle is released") {
        Fixture f;
        Effects effects;
        AcquireTicket holder = ticket(1, "build", false, std::chrono::seconds(10));
        holder.spec.handle = "0123456789abcdef0123456789abcdef";
        f.state.acquire(holder, effects);
        f.state.acquire(ticket(2, "build", true), effects);
        f.files.held_handles.insert(holder.spec.handle);

        Effects step;
        f.state.connection_closed(1, false, step);
        CHECK(Fixture::granted(step).empty());
        CHECK(f.files.locks.count("build") == 1);
        CHECK(f.state.watched_handles() == std::set<std::string>{holder.spec.handle});
        CHECK(f.state.blocker_pids().empty());  // the guard is gone: its pid says nothing

        // Nobody is left to renew it but the daemon.
        f.clock.advance(std::chrono::seconds(5));
        f.state.advance(step);
        CHECK(std::count(f.files.log.begin(), f.files.log.end(), "renew build by 1001") == 1);

        // Another handle closing changes nothing.
        f.state.handle_released("ffffffffffffffffffffffffffffffff", step);
        CHECK(Fixture::granted(step).empty());

        f.files.held_handles.clear();  // the command's last process exited
        f.state.handle_released(holder.spec.handle, step);
        CHECK(Fixture::granted(step) == std::vector<ConnectionId>{2});
        CHECK(std::count(f.files.log.begin(), f.files.log.end(), "stale-break build by 1001") == 1);
        CHECK(f.state.watched_handles().empty());
    }

    TEST_CASE("a closed guard that still runs keeps its hold, watched by pid and not renewed by the daemon") {
        Fixture f;
        Effects effects;
        f.state.acquire(ticket(1, "build", false, std::chrono::seconds(10)), effects);
        f.state.acquire(ticket(2, "build", true), effects);
        f.files.alive_pids.insert(1001);  // it gave up on the daemon and carries on with the files

        Effects step;
        f.state.connection_closed(1, false, step);
        CHECK(Fixture::granted(step).empty());
        CHECK(f.state.blocker_pids().count(1001) == 1);
        f.clock.advance(std::chrono::seconds(5));
        f.state.advance(step);
        CHECK(std::count(f.files.log.begin(), f.files.log.end(), "renew build by 1001") == 0);

        f.files.alive_pids.clear();
        f.state.files_changed("build", step);  // its pidfd said it exited
        CHECK(Fixture::granted(step) == std::vector<ConnectionId>{2});
    }

    TEST_CASE("a release names the file the hold wrote, its latest renewal's included") {
        Fixture f;
        Effects effects;
        f.state.acquire(ticket(1, "build", false), effects);
        ReleaseNote note;
        note.exit_status = 3;
        REQUIRE(f.state.release("build", f.lock_id("build"), f.actor(1), note, effects).ok());
        CHECK(f.files.log.back() == "release build by 1001 of version 1 exit 3");

        f.state.acquire(ticket(1, "build", false), effects);
        REQUIRE(f.state.renew("build", f.lock_id("build"), std::chrono::seconds(30), f.actor(1)).ok());
        REQUIRE(f.state.release("build", f.lock_id("build"), f.actor(1), {}, effects).ok());
        CHECK(f.files.log.back() == "release build by 1001 of version 3");
    }

    TEST_CASE("a guard that rewrote its file took its hold back: its closed connection ends nothing") {
        Fixture f;
        Effects effects;
        f.state.acquire(ticket(1, "build", false, std::chrono::seconds(10)), effects);
        f.state.acquire(ticket(2, "build", true), effects);
        // We were stopped; the guard renewed on the files (a new file version) and closed.
        f.files.alive_pids.insert(1001);
        ++f.files.versions["build"];
        Effects step;
        f.state.connection_closed(1, false, step);
        CHECK(Fixture::granted(step).empty());
        CHECK(f.state.hold_count() == 0);  // nothing remembered about it counts any more
        CHECK(f.files.stale_checks == 0);  // and nothing was judged from memory
        CHECK(f.state.blocker_pids().count(1001) == 1);
        f.clock.advance(std::chrono::seconds(5));
        f.state.advance(step);
        CHECK(std::count(f.files.log.begin(), f.files.log.end(), "renew build by 1001") == 0);
        CHECK(f.files.locks.count("build") == 1);
        // Its guard releases it on the files: the queue moves on.
        f.files.locks.erase("build");
        f.state.files_changed("build", step);
        CHECK(Fixture::granted(step) == std::vector<ConnectionId>{2});
        CHECK(f.state.indexes_consistent());
    }

    TEST_CASE("the daemon renews a guard's hold only while the file is the version it wrote") {
        Fixture f;
        Effects effects;
        f.state.acquire(ticket(1, "build", false, std::chrono::seconds(10)), effects);
        f.state.acquire(ticket(2, "build", true), effects);
        f.clock.advance(std::chrono::seconds(5));
        Effects step;
        f.state.advance(step);
        CHECK(std::count(f.files.log.begin(), f.files.log.end(), "renew build by 1001") == 1);
        // The guard took over before we saw its connection close.
        ++f.files.versions["build"];
        f.clock.advance(std::chrono::seconds(5));
        f.state.advance(step);
        CHECK(std::count(f.files.log.begin(), f.files.log.end(), "renew build by 1001") == 1);
        CHECK(f.state.hold_count() == 0);
        CHECK(Fixture::granted(step).empty());  // the file is still held: the queue waits
        CHECK(f.state.waiters_for("build") == 1);
        CHECK(f.state.indexes_consistent());
    }

    TEST_CASE("a waiter whose client has gone (unread while we were stopped) is dropped, never granted") {
        Fixture f;
        std::set<ConnectionId> gone{2};
        f.state.set_connection_check([&](ConnectionId c) { return gone.count(c) == 0; });
        Effects effects;
        f.holder_and_waiter(effects);
        f.state.acquire(ticket(3, "build", true), effects);
        Effects step;
        REQUIRE(f.state.release("build", f.lock_id("build"), f.actor(1), {}, step).ok());
        CHECK(Fixture::granted(step) == std::vector<ConnectionId>{3});
        CHECK(f.state.waiters_for("build") == 0);
        // One whose time ran out gets no answer either: nobody reads it.
        f.state.acquire(ticket(4, "build", true, std::nullopt, std::chrono::seconds(1)), effects);
        gone.insert(4);
        f.clock.advance(std::chrono::seconds(2));
        Effects late;
        f.state.advance(late);
        CHECK(late.answers.empty());
        CHECK(f.state.waiters_for("build") == 0);
        CHECK(f.state.indexes_consistent());
    }

    TEST_CASE("a closed connection's waiters leave the queue") {
        Fixture f;
        Effects effects;
        f.holder_and_waiter(effects);
        f.state.acquire(ticket(3, "build", true), effects);
        f.state.connection_closed(2, false, effects);
        CHECK(f.state.waiters_for("build") == 1);
        Effects step;
        REQUIRE(f.state.release("build", f.lock_id("build"), f.actor(1), {}, step).ok());
        CHECK(Fixture::granted(step) == std::vector<ConnectionId>{3});
    }

    TEST_CASE("at shutdown a guard's hold stays on disk for the guard to carry on") {
        Fixture f;
        Effects effects;
        f.state.acquire(ticket(1, "build", false), effects);
        f.state.connection_closed(1, true, effects);
        CHECK(f.files.locks.count("build") == 1);
        CHECK(f.state.hold_count() == 0);
    }

    TEST_CASE("a waiter times out at its deadline with file mode's message") {
        Fixture f;
        Effects effects;
        f.state.acquire(ticket(1, "build", false), effects);
        f.state.acquire(ticket(2, "build", true, std::nullopt, std::chrono::seconds(5)), effects);
        REQUIRE(f.state.next_deadline());
        CHECK(*f.state.next_deadline() == f.clock.steady_now() + std::chrono::seconds(5));
        f.clock.advance(std::chrono::seconds(4));
        Effects early;
        f.state.advance(early);
        CHECK(early.answers.empty());
        f.clock.advance(std::chrono::seconds(1));
        Effects late;
        f.state.advance(late);
        REQUIRE(late.answers.size() == 1);
        REQUIRE(late.answers[0].result.ok());
        const Refusal& refusal = late.answers[0].result->refusal;
        CHECK(refusal.code == ErrorCode::timeout);
        CHECK(refusal.message.rfind("timed out after 5s waiting: lock \"build\" held by", 0) == 0);
        CHECK(f.state.waiters_for("build") == 0);
    }

    TEST_CASE("a guard hold is renewed every TTL/2 while its connection is open") {
        Fixture f;
        Effects effects;
        f.state.acquire(ticket(1, "build", false, std::chrono::seconds(10)), effects);
        REQUIRE(f.state.next_deadline());
        CHECK(*f.state.next_deadline() == f.clock.steady_now() + std::chrono::seconds(5));
        f.clock.advance(std::chrono::seconds(5));
        f.state.advance(effects);
        CHECK(std::count(f.files.log.begin(), f.files.log.end(), "renew build by 1001") == 1);
        // An explicit renew is always carried out (the guard sends none while
        // its connection is open) and moves the next renewal on.
        f.clock.advance(std::chrono::seconds(1));
        auto renewed = f.state.renew("build", f.lock_id("build"), std::chrono::seconds(10), f.actor(1));
        REQUIRE(renewed.ok());
        CHECK(std::count(f.files.log.begin(), f.files.log.end(), "renew build by 1001") == 2);
        REQUIRE(f.state.next_deadline());
        CHECK(*f.state.next_deadline() == f.clock.steady_now() + std::chrono::seconds(5));
        // Once the connection closes, nothing is due any more: an idle root never wakes.
        f.state.connection_closed(1, false, effects);
        CHECK_FALSE(f.state.next_deadline());
        CHECK(f.state.idle());
    }

    TEST_CASE("a hold taken away is noticed at renewal and the queue moves on") {
        Fixture f;
        Effects effects;
        f.state.acquire(ticket(1, "build", false, std::chrono::seconds(10)), effects);
        f.state.acquire(ticket(2, "build", true), effects);
        f.files.locks.erase("build");  // someone forced it away, and inotify has not told us yet
        f.clock.advance(std::chrono::seconds(5));
        Effects step;
        f.state.advance(step);
        CHECK(Fixture::granted(step) == std::vector<ConnectionId>{2});
    }

    TEST_CASE("a freeze keeps waiters waiting until it ends or their time runs out") {
        Fixture f;
        Effects effects;
        LockRecord freeze;
        freeze.name = "deploy";
        freeze.owner = "ops";
        freeze.expires_at = f.clock.wall_now() + std::chrono::seconds(30);
        f.files.freezes["deploy"] = freeze;
        f.state.acquire(ticket(1, "deploy", true), effects);
        f.state.acquire(ticket(2, "deploy", true, std::nullopt, std::chrono::seconds(10)), effects);
        CHECK(effects.answers.empty());
        CHECK(f.state.waiters_for("deploy") == 2);
        // The second waiter's time runs out first; the first keeps waiting.
        f.clock.advance(std::chrono::seconds(10));
        Effects timed_out;
        f.state.advance(timed_out);
        REQUIRE(timed_out.answers.size() == 1);
        CHECK(timed_out.answers[0].connection == 2);
        CHECK(timed_out.answers[0].result->refusal.code == ErrorCode::timeout);
        // When the freeze lapses, the queue retries without being told.
        f.files.freezes.clear();
        REQUIRE(f.state.next_deadline());
        CHECK(*f.state.next_deadline() <= f.clock.steady_now() + std::chrono::seconds(20));
        f.clock.advance(std::chrono::seconds(20));
        Effects thawed;
        f.state.advance(thawed);
        CHECK(Fixture::granted(thawed) == std::vector<ConnectionId>{1});
    }

    TEST_CASE("a holder outside the daemon is watched by pid, and its TTL wakes the queue") {
        Fixture f;
        LockRecord outsider;
        outsider.name = "build";
        outsider.lock_id = "outside";
        outsider.owner = "other";
        outsider.host = k_host;
        outsider.pid = 4242;
        outsider.bound_to = Binding::guard;
        outsider.expires_at = f.clock.wall_now() + std::chrono::seconds(60);
        f.files.locks["build"] = outsider;
        Effects effects;
        f.state.acquire(ticket(1, "build", true), effects);
        const auto pids = f.state.blocker_pids();
        REQUIRE(pids.count(4242) == 1);
        CHECK(pids.at(4242).count("build") == 1);
        REQUIRE(f.state.next_deadline());
        CHECK(*f.state.next_deadline() == f.clock.steady_now() + std::chrono::seconds(60));
        // The outsider releases (inotify reports it).
        f.files.locks.erase("build");
        Effects step;
        f.state.files_changed("build", step);
        CHECK(Fixture::granted(step) == std::vector<ConnectionId>{1});
        CHECK(f.state.blocker_pids().empty());
    }

    TEST_CASE("a manual TTL lock is remembered until it lapses") {
        Fixture f;
        Effects effects;
        AcquireTicket manual = ticket(1, "db", false, std::chrono::seconds(30));
        manual.spec.binding = Binding::ttl;
        f.state.acquire(manual, effects);
        CHECK(f.state.hold_count() == 1);
        f.state.connection_closed(1, false, effects);
        CHECK(f.files.locks.count("db") == 1);  // survives the client
        CHECK_FALSE(f.state.idle());
        f.clock.advance(std::chrono::seconds(30));
        f.state.advance(effects);
        CHECK(f.state.idle());
    }

    TEST_CASE("shared waiters behind a shared head are granted together; an exclusive waiter waits for all of them") {
        Fixture f;
        Effects effects;
        f.state.acquire(ticket(1, "data", false), effects);  // exclusive holder
        auto reader = [](ConnectionId c) {
            AcquireTicket t = ticket(c, "data", true);
            t.spec.shared = true;
            return t;
        };
        f.state.acquire(reader(2), effects);
        f.state.acquire(reader(3), effects);
        f.state.acquire(ticket(4, "data", true), effects);  // exclusive waiter
        f.state.acquire(reader(5), effects);
        CHECK(f.state.waiters_for("data") == 4);
        CHECK(f.state.indexes_consistent());

        Effects step;
        REQUIRE(f.state.release("data", f.lock_id("data"), f.actor(1), {}, step).ok());
        CHECK(Fixture::granted(step) == std::vector<ConnectionId>{2, 3});
        CHECK(f.state.waiters_for("data") == 2);  // the writer, then reader 5 behind it
        CHECK(f.state.hold_count() == 2);
        CHECK(f.state.indexes_consistent());

        Effects first_out;
        REQUIRE(f.state.release("data", f.files.member_id("data", 1002), f.actor(2), {}, first_out).ok());
        CHECK(Fixture::granted(first_out).empty());  // reader 3 is still inside
        Effects last_out;
        REQUIRE(f.state.release("data", f.files.member_id("data", 1003), f.actor(3), {}, last_out).ok());
        CHECK(Fixture::granted(last_out) == std::vector<ConnectionId>{4});
        Effects writer_out;
        REQUIRE(f.state.release("data", f.lock_id("data"), f.actor(4), {}, writer_out).ok());
        CHECK(Fixture::granted(writer_out) == std::vector<ConnectionId>{5});
        CHECK(f.state.waiters_for("data") == 0);
        CHECK(f.state.indexes_consistent());
    }

    TEST_CASE("a shared request never overtakes a queued exclusive one") {
        Fixture f;
        Effects effects;
        AcquireTicket first = ticket(1, "data", false);
        first.spec.shared = true;
        f.state.acquire(first, effects);
        REQUIRE(Fixture::granted(effects) == std::vector<ConnectionId>{1});
        f.state.acquire(ticket(2, "data", true), effects);  // the writer waits
        const int tries = f.files.tries;

        // Without --wait: refused, though the files alone would let it join.
        Effects refused;
        AcquireTicket eager = ticket(3, "data", false);
        eager.spec.shared = true;
        f.state.acquire(eager, refused);
        REQUIRE(refused.answers.size() == 1);
        REQUIRE(refused.answers[0].result);
        CHECK_FALSE(refused.answers[0].result->granted());
        CHECK(refused.answers[0].result->refusal.message.find("exclusive request waiting ahead") != std::string::npos);
        // With --wait: behind the writer, without trying the files.
        AcquireTicket patient = ticket(4, "data", true);
        patient.spec.shared = true;
        f.state.acquire(patient, effects);
        CHECK(f.files.tries == tries);
        CHECK(f.state.waiters_for("data") == 2);

        Effects step;
        REQUIRE(f.state.release("data", f.files.member_id("data", 1001), f.actor(1), {}, step).ok());
        CHECK(Fixture::granted(step) == std::vector<ConnectionId>{2});
        Effects next;
        REQUIRE(f.state.release("data", f.lock_id("data"), f.actor(2), {}, next).ok());
        CHECK(Fixture::granted(next) == std::vector<ConnectionId>{4});
        CHECK(f.state.indexes_consistent());
    }

    TEST_CASE("each shared member is a hold of its own: renewed apart, ended apart when its connection closes") {
        Fixture f;
        Effects effects;
        for (ConnectionId c = 1; c <= 2; ++c) {
            AcquireTicket t = ticket(c, "data", false, std::chrono::seconds(10));
            t.spec.shared = true;
            f.state.acquire(t, effects);
        }
        f.state.acquire(ticket(3, "data", true), effects);  // a writer waits for both
        CHECK(f.state.hold_count() == 2);
        CHECK(f.state.hold_actor("data", f.files.member_id("data", 1002)).has_value());
        f.clock.advance(std::chrono::seconds(5));
        f.state.advance(effects);
        CHECK(std::count(f.files.log.begin(), f.files.log.end(), "renew data by 1001") == 1);
        CHECK(std::count(f.files.log.begin(), f.files.log.end(), "renew data by 1002") == 1);

        Effects first_gone;
        f.state.connection_closed(1, false, first_gone);  // its guard is dead: only its member ends
        CHECK(Fixture::granted(first_gone).empty());
        CHECK(f.files.shared["data"].size() == 1);
        CHECK(f.state.hold_count() == 1);
        CHECK(f.state.indexes_consistent());
        Effects second_gone;
        f.state.connection_closed(2, false, second_gone);
        CHECK(Fixture::granted(second_gone) == std::vector<ConnectionId>{3});
        CHECK(f.state.indexes_consistent());
    }

}  // TEST_SUITE

}  // namespace lokt::daemon
