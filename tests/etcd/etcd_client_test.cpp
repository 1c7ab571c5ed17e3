// The etcd client (etcd/client.hpp) against a real etcd: each case starts its
// own cluster in a scratch directory (tests/support/etcd_cluster.hpp).
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "protocol/etcd/base64.hpp"
#include "protocol/etcd/client.hpp"
#include "tests/support/etcd_cluster.hpp"
#include "tests/support/scratch_dir.hpp"
#include "tests/support/test_main.hpp"

namespace {

using namespace lokt::etcd;
using lokt::ErrorCode;
using lokt::test::EtcdCluster;
using lokt::test::ScratchDir;
using std::chrono::milliseconds;

RangeRequest key(std::string name) {
    RangeRequest request;
    request.key = std::move(name);
    return request;
}

DeleteRequest erase_key(std::string name) {
    DeleteRequest request;
    request.key = std::move(name);
    return request;
}

ClientOptions options_for(const EtcdCluster& cluster, Millis call_timeout = ClientOptions{}.call_timeout) {
    ClientOptions options;
    options.endpoints = parse_endpoints(cluster.endpoints()).value();
    options.attempt_timeout = milliseconds(700);
    options.call_timeout = call_timeout;
    return options;
}

// Without etcd on PATH the whole suite is skipped (CTest's SKIP_RETURN_CODE).
const bool g_registered =
    lokt::test::add_run_hooks({[] {
                                   if (lokt::test::etcd_available()) return 0;
                                   std::fprintf(stderr, "etcd is not installed (apt-get install etcd-server): skipped\n");
                                   return 77;
                               },
                               {}});

}  // namespace

TEST_SUITE("etcd_client") {
    TEST_CASE("base64 both ways, binary bytes and padding included") {
        for (const std::string& text :
             {std::string(), std::string("f"), std::string("fo"), std::string("foo"), std::string("\0\xff\x10 lokt/", 9)}) {
            CHECK(base64_decode(base64_encode(text)) == text);
        }
        CHECK(base64_encode("foo") == "Zm9v");
        CHECK_FALSE(base64_decode("Zm9").has_value());
        CHECK_FALSE(base64_decode("Z=9v").has_value());
    }

    TEST_CASE("endpoints: a list of URLs, and a clear error for a bad one") {
        auto parsed = parse_endpoints("http://127.0.0.1:2379, https://db2:2380");
        REQUIRE(parsed);
        REQUIRE(parsed->size() == 2);
        CHECK((*parsed)[0].host == "127.0.0.1");
        CHECK_FALSE((*parsed)[0].tls);
        CHECK((*parsed)[1].port == 2380);
        CHECK((*parsed)[1].tls);
        auto bad = parse_endpoints("127.0.0.1:2379");
        REQUIRE_FALSE(bad);
        CHECK(bad.error().code == ErrorCode::usage);
        CHECK_FALSE(parse_endpoints(""));
    }

    TEST_CASE("put, range by prefix in create order, delete with prev_kv") {
        ScratchDir dir("etcd-kv");
        EtcdCluster cluster(dir.path());
        Client client(options_for(cluster));
        const std::string binary("q/\x01\xfe", 4);
        REQUIRE(client.put({"p/b", "second"}));
        REQUIRE(client.put({"p/a", "third"}));
        REQUIRE(client.put({"p/" + binary, "fourth"}));
        REQUIRE(client.put({"p/b", "second again"}));  // keeps its create_revision
        RangeRequest range;
        range.key = "p/";
        range.range_end = prefix_end("p/");
        range.sort_by_create = true;
        auto listed = client.range(range);
        REQUIRE(listed);
        REQUIRE(listed->kvs.size() == 3);
        CHECK(listed->kvs[0].key == "p/b");
        CHECK(listed->kvs[0].value == "second again");
        CHECK(listed->kvs[0].version == 2);
        CHECK(listed->kvs[1].key == "p/a");
        CHECK(listed->kvs[2].key == "p/" + binary);
        CHECK(listed->kvs[0].create_revision < listed->kvs[1].create_revision);
        CHECK(listed->revision >= listed->kvs[2].mod_revision);

        DeleteRequest erase;
        erase.key = "p/a";
        erase.prev_kv = true;
        auto deleted = client.erase(erase);
        REQUIRE(deleted);
        CHECK(deleted->deleted == 1);
        REQUIRE(deleted->prev_kvs.size() == 1);
        CHECK(deleted->prev_kvs[0].value == "third");
        auto missing = client.range(key("p/a"));
        REQUIRE(missing);
        CHECK(missing->kvs.empty());
    }

    TEST_CASE("txn: create-if-absent once, and a failed compare reads the holder (no \"succeeded\" in the reply)") {
        ScratchDir dir("etcd-txn");
        EtcdCluster cluster(dir.path());
        Client client(options_for(cluster));
        auto attempt = [&](const std::string& value) {
            TxnRequest txn;
            txn.compare.push_back(Compare::created_at("lock/x", 0));
            txn.success.push_back(Operation::of(PutRequest{"lock/x", value}));
            txn.failure.push_back(Operation::of(key("lock/x")));
            return client.txn(txn);
        };
        auto first = attempt("one");
        REQUIRE(first);
        CHECK(first->succeeded);
        auto second = attempt("two");
        REQUIRE(second);
        CHECK_FALSE(second->succeeded);
        REQUIRE(second->responses.size() == 1);
        REQUIRE(second->responses[0].range.kvs.size() == 1);
        const KeyValue holder = second->responses[0].range.kvs[0];
        CHECK(holder.value == "one");

        // Release only if the key is still the one created at that revision.
        TxnRequest wrong;
        wrong.compare.push_back(Compare::created_at("lock/x", holder.create_revision + 1000));
        wrong.success.push_back(Operation::of(erase_key("lock/x")));
        auto refused = client.txn(wrong);
        REQUIRE(refused);
        CHECK_FALSE(refused->succeeded);
        TxnRequest right;
        right.compare.push_back(Compare::created_at("lock/x", holder.create_revision));
        right.success.push_back(Operation::of(erase_key("lock/x")));
        auto released = client.txn(right);
        REQUIRE(released);
        CHECK(released->succeeded);
        CHECK(released->responses.at(0).deleted == 1);

        // A range compare: true only while no key of the prefix exists.
        TxnRequest empty_prefix;
        empty_prefix.compare.push_back(Compare::none_in("q/", prefix_end("q/")));
        auto none = client.txn(empty_prefix);
        REQUIRE(none);
        CHECK(none->succeeded);
        REQUIRE(client.put({"q/1", "x"}));
        auto some = client.txn(empty_prefix);
        REQUIRE(some);
        CHECK_FALSE(some->succeeded);
    }

    TEST_CASE("leases: a key lives with its lease; keepalive on a revoked lease says lost") {
        ScratchDir dir("etcd-lease");
        EtcdCluster cluster(dir.path());
        Client client(options_for(cluster));
        auto lease = client.lease_grant(5);
        REQUIRE(lease);
        REQUIRE(client.put({"held", "me", *lease}));
        auto kept = client.lease_keepalive(*lease);
        REQUIRE(kept);
        CHECK(*kept == 5);
        auto left = client.lease_time_to_live(*lease);
        REQUIRE(left);
        CHECK(*left > 0);
        REQUIRE(client.lease_revoke(*lease));
        auto gone = client.range(key("held"));
        REQUIRE(gone);
        CHECK(gone->kvs.empty());
        auto lost = client.lease_keepalive(*lease);
        REQUIRE_FALSE(lost);
        CHECK(lost.error().code == ErrorCode::lost);
        auto ttl = client.lease_time_to_live(*lease);
        REQUIRE_FALSE(ttl);
        CHECK(ttl.error().code == ErrorCode::lost);
        CHECK(client.lease_revoke(*lease));  // revoking twice is no error
        // A put on a lease that is gone fails.
        auto orphan = client.put({"held", "again", *lease});
        CHECK_FALSE(orphan);
    }

    TEST_CASE("grant_then_txn: the transaction sees the lease; a refused grant takes its puts back") {
        ScratchDir dir("etcd-grant-txn");
        EtcdCluster cluster(dir.path());
        Client client(options_for(cluster));
        const std::int64_t id = 0x1234abcd5678LL;
        TxnRequest put_on_lease;
        put_on_lease.compare.push_back(Compare::none_in("g/", prefix_end("g/")));
        put_on_lease.success.push_back(Operation::of(PutRequest{"g/1", "x", id}));
        auto done = client.grant_then_txn(id, 5, put_on_lease);
        REQUIRE(done);
        CHECK(done->succeeded);
        auto read = client.range(key("g/1"));
        REQUIRE(read);
        REQUIRE(read->kvs.size() == 1);
        CHECK(read->kvs.front().lease == id);
        CHECK(client.lease_keepalive(id));

        // The same id again: the grant is refused (the lease is someone's),
        // so what the transaction put on it is deleted and the caller told.
        TxnRequest second;
        second.success.push_back(Operation::of(PutRequest{"g/2", "y", id}));
        auto refused = client.grant_then_txn(id, 5, second);
        REQUIRE_FALSE(refused);
        CHECK(refused.error().code == ErrorCode::not_found);
        auto gone = client.range(key("g/2"));
        REQUIRE(gone);
        CHECK(gone->kvs.empty());
        // A transaction sent later: its answer is read before the next call.
        TxnRequest later;
        later.success.push_back(Operation::of(PutRequest{"g/3", "z"}));
        REQUIRE(client.txn_later(later));
        auto seen = client.range(key("g/3"));
        REQUIRE(seen);
        CHECK(seen->kvs.size() == 1);
    }

    TEST_CASE("watch: puts and deletes of a prefix arrive in order; a compacted start is cancelled") {
        ScratchDir dir("etcd-watch");
        EtcdCluster cluster(dir.path());
        Client client(options_for(cluster));
        WatchRequest request;
        request.key = "w/";
        request.range_end = prefix_end("w/");
        request.prev_kv = true;
        auto watch = client.watch(request);
        REQUIRE(watch);
        auto quiet = watch->next(milliseconds(50));
        REQUIRE(quiet);
        CHECK_FALSE(quiet->has_value());
        auto put_revision = client.put({"w/1", "a"});
        REQUIRE(put_revision);
        REQUIRE(client.erase(erase_key("w/1")));
        std::vector<WatchEvent> seen;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (seen.size() < 2 && std::chrono::steady_clock::now() < deadline) {
            auto batch = watch->next(milliseconds(500));
            REQUIRE(batch);
            if (*batch) seen.insert(seen.end(), (*batch)->events.begin(), (*batch)->events.end());
        }
        REQUIRE(seen.size() == 2);
        CHECK(seen[0].type == WatchEvent::Type::put);
        CHECK(seen[0].kv.key == "w/1");
        CHECK(seen[0].kv.create_revision == *put_revision);
        CHECK(seen[1].type == WatchEvent::Type::erase);
        REQUIRE(seen[1].prev_kv.has_value());
        CHECK(seen[1].prev_kv->value == "a");

        // Compact past the put: a watch from before is cancelled and names the compaction.
        auto now = client.put({"w/2", "b"});
        REQUIRE(now);
        const std::string compacted =
            cluster.post(0, "/v3/kv/compaction", "{\"revision\":\"" + std::to_string(*now) + "\",\"physical\":true}");
        REQUIRE(compacted.find("header") != std::string::npos);
        WatchRequest old = request;
        old.start_revision = *put_revision;
        auto stale = client.watch(old);
        REQUIRE(stale);
        auto cancelled = stale->next(milliseconds(3000));
        REQUIRE(cancelled);
        REQUIRE(cancelled->has_value());
        CHECK((*cancelled)->canceled);
        CHECK((*cancelled)->compact_revision == *now);
    }

    TEST_CASE("three members: calls fail over when the member in use is killed or paused") {
        ScratchDir dir("etcd-failover");
        EtcdCluster cluster(dir.path(), 3);
        const ClientOptions options = options_for(cluster, std::chrono::seconds(3));
        Client client(options);
        REQUIRE(client.put({"k", "1"}));
        const std::string first = client.endpoint().text;
        CHECK(first == cluster.endpoint(0));
        cluster.kill(0);
        auto after_kill = client.put({"k", "2"});
        REQUIRE(after_kill);
        CHECK(client.endpoint().text != first);
        // Pause the member now in use: the call moves on after attempt_timeout.
        int in_use = client.endpoint().text == cluster.endpoint(1) ? 1 : 2;
        cluster.pause(in_use);
        const auto started = std::chrono::steady_clock::now();
        auto after_pause = client.range(key("k"));
        cluster.resume(in_use);
        // One member of three is left running while the other is paused: no
        // quorum, so the read (linearizable) may fail; it must not hang.
        CHECK(std::chrono::steady_clock::now() - started < options.call_timeout + std::chrono::seconds(2));
        (void)after_pause;
        cluster.restart(0);
        REQUIRE(cluster.wait_writable(std::chrono::seconds(10)));
        auto value = client.range(key("k"));
        REQUIRE(value);
        REQUIRE(value->kvs.size() == 1);
        CHECK(value->kvs[0].value == "2");
        CHECK(cluster.leader() >= 0);
    }

    TEST_CASE("no member answers: an unavailable error naming the endpoint, within the call timeout") {
        ClientOptions options;
        options.endpoints = parse_endpoints("http://127.0.0.1:1").value();
        options.call_timeout = milliseconds(500);
        Client client(options);
        auto failed = client.range(key("k"));
        REQUIRE_FALSE(failed);
        CHECK(failed.error().code == ErrorCode::unavailable);
        CHECK(failed.error().message.find("127.0.0.1:1") != std::string::npos);
    }

    TEST_CASE("every member refuses the first connection: the call fails at once, saying so") {
        ClientOptions options;
        options.endpoints = parse_endpoints("http://127.0.0.1:1,http://127.0.0.1:2").value();
        options.call_timeout = std::chrono::seconds(20);
        Client client(options);
        const auto started = std::chrono::steady_clock::now();
        auto failed = client.range(key("k"));
        const auto took = std::chrono::steady_clock::now() - started;
        REQUIRE_FALSE(failed);
        CHECK(failed.error().code == ErrorCode::unavailable);
        CHECK_MESSAGE(failed.error().message.find("is etcd running there?") != std::string::npos, failed.error().message);
        // One round of the two members, not the twenty seconds of the call timeout.
        CHECK(took < std::chrono::seconds(5));
    }

    TEST_CASE("a client that has been answered rides out its only member's restart") {
        ScratchDir dir("etcd-restart");
        EtcdCluster cluster(dir.path(), 1);
        Client client(options_for(cluster, std::chrono::seconds(30)));
        REQUIRE(client.put({"k", "1"}));
        cluster.kill(0);
        // The member comes back while the next call keeps knocking.
        std::thread restarter([&] { cluster.restart(0); });
        auto after = client.put({"k", "2"});
        restarter.join();
        REQUIRE_MESSAGE(after, (after ? std::string() : after.error().message));
        auto value = client.range(key("k"));
        REQUIRE(value);
        REQUIRE(value->kvs.size() == 1);
        CHECK(value->kvs[0].value == "2");
    }
}
