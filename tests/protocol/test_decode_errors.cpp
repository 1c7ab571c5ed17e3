// Malformed input never throws: each case below becomes one error whose
// message names what is wrong, checked word for word because clients print it.
#include "protocol/messages.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace lokt::protocol;
using lokt::ErrorCode;
using lokt::Result;

namespace {

struct Case {
    std::string line;
    std::string message;
};

// A valid acquire with `fields` spliced in place of the usual ones after "op".
std::string acquire_with(const std::string& fields) { return "{\"id\":4,\"op\":\"acquire\"," + fields + "}"; }

const std::string k_identity = R"("identity":{"owner":"o","host":"h","pid":10})";
const std::string k_guard = R"("root":"/r","name":"build","mode":"guard",)" + k_identity;

void check_request_error(const Case& example) {
    CAPTURE(example.line);
    Result<Request> result = lokt::make_error(ErrorCode::internal, "not run");
    CHECK_NOTHROW(result = decode_request(example.line));
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::usage);
    CHECK(result.error().message == "invalid request: " + example.message);
}

void check_server_error(const Case& example) {
    CAPTURE(example.line);
    Result<ServerMessage> result = lokt::make_error(ErrorCode::usage, "not run");
    CHECK_NOTHROW(result = decode_server_message(example.line));
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::internal);
    CHECK(result.error().message == "invalid message from daemon: " + example.message);
}

}  // namespace

TEST_CASE("the baseline acquire used below is valid") {
    auto request = decode_request(acquire_with(k_guard));
    CHECK_MESSAGE(request.ok(), request.error().message);
}

// The wording after "not valid JSON: " is nlohmann's; only its position part
// is checked so that a library upgrade does not fail these tests.
TEST_CASE("malformed JSON is a usage error, not an exception") {
    const Case cases[] = {
        {"", "line 1, column 1"},
        {"{x", "line 1, column 2"},
        {"{\"id\":1,", "line 1, column 9"},
        {"{\"id\":1} {}", "line 1, column 10"},
        {"{\"op\":\"\xff\"}", "line 1, column 8"},
        {"{\"id\":1e400}", "1e400"},
    };
    for (const auto& example : cases) {
        CAPTURE(example.line);
        Result<Request> result = lokt::make_error(ErrorCode::internal, "not run");
        CHECK_NOTHROW(result = decode_request(example.line));
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == ErrorCode::usage);
        const std::string& message = result.error().message;
        CHECK(message.rfind("invalid request: not valid JSON: ", 0) == 0);
        CHECK(message.find(example.message) != std::string::npos);
        CHECK(message.find("[json.exception") == std::string::npos);
    }
}

// Found by fuzz_protocol: nlohmann quotes the raw bytes it stopped at.
TEST_CASE("an error message quoting invalid UTF-8 is made valid, so the error reply round-trips") {
    const std::string line = "\xff\xff{\"id\":16}";
    const auto result = decode_request(line);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message.find('\xff') == std::string::npos);
    CHECK(result.error().message.find("\xef\xbf\xbd") != std::string::npos);
    const Reply reply = error_reply_for(line, result.error());
    const std::string encoded = encode(reply);
    const auto decoded = decode_reply(std::string_view(encoded).substr(0, encoded.size() - 1));
    REQUIRE(decoded.ok());
    CHECK(decoded.value() == reply);
}

TEST_CASE("a long bad token is quoted only in part") {
    const std::string line = "{\"id\":tru" + std::string(10000, 'e') + "}";
    const auto result = decode_request(line);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message.size() < 300);
}

TEST_CASE("a request must be an object with a numeric id and a known op") {
    const Case cases[] = {
        {"[1,2]", "a message must be a JSON object, got an array"},
        {"\"hello\"", "a message must be a JSON object, got \"hello\""},
        {"42", "a message must be a JSON object, got 42"},
        {"{\"op\":\"hello\"}", "missing field \"id\""},
        {"{\"id\":\"1\",\"op\":\"hello\"}", "field \"id\" must be an integer of at least 1, got \"1\""},
        {"{\"id\":-1,\"op\":\"hello\"}", "field \"id\" must be an integer of at least 1, got -1"},
        {"{\"id\":1.5,\"op\":\"hello\"}", "field \"id\" must be an integer of at least 1, got 1.5"},
        {"{\"id\":0,\"op\":\"hello\"}", "field \"id\" must be an integer of at least 1, got 0"},
        {"{\"id\":18446744073709551616,\"op\":\"hello\"}",
         "field \"id\" must be an integer of at least 1, got 1.8446744073709552e+19"},
        {"{\"id\":null,\"op\":\"hello\"}", "field \"id\" must be an integer, got null"},
        {"{\"id\":1}", "missing field \"op\""},
        {"{\"id\":1,\"op\":7}", "field \"op\" must be a string, got 7"},
        {"{\"id\":1,\"op\":\"frobnicate\"}",
         "unknown op \"frobnicate\"; known ops: \"hello\", \"acquire\", \"release\", \"renew\", \"unlock\", "
         "\"unlock_many\", \"status\", \"freeze\", \"unfreeze\", \"subscribe_audit\", \"unsubscribe\", "
         "\"daemon_status\", \"shutdown\" or \"etcd_hold\""},
        {"{\"id\":1,\"op\":\"" + std::string(100, 'x') + "\"}",
         "unknown op \"" + std::string(64, 'x') +
             "\"...; known ops: \"hello\", \"acquire\", \"release\", \"renew\", "
             "\"unlock\", \"unlock_many\", \"status\", \"freeze\", \"unfreeze\", \"subscribe_audit\", \"unsubscribe\", "
             "\"daemon_status\", \"shutdown\" or \"etcd_hold\""},
    };
    for (const auto& example : cases) check_request_error(example);
}

TEST_CASE("hello: version range and strings") {
    const Case cases[] = {
        {R"({"id":1,"op":"hello","protocol_max":1,"client_version":"0.1.0"})", "missing field \"protocol_min\""},
        {R"({"id":1,"op":"hello","protocol_min":0,"protocol_max":1,"client_version":"0.1.0"})",
         "field \"protocol_min\" must be an integer from 1 to 4294967295, got 0"},
        {R"({"id":1,"op":"hello","protocol_min":1,"protocol_max":4294967296,"client_version":"0.1.0"})",
         "field \"protocol_max\" must be an integer from 1 to 4294967295, got 4294967296"},
        {R"({"id":1,"op":"hello","protocol_min":3,"protocol_max":2,"client_version":"0.1.0"})",
         "field \"protocol_max\" must not be less than \"protocol_min\""},
        {R"({"id":1,"op":"hello","protocol_min":1,"protocol_max":1})", "missing field \"client_version\""},
        {R"({"id":1,"op":"hello","protocol_min":1,"protocol_max":1,"client_version":"0.1.0","capabilities":"progress"})",
         "field \"capabilities\" must be an array of strings, got \"progress\""},
        {R"({"id":1,"op":"hello","protocol_min":1,"protocol_max":1,"client_version":"0.1.0","capabilities":["a",2]})",
         "field \"capabilities[1]\" must be a string, got 2"},
    };
    for (const auto& example : cases) check_request_error(example);
}

TEST_CASE("root: required, absolute, bounded") {
    const Case cases[] = {
        {acquire_with(R"("name":"build","mode":"guard",)" + k_identity), "missing field \"root\""},
        {acquire_with(R"("root":"repo/.lokt","name":"build","mode":"guard",)" + k_identity),
         "field \"root\" must be an absolute path, got \"repo/.lokt\""},
        {acquire_with(R"("root":"","name":"build","mode":"guard",)" + k_identity),
         "field \"root\" must be an absolute path, got \"\""},
        {acquire_with(R"("root":"./x","name":"build","mode":"guard",)" + k_identity),
         "field \"root\" must be an absolute path, got \"./x\""},
        {acquire_with(R"("root":["/r"],"name":"build","mode":"guard",)" + k_identity),
         "field \"root\" must be a string, got an array"},
        {acquire_with(R"("root":"/r\u0000/x","name":"build","mode":"guard",)" + k_identity),
         "field \"root\" must not contain a NUL byte"},
        {acquire_with(R"("root":"/)" + std::string(4096, 'a') + R"(","name":"build","mode":"guard",)" + k_identity),
         "field \"root\" must be at most 4096 bytes long"},
        {R"({"id":1,"op":"status","root":"relative"})", "field \"root\" must be an absolute path, got \"relative\""},
        {R"({"id":1,"op":"subscribe_audit"})", "missing field \"root\""},
        {R"({"id":1,"op":"release","name":"b","lock_id":"035b9c0ac2e782764cda6a0e58b77cf8"})", "missing field \"root\""},
    };
    for (const auto& example : cases) check_request_error(example);
}

TEST_CASE("acquire: fields and their combinations") {
    const Case cases[] = {
        {acquire_with(R"("root":"/r","mode":"guard",)" + k_identity), "missing field \"name\""},
        {acquire_with(R"("root":"/r","name":"build",)" + k_identity), "missing field \"mode\""},
        {acquire_with(R"("root":"/r","name":"build","mode":"shared",)" + k_identity),
         "field \"mode\" must be \"guard\" or \"manual\", got \"shared\""},
        {acquire_with(k_guard + R"(,"ttl_ms":"5m")"), "field \"ttl_ms\" must be an integer of at least 0, got \"5m\""},
        {acquire_with(k_guard + R"(,"ttl_ms":-1000)"), "field \"ttl_ms\" must be an integer of at least 0, got -1000"},
        {acquire_with(k_guard + R"(,"wait":"yes")"), "field \"wait\" must be true or false, got \"yes\""},
        {acquire_with(k_guard + R"(,"timeout_ms":1000)"), "field \"timeout_ms\" needs \"wait\": true"},
        {acquire_with(k_guard + R"(,"timeout_ms":-1,"wait":true)"),
         "field \"timeout_ms\" must be an integer of at least 0, got -1"},
        {acquire_with(k_guard + R"(,"bound_pid":5)"), "field \"bound_pid\" is only for a manual acquire without \"ttl_ms\""},
        {acquire_with(R"("root":"/r","name":"db","mode":"manual",)" + k_identity),
         "missing field \"bound_pid\" (a manual acquire without \"ttl_ms\" is bound to a process)"},
        {acquire_with(R"("root":"/r","name":"db","mode":"manual","ttl_ms":60000,"bound_pid":5,)" + k_identity),
         "field \"bound_pid\" is only for a manual acquire without \"ttl_ms\""},
        {acquire_with(R"("root":"/r","name":"db","mode":"manual","bound_pid":0,)" + k_identity),
         "field \"bound_pid\" must be an integer from 1 to 2147483647, got 0"},
        {acquire_with(k_guard + R"(,"bound_pid_start":5)"), "field \"bound_pid_start\" needs \"bound_pid\""},
        {acquire_with(k_guard + R"(,"nested_lock_id":"ABC")"),
         "field \"nested_lock_id\" must be 32 lowercase hex digits, got \"ABC\""},
        {acquire_with(k_guard + R"(,"nested_lock_id":"035B9C0AC2E782764CDA6A0E58B77CF8")"),
         "field \"nested_lock_id\" must be 32 lowercase hex digits, got \"035B9C0AC2E782764CDA6A0E58B77CF8\""},
    };
    for (const auto& example : cases) check_request_error(example);
}

TEST_CASE("identity: who is asking must be complete") {
    const std::string prefix = R"("root":"/r","name":"build","mode":"guard")";
    const Case cases[] = {
        {acquire_with(prefix), "missing field \"identity\""},
        {acquire_with(prefix + R"(,"identity":"agent-1")"), "field \"identity\" must be an object, got \"agent-1\""},
        {acquire_with(prefix + R"(,"identity":{"host":"h","pid":10})"), "missing field \"identity.owner\""},
        {acquire_with(prefix + R"(,"identity":{"owner":"","host":"h","pid":10})"), "field \"identity.owner\" must not be empty"},
        {acquire_with(prefix + R"(,"identity":{"owner":"o","pid":10})"), "missing field \"identity.host\""},
        {acquire_with(prefix + R"(,"identity":{"owner":"o","host":"h"})"), "missing field \"identity.pid\""},
        {acquire_with(prefix + R"(,"identity":{"owner":"o","host":"h","pid":0})"),
         "field \"identity.pid\" must be an integer from 1 to 2147483647, got 0"},
        {acquire_with(prefix + R"(,"identity":{"owner":"o","host":"h","pid":2147483648})"),
         "field \"identity.pid\" must be an integer from 1 to 2147483647, got 2147483648"},
        {acquire_with(prefix + R"(,"identity":{"owner":"o","host":"h","pid":1,"owner_explicit":1})"),
         "field \"identity.owner_explicit\" must be true or false, got 1"},
        {acquire_with(prefix + R"(,"identity":{"owner":"o","host":"h","pid":1,"pid_start":-4})"),
         "field \"identity.pid_start\" must be an integer of at least 0, got -4"},
        {acquire_with(prefix + R"(,"identity":{"owner":"o","host":"h","pid":1,"agent_id":{}})"),
         "field \"identity.agent_id\" must be a string, got an object"},
    };
    for (const auto& example : cases) check_request_error(example);
}

TEST_CASE("release, renew, unlock, unlock_many") {
    const Case cases[] = {
        {R"({"id":1,"op":"release","root":"/r","name":"b"})", "missing field \"lock_id\""},
        {R"({"id":1,"op":"release","root":"/r","name":"b","lock_id":""})",
         "field \"lock_id\" must be 32 lowercase hex digits, got \"\""},
        {R"({"id":1,"op":"renew","root":"/r","name":"b","lock_id":"035b9c0ac2e782764cda6a0e58b77cf8"})",
         "missing field \"ttl_ms\""},
        {R"({"id":1,"op":"renew","root":"/r","name":"b","lock_id":"035b9c0ac2e782764cda6a0e58b77cf8","ttl_ms":1.5})",
         "field \"ttl_ms\" must be an integer of at least 0, got 1.5"},
        {R"({"id":1,"op":"release","root":"/r","name":"b","lock_id":"035b9c0ac2e782764cda6a0e58b77cf8","identity":"o"})",
         "field \"identity\" must be an object, got \"o\""},
        {R"({"id":1,"op":"renew","root":"/r","name":"b","lock_id":"035b9c0ac2e782764cda6a0e58b77cf8","ttl_ms":1000,)"
         R"("identity":{"owner":"o","host":"h"}})",
         "missing field \"identity.pid\""},
        {R"({"id":1,"op":"unlock","root":"/r","name":"b","mode":"steal",)" + k_identity + "}",
         "field \"mode\" must be \"owner\", \"break_stale\" or \"force\", got \"steal\""},
        {R"({"id":1,"op":"unlock","root":"/r","name":"b","mode":"owner"})", "missing field \"identity\""},
        {R"({"id":1,"op":"unlock_many","root":"/r",)" + k_identity + "}", "missing field \"owner\" or \"all\": true"},
        {R"({"id":1,"op":"unlock_many","root":"/r","all":false,)" + k_identity + "}", "missing field \"owner\" or \"all\": true"},
        {R"({"id":1,"op":"unlock_many","root":"/r","owner":"o","all":true,)" + k_identity + "}",
         "fields \"owner\" and \"all\" exclude each other"},
        {R"({"id":1,"op":"unlock_many","root":"/r","owner":"",)" + k_identity + "}", "field \"owner\" must not be empty"},
    };
    for (const auto& example : cases) check_request_error(example);
}

TEST_CASE("status, freeze, unfreeze, subscriptions") {
    const Case cases[] = {
        {R"({"id":1,"op":"status","root":"/r","prune_expired":true})",
         "missing field \"identity\" (required with \"prune_expired\": true)"},
        {R"({"id":1,"op":"status","root":"/r","name":5})", "field \"name\" must be a string, got 5"},
        {R"({"id":1,"op":"freeze","root":"/r","name":"deploy",)" + k_identity + "}", "missing field \"ttl_ms\""},
        {R"({"id":1,"op":"freeze","root":"/r","name":"deploy","ttl_ms":"30m",)" + k_identity + "}",
         "field \"ttl_ms\" must be an integer of at least 0, got \"30m\""},
        {R"({"id":1,"op":"unfreeze","root":"/r","name":"deploy","force":"true",)" + k_identity + "}",
         "field \"force\" must be true or false, got \"true\""},
        {R"({"id":1,"op":"subscribe_audit","root":"/r","since":3600})", "field \"since\" must be a string, got 3600"},
        {R"({"id":1,"op":"unsubscribe"})", "missing field \"subscription\""},
        {R"({"id":1,"op":"unsubscribe","subscription":0})", "field \"subscription\" must be an integer of at least 1, got 0"},
    };
    for (const auto& example : cases) check_request_error(example);
}

TEST_CASE("only the first problem is reported") {
    check_request_error({R"({"id":1,"op":"freeze","root":"x","name":7})", "field \"root\" must be an absolute path, got \"x\""});
}

TEST_CASE("messages from the daemon are checked as strictly") {
    const std::string lock = R"({"name":"b","owner":"o","host":"h","pid":1,"acquired_ts":"t"})";
    const Case cases[] = {
        {"[]", "a message must be a JSON object, got an array"},
        {R"({"id":1})", "a message from the daemon needs one of the fields \"ok\", \"progress\" or \"event\""},
        {R"({"id":1,"ok":"yes"})", "field \"ok\" must be true or false, got \"yes\""},
        {R"({"ok":true,"op":"shutdown"})", "missing field \"id\""},
        {R"({"id":1,"ok":true})", "missing field \"op\""},
        {R"({"id":1,"ok":true,"op":"dance"})",
         "unknown op \"dance\"; known ops: \"hello\", \"acquire\", \"release\", \"renew\", \"unlock\", "
         "\"unlock_many\", \"status\", \"freeze\", \"unfreeze\", \"subscribe_audit\", \"unsubscribe\", "
         "\"daemon_status\", \"shutdown\" or \"etcd_hold\""},
        {R"({"id":1,"ok":false})", "missing field \"error\""},
        {R"({"id":1,"ok":false,"error":{"code":"nope","message":"m"}})",
         "field \"error.code\" must be a known error code, got \"nope\""},
        {R"({"id":1,"ok":false,"error":{"code":"held"}})", "missing field \"error.message\""},
        {R"({"id":1,"ok":false,"error":{"code":"held","message":"m","holder":{"name":"b"}}})",
         "missing field \"error.holder.owner\""},
        {R"({"id":1,"ok":false,"error":{"code":"unsupported","message":"m","protocol_min":1}})",
         "fields \"error.protocol_min\" and \"error.protocol_max\" come together"},
        {R"({"id":1,"ok":true,"op":"acquire","outcome":"acquired"})", "missing field \"lock\""},
        {R"({"id":1,"ok":true,"op":"acquire","lock":)" + lock + R"(,"outcome":"stolen"})",
         "field \"outcome\" must be \"acquired\", \"refreshed\" or \"nested\", got \"stolen\""},
        {R"({"id":1,"ok":true,"op":"acquire","lock":{"name":"b","owner":"o","host":"h","pid":"7","acquired_ts":"t"},)"
         R"("outcome":"acquired"})",
         "field \"lock.pid\" must be a 64-bit integer, got \"7\""},
        {R"({"id":1,"ok":true,"op":"acquire","lock":{"name":"b","owner":"o","host":"h","pid":9223372036854775808,)"
         R"("acquired_ts":"t"},"outcome":"acquired"})",
         "field \"lock.pid\" must be a 64-bit integer, got 9223372036854775808"},
        {R"({"id":1,"ok":true,"op":"renew","lock":{"name":"b","owner":"o","host":"h","pid":1,"acquired_ts":"t",)"
         R"("bound_to":"forever"}})",
         "field \"lock.bound_to\" must be \"guard\", \"ttl\" or \"process\", got \"forever\""},
        {R"({"id":1,"ok":true,"op":"hello","protocol":1,"daemon_version":"v","daemon_pid":0})",
         "field \"daemon_pid\" must be an integer from 1 to 2147483647, got 0"},
        {R"({"id":1,"ok":true,"op":"status","locks":[)" + lock + "]}", "missing field \"locks[0].staleness\""},
        {R"({"id":1,"ok":true,"op":"status","locks":[1]})", "field \"locks[0]\" must be an object, got 1"},
        {R"({"id":1,"ok":true,"op":"status","locks":{}})", "field \"locks\" must be an array of objects, got an object"},
        {R"({"id":1,"ok":true,"op":"daemon_status","daemon_pid":1,"daemon_version":"v","uptime_ms":1,)"
         R"("connections":1,"holds":0,"waiters":0,"roots":[{"root":"/r","holds":1,"waiters":1}]})",
         "missing field \"roots[0].subscriptions\""},
        {R"({"id":0,"op":"acquire","progress":true,"position":1,"queue_length":1})",
         "field \"id\" must be an integer of at least 1, got 0"},
        {R"({"id":2,"op":"release","progress":true,"position":1,"queue_length":1})",
         "field \"op\" must be \"acquire\", got \"release\""},
        {R"({"id":2,"op":"acquire","progress":false,"position":1,"queue_length":1})", "field \"progress\" must be true"},
        {R"({"id":2,"op":"acquire","progress":true,"position":1})", "missing field \"queue_length\""},
        {R"({"id":2,"op":"subscribe_audit","event":true})", "missing field \"audit\""},
        {R"({"id":2,"op":"subscribe_audit","event":true,"audit":"line"})", "field \"audit\" must be an object, got \"line\""},
        {R"({"id":2,"op":"acquire","event":true,"audit":{}})", "field \"op\" must be \"subscribe_audit\", got \"acquire\""},
    };
    for (const auto& example : cases) check_server_error(example);
}

TEST_CASE("decode_reply reports a broken line like decode_server_message") {
    const auto reply = decode_reply("{\"id\":1}");
    REQUIRE_FALSE(reply.ok());
    CHECK(reply.error().code == ErrorCode::internal);
}

TEST_CASE("deeply nested input is refused without exhausting the stack") {
    const std::string deep = "{\"id\":1,\"op\":\"shutdown\",\"x\":" + std::string(30000, '[') + std::string(30000, ']') + "}";
    auto request = decode_request(deep);
    CHECK(request.ok());
    auto unbalanced = decode_request(std::string(60000, '['));
    CHECK_FALSE(unbalanced.ok());
}
