// libFuzzer target for the bytes loktd reads from a client: the line framer,
// fed the input cut into reads of fuzzer-chosen sizes, then the request decoder
// on every line. Beyond "no crash", it checks the properties the daemon relies
// on, and traps if one fails:
//  - framing does not depend on how the stream is cut into reads;
//  - the request decoder's reading without a JSON document accepts only
//    lines the full parser accepts, as the same request;
//  - a decoded request re-encodes to one line that decodes to the same request;
//  - a refused line gets an error reply that is itself a valid line;
//  - the same holds for lines read as daemon messages (the client's side).
#include "protocol/line_framer.hpp"
#include "protocol/messages.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace lokt::protocol;

namespace {

void require(bool condition) {
    if (!condition) __builtin_trap();
}

struct Framed {
    std::vector<std::string> lines;
    bool too_long = false;
};

// Frames `stream`; the read sizes come from `sizes` (1 to 16 bytes each,
// cycling), or the whole stream in one read when `sizes` is empty.
Framed frame(std::string_view stream, std::string_view sizes, std::size_t limit) {
    LineFramer framer(limit);
    Framed out;
    std::size_t at = 0;
    std::size_t turn = 0;
    while (at < stream.size()) {
        std::size_t length = stream.size() - at;
        if (!sizes.empty()) {
            length = std::min(length, std::size_t{1} + (static_cast<unsigned char>(sizes[turn % sizes.size()]) & 0x0FU));
            ++turn;
        }
        framer.feed(stream.substr(at, length));
        at += length;
        while (auto line = framer.next_line()) out.lines.push_back(std::move(*line));
    }
    out.too_long = framer.too_long();
    return out;
}

bool is_one_line(const std::string& encoded) {
    return !encoded.empty() && encoded.back() == '\n' && encoded.find('\n') == encoded.size() - 1;
}

void check_request_line(const std::string& line) {
    const auto request = decode_request(line);
    // The reading without a document accepts only what the full parser
    // accepts, as the same request.
    const auto document = decode_request_document(line);
    require(request.ok() == document.ok());
    if (const auto flat = decode_request_flat(line)) require(document.ok() && document.value() == *flat);
    if (!request) {
        require(request.error().code == lokt::ErrorCode::usage);
        require(!request.error().message.empty());
        const Reply reply = error_reply_for(line, request.error());
        const std::string encoded = encode(reply);
        require(is_one_line(encoded));
        const auto echoed = decode_reply(std::string_view(encoded).substr(0, encoded.size() - 1));
        require(echoed.ok() && echoed.value() == reply);
        return;
    }
    const RequestHeader header = peek_request_header(line);
    require(header.id == request->id && header.op == request->op());
    const std::string encoded = encode(request.value());
    require(is_one_line(encoded));
    const auto again = decode_request(std::string_view(encoded).substr(0, encoded.size() - 1));
    require(again.ok() && again.value() == request.value());
    require(encode(again.value()) == encoded);
}

void check_server_line(const std::string& line) {
    const auto message = decode_server_message(line);
    if (!message) {
        require(message.error().code == lokt::ErrorCode::internal);
        return;
    }
    const std::string encoded = encode(message.value());
    require(is_one_line(encoded));
    const auto again = decode_server_message(std::string_view(encoded).substr(0, encoded.size() - 1));
    require(again.ok() && again.value() == message.value());
    require(encode(again.value()) == encoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);

    // The first eight bytes pick read sizes for the chunked pass; a small limit makes
    // the over-long path reachable with small inputs.
    const std::string_view sizes = input.substr(0, std::min<std::size_t>(input.size(), 8));
    for (const std::size_t limit : {std::size_t{48}, k_max_line_bytes}) {
        const Framed whole = frame(input, {}, limit);
        const Framed chunked = frame(input, sizes, limit);
        require(whole.lines == chunked.lines && whole.too_long == chunked.too_long);
        for (const auto& line : whole.lines) {
            require(!line.empty() && line.size() <= limit && line.find('\n') == std::string::npos);
        }
    }

    // Real lines, as the daemon would frame them.
    for (const auto& line : frame(input, {}, k_max_line_bytes).lines) {
        check_request_line(line);
        check_server_line(line);
    }
    return 0;
}
