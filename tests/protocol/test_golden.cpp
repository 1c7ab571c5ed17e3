// Golden files pin the wire format: the encoding of every example message is
// compared byte for byte with tests/protocol/golden/<type>.jsonl, so any change
// to what goes over the socket shows up as a diff in review. Run the tests with
// LOKT_TEST_ACCEPT=1 to rewrite the files from the current encoder.
#include "protocol/messages.hpp"
#include "tests/protocol/examples.hpp"
#include "tests/protocol/test_support.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

using namespace lokt::protocol;
using namespace lokt::protocol::test;
namespace fs = std::filesystem;

namespace {

const fs::path k_golden_dir = LOKT_PROTOCOL_GOLDEN_DIR;

fs::path golden_path(const std::string& name) { return k_golden_dir / (name + ".jsonl"); }

std::string encode_file(const GoldenFile& file) {
    std::string text;
    for (const auto& example : file.messages) text += encode_example(example);
    return text;
}

std::optional<std::string> read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

// Names the first line that differs, which is what a reviewer needs to see.
std::string first_difference(const std::string& expected, const std::string& actual) {
    const auto want = split_lines(expected);
    const auto got = split_lines(actual);
    for (std::size_t i = 0; i < std::max(want.size(), got.size()); ++i) {
        const std::string left = i < want.size() ? want[i] : "<no line>";
        const std::string right = i < got.size() ? got[i] : "<no line>";
        if (left != right) {
            return "line " + std::to_string(i + 1) + "\n  golden:  " + left + "\n  encoded: " + right;
        }
    }
    return "the files differ only in their final newline";
}

}  // namespace

TEST_CASE("golden files match the encoder byte for byte") {
    for (const auto& file : golden_files()) {
        CAPTURE(file.name);
        const fs::path path = golden_path(file.name);
        const std::string encoded = encode_file(file);
        if (accept_golden_files()) {
            fs::create_directories(k_golden_dir);
            std::ofstream out(path, std::ios::binary | std::ios::trunc);
            out << encoded;
            out.close();
            CHECK_MESSAGE(out.good(), "cannot write " << path.string());
            MESSAGE("rewrote " << path.string());
            continue;
        }
        const auto golden = read_file(path);
        if (!golden) {
            FAIL_CHECK("missing " << path.string() << "; run the tests with LOKT_TEST_ACCEPT=1 to create it");
            continue;
        }
        const bool same = *golden == encoded;  // a bool, so doctest does not print both files whole
        CHECK_MESSAGE(same, path.string() << " differs from the encoder at " << first_difference(*golden, encoded)
                                          << "\nIf the change is intended, rerun with LOKT_TEST_ACCEPT=1.");
    }
}

TEST_CASE("every golden line decodes and re-encodes to the same bytes") {
    for (const auto& file : golden_files()) {
        CAPTURE(file.name);
        const auto golden = read_file(golden_path(file.name));
        REQUIRE(golden.has_value());
        const auto lines = split_lines(*golden);
        REQUIRE(lines.size() == file.messages.size());
        for (std::size_t i = 0; i < lines.size(); ++i) {
            CAPTURE(lines[i]);
            if (std::holds_alternative<Request>(file.messages[i])) {
                const auto request = decode_request(lines[i]);
                REQUIRE_MESSAGE(request.ok(), request.error().message);
                CHECK(encode(request.value()) == lines[i] + "\n");
            } else {
                const auto message = decode_server_message(lines[i]);
                REQUIRE_MESSAGE(message.ok(), message.error().message);
                CHECK(encode(message.value()) == lines[i] + "\n");
            }
        }
    }
}

TEST_CASE("the golden directory holds no file without an example") {
    std::set<std::string> known;
    for (const auto& file : golden_files()) known.insert(file.name + ".jsonl");
    for (const auto& entry : fs::directory_iterator(k_golden_dir)) {
        CAPTURE(entry.path().string());
        CHECK(known.count(entry.path().filename().string()) == 1);
    }
}

// docs/protocol.md shows messages and objects in ```json blocks; each line
// must occur in a golden file (objects inside a message), so the reference
// cannot drift from what the encoder writes.
TEST_CASE("every JSON example in docs/protocol.md occurs in a golden file") {
    std::string golden_text;
    for (const auto& file : golden_files()) {
        const auto text = read_file(golden_path(file.name));
        REQUIRE(text.has_value());
        golden_text += *text;
    }
    const auto doc = read_file(LOKT_PROTOCOL_DOC);
    REQUIRE_MESSAGE(doc.has_value(), "cannot read " << LOKT_PROTOCOL_DOC);
    std::size_t examples = 0;
    bool in_json = false;
    for (const auto& line : split_lines(*doc)) {
        if (line.rfind("```", 0) == 0) {
            in_json = !in_json && line == "```json";
            continue;
        }
        if (!in_json) continue;
        CAPTURE(line);
        CHECK(golden_text.find(line) != std::string::npos);
        ++examples;
    }
    CHECK(examples >= 30);
}

TEST_CASE("the examples cover every request, every reply and every unsolicited message") {
    std::set<Op> requests;
    std::set<Op> replies;
    bool error_reply = false;
    bool progress = false;
    bool event = false;
    for (const auto& file : golden_files()) {
        for (const auto& example : file.messages) {
            if (const auto* request = std::get_if<Request>(&example)) {
                requests.insert(request->op());
                continue;
            }
            const auto& message = std::get<ServerMessage>(example);
            if (const auto* reply = std::get_if<Reply>(&message)) {
                if (reply->ok()) {
                    replies.insert(*reply->op());
                } else {
                    error_reply = true;
                }
            }
            progress = progress || std::holds_alternative<Progress>(message);
            event = event || std::holds_alternative<AuditEvent>(message);
        }
    }
    for (int i = 0; i <= static_cast<int>(Op::etcd_hold); ++i) {
        const auto op = static_cast<Op>(i);
        CAPTURE(to_string(op));
        CHECK(requests.count(op) == 1);
        CHECK(replies.count(op) == 1);
    }
    CHECK(error_reply);
    CHECK(progress);
    CHECK(event);
}

TEST_CASE("every golden request is read without a JSON document, as the full parser reads it") {
    for (const auto& file : golden_files()) {
        CAPTURE(file.name);
        const auto golden = read_file(golden_path(file.name));
        REQUIRE(golden.has_value());
        const auto lines = split_lines(*golden);
        for (std::size_t i = 0; i < lines.size() && i < file.messages.size(); ++i) {
            if (!std::holds_alternative<Request>(file.messages[i])) continue;
            CAPTURE(lines[i]);
            const auto flat = decode_request_flat(lines[i]);
            REQUIRE(flat.has_value());
            const auto document = decode_request_document(lines[i]);
            REQUIRE(document.ok());
            CHECK(*flat == document.value());
        }
    }
}

TEST_CASE("the reading without a document declines what it does not know, and the full parser decides") {
    const std::string release = R"({"id":3,"op":"release","root":"/r","name":"x","lock_id":"035b9c0ac2e782764cda6a0e58b77cf8"})";
    REQUIRE(decode_request_flat(release).has_value());
    for (
        const std::string line : {
            std::string(R"({"id":3, "op":"release","root":"/r","name":"x","lock_id":"035b9c0ac2e782764cda6a0e58b77cf8"})"),
            std::string(R"({"id":3,"op":"release","root":"/r","name":"\u0078","lock_id":"035b9c0ac2e782764cda6a0e58b77cf8"})"),
            std::string(
                R"({"id":3,"op":"release","root":"/r","name":"x","name":"y","lock_id":"035b9c0ac2e782764cda6a0e58b77cf8"})"),
            std::string(
                R"({"id":3,"op":"release","root":"/r","name":"x","lock_id":"035b9c0ac2e782764cda6a0e58b77cf8","exit_status":-1})"),
            std::string(
                R"({"id":3,"op":"release","root":"/r","name":"x","lock_id":"035b9c0ac2e782764cda6a0e58b77cf8","exit_status":256})"),
            std::string(R"({"id":3,"op":"release","root":"/r","name":"x","lock_id":"035B9C0AC2E782764CDA6A0E58B77CF8"})"),
            std::string(R"({"id":3,"op":"release","root":"r","name":"x","lock_id":"035b9c0ac2e782764cda6a0e58b77cf8"})"),
            std::string(R"({"id":03,"op":"release","root":"/r","name":"x","lock_id":"035b9c0ac2e782764cda6a0e58b77cf8"})"),
            std::string(R"({"id":3.0,"op":"release","root":"/r","name":"x","lock_id":"035b9c0ac2e782764cda6a0e58b77cf8"})"),
            std::string(R"({"id":3,"op":"release","root":"/r","name":"x","lock_id":"035b9c0ac2e782764cda6a0e58b77cf8"} )"),
            std::string(R"({"id":3,"op":"release","root":"/r","name":"é","lock_id":"035b9c0ac2e782764cda6a0e58b77cf8"})"),
            std::string(R"({"id":3,"op":"relax","root":"/r","name":"x","lock_id":"035b9c0ac2e782764cda6a0e58b77cf8"})"),
            std::string(R"({"id":3,"op":"release","root":"/r","name":null,"lock_id":"035b9c0ac2e782764cda6a0e58b77cf8"})"),
        }) {
        CAPTURE(line);
        CHECK_FALSE(decode_request_flat(line).has_value());
        const auto full = decode_request(line);
        const auto document = decode_request_document(line);
        CHECK(full.ok() == document.ok());
        if (full.ok() && document.ok()) CHECK(full.value() == document.value());
        if (!full.ok() && !document.ok()) CHECK(full.error().message == document.error().message);
    }
}
