// Reservation rules and the reservation table's text: who conflicts with whom,
// who may write a path, when a reservation is stale, and that the table's fast
// reader (and its filter for a check) answers exactly as the JSON library does.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "common/hold_deadline.hpp"
#include "common/identity.hpp"
#include "common/reservation.hpp"

using namespace lokt;

namespace {

Reservation made(const std::string& glob, const std::string& owner, ReservationMode mode = ReservationMode::exclusive) {
    Reservation r;
    r.glob = PathGlob::parse(glob).value();
    r.mode = mode;
    r.holder.name = r.glob.text();
    r.holder.lock_id = new_lock_id();
    r.holder.owner = owner;
    r.holder.owner_explicit = true;
    r.holder.host = current_identity().host;
    r.holder.pid = ::getpid();
    r.holder.agent_id = "agent-test";
    r.holder.acquired = wall_now();
    r.holder.bound_to = Binding::ttl;
    set_deadline(r.holder, r.holder.acquired, std::chrono::minutes(10));
    return r;
}

std::vector<std::string> globs_of(const std::vector<Reservation>& table) {
    std::vector<std::string> out;
    for (const auto& r : table) out.push_back(r.glob.text());
    return out;
}

}  // namespace

TEST_CASE("conflicts: overlapping globs, not both shared, different owners") {
    const Reservation auth = made("src/auth/**", "agent-1");
    const auto glob = [](const char* text) { return PathGlob::parse(text).value(); };
    CHECK(reservation_conflicts(auth, glob("src/**/*.c"), ReservationMode::exclusive, "agent-2"));
    CHECK_FALSE(reservation_conflicts(auth, glob("src/**/*.c"), ReservationMode::exclusive, "agent-1"));
    CHECK_FALSE(reservation_conflicts(auth, glob("lib/**"), ReservationMode::exclusive, "agent-2"));
    CHECK(reservation_conflicts(auth, glob("src/auth/x.c"), ReservationMode::shared, "agent-2"));
    const Reservation docs = made("docs/**", "agent-1", ReservationMode::shared);
    CHECK_FALSE(reservation_conflicts(docs, glob("docs/api"), ReservationMode::shared, "agent-2"));
    CHECK(reservation_conflicts(docs, glob("docs/api"), ReservationMode::exclusive, "agent-2"));
}

TEST_CASE("who may write a path: co-holders of a shared reservation may, others not") {
    const std::vector<Reservation> table = {made("src/auth/**", "agent-1"), made("docs/**", "agent-1", ReservationMode::shared),
                                            made("docs/api", "agent-2", ReservationMode::shared)};
    const WallTime now = wall_now();
    const std::string host = current_identity().host;
    CHECK(path_blockers(table, "src/auth/a.c", "agent-1", now, host).empty());
    REQUIRE(path_blockers(table, "src/auth/a.c", "agent-2", now, host).size() == 1);
    CHECK(path_blockers(table, "src/other.c", "agent-2", now, host).empty());
    CHECK(path_blockers(table, "docs/api/x.md", "agent-2", now, host).empty());      // shares docs/api
    CHECK(path_blockers(table, "docs/intro.md", "agent-2", now, host).size() == 1);  // only agent-1 shares it
    CHECK(path_blockers(table, "docs/api/x.md", "agent-3", now, host).size() == 2);
}

TEST_CASE("a reservation is stale past its TTL, or when bound to a process that is gone") {
    const std::string host = current_identity().host;
    Reservation expired = made("a/**", "agent-1");
    set_deadline(expired.holder, wall_now() - std::chrono::minutes(20), std::chrono::minutes(10));
    expired.holder.expires_boot_ns.reset();  // judged by its wall-clock deadline, long past
    CHECK_FALSE(reservation_live(expired, wall_now(), host));

    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    REQUIRE(child > 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    Reservation orphan = made("b/**", "agent-1");
    orphan.holder.bound_to = Binding::process;
    clear_deadline(orphan.holder);
    orphan.holder.pid = child;
    CHECK_FALSE(reservation_live(orphan, wall_now(), host));
    orphan.holder.pid = ::getpid();
    CHECK(reservation_live(orphan, wall_now(), host));
}

TEST_CASE("the table's text: the fast reader and the JSON library agree, filter included") {
    std::vector<Reservation> table;
    const char* globs[] = {"src/auth/**", "src/auth",   "a/**",  "ab/**",  "abc", "docs/*", "docs/*/",
                           "**/*.md",     "src/[ab]/x", "a\\*b", "x/**/y", "*",   "src/a.c"};
    int i = 0;
    for (const char* glob : globs) {
        table.push_back(
            made(glob, "agent-" + std::to_string(i % 3), i % 2 ? ReservationMode::shared : ReservationMode::exclusive));
        ++i;
    }
    table[1].holder.bound_to = Binding::process;
    clear_deadline(table[1].holder);
    table[2].holder.agent_id = "with \"quotes\" and \\ too";  // escapes: the library's path
    const std::string text = serialize_reservation_table(table);
    auto fast = parse_reservation_table(text);
    REQUIRE(fast.ok());
    REQUIRE(fast->size() == table.size());
    // The same text laid out otherwise is read by the library alone.
    std::string relaid = text;
    for (std::size_t at = relaid.find("\n    {"); at != std::string::npos; at = relaid.find("\n    {", at + 7))
        relaid.insert(at + 1, "  ");
    auto slow = parse_reservation_table(relaid);
    REQUIRE(slow.ok());
    REQUIRE(slow->size() == table.size());
    for (std::size_t k = 0; k < table.size(); ++k) {
        INFO(table[k].glob.text());
        CHECK((*fast)[k].glob.text() == table[k].glob.text());
        CHECK((*fast)[k].mode == table[k].mode);
        CHECK((*fast)[k].holder == table[k].holder);
        CHECK((*slow)[k].holder == table[k].holder);
    }
    CHECK(parse_reservation_table(serialize_reservation_table({}))->empty());

    // The filter keeps exactly the reservations whose glob covers a path.
    const std::vector<std::string> paths = {"a",          "ab",        "abc",      "abc/d",   "a/b",     "src/auth",
                                            "src/auth/x", "docs/x",    "docs/x/y", "src/a/x", "src/c/x", "x/y",
                                            "x/q/y/z",    "README.md", "q/r.md",   "a*b",     "axb",     "src/a.c"};
    for (const auto& path : paths) {
        const std::vector<std::string> one = {path};
        std::vector<std::string> expected;
        for (const auto& r : table) {
            if (r.glob.matches(path)) expected.push_back(r.glob.text());
        }
        INFO(path);
        CHECK(globs_of(parse_reservation_table(text, &one).value()) == expected);
        CHECK(globs_of(parse_reservation_table(relaid, &one).value()) == expected);
    }
    CHECK(parse_reservation_table("{ nope").error().code == ErrorCode::corrupt);
    CHECK(parse_reservation_table("{\"version\": 2, \"reservations\": []}").error().code == ErrorCode::unsupported);
}
