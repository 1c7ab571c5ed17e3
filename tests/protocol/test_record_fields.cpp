// The engine's records on the wire: a LockRecord and an Identity survive
// encode then decode with every field intact, absent fields stay absent on the
// wire and after, and what a foreign writer may put in a record (a time that
// is not RFC 3339, a TTL beyond 64 bits) reads as documented.
#include "protocol/messages.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <limits>
#include <string>

using namespace lokt::protocol;
using lokt::Binding;
using lokt::Identity;
using lokt::LockRecord;
using lokt::WallTime;

namespace {

// 2026-09-21T14:13:20.123456789Z: nanoseconds that must not be rounded away.
const WallTime k_acquired{std::chrono::nanoseconds{1'790'000'000'123'456'789}};

LockRecord full_record(Binding binding) {
    LockRecord record;
    record.name = "deploy/prod";
    record.lock_id = "0123456789abcdef0123456789abcdef";
    record.owner = "alice";
    record.host = "ci-7";
    record.pid = 4242;
    record.pid_start = 987'654'321;
    record.agent_id = "agent-1a2b";
    record.acquired = k_acquired;
    record.ttl_sec = 300;
    record.expires_at = k_acquired + std::chrono::seconds(300);
    record.bound_to = binding;
    record.owner_explicit = true;
    record.boot_id = "4f3c2b1a-0000-4000-8000-123456789abc";
    record.fence = 17;
    record.handle = "7d2e9a41c03b58f6e1a2b3c4d5e6f708";
    return record;
}

// The record as a renew reply carries it, and read back from that line.
std::string renew_line(const LockRecord& record) { return encode(Reply{1, RenewReply{record}}); }

LockRecord read_back(const std::string& line) {
    auto reply = decode_reply(line);
    REQUIRE_MESSAGE(reply.ok(), reply.error().message);
    return std::get<RenewReply>(reply->body).lock;
}

}  // namespace

TEST_SUITE("record_fields") {
    TEST_CASE("a full lock record round-trips with every field") {
        const struct {
            Binding binding;
            const char* word;
        } cases[] = {{Binding::guard, "guard"}, {Binding::ttl, "ttl"}, {Binding::process, "process"}};
        for (const auto& c : cases) {
            CAPTURE(c.word);
            const LockRecord record = full_record(c.binding);
            const std::string line = renew_line(record);
            CHECK(line ==
                  "{\"id\":1,\"op\":\"renew\",\"ok\":true,\"lock\":{\"name\":\"deploy/prod\","
                  "\"lock_id\":\"0123456789abcdef0123456789abcdef\",\"owner\":\"alice\",\"host\":\"ci-7\",\"pid\":4242,"
                  "\"pid_start\":987654321,\"agent_id\":\"agent-1a2b\",\"acquired_ts\":\"2026-09-21T14:13:20.123456789Z\","
                  "\"ttl_sec\":300,\"expires_at\":\"2026-09-21T14:18:20.123456789Z\",\"bound_to\":\"" +
                      std::string(c.word) +
                      "\",\"owner_explicit\":true,\"boot_id\":\"4f3c2b1a-0000-4000-8000-123456789abc\",\"fence\":17,"
                      "\"handle\":\"7d2e9a41c03b58f6e1a2b3c4d5e6f708\"}}\n");
            CHECK(read_back(line) == record);
        }
    }

    TEST_CASE("a record without its optional fields leaves them out on the wire and after") {
        LockRecord record;
        record.name = "build";
        record.lock_id = "fedcba9876543210fedcba9876543210";
        record.owner = "bob";
        record.host = "laptop";
        record.pid = 7;

        const std::string line = renew_line(record);
        CHECK(line ==
              "{\"id\":1,\"op\":\"renew\",\"ok\":true,\"lock\":{\"name\":\"build\","
              "\"lock_id\":\"fedcba9876543210fedcba9876543210\",\"owner\":\"bob\",\"host\":\"laptop\",\"pid\":7,"
              "\"acquired_ts\":\"\"}}\n");
        const LockRecord back = read_back(line);
        CHECK(back == record);
        CHECK(back.acquired.time_since_epoch().count() == 0);
        CHECK(back.ttl_sec == 0);
        CHECK(back.expires_at == std::nullopt);
        CHECK(back.bound_to == std::nullopt);
    }

    TEST_CASE("the wire has no version: a record read from it is version 1") {
        LockRecord record = full_record(Binding::ttl);
        record.version = 2;
        CHECK(read_back(renew_line(record)).version == 1);
    }

    TEST_CASE("a timestamp that is not RFC 3339 reads as absent") {
        const LockRecord record =
            read_back(R"({"id":1,"op":"renew","ok":true,"lock":{"name":"build","owner":"o","host":"h","pid":1,)"
                      R"("acquired_ts":"yesterday","expires_at":"soon"}})");
        CHECK(record.acquired.time_since_epoch().count() == 0);
        CHECK(record.expires_at == std::nullopt);
    }

    TEST_CASE("a TTL beyond 64-bit seconds reads as the longest one and re-encodes to itself") {
        const LockRecord record =
            read_back(R"({"id":1,"op":"renew","ok":true,"lock":{"name":"build","owner":"o","host":"h","pid":1,)"
                      R"("acquired_ts":"2026-09-21T14:13:20Z","ttl_sec":18446744073709551615}})");
        CHECK(record.ttl_sec == std::numeric_limits<std::int64_t>::max());
        CHECK(read_back(renew_line(record)) == record);
    }

    TEST_CASE("an identity round-trips with and without its optional fields") {
        Identity identity;
        identity.owner = "alice";
        identity.owner_explicit = true;
        identity.host = "ci-7";
        identity.pid = 4242;
        identity.pid_start = 987'654'321;
        identity.agent_id = "agent-1a2b";
        FreezeRequest request{"/r", "deploy", 60000, false, identity};

        std::string line = encode(Request{1, request});
        CHECK(line.find(R"("identity":{"owner":"alice","owner_explicit":true,"host":"ci-7","pid":4242,)"
                        R"("pid_start":987654321,"agent_id":"agent-1a2b"})") != std::string::npos);
        auto decoded = decode_request(line.substr(0, line.size() - 1));
        REQUIRE_MESSAGE(decoded.ok(), decoded.error().message);
        CHECK(std::get<FreezeRequest>(decoded->body).identity == identity);

        request.identity.owner_explicit = false;
        request.identity.pid_start.reset();
        request.identity.agent_id.clear();
        line = encode(Request{1, request});
        CHECK(line.find(R"("identity":{"owner":"alice","owner_explicit":false,"host":"ci-7","pid":4242})") != std::string::npos);
        decoded = decode_request(line.substr(0, line.size() - 1));
        REQUIRE_MESSAGE(decoded.ok(), decoded.error().message);
        CHECK(std::get<FreezeRequest>(decoded->body).identity == request.identity);
    }
}  // TEST_SUITE
