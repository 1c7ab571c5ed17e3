// Every message survives encode then decode unchanged, and the encoder's output
// has the shape the framing needs (one line, fixed key order).
#include "protocol/messages.hpp"
#include "tests/protocol/examples.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <string>

using namespace lokt::protocol;
using namespace lokt::protocol::test;
using lokt::AcquireResult;
using lokt::ErrorCode;
using lokt::Identity;
using lokt::LockRecord;

namespace {

// Decodes a line as the side that would receive it.
Example decode_example(const Example& original, const std::string& line) {
    if (std::holds_alternative<Request>(original)) {
        auto decoded = decode_request(line);
        REQUIRE_MESSAGE(decoded.ok(), decoded.error().message);
        return std::move(decoded).value();
    }
    auto decoded = decode_server_message(line);
    REQUIRE_MESSAGE(decoded.ok(), decoded.error().message);
    return std::move(decoded).value();
}

void check_round_trip(const Example& example) {
    const std::string line = encode_example(example);
    CAPTURE(line);
    REQUIRE(!line.empty());
    CHECK(line.back() == '\n');
    CHECK(line.find('\n') == line.size() - 1);
    const Example decoded = decode_example(example, line.substr(0, line.size() - 1));
    CHECK(decoded == example);
    CHECK(encode_example(decoded) == line);
}

}  // namespace

TEST_CASE("every example message round-trips through encode and decode") {
    for (const auto& file : golden_files()) {
        CAPTURE(file.name);
        for (const auto& example : file.messages) check_round_trip(example);
    }
}

TEST_CASE("messages with only their required fields round-trip") {
    Identity identity;
    identity.owner = "o";
    identity.host = "h";
    identity.pid = 1;
    AcquireRequest acquire;
    acquire.root = "/";
    acquire.name = "n";
    acquire.identity = identity;
    check_round_trip(Request{1, acquire});
    check_round_trip(Request{1, HelloRequest{{1, 1}, "", "", {}}});
    check_round_trip(Request{1, StatusRequest{"/r", "", false, std::nullopt}});
    check_round_trip(Request{1, StatusRequest{"/r", "", false, identity}});
    check_round_trip(Request{18446744073709551615ULL, DaemonStatusRequest{}});
    // An older client sends release and renew without an identity.
    check_round_trip(Request{1, ReleaseRequest{"/r", "n", k_lock_id, std::nullopt, std::nullopt, {}}});
    check_round_trip(Request{1, ReleaseRequest{"/r", "n", k_lock_id, std::nullopt, identity, {}}});
    check_round_trip(Request{1, RenewRequest{"/r", "n", k_lock_id, 1000, std::nullopt}});
    check_round_trip(Request{1, RenewRequest{"/r", "n", k_lock_id, 1000, identity}});

    LockRecord bare;
    bare.name = "n";
    check_round_trip(ServerMessage{Reply{1, AcquireReply{bare, AcquireResult::Outcome::acquired}}});
    check_round_trip(ServerMessage{Reply{0, ErrorReply{}}});
    check_round_trip(ServerMessage{Progress{1, 0, 0, std::nullopt, std::nullopt}});
    check_round_trip(ServerMessage{Reply{2, StatusReply{}}});
    DaemonStatusReply daemon;
    daemon.daemon_pid = 1;
    check_round_trip(ServerMessage{Reply{2, daemon}});
}

TEST_CASE("a record from another tool with odd values round-trips as it is") {
    LockRecord odd;
    odd.name = "x";
    odd.pid = -1;
    odd.ttl_sec = 0;
    check_round_trip(ServerMessage{Reply{1, RenewReply{odd}}});
    odd.pid = std::numeric_limits<std::int64_t>::min();
    check_round_trip(ServerMessage{Reply{1, RenewReply{odd}}});
}

TEST_CASE("text outside ASCII and control characters survive a round trip") {
    AcquireRequest acquire;
    acquire.root = "/home/zoë/日本語/.lokt";
    acquire.name = "build";
    acquire.identity.owner = "agent \"quoted\" \\ \t\n\x01";
    acquire.identity.host = "höst";
    acquire.identity.pid = 1;
    check_round_trip(Request{1, acquire});
}

TEST_CASE("encode writes compact JSON with keys in a fixed order") {
    ReleaseRequest release{k_root, "build", k_lock_id, {}, {}, {}};
    CHECK(encode(Request{7, release}) ==
          "{\"id\":7,\"op\":\"release\",\"root\":\"/home/dev/repo/.git/lokt\",\"name\":\"build\","
          "\"lock_id\":\"035b9c0ac2e782764cda6a0e58b77cf8\"}\n");
    CHECK(encode(Reply{7, ReleaseReply{}}) == "{\"id\":7,\"op\":\"release\",\"ok\":true}\n");
    ErrorReply error;
    error.code = ErrorCode::usage;
    error.message = "bad";
    CHECK(encode(Reply{0, error}) == "{\"id\":0,\"ok\":false,\"error\":{\"code\":\"usage\",\"message\":\"bad\"}}\n");
}

TEST_CASE("encode replaces invalid UTF-8 instead of failing") {
    ErrorReply error;
    error.code = ErrorCode::usage;
    error.message = "bad byte \xff here";
    const std::string line = encode(Reply{3, error});
    CHECK(line.find("bad byte \xef\xbf\xbd here") != std::string::npos);
    auto decoded = decode_reply(line);
    REQUIRE(decoded.ok());
    CHECK(std::get<ErrorReply>(decoded->body).message == "bad byte \xef\xbf\xbd here");
}

TEST_CASE("Request::op and Reply::op follow the body") {
    CHECK(Request{1, HelloRequest{}}.op() == Op::hello);
    CHECK(Request{1, ShutdownRequest{}}.op() == Op::shutdown);
    CHECK(Reply{1, HelloReply{}}.op() == Op::hello);
    CHECK(Reply{1, ShutdownReply{}}.op() == Op::shutdown);
    CHECK(Reply{1, UnlockManyReply{}}.op() == Op::unlock_many);
    ErrorReply error;
    CHECK_FALSE(Reply{1, error}.op().has_value());
    error.op = Op::freeze;
    CHECK(Reply{1, error}.op() == Op::freeze);
    CHECK_FALSE(Reply{1, error}.ok());
    CHECK(Reply{1, ReleaseReply{}}.ok());
}

TEST_CASE("op words round-trip") {
    for (int i = 0; i <= static_cast<int>(Op::etcd_hold); ++i) {
        const auto op = static_cast<Op>(i);
        CHECK(op_from_string(to_string(op)) == op);
    }
    CHECK_FALSE(op_from_string("Hello").has_value());
    CHECK_FALSE(op_from_string("").has_value());
}

TEST_CASE("version negotiation picks the highest common version") {
    CHECK(negotiate_version({1, 1}, {1, 1}).value() == 1);
    CHECK(negotiate_version({1, 5}, {3, 9}).value() == 5);
    CHECK(negotiate_version({4, 9}, {3, 6}).value() == 6);
    CHECK(negotiate_version({2, 2}, {1, 3}).value() == 2);
}

TEST_CASE("version ranges without overlap are an unsupported error naming both") {
    const auto result = negotiate_version({2, 3}, {1, 1});
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::unsupported);
    CHECK(result.error().message ==
          "no common protocol version: the client speaks 2 to 3, the daemon 1 to 1; "
          "install the same lokt version for both");
    CHECK_FALSE(negotiate_version({1, 1}, {2, 4}).ok());
}

TEST_CASE("peek_request_header reads what it can of a refused request") {
    CHECK(peek_request_header("{\"id\":5,\"op\":\"acquire\",\"root\":\"x\"}").id == 5);
    CHECK(peek_request_header("{\"id\":5,\"op\":\"acquire\"}").op == Op::acquire);
    CHECK_FALSE(peek_request_header("{\"id\":5,\"op\":\"nope\"}").op.has_value());
    CHECK(peek_request_header("{\"id\":-5,\"op\":\"hello\"}").id == 0);
    CHECK(peek_request_header("{\"id\":\"5\"}").id == 0);
    CHECK(peek_request_header("not json").id == 0);
    CHECK_FALSE(peek_request_header("[1,2]").op.has_value());
}

TEST_CASE("error_reply_for addresses the reply to the refused request") {
    const std::string line = "{\"id\":9,\"op\":\"freeze\",\"root\":\"/r\",\"name\":\"deploy\"}";
    const auto decoded = decode_request(line);
    REQUIRE_FALSE(decoded.ok());
    const Reply reply = error_reply_for(line, decoded.error());
    CHECK(reply.id == 9);
    CHECK(reply.op() == Op::freeze);
    CHECK(encode(reply) ==
          "{\"id\":9,\"op\":\"freeze\",\"ok\":false,\"error\":{\"code\":\"usage\","
          "\"message\":\"invalid request: missing field \\\"ttl_ms\\\"\"}}\n");

    const Reply garbage = error_reply_for("}{", decode_request("}{").error());
    CHECK(garbage.id == 0);
    CHECK_FALSE(garbage.op().has_value());
}

TEST_CASE("make_audit_event keeps the audit line's keys in order, compacted") {
    const auto event = make_audit_event(4, R"({ "ts": "t", "event": "acquire", "extra": {"b": 1, "a": 2} })");
    REQUIRE(event.ok());
    CHECK(event->id == 4);
    CHECK(event->audit == R"({"ts":"t","event":"acquire","extra":{"b":1,"a":2}})");
    CHECK(encode(event.value()) ==
          "{\"id\":4,\"op\":\"subscribe_audit\",\"event\":true,"
          "\"audit\":{\"ts\":\"t\",\"event\":\"acquire\",\"extra\":{\"b\":1,\"a\":2}}}\n");
}

TEST_CASE("make_audit_event refuses lines that are not JSON objects") {
    for (const char* line : {"", "{", "[1]", "\"text\"", "{\"ts\":1} trailing", "null"}) {
        CAPTURE(line);
        const auto event = make_audit_event(1, line);
        REQUIRE_FALSE(event.ok());
        CHECK(event.error().code == ErrorCode::corrupt);
        CHECK(event.error().message == "audit line is not a JSON object");
    }
}

TEST_CASE("an audit event built by hand from a non-object is sent as null and refused on receipt") {
    const std::string line = encode(AuditEvent{4, "not json"});
    CHECK(line == "{\"id\":4,\"op\":\"subscribe_audit\",\"event\":true,\"audit\":null}\n");
    const auto decoded = decode_server_message(line);
    REQUIRE_FALSE(decoded.ok());
    CHECK(decoded.error().message == "invalid message from daemon: field \"audit\" must be an object, got null");
}

TEST_CASE("decode_server_message tells replies, progress and events apart") {
    auto reply = decode_server_message("{\"id\":3,\"op\":\"shutdown\",\"ok\":true}");
    REQUIRE(reply.ok());
    CHECK(std::holds_alternative<Reply>(reply.value()));
    auto progress = decode_server_message(
        "{\"id\":3,\"op\":\"acquire\",\"progress\":true,\"position\":1,"
        "\"queue_length\":1}");
    REQUIRE(progress.ok());
    CHECK(std::get<Progress>(progress.value()) == Progress{3, 1, 1, std::nullopt, std::nullopt});
    auto event = decode_server_message("{\"id\":3,\"op\":\"subscribe_audit\",\"event\":true,\"audit\":{}}");
    REQUIRE(event.ok());
    CHECK(std::get<AuditEvent>(event.value()) == AuditEvent{3, "{}"});
}

TEST_CASE("decode_reply refuses progress and event lines") {
    auto progress = decode_reply("{\"id\":3,\"op\":\"acquire\",\"progress\":true,\"position\":1,\"queue_length\":1}");
    REQUIRE_FALSE(progress.ok());
    CHECK(progress.error().message == "invalid message from daemon: expected a reply, got a progress message");
    auto event = decode_reply("{\"id\":3,\"op\":\"subscribe_audit\",\"event\":true,\"audit\":{}}");
    REQUIRE_FALSE(event.ok());
    CHECK(event.error().message == "invalid message from daemon: expected a reply, got an audit event");
}

TEST_CASE("decoders ignore unknown fields") {
    auto request = decode_request("{\"id\":1,\"op\":\"shutdown\",\"future\":{\"x\":[1,2]},\"also\":null}");
    REQUIRE(request.ok());
    CHECK(request->op() == Op::shutdown);
    auto reply = decode_reply("{\"id\":1,\"op\":\"release\",\"ok\":true,\"extra\":1}");
    REQUIRE(reply.ok());
    CHECK(reply->op() == Op::release);
}

TEST_CASE("a repeated key counts once, with its last value") {
    auto request = decode_request(R"({"id":1,"id":2,"op":"hello","op":"shutdown"})");
    REQUIRE(request.ok());
    CHECK(request->id == 2);
    CHECK(request->op() == Op::shutdown);
}

TEST_CASE("null reads as absent for optional fields") {
    auto request = decode_request(
        "{\"id\":1,\"op\":\"acquire\",\"root\":\"/r\",\"name\":\"n\",\"mode\":\"guard\",\"ttl_ms\":null,"
        "\"wait\":null,\"identity\":{\"owner\":\"o\",\"host\":\"h\",\"pid\":1,\"agent_id\":null},"
        "\"nested_lock_id\":null}");
    REQUIRE_MESSAGE(request.ok(), request.error().message);
    const auto& acquire = std::get<AcquireRequest>(request->body);
    CHECK_FALSE(acquire.ttl_ms.has_value());
    CHECK_FALSE(acquire.wait);
    CHECK(acquire.identity.agent_id.empty());
}

TEST_CASE("a manual acquire with a TTL needs no bound pid; a wait without timeout keeps the default") {
    auto request = decode_request(
        "{\"id\":1,\"op\":\"acquire\",\"root\":\"/r\",\"name\":\"db\",\"mode\":\"manual\",\"ttl_ms\":600000,"
        "\"wait\":true,\"identity\":{\"owner\":\"o\",\"host\":\"h\",\"pid\":1}}");
    REQUIRE_MESSAGE(request.ok(), request.error().message);
    const auto& acquire = std::get<AcquireRequest>(request->body);
    CHECK(acquire.mode == AcquireMode::manual);
    CHECK(acquire.ttl_ms == 600000U);
    CHECK_FALSE(acquire.bound_pid.has_value());
    CHECK_FALSE(acquire.timeout_ms.has_value());
}

TEST_CASE("error replies with codes of every kind round-trip") {
    for (const auto code : {ErrorCode::held, ErrorCode::frozen, ErrorCode::timeout, ErrorCode::not_found, ErrorCode::not_owner,
                            ErrorCode::usage, ErrorCode::io, ErrorCode::corrupt, ErrorCode::unsupported, ErrorCode::lost,
                            ErrorCode::unavailable, ErrorCode::internal}) {
        ErrorReply error;
        error.op = Op::acquire;
        error.code = code;
        error.message = "m";
        check_round_trip(ServerMessage{Reply{1, error}});
    }
}

TEST_CASE("an acquire and a release of several names carry their group, and a deadlock refusal its code") {
    Identity identity;
    identity.owner = "o";
    identity.host = "h";
    identity.pid = 1;
    AcquireRequest acquire;
    acquire.root = "/";
    acquire.name = "n";
    acquire.identity = identity;
    acquire.group = k_lock_id;
    check_round_trip(Request{1, acquire});
    CHECK(encode(Request{1, acquire}).find(std::string("\"group\":\"") + k_lock_id + "\"") != std::string::npos);
    ReleaseRequest release{"/r", "n", k_lock_id, std::nullopt, identity, k_lock_id};
    check_round_trip(Request{1, release});
    // Not 32 hex digits: refused.
    CHECK_FALSE(decode_request(R"({"id":1,"op":"release","root":"/r","name":"n","lock_id":")" + std::string(k_lock_id) +
                               R"(","group":"nope"})")
                    .ok());
    CHECK(lokt::error_code_from_string("deadlock") == ErrorCode::deadlock);
    CHECK(lokt::exit_code_for(ErrorCode::deadlock) == 5);
    ErrorReply deadlock;
    deadlock.code = ErrorCode::deadlock;
    deadlock.message = "deadlock: waiting for lock \"a\" would never end:\n  ...";
    check_round_trip(ServerMessage{Reply{1, deadlock}});
}
