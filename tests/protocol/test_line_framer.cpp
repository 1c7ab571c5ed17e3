// LineFramer must give the same lines however the stream is cut into reads,
// and must stop at the first over-long line.
#include "protocol/line_framer.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using lokt::protocol::k_max_line_bytes;
using lokt::protocol::LineFramer;

namespace {

struct Framed {
    std::vector<std::string> lines;
    bool too_long = false;
    std::size_t pending = 0;
};

void drain(LineFramer& framer, Framed& out) {
    while (auto line = framer.next_line()) out.lines.push_back(std::move(*line));
}

// Feeds `stream` cut at `cuts` (ascending offsets), draining after each read
// as a socket reader would.
Framed frame(std::string_view stream, const std::vector<std::size_t>& cuts, std::size_t limit = k_max_line_bytes) {
    LineFramer framer(limit);
    Framed out;
    std::size_t start = 0;
    for (const std::size_t cut : cuts) {
        framer.feed(stream.substr(start, cut - start));
        drain(framer, out);
        start = cut;
    }
    framer.feed(stream.substr(start));
    drain(framer, out);
    out.too_long = framer.too_long();
    out.pending = framer.pending_bytes();
    return out;
}

Framed frame_whole(std::string_view stream, std::size_t limit = k_max_line_bytes) { return frame(stream, {}, limit); }

void check_same(const Framed& actual, const Framed& expected) {
    CHECK(actual.lines == expected.lines);
    CHECK(actual.too_long == expected.too_long);
    CHECK(actual.pending == expected.pending);
}

}  // namespace

TEST_CASE("framer yields lines without their terminators") {
    const Framed out = frame_whole("{\"id\":1}\n{\"id\":2}\r\n{\"id\":3}\n");
    CHECK(out.lines == std::vector<std::string>{"{\"id\":1}", "{\"id\":2}", "{\"id\":3}"});
    CHECK_FALSE(out.too_long);
    CHECK(out.pending == 0);
}

TEST_CASE("framer skips empty lines, including a bare CRLF") {
    const Framed out = frame_whole("\n\na\n\r\n\nb\r\n\n");
    CHECK(out.lines == std::vector<std::string>{"a", "b"});
}

TEST_CASE("framer strips exactly one carriage return before the newline") {
    CHECK(frame_whole("a\r\r\n").lines == std::vector<std::string>{"a\r"});
    CHECK(frame_whole("a\rb\n").lines == std::vector<std::string>{"a\rb"});
    CHECK(frame_whole("\r\r\n").lines == std::vector<std::string>{"\r"});
}

TEST_CASE("framer keeps an unterminated last line pending") {
    LineFramer framer;
    framer.feed("{\"id\":1}\n{\"id\"");
    CHECK(framer.next_line() == std::optional<std::string>("{\"id\":1}"));
    CHECK_FALSE(framer.next_line().has_value());
    CHECK(framer.pending_bytes() == 5);
    framer.feed(":2}\n");
    CHECK(framer.next_line() == std::optional<std::string>("{\"id\":2}"));
    CHECK(framer.pending_bytes() == 0);
}

TEST_CASE("framer gives the same result for every single split point") {
    const std::string stream = "{\"id\":1,\"op\":\"hello\"}\r\n\n{\"id\":2}\n\r\nlast\rline\r\n{\"partial\"";
    const Framed expected = frame_whole(stream);
    REQUIRE(expected.lines == std::vector<std::string>{"{\"id\":1,\"op\":\"hello\"}", "{\"id\":2}", "last\rline"});
    REQUIRE(expected.pending == 10);
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        CAPTURE(cut);
        check_same(frame(stream, {cut}), expected);
    }
}

TEST_CASE("framer gives the same result for every pair of split points") {
    const std::string stream = "ab\r\n\ncd\n\r\nef\r";
    const Framed expected = frame_whole(stream);
    for (std::size_t first = 0; first <= stream.size(); ++first) {
        for (std::size_t second = first; second <= stream.size(); ++second) {
            CAPTURE(first);
            CAPTURE(second);
            check_same(frame(stream, {first, second}), expected);
        }
    }
}

TEST_CASE("framer handles a stream fed one byte at a time") {
    const std::string stream = "{\"id\":1}\r\n{\"id\":2}\n";
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < stream.size(); ++i) cuts.push_back(i);
    check_same(frame(stream, cuts), frame_whole(stream));
}

TEST_CASE("framer accepts a line of exactly the limit") {
    const std::string line(k_max_line_bytes, 'x');
    const Framed out = frame_whole(line + "\n");
    REQUIRE(out.lines.size() == 1);
    CHECK(out.lines[0] == line);
    CHECK_FALSE(out.too_long);
}

TEST_CASE("framer counts a carriage return towards the limit") {
    const std::string line(k_max_line_bytes, 'x');
    CHECK(frame_whole(line + "\r\n").too_long);
    CHECK(frame_whole(line.substr(1) + "\r\n").lines == std::vector<std::string>{line.substr(1)});
}

TEST_CASE("framer refuses a line one byte over the limit, complete or not") {
    const std::string line(k_max_line_bytes + 1, 'x');
    CHECK(frame_whole(line + "\n").too_long);
    // Detected before the newline arrives, so a peer cannot make us buffer more.
    LineFramer framer;
    framer.feed(line);
    CHECK_FALSE(framer.next_line().has_value());
    CHECK(framer.too_long());
    CHECK(framer.pending_bytes() == 0);
}

TEST_CASE("framer delivers the lines before an over-long one and nothing after") {
    const std::size_t limit = 8;
    const std::string stream = "short\nok\r\n123456789\nafter\n";
    const Framed expected = frame_whole(stream, limit);
    CHECK(expected.lines == std::vector<std::string>{"short", "ok"});
    CHECK(expected.too_long);
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        CAPTURE(cut);
        check_same(frame(stream, {cut}, limit), expected);
    }
}

TEST_CASE("framer ignores bytes fed after it went over the limit") {
    LineFramer framer(4);
    framer.feed("12345");
    CHECK_FALSE(framer.next_line().has_value());
    REQUIRE(framer.too_long());
    framer.feed("ok\n");
    CHECK_FALSE(framer.next_line().has_value());
    CHECK(framer.pending_bytes() == 0);
}

TEST_CASE("framer's over-limit error says what happens") {
    LineFramer framer;
    const lokt::Error error = framer.too_long_error();
    CHECK(error.code == lokt::ErrorCode::usage);
    CHECK(error.message == "line longer than 65536 bytes; closing the connection");
    CHECK(framer.max_line_bytes() == 64 * 1024);
}

TEST_CASE("framer keeps lines in order across many reads") {
    std::string stream;
    std::vector<std::string> expected;
    for (int i = 0; i < 1000; ++i) {
        expected.push_back("{\"id\":" + std::to_string(i) + "}");
        stream += expected.back() + (i % 2 == 0 ? "\n" : "\r\n");
    }
    std::vector<std::size_t> cuts;
    for (std::size_t cut = 7; cut < stream.size(); cut += 7) cuts.push_back(cut);
    CHECK(frame(stream, cuts).lines == expected);
}
