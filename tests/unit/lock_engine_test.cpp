// The lock engine's decisions, in one process: acquire and refuse, stale and
// corrupt takeover, re-entry rules, nested holds, lost locks, unlock modes,
// freezes, and the audit line each writes.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>
#include "tests/support/process.hpp"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "common/lock_engine.hpp"
#include "tests/support/scratch_dir.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using lokt::AcquireResult;
using lokt::ErrorCode;
using Outcome = lokt::AcquireResult::Outcome;

using lokt::test::dead_pid;

namespace {

struct Fixture {
    lokt::test::ScratchDir dir;
    lokt::Identity me = lokt::current_identity();

    lokt::LockEngine engine(const lokt::Identity& actor) {
        auto store = lokt::LockStore::open(dir / "root", lokt::LockStore::Mode::create);
        REQUIRE(store.ok());
        return lokt::LockEngine(std::move(store.value()), actor);
    }
    lokt::LockEngine engine() { return engine(me); }

    lokt::AcquireSpec spec(const std::string& name, lokt::Binding binding = lokt::Binding::guard) const {
        lokt::AcquireSpec s;
        s.name = name;
        s.binding = binding;
        s.holder = me;
        return s;
    }

    std::vector<std::string> events() const {
        std::vector<std::string> out;
        (void)lokt::read_audit(dir / "root/audit.log", {},
                               [&](std::string_view, const lokt::AuditEvent& e) { out.push_back(e.event); });
        return out;
    }
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "acquire, refuse a second holder, release") {
    auto e = engine();
    auto first = e.try_acquire(spec("build"));
    REQUIRE(first.ok());
    CHECK(first->outcome == Outcome::acquired);
    CHECK(first->record.lock_id.size() == 32);

    auto second = e.try_acquire(spec("build"));
    REQUIRE(second.ok());
    CHECK(second->outcome == Outcome::refused);
    CHECK(second->refusal.code == ErrorCode::held);
    CHECK(second->refusal.message.rfind("lock \"build\" held by " + me.owner + "@" + me.host + " (pid ", 0) == 0);

    CHECK(e.release("build", first->record.lock_id).ok());
    CHECK_FALSE(fs::exists(dir / "root/locks/build.json"));
    CHECK(events() == std::vector<std::string>{"acquire", "deny", "release"});
}

TEST_CASE_FIXTURE(Fixture, "a stale lock is taken over and the break is audited") {
    auto e = engine();
    lokt::AcquireSpec dead = spec("x");
    dead.holder.pid = dead_pid();
    dead.holder.pid_start.reset();
    REQUIRE(e.try_acquire(dead)->granted());
    auto taken = e.try_acquire(spec("x"));
    CHECK(taken->outcome == Outcome::acquired);
    CHECK(events() == std::vector<std::string>{"acquire", "stale-break", "acquire"});
}

TEST_CASE_FIXTURE(Fixture, "an expired lock is taken over") {
    auto e = engine();
    lokt::AcquireSpec short_lived = spec("x", lokt::Binding::ttl);
    short_lived.ttl = 1ns;
    REQUIRE(e.try_acquire(short_lived)->granted());
    CHECK(e.try_acquire(spec("x"))->outcome == Outcome::acquired);
}

TEST_CASE_FIXTURE(Fixture, "a corrupt lock is removed by the next acquire; a newer version is not") {
    auto e = engine();
    std::ofstream(dir / "root/locks/bad.json") << "{\"name\":";
    CHECK(e.try_acquire(spec("bad"))->outcome == Outcome::acquired);
    CHECK(events() == std::vector<std::string>{"corrupt-break", "acquire"});

    std::ofstream(dir / "root/locks/v2.json")
        << R"({"version":2,"name":"v2","owner":"o","host":"h","pid":1,"acquired_ts":"2026-01-01T00:00:00Z"})";
    auto refused = e.try_acquire(spec("v2"));
    CHECK(refused->refusal.code == ErrorCode::unsupported);
    CHECK(e.unlock("v2", lokt::UnlockMode::break_stale).error().code == ErrorCode::unsupported);
    CHECK(fs::exists(dir / "root/locks/v2.json"));
    CHECK(e.unlock("v2", lokt::UnlockMode::force).ok());
    CHECK_FALSE(fs::exists(dir / "root/locks/v2.json"));
}

TEST_CASE_FIXTURE(Fixture, "re-entry needs the same explicitly set owner and manual holds on both sides") {
    auto e = engine();
    lokt::AcquireSpec manual = spec("m", lokt::Binding::ttl);
    manual.ttl = 60s;
    manual.holder.owner = "agent-1";
    manual.holder.owner_explicit = true;
    auto first = e.try_acquire(manual);
    REQUIRE(first->outcome == Outcome::acquired);

    manual.ttl = 120s;
    auto again = e.try_acquire(manual);
    CHECK(again->outcome == Outcome::refreshed);
    CHECK(again->record.lock_id == first->record.lock_id);
    CHECK(*again->record.expires_at > *first->record.expires_at);

    lokt::AcquireSpec implicit = manual;
    implicit.holder.owner_explicit = false;  // same name, but not set explicitly
    CHECK(e.try_acquire(implicit)->outcome == Outcome::refused);

    lokt::AcquireSpec guard = manual;
    guard.binding = lokt::Binding::guard;  // a guard never shares
    CHECK(e.try_acquire(guard)->outcome == Outcome::refused);
}

TEST_CASE_FIXTURE(Fixture, "a nested acquire with the holder's lock id changes nothing") {
    auto e = engine();
    auto outer = e.try_acquire(spec("n"));
    lokt::AcquireSpec inner = spec("n");
    inner.inherited_lock_id = outer->record.lock_id;
    auto nested = e.try_acquire(inner);
    CHECK(nested->outcome == Outcome::nested);
    CHECK(nested->record.lock_id == outer->record.lock_id);
    inner.inherited_lock_id = "0123456789abcdef0123456789abcdef";
    CHECK(e.try_acquire(inner)->outcome == Outcome::refused);
}

TEST_CASE_FIXTURE(Fixture, "renew and release of a lock that was taken away report it lost") {
    auto e = engine();
    auto mine = e.try_acquire(spec("l"));
    REQUIRE(e.unlock("l", lokt::UnlockMode::force).ok());
    auto other = e.try_acquire(spec("l"));
    REQUIRE(other->granted());
    auto renewed = e.renew("l", mine->record.lock_id, 10s);
    REQUIRE_FALSE(renewed.ok());
    CHECK(renewed.error().code == ErrorCode::lost);
    CHECK(e.release("l", mine->record.lock_id).error().code == ErrorCode::lost);
    CHECK(fs::exists(dir / "root/locks/l.json"));  // the new holder's lock is untouched
    CHECK(e.renew("l", other->record.lock_id, 10s).ok());
}

TEST_CASE_FIXTURE(Fixture, "ending what a daemon was asked to end: a line it wrote before dying is not written again") {
    auto e = engine();
    lokt::AcquireSpec manual = spec("a", lokt::Binding::ttl);
    manual.ttl = 60s;
    auto held = [&](const std::string& name) {
        manual.name = name;
        auto got = e.try_acquire(manual);
        REQUIRE(got->granted());
        return got->record.lock_id;
    };
    // What a daemon killed between its line and its unlink leaves: the line, and the file.
    auto daemon_line = [&](const std::string& name, const std::string& lock_id) {
        lokt::AuditEvent line = lokt::make_audit_event("release", name, me);
        line.lock_id = lock_id;
        REQUIRE(e.audit(line).ok());
    };
    const std::string a = held("a");
    const std::string b = held("b");
    const std::string c = held("c");
    const std::string d = held("d");
    const lokt::WallTime before = lokt::wall_now();
    daemon_line("a", a);
    daemon_line("b", b);
    daemon_line("c", "0123456789abcdef0123456789abcdef");  // another hold's end
    daemon_line("d", d);

    e.finish_daemon_request(before);
    CHECK(e.release("a", a).ok());
    CHECK(e.unlock("b", lokt::UnlockMode::owner).ok());
    CHECK(e.release("c", c).ok());  // its own line: none was written for it
    e.finish_daemon_request(std::nullopt);
    CHECK(e.release("d", d).ok());  // not told: a line as always
    for (const char* name : {"a", "b", "c", "d"}) CHECK_FALSE(fs::exists(dir / "root/locks" / (std::string(name) + ".json")));

    std::map<std::string, int> releases;
    (void)lokt::read_audit(dir / "root/audit.log", {}, [&](std::string_view, const lokt::AuditEvent& event) {
        if (event.event == "release") ++releases[event.name];
    });
    CHECK(releases == std::map<std::string, int>{{"a", 1}, {"b", 1}, {"c", 2}, {"d", 2}});
}

TEST_CASE_FIXTURE(Fixture, "a guard that takes over a daemon's grant writes the acquire line the daemon did not, once") {
    auto e = engine();
    lokt::AcquireSpec guard = spec("g");
    guard.handle = "0123456789abcdef0123456789abcdef";
    auto granted = e.try_acquire(guard);
    REQUIRE(granted->outcome == Outcome::acquired);
    // A daemon killed between the lock file and its line: the file, no line.
    fs::resize_file(dir / "root/audit.log", 0);

    auto adopted = e.try_acquire(guard);  // the guard, on the files, finds its own hold
    REQUIRE(adopted.ok());
    CHECK(adopted->outcome == Outcome::acquired);
    CHECK(adopted->record.lock_id == granted->record.lock_id);
    std::vector<lokt::AuditEvent> lines;
    (void)lokt::read_audit(dir / "root/audit.log", {},
                           [&](std::string_view, const lokt::AuditEvent& event) { lines.push_back(event); });
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].event == "acquire");
    CHECK(lines[0].lock_id == granted->record.lock_id);
    const auto extra = nlohmann::json::parse(lines[0].extra_json);
    CHECK(extra.at("adopted") == true);
    CHECK(extra.at("fence") == *granted->record.fence);

    // Found again (a second look, or the daemon's line was there): no second line.
    REQUIRE(e.try_acquire(guard)->outcome == Outcome::acquired);
    CHECK(events() == std::vector<std::string>{"acquire"});
    CHECK(e.release("g", granted->record.lock_id).ok());
    CHECK(events() == std::vector<std::string>{"acquire", "release"});
}

TEST_CASE_FIXTURE(Fixture, "a release that names the file it wrote: taken at its word only while that file is there unchanged") {
    auto e = engine();
    auto written = [](const AcquireResult& r) { return lokt::WrittenFile::of(r.file); };

    SUBCASE("the same file: released, with its audit line") {
        auto mine = e.try_acquire(spec("w"));
        REQUIRE(mine->granted());
        REQUIRE(e.release("w", mine->record.lock_id, written(*mine)).ok());
        CHECK_FALSE(fs::exists(dir / "root/locks/w.json"));
        CHECK(events() == std::vector<std::string>{"acquire", "release"});
    }
    SUBCASE("broken and taken by another: lost, and the new holder's file stays") {
        auto mine = e.try_acquire(spec("w"));
        REQUIRE(e.unlock("w", lokt::UnlockMode::force).ok());
        auto other = e.try_acquire(spec("w"));
        REQUIRE(other->granted());
        auto released = e.release("w", mine->record.lock_id, written(*mine));
        REQUIRE_FALSE(released.ok());
        CHECK(released.error().code == ErrorCode::lost);
        CHECK(fs::exists(dir / "root/locks/w.json"));
        // Even when the new file reuses the old inode number, its change time differs.
        CHECK(e.release("w", mine->record.lock_id, lokt::WrittenFile{other->file.inode, mine->file.change_ns}).error().code ==
              ErrorCode::lost);
        CHECK(e.release("w", other->record.lock_id, written(*other)).ok());
    }
    SUBCASE("rewritten since (a renewal): read back, and released as ours") {
        auto mine = e.try_acquire(spec("w"));
        REQUIRE(e.renew("w", mine->record.lock_id, 10s).ok());
        REQUIRE(e.release("w", mine->record.lock_id, written(*mine)).ok());
        CHECK_FALSE(fs::exists(dir / "root/locks/w.json"));
    }
    SUBCASE("a renewal reports the file it wrote, which a release then names") {
        auto mine = e.try_acquire(spec("w"));
        lokt::WrittenFile renewed;
        REQUIRE(e.renew("w", mine->record.lock_id, 10s, &renewed).ok());
        REQUIRE(renewed.known());
        CHECK(renewed.inode != mine->file.inode);  // written beside the old file, then renamed over it
        auto now = e.store().identify(lokt::Area::locks, "w");
        REQUIRE(now.ok());
        REQUIRE(now->has_value());
        CHECK(renewed.is(**now));
        REQUIRE(e.release("w", mine->record.lock_id, renewed).ok());
        CHECK_FALSE(fs::exists(dir / "root/locks/w.json"));
        CHECK(events() == std::vector<std::string>{"acquire", "renew", "release"});
    }
    SUBCASE("renewed, then broken and taken by another: the renewal's file is not the new holder's") {
        auto mine = e.try_acquire(spec("w"));
        lokt::WrittenFile renewed;
        REQUIRE(e.renew("w", mine->record.lock_id, 10s, &renewed).ok());
        REQUIRE(e.unlock("w", lokt::UnlockMode::force).ok());
        auto other = e.try_acquire(spec("w"));
        REQUIRE(other->granted());
        CHECK(e.release("w", mine->record.lock_id, renewed).error().code == ErrorCode::lost);
        CHECK(fs::exists(dir / "root/locks/w.json"));
    }
    SUBCASE("removed by hand: lost") {
        auto mine = e.try_acquire(spec("w"));
        fs::remove(dir / "root/locks/w.json");
        CHECK(e.release("w", mine->record.lock_id, written(*mine)).error().code == ErrorCode::lost);
    }
}

TEST_CASE_FIXTURE(Fixture, "unlock: owner check, break-stale only when stale, force always") {
    auto e = engine();
    lokt::Identity someone = me;
    someone.owner = "someone-else";
    auto theirs = engine(someone);
    lokt::AcquireSpec their_spec = spec("u");
    their_spec.holder = someone;
    REQUIRE(theirs.try_acquire(their_spec)->granted());

    CHECK(e.unlock("u", lokt::UnlockMode::owner).error().code == ErrorCode::not_owner);
    CHECK(e.unlock("u", lokt::UnlockMode::break_stale).error().code == ErrorCode::held);
    CHECK(e.unlock("u", lokt::UnlockMode::force).ok());
    CHECK(e.unlock("u", lokt::UnlockMode::owner).error().code == ErrorCode::not_found);
}

TEST_CASE_FIXTURE(Fixture, "a running guard's hold is not released by a plain unlock, even with the same owner") {
    auto e = engine();
    REQUIRE(e.try_acquire(spec("g"))->granted());
    auto refused = e.unlock("g", lokt::UnlockMode::owner);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == ErrorCode::not_owner);
    CHECK(refused.error().message.find("running guard") != std::string::npos);
    CHECK(fs::exists(dir / "root/locks/g.json"));

    lokt::AcquireSpec manual = spec("m", lokt::Binding::ttl);
    manual.ttl = 60s;
    REQUIRE(e.try_acquire(manual)->granted());
    CHECK(e.unlock("m", lokt::UnlockMode::owner).ok());  // the seed's lock / work / unlock
}

namespace {

std::vector<std::string> names_of(const std::vector<lokt::LockRecord>& records) {
    std::vector<std::string> names;
    for (const auto& record : records) names.push_back(record.name);
    return names;
}

}  // namespace

TEST_CASE_FIXTURE(Fixture, "unlock --owner and --all select by owner") {
    auto e = engine();
    lokt::Identity a = me, b = me;
    a.owner = "a";
    b.owner = "b";
    for (auto [name, who] : {std::pair{"1", a}, std::pair{"2", b}, std::pair{"3", a}}) {
        lokt::AcquireSpec s = spec(name, lokt::Binding::ttl);
        s.holder = who;
        s.ttl = 60s;
        REQUIRE(e.try_acquire(s)->granted());
    }
    auto as_a = engine(a);
    auto mine = as_a.unlock_many("a", false);
    CHECK(names_of(mine->released) == std::vector<std::string>{"1", "3"});
    CHECK(mine->refused.empty());
    CHECK(e.unlock_many("", false)->released.empty());  // none is mine
    auto all = e.unlock_many("", true);
    CHECK(names_of(all->released) == std::vector<std::string>{"2"});
    CHECK(events() == std::vector<std::string>{"acquire", "acquire", "acquire", "release", "release", "force-break"});
}

TEST_CASE_FIXTURE(Fixture, "unlock --owner leaves another owner's live holds unless forced, and breaks stale ones") {
    lokt::Identity agent1 = me, agent2 = me;
    agent1.owner = "agent-1";
    agent2.owner = "agent-2";
    auto theirs = engine(agent1);
    lokt::AcquireSpec live = spec("live", lokt::Binding::ttl);
    live.holder = agent1;
    live.ttl = 60s;
    REQUIRE(theirs.try_acquire(live)->granted());
    lokt::AcquireSpec dead = spec("dead");
    dead.holder = agent1;
    dead.holder.pid = dead_pid();
    dead.holder.pid_start.reset();
    REQUIRE(theirs.try_acquire(dead)->granted());

    auto e = engine(agent2);
    auto done = e.unlock_many("agent-1", false);
    REQUIRE(done.ok());
    CHECK(names_of(done->released) == std::vector<std::string>{"dead"});
    REQUIRE(done->refused.size() == 1);
    const lokt::Refusal& refusal = done->refused[0];
    CHECK(refusal.code == ErrorCode::not_owner);
    REQUIRE(refusal.holder.has_value());
    CHECK(refusal.holder->name == "live");
    CHECK(refusal.message.find("lock \"live\" is held by agent-1@" + me.host) == 0);
    CHECK(refusal.message.find("--force") != std::string::npos);
    CHECK(fs::exists(dir / "root/locks/live.json"));
    CHECK_FALSE(fs::exists(dir / "root/locks/dead.json"));
    CHECK(events() == std::vector<std::string>{"acquire", "acquire", "stale-break"});

    auto forced = e.unlock_many("agent-1", true);
    CHECK(names_of(forced->released) == std::vector<std::string>{"live"});
    CHECK(forced->refused.empty());
    CHECK_FALSE(fs::exists(dir / "root/locks/live.json"));
    CHECK(events().back() == "force-break");
}

TEST_CASE_FIXTURE(Fixture, "unlock --owner of your own owner string leaves a running guard's hold, as unlock NAME does") {
    auto e = engine();
    REQUIRE(e.try_acquire(spec("g"))->granted());  // this process is the live guard
    auto done = e.unlock_many(me.owner, false);
    CHECK(done->released.empty());
    REQUIRE(done->refused.size() == 1);
    CHECK(done->refused[0].message.find("running guard") != std::string::npos);
    CHECK(fs::exists(dir / "root/locks/g.json"));
}

TEST_CASE_FIXTURE(Fixture, "a freeze blocks acquires until lifted; only its owner lifts it without --force") {
    auto e = engine();
    REQUIRE(e.freeze("deploy", 30min, false).ok());
    auto refused = e.try_acquire(spec("deploy"));
    CHECK(refused->refusal.code == ErrorCode::frozen);
    CHECK(refused->refusal.message.find("lock \"deploy\" is frozen until ") == 0);
    CHECK(refused->refusal.message.find("(by " + me.owner + "@" + me.host + ")") != std::string::npos);

    lokt::Identity other = me;
    other.owner = "other";
    auto theirs = engine(other);
    CHECK(theirs.unfreeze("deploy", false).error().code == ErrorCode::not_owner);
    CHECK(e.unfreeze("deploy", false).ok());
    CHECK(e.unfreeze("deploy", false).error().code == ErrorCode::not_found);
    CHECK(e.try_acquire(spec("deploy"))->granted());
    CHECK(events() == std::vector<std::string>{"freeze", "freeze-deny", "unfreeze", "acquire"});
}

TEST_CASE_FIXTURE(Fixture, "list with prune removes stale holds and audits auto-prune") {
    auto e = engine();
    lokt::AcquireSpec dead = spec("dead");
    dead.holder.pid = dead_pid();
    dead.holder.pid_start.reset();
    REQUIRE(e.try_acquire(dead)->granted());
    REQUIRE(e.try_acquire(spec("live"))->granted());
    CHECK(e.list(false)->size() == 2);
    auto pruned = e.list(true);
    REQUIRE(pruned->size() == 1);
    CHECK((*pruned)[0].name == "live");
    CHECK(events().back() == "auto-prune");
}

TEST_CASE_FIXTURE(Fixture, "a freeze belongs to whoever set it: extended by them, replaced by others only with force") {
    auto ops = engine();
    auto first = ops.freeze("deploy", 2h, false);
    REQUIRE(first.ok());
    const fs::path file = dir / "root/freezes/deploy.json";
    auto text = [&] {
        std::ifstream in(file);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    const std::string before = text();

    lokt::Identity agent = me;
    agent.owner = "agent-7";
    auto e = engine(agent);
    auto refused = e.freeze("deploy", 1s, false);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == ErrorCode::frozen);
    CHECK(refused.error().message == "lock \"deploy\" is already frozen until " + lokt::format_rfc3339_seconds(*first->expiry()) +
                                         " (by " + me.owner + "@" + me.host +
                                         "); a human may replace it with 'lokt freeze deploy --ttl D --force'");
    CHECK(text() == before);

    auto extended = ops.freeze("deploy", 3h, false);
    REQUIRE(extended.ok());
    CHECK(extended->ttl_sec == 3 * 3600);

    auto forced = e.freeze("deploy", 10min, true);
    REQUIRE(forced.ok());
    CHECK(forced->owner == "agent-7");
    CHECK(events() == std::vector<std::string>{"freeze", "freeze", "force-freeze"});
    std::string extra;
    (void)lokt::read_audit(dir / "root/audit.log", {}, [&](std::string_view, const lokt::AuditEvent& event) {
        if (event.event == "force-freeze") extra = event.extra_json;
    });
    CHECK(extra.find("\"holder\":\"" + me.owner + "@" + me.host + "\"") != std::string::npos);
    CHECK(extra.find(extended->lock_id) != std::string::npos);  // the freeze it replaced
}

TEST_CASE_FIXTURE(Fixture, "an expired freeze of another owner is simply replaced") {
    auto ops = engine();
    REQUIRE(ops.freeze("deploy", 1ns, false).ok());
    lokt::Identity agent = me;
    agent.owner = "agent-7";
    auto replaced = engine(agent).freeze("deploy", 1min, false);
    REQUIRE(replaced.ok());
    CHECK(replaced->owner == "agent-7");
    CHECK(events() == std::vector<std::string>{"freeze", "freeze"});
}

TEST_CASE_FIXTURE(Fixture, "every grant of a name carries a greater fencing token; refusals and re-entry take none") {
    auto e = engine();
    auto first = e.try_acquire(spec("db"));
    REQUIRE(first->granted());
    CHECK(first->record.fence == 1u);
    auto refused = e.try_acquire(spec("db"));
    CHECK(refused->outcome == Outcome::refused);
    REQUIRE(e.release("db", first->record.lock_id).ok());
    auto other = e.try_acquire(spec("other"));
    CHECK(other->record.fence == 1u);  // per name

    lokt::AcquireSpec manual = spec("db", lokt::Binding::ttl);
    manual.ttl = 60s;
    manual.holder.owner = "agent-1";
    manual.holder.owner_explicit = true;
    auto second = e.try_acquire(manual);
    CHECK(second->record.fence == 2u);  // the refusal gave its token back
    auto again = e.try_acquire(manual);
    CHECK(again->outcome == Outcome::refreshed);
    CHECK(again->record.fence == 2u);
    auto renewed = e.renew("db", second->record.lock_id, 60s);
    CHECK(renewed->fence == 2u);
    REQUIRE(e.unlock("db", lokt::UnlockMode::force).ok());

    // The counter is the name's mutex file, which a new engine (a new process, a restarted daemon) reads.
    auto later = engine();
    CHECK(later.try_acquire(spec("db"))->record.fence == 3u);
    std::ifstream counter(dir / "root/mutex/db.lock");
    std::string text;
    std::getline(counter, text);
    CHECK(text == "00000000000000000003");
}

TEST_CASE_FIXTURE(Fixture, "a fence counter that is not a number refuses the grant instead of starting again") {
    auto e = engine();
    REQUIRE(e.try_acquire(spec("db"))->granted());
    REQUIRE(e.unlock("db", lokt::UnlockMode::force).ok());
    std::ofstream(dir / "root/mutex/db.lock") << "garbage\n";
    auto refused = e.try_acquire(spec("db"));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == ErrorCode::corrupt);
    CHECK(refused.error().message.find("mutex/db.lock") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "root/locks/db.json"));
}

TEST_CASE_FIXTURE(Fixture, "a pool's slots: the lowest free one, each a plain lock; full; another size refused while in use") {
    auto e = engine();
    lokt::AcquireSpec pool = spec("gpu");
    pool.slots = 2;
    auto first = e.try_acquire(pool);
    REQUIRE(first->granted());
    CHECK(first->record.name == "gpu.slot-0");
    CHECK(first->record.slot == 0u);
    CHECK(first->record.slots == 2u);
    CHECK(first->record.pool == "gpu");
    CHECK(first->record.fence == 1u);  // each slot's own counter
    auto second = e.try_acquire(pool);
    CHECK(second->record.name == "gpu.slot-1");
    CHECK(fs::exists(dir / "root/locks/gpu.slot-1.json"));
    auto full = e.try_acquire(pool);
    CHECK(full->outcome == Outcome::refused);
    CHECK(full->refusal.message.find("all 2 slots of pool \"gpu\" are held") == 0);

    lokt::AcquireSpec bigger = pool;
    bigger.slots = 3;
    auto mismatch = e.try_acquire(bigger);
    REQUIRE_FALSE(mismatch.ok());
    CHECK(mismatch.error().code == ErrorCode::usage);
    CHECK(mismatch.error().message.find("has 2 slots, not 3") != std::string::npos);

    REQUIRE(e.release("gpu.slot-0", first->record.lock_id).ok());
    auto again = e.try_acquire(pool);
    CHECK(again->record.name == "gpu.slot-0");
    CHECK(again->record.fence == 2u);
    REQUIRE(e.release("gpu.slot-0", again->record.lock_id).ok());
    REQUIRE(e.release("gpu.slot-1", second->record.lock_id).ok());
    // Idle: the pool takes the size it is asked for now.
    CHECK(e.try_acquire(bigger)->granted());
}

TEST_CASE_FIXTURE(Fixture,
                  "a shared group: one file of members, each with its own token; exclusive refused; the last leave removes it") {
    auto e = engine();
    lokt::AcquireSpec reader = spec("data");
    reader.shared = true;
    auto first = e.try_acquire(reader);
    auto second = e.try_acquire(reader);
    REQUIRE(first->granted());
    REQUIRE(second->granted());
    CHECK(first->record.fence == 1u);
    CHECK(second->record.fence == 2u);
    CHECK_FALSE(first->file.inode != 0);  // the group's file is not one holder's

    auto stored = e.store().read(lokt::Area::locks, "data");
    REQUIRE(stored->kind == lokt::StoredRecord::Kind::record);
    const lokt::LockRecord& group = stored->record;
    CHECK(group.is_shared());
    REQUIRE(group.holders.size() == 2);
    CHECK(group.holders[0].lock_id == first->record.lock_id);
    CHECK(group.lock_id != first->record.lock_id);  // the group's own id
    CHECK(group.pid == me.pid);                     // the representative: a live member
    // The text round-trips, members and all, by both parsers.
    const std::string text = lokt::serialize_lock_record(group);
    CHECK(lokt::parse_lock_record(text).value() == group);
    CHECK(lokt::parse_lock_record_with_library(text).value() == group);

    auto exclusive = e.try_acquire(spec("data"));
    CHECK(exclusive->outcome == Outcome::refused);
    CHECK(exclusive->refusal.message.find("held in shared mode by 2 holders") != std::string::npos);
    lokt::AcquireSpec nested = spec("data");
    nested.inherited_lock_id = first->record.lock_id;
    auto upgrade = e.try_acquire(nested);
    REQUIRE_FALSE(upgrade.ok());
    CHECK(upgrade.error().code == ErrorCode::usage);

    REQUIRE(e.release("data", first->record.lock_id).ok());
    auto left = e.store().read(lokt::Area::locks, "data");
    REQUIRE(left->record.holders.size() == 1);
    CHECK(left->record.holders[0].lock_id == second->record.lock_id);
    CHECK(e.held("data", second->record.lock_id).ok());
    CHECK_FALSE(e.held("data", first->record.lock_id).ok());
    REQUIRE(e.release("data", second->record.lock_id).ok());
    CHECK_FALSE(fs::exists(dir / "root/locks/data.json"));
}

TEST_CASE_FIXTURE(Fixture, "list with prune removes a live group's dead member in one rewrite and keeps the live one") {
    auto e = engine();
    lokt::AcquireSpec reader = spec("data");
    reader.shared = true;
    lokt::AcquireSpec dead = reader;
    dead.holder.pid = dead_pid();
    dead.holder.pid_start.reset();
    auto live = e.try_acquire(reader);
    auto gone = e.try_acquire(dead);  // last: a join prunes the dead members it finds
    REQUIRE(live->granted());
    REQUIRE(gone->granted());
    REQUIRE(e.store().read(lokt::Area::locks, "data")->record.holders.size() == 2);
    CHECK(e.list(false)->front().stored.record.holders.size() == 2);  // a listing changes nothing

    auto pruned = e.list(true);
    REQUIRE(pruned->size() == 1);
    CHECK((*pruned)[0].state == lokt::HoldState::live);
    REQUIRE((*pruned)[0].stored.record.holders.size() == 1);
    CHECK((*pruned)[0].stored.record.holders[0].lock_id == live->record.lock_id);
    CHECK(e.store().read(lokt::Area::locks, "data")->record.holders.size() == 1);
    std::vector<lokt::AuditEvent> lines;
    (void)lokt::read_audit(dir / "root/audit.log", {},
                           [&](std::string_view, const lokt::AuditEvent& ev) { lines.push_back(ev); });
    REQUIRE_FALSE(lines.empty());
    CHECK(lines.back().event == "auto-prune");
    CHECK(lines.back().lock_id == gone->record.lock_id);
    CHECK(lines.back().extra_json.find("\"holder_pid\":" + std::to_string(gone->record.pid)) != std::string::npos);
    CHECK(events() == std::vector<std::string>{"acquire", "acquire", "auto-prune"});
    CHECK_FALSE(e.list(true)->empty());  // nothing more to prune: the live member stays
    CHECK(events().size() == 3);
}

TEST_CASE("a group's top-level TTL covers the latest member's expiry, and is left out when a member has none") {
    lokt::LockRecord guard;
    guard.lock_id = "a";
    guard.bound_to = lokt::Binding::guard;
    guard.acquired = lokt::WallTime(std::chrono::seconds(1000));
    lokt::LockRecord ttl = guard;
    ttl.lock_id = "b";
    ttl.bound_to = lokt::Binding::ttl;
    ttl.pid = 77;
    ttl.expires_at = lokt::WallTime(std::chrono::seconds(1600));
    ttl.ttl_sec = 600;
    lokt::LockRecord shorter = ttl;
    shorter.lock_id = "c";
    shorter.expires_at = lokt::WallTime(std::chrono::seconds(1100));

    const auto with_guard = lokt::shared_group_record("data", "g", {ttl, guard});
    CHECK(with_guard.bound_to == lokt::Binding::guard);  // the guard stands for the group
    CHECK_FALSE(with_guard.expires_at.has_value());      // a member without TTL: none at the top
    const auto manual = lokt::shared_group_record("data", "g", {shorter, ttl});
    CHECK(manual.expires_at == ttl.expires_at);
    CHECK(manual.lock_id == "g");
    CHECK(manual.holders.size() == 2);
}
