// JSON encoding and decoding of the lokt wire protocol (docs/protocol.md).
// This is the one place where untrusted bytes from a socket become typed
// requests, so every decoder checks each field's presence, type and range and
// reports the first problem by name instead of throwing.
#include "messages.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <limits>
#include <type_traits>
#include <utility>

namespace lokt::protocol {
namespace {

// ordered_json keeps keys in insertion order: encoding is byte-stable, and an
// audit line passes through with its keys in the order they were written.
using Json = nlohmann::ordered_json;

// PATH_MAX on Linux.
constexpr std::size_t k_max_root_bytes = 4096;
// How much of a bad value an error message quotes.
constexpr std::size_t k_max_quoted_bytes = 64;
constexpr std::size_t k_max_parse_error_bytes = 200;
constexpr std::uint64_t k_max_pid = static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max());
constexpr std::uint64_t k_max_u32 = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint64_t k_max_u64 = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t k_max_i64 = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

// ---------------------------------------------------------------------------
// Enum words

template <class E>
struct Word {
    E value;
    std::string_view word;
};

constexpr std::array k_op_words{
    Word<Op>{Op::hello, "hello"},
    Word<Op>{Op::acquire, "acquire"},
    Word<Op>{Op::release, "release"},
    Word<Op>{Op::renew, "renew"},
    Word<Op>{Op::unlock, "unlock"},
    Word<Op>{Op::unlock_many, "unlock_many"},
    Word<Op>{Op::status, "status"},
    Word<Op>{Op::freeze, "freeze"},
    Word<Op>{Op::unfreeze, "unfreeze"},
    Word<Op>{Op::subscribe_audit, "subscribe_audit"},
    Word<Op>{Op::unsubscribe, "unsubscribe"},
    Word<Op>{Op::daemon_status, "daemon_status"},
    Word<Op>{Op::shutdown, "shutdown"},
};
constexpr std::array k_acquire_mode_words{
    Word<AcquireMode>{AcquireMode::guard, "guard"},
    Word<AcquireMode>{AcquireMode::manual, "manual"},
};
constexpr std::array k_acquire_outcome_words{
    Word<AcquireOutcome>{AcquireOutcome::acquired, "acquired"},
    Word<AcquireOutcome>{AcquireOutcome::refreshed, "refreshed"},
    Word<AcquireOutcome>{AcquireOutcome::nested, "nested"},
};
constexpr std::array k_unlock_mode_words{
    Word<UnlockMode>{UnlockMode::owner, "owner"},
    Word<UnlockMode>{UnlockMode::break_stale, "break_stale"},
    Word<UnlockMode>{UnlockMode::force, "force"},
};
constexpr std::array k_bound_to_words{
    Word<BoundTo>{BoundTo::guard, "guard"},
    Word<BoundTo>{BoundTo::ttl, "ttl"},
    Word<BoundTo>{BoundTo::process, "process"},
};
constexpr std::array k_staleness_words{
    Word<Staleness>{Staleness::live, "live"},
    Word<Staleness>{Staleness::expired, "expired"},
    Word<Staleness>{Staleness::dead, "dead"},
};

static_assert(std::variant_size_v<RequestBody> == k_op_words.size(), "one request type per op, in Op order");
static_assert(std::variant_size_v<ReplyBody> == k_op_words.size() + 1, "ErrorReply plus one reply type per op");

template <class E, std::size_t N>
std::string_view word_of(const std::array<Word<E>, N>& table, E value) {
    for (const auto& entry : table) {
        if (entry.value == value) return entry.word;
    }
    return "?";
}

template <class E, std::size_t N>
std::optional<E> value_of(const std::array<Word<E>, N>& table, std::string_view word) {
    for (const auto& entry : table) {
        if (entry.word == word) return entry.value;
    }
    return std::nullopt;
}

// `"a", "b" or "c"`, for error messages.
template <class E, std::size_t N>
std::string word_list(const std::array<Word<E>, N>& table) {
    std::string out;
    for (std::size_t i = 0; i < N; ++i) {
        if (i > 0) out += (i + 1 == N) ? " or " : ", ";
        out += '"';
        out += table[i].word;
        out += '"';
    }
    return out;
}

// ---------------------------------------------------------------------------
// Text helpers

// At most `limit` bytes of `text`, cut at a UTF-8 character boundary.
std::string truncated(std::string_view text, std::size_t limit) {
    if (text.size() <= limit) return std::string(text);
    std::size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) --cut;
    return std::string(text.substr(0, cut)) + "...";
}

std::string dump(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

// `text` with each invalid UTF-8 sequence replaced by U+FFFD, so that an error
// message quoting raw input survives being sent as JSON unchanged.
std::string valid_utf8(std::string_view text) { return Json::parse(dump(Json(std::string(text)))).get<std::string>(); }

std::string dump_line(const Json& value) {
    std::string line = dump(value);
    line.push_back('\n');
    return line;
}

// Text as a JSON string literal, cut short (after the closing quote) if long.
std::string quote_text(std::string_view text) {
    if (text.size() <= k_max_quoted_bytes) return dump(Json(std::string(text)));
    std::string cut = truncated(text, k_max_quoted_bytes);
    cut.resize(cut.size() - 3);  // truncated() appended "..."
    return dump(Json(cut)) + "...";
}

// A bad value as an error message shows it: strings quoted, containers named.
std::string describe(const Json& value) {
    if (value.is_object()) return "an object";
    if (value.is_array()) return "an array";
    if (value.is_string()) return quote_text(value.get_ref<const std::string&>());
    return truncated(dump(value), k_max_quoted_bytes);
}

bool is_lower_hex_id(std::string_view text) {
    if (text.size() != 32) return false;
    for (const char c : text) {
        const bool digit = c >= '0' && c <= '9';
        const bool lower = c >= 'a' && c <= 'f';
        if (!digit && !lower) return false;
    }
    return true;
}

// ---------------------------------------------------------------------------
// Reading fields

// The first problem met while decoding one line; later ones are not reported.
struct Failure {
    std::optional<std::string> message;
    void set(std::string text) {
        if (!message) message = std::move(text);
    }
};

// Typed access to the fields of one JSON object. A missing or wrong field is
// recorded in the shared Failure and a neutral value returned, so a decoder
// reads every field straight through and checks failed() once at the end.
// null counts as absent for optional fields.
class Reader {
public:
    Reader(const Json& object, std::string path, Failure& failure)
        : m_object(object), m_path(std::move(path)), m_failure(failure) {}

    bool failed() const { return m_failure.message.has_value(); }

    // The dotted name of a field, as error messages show it.
    std::string path_of(std::string_view key) const {
        return m_path.empty() ? std::string(key) : m_path + "." + std::string(key);
    }

    void fail(std::string message) { m_failure.set(std::move(message)); }
    void fail_field(std::string_view key, std::string_view problem) {
        fail("field \"" + path_of(key) + "\" " + std::string(problem));
    }
    void fail_missing(std::string_view key, std::string_view why = {}) {
        std::string message = "missing field \"" + path_of(key) + "\"";
        if (!why.empty()) message += " (" + std::string(why) + ")";
        fail(std::move(message));
    }

    bool has(std::string_view key) const { return find(key) != nullptr; }

    std::string string(std::string_view key) {
        const Json* value = find_required(key, "a string");
        if (value == nullptr) return {};
        return as_string(key, *value);
    }

    std::string optional_string(std::string_view key) {
        const Json* value = find(key);
        if (value == nullptr) return {};
        return as_string(key, *value);
    }

    std::string nonempty_string(std::string_view key) {
        std::string text = string(key);
        if (!failed() && text.empty()) fail_field(key, "must not be empty");
        return text;
    }

    bool boolean(std::string_view key) {
        const Json* value = find(key);
        if (value == nullptr) return false;
        if (!value->is_boolean()) {
            fail_field(key, "must be true or false, got " + describe(*value));
            return false;
        }
        return value->get<bool>();
    }

    std::uint64_t unsigned_integer(std::string_view key, std::uint64_t min, std::uint64_t max) {
        const Json* value = find_required(key, "an integer");
        if (value == nullptr) return 0;
        return as_unsigned(key, *value, min, max);
    }

    std::optional<std::uint64_t> optional_unsigned(std::string_view key, std::uint64_t min, std::uint64_t max) {
        const Json* value = find(key);
        if (value == nullptr) return std::nullopt;
        return as_unsigned(key, *value, min, max);
    }

    // Any integer that fits std::int64_t, negative ones included.
    std::int64_t signed_integer(std::string_view key) {
        const Json* value = find_required(key, "an integer");
        if (value == nullptr) return 0;
        const bool fits =
            value->is_number_integer() && (!value->is_number_unsigned() || value->get<std::uint64_t>() <= k_max_i64);
        if (!fits) {
            fail_field(key, "must be a 64-bit integer, got " + describe(*value));
            return 0;
        }
        return value->get<std::int64_t>();
    }

    std::uint32_t count(std::string_view key) { return static_cast<std::uint32_t>(unsigned_integer(key, 0, k_max_u32)); }

    std::int32_t pid(std::string_view key, std::uint64_t min) {
        return static_cast<std::int32_t>(unsigned_integer(key, min, k_max_pid));
    }

    std::optional<std::int32_t> optional_pid(std::string_view key) {
        const auto value = optional_unsigned(key, 1, k_max_pid);
        if (!value) return std::nullopt;
        return static_cast<std::int32_t>(*value);
    }

    // A duration in milliseconds. Its range is what lokt accepts for the flag
    // it came from, checked by the daemon in the client's words, not here.
    std::uint64_t duration_ms(std::string_view key) { return unsigned_integer(key, 0, k_max_u64); }

    std::optional<std::uint64_t> optional_duration_ms(std::string_view key) { return optional_unsigned(key, 0, k_max_u64); }

    // Every request that concerns a root names it by absolute path.
    std::string root() {
        std::string path = string("root");
        if (failed()) return path;
        if (path.empty() || path.front() != '/') {
            fail_field("root", "must be an absolute path, got " + quote_text(path));
        } else if (path.find('\0') != std::string::npos) {
            fail_field("root", "must not contain a NUL byte");
        } else if (path.size() > k_max_root_bytes) {
            fail_field("root", "must be at most " + std::to_string(k_max_root_bytes) + " bytes long");
        }
        return path;
    }

    // A lock id this daemon handed out: 32 lowercase hex digits.
    std::string lock_id(std::string_view key, bool required) {
        std::string id = required ? string(key) : optional_string(key);
        if (failed() || (!required && !has(key))) return id;
        if (!is_lower_hex_id(id)) fail_field(key, "must be 32 lowercase hex digits, got " + quote_text(id));
        return id;
    }

    template <class E, std::size_t N>
    E word(std::string_view key, const std::array<Word<E>, N>& table) {
        const std::string text = string(key);
        if (failed()) return table[0].value;
        return checked_word(key, text, table);
    }

    template <class E, std::size_t N>
    std::optional<E> optional_word(std::string_view key, const std::array<Word<E>, N>& table) {
        if (!has(key)) return std::nullopt;
        return word(key, table);
    }

    std::vector<std::string> strings(std::string_view key) {
        std::vector<std::string> out;
        const Json* value = find(key);
        if (value == nullptr) return out;
        if (!value->is_array()) {
            fail_field(key, "must be an array of strings, got " + describe(*value));
            return out;
        }
        for (std::size_t i = 0; i < value->size(); ++i) {
            const Json& item = (*value)[i];
            if (!item.is_string()) {
                fail_field(indexed(key, i), "must be a string, got " + describe(item));
                return out;
            }
            out.push_back(item.get<std::string>());
        }
        return out;
    }

    // A nested object; nullopt (with a failure when required) if absent.
    std::optional<Reader> object(std::string_view key, bool required) {
        const Json* value = required ? find_required(key, "an object") : find(key);
        if (value == nullptr) return std::nullopt;
        if (!value->is_object()) {
            fail_field(key, "must be an object, got " + describe(*value));
            return std::nullopt;
        }
        return Reader(*value, path_of(key), m_failure);
    }

    // An optional array of objects; absent reads as empty.
    std::vector<Reader> objects(std::string_view key) {
        std::vector<Reader> out;
        const Json* value = find(key);
        if (value == nullptr) return out;
        if (!value->is_array()) {
            fail_field(key, "must be an array of objects, got " + describe(*value));
            return out;
        }
        for (std::size_t i = 0; i < value->size(); ++i) {
            const Json& item = (*value)[i];
            const std::string item_path = path_of(indexed(key, i));
            if (!item.is_object()) {
                fail("field \"" + item_path + "\" must be an object, got " + describe(item));
                return {};
            }
            out.emplace_back(item, item_path, m_failure);
        }
        return out;
    }

private:
    template <class E, std::size_t N>
    E checked_word(std::string_view key, const std::string& text, const std::array<Word<E>, N>& table) {
        const auto value = value_of(table, text);
        if (!value) {
            fail_field(key, "must be " + word_list(table) + ", got " + quote_text(text));
            return table[0].value;
        }
        return *value;
    }

    static std::string indexed(std::string_view key, std::size_t index) {
        return std::string(key) + "[" + std::to_string(index) + "]";
    }

    const Json* find(std::string_view key) const {
        const auto it = m_object.find(key);
        if (it == m_object.end() || it->is_null()) return nullptr;
        return &*it;
    }

    const Json* find_required(std::string_view key, std::string_view kind) {
        const auto it = m_object.find(key);
        if (it == m_object.end()) {
            fail_missing(key);
            return nullptr;
        }
        if (it->is_null()) {
            fail_field(key, "must be " + std::string(kind) + ", got null");
            return nullptr;
        }
        return &*it;
    }

    std::string as_string(std::string_view key, const Json& value) {
        if (!value.is_string()) {
            fail_field(key, "must be a string, got " + describe(value));
            return {};
        }
        return value.get<std::string>();
    }

    std::uint64_t as_unsigned(std::string_view key, const Json& value, std::uint64_t min, std::uint64_t max) {
        if (!value.is_number_unsigned() || value.get<std::uint64_t>() < min || value.get<std::uint64_t>() > max) {
            std::string range;
            if (max == k_max_u64) {
                range = "an integer of at least " + std::to_string(min);
            } else {
                range = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
            }
            fail_field(key, "must be " + range + ", got " + describe(value));
            return 0;
        }
        return value.get<std::uint64_t>();
    }

    const Json& m_object;
    std::string m_path;
    Failure& m_failure;
};

// Parses one line as a JSON object, or says why it is not one.
std::optional<Json> parse_object(std::string_view line, Failure& failure) {
    Json value;
    try {
        value = Json::parse(line.begin(), line.end());
    } catch (const Json::exception& error) {
        // parse_error, or out_of_range for a number such as 1e400.
        std::string_view text = error.what();
        // Drop nlohmann's "[json.exception.parse_error.101] " tag.
        if (const auto tag_end = text.find("] "); !text.empty() && text.front() == '[' && tag_end != text.npos) {
            text.remove_prefix(tag_end + 2);
        }
        // nlohmann quotes the bytes it stopped at, which may not be UTF-8.
        failure.set("not valid JSON: " + valid_utf8(truncated(text, k_max_parse_error_bytes)));
        return std::nullopt;
    }
    if (!value.is_object()) {
        failure.set("a message must be a JSON object, got " + describe(value));
        return std::nullopt;
    }
    return value;
}

// ---------------------------------------------------------------------------
// Records

Json to_json(const Identity& identity) {
    Json out = Json::object();
    out["owner"] = identity.owner;
    out["owner_explicit"] = identity.owner_explicit;
    out["host"] = identity.host;
    out["pid"] = identity.pid;
    if (identity.pid_start) out["pid_start"] = *identity.pid_start;
    if (!identity.agent_id.empty()) out["agent_id"] = identity.agent_id;
    return out;
}

Identity read_identity(Reader in) {
    Identity identity;
    identity.owner = in.nonempty_string("owner");
    identity.owner_explicit = in.boolean("owner_explicit");
    identity.host = in.nonempty_string("host");
    identity.pid = in.pid("pid", 1);
    identity.pid_start = in.optional_unsigned("pid_start", 0, k_max_u64);
    identity.agent_id = in.optional_string("agent_id");
    return identity;
}

// Puts a record's fields into `out` (which may already hold others).
void add_lock_fields(Json& out, const LockInfo& lock) {
    out["name"] = lock.name;
    if (!lock.lock_id.empty()) out["lock_id"] = lock.lock_id;
    out["owner"] = lock.owner;
    out["host"] = lock.host;
    out["pid"] = lock.pid;
    if (lock.pid_start) out["pid_start"] = *lock.pid_start;
    if (!lock.agent_id.empty()) out["agent_id"] = lock.agent_id;
    out["acquired_ts"] = lock.acquired_ts;
    if (lock.ttl_sec) out["ttl_sec"] = *lock.ttl_sec;
    if (!lock.expires_at.empty()) out["expires_at"] = lock.expires_at;
    if (lock.bound_to) out["bound_to"] = to_string(*lock.bound_to);
    if (lock.owner_explicit) out["owner_explicit"] = true;
    if (!lock.boot_id.empty()) out["boot_id"] = lock.boot_id;
    if (lock.fence) out["fence"] = *lock.fence;
    if (!lock.handle.empty()) out["handle"] = lock.handle;
}

Json to_json(const LockInfo& lock) {
    Json out = Json::object();
    add_lock_fields(out, lock);
    return out;
}

Json to_json(const std::vector<LockInfo>& locks) {
    Json out = Json::array();
    for (const auto& lock : locks) out.push_back(to_json(lock));
    return out;
}

// Records come from files other tools may have written: only the types are
// checked, and odd values (pid 0, empty strings) are passed on as they are.
LockInfo read_lock(Reader in) {
    LockInfo lock;
    lock.name = in.string("name");
    lock.lock_id = in.optional_string("lock_id");
    lock.owner = in.string("owner");
    lock.host = in.string("host");
    lock.pid = in.signed_integer("pid");
    lock.pid_start = in.optional_unsigned("pid_start", 0, k_max_u64);
    lock.agent_id = in.optional_string("agent_id");
    lock.acquired_ts = in.string("acquired_ts");
    lock.ttl_sec = in.optional_unsigned("ttl_sec", 0, k_max_u64);
    lock.expires_at = in.optional_string("expires_at");
    lock.bound_to = in.optional_word("bound_to", k_bound_to_words);
    lock.owner_explicit = in.boolean("owner_explicit");
    lock.boot_id = in.optional_string("boot_id");
    lock.fence = in.optional_unsigned("fence", 0, k_max_u64);
    lock.handle = in.optional_string("handle");
    return lock;
}

std::optional<LockInfo> read_optional_lock(Reader& in, std::string_view key) {
    auto nested = in.object(key, false);
    if (!nested) return std::nullopt;
    return read_lock(*nested);
}

LockInfo read_required_lock(Reader& in, std::string_view key) {
    auto nested = in.object(key, true);
    if (!nested) return {};
    return read_lock(*nested);
}

std::vector<LockInfo> read_locks(Reader& in, std::string_view key) {
    std::vector<LockInfo> out;
    for (auto& item : in.objects(key)) out.push_back(read_lock(item));
    return out;
}

// ---------------------------------------------------------------------------
// Requests: fields after "id" and "op"

void add_fields(Json& out, const HelloRequest& request) {
    out["protocol_min"] = request.protocol.min;
    out["protocol_max"] = request.protocol.max;
    out["client_version"] = request.client_version;
    if (!request.client_build.empty()) out["client_build"] = request.client_build;
    out["capabilities"] = request.capabilities;
}

void add_fields(Json& out, const AcquireRequest& request) {
    out["root"] = request.root;
    out["name"] = request.name;
    out["mode"] = to_string(request.mode);
    if (request.ttl_ms) out["ttl_ms"] = *request.ttl_ms;
    out["wait"] = request.wait;
    if (request.timeout_ms) out["timeout_ms"] = *request.timeout_ms;
    out["identity"] = to_json(request.identity);
    if (request.bound_pid) out["bound_pid"] = *request.bound_pid;
    if (request.bound_pid_start) out["bound_pid_start"] = *request.bound_pid_start;
    if (!request.nested_lock_id.empty()) out["nested_lock_id"] = request.nested_lock_id;
    if (!request.handle.empty()) out["handle"] = request.handle;
}

void add_fields(Json& out, const ReleaseRequest& request) {
    out["root"] = request.root;
    out["name"] = request.name;
    out["lock_id"] = request.lock_id;
    if (request.exit_status) out["exit_status"] = *request.exit_status;
}

void add_fields(Json& out, const RenewRequest& request) {
    out["root"] = request.root;
    out["name"] = request.name;
    out["lock_id"] = request.lock_id;
    out["ttl_ms"] = request.ttl_ms;
}

void add_fields(Json& out, const UnlockRequest& request) {
    out["root"] = request.root;
    out["name"] = request.name;
    out["mode"] = to_string(request.mode);
    out["identity"] = to_json(request.identity);
}

void add_fields(Json& out, const UnlockManyRequest& request) {
    out["root"] = request.root;
    if (request.owner) {
        out["owner"] = *request.owner;
        out["force"] = request.force;
    } else {
        out["all"] = true;
    }
    out["identity"] = to_json(request.identity);
}

void add_fields(Json& out, const StatusRequest& request) {
    out["root"] = request.root;
    if (!request.name.empty()) out["name"] = request.name;
    out["prune_expired"] = request.prune_expired;
    if (request.identity) out["identity"] = to_json(*request.identity);
}

void add_fields(Json& out, const FreezeRequest& request) {
    out["root"] = request.root;
    out["name"] = request.name;
    out["ttl_ms"] = request.ttl_ms;
    out["force"] = request.force;
    out["identity"] = to_json(request.identity);
}

void add_fields(Json& out, const UnfreezeRequest& request) {
    out["root"] = request.root;
    out["name"] = request.name;
    out["force"] = request.force;
    out["identity"] = to_json(request.identity);
}

void add_fields(Json& out, const SubscribeAuditRequest& request) {
    out["root"] = request.root;
    if (!request.since.empty()) out["since"] = request.since;
    if (!request.name.empty()) out["name"] = request.name;
}

void add_fields(Json& out, const UnsubscribeRequest& request) { out["subscription"] = request.subscription; }

void add_fields(Json&, const DaemonStatusRequest&) {}

void add_fields(Json&, const ShutdownRequest&) {}

Identity read_required_identity(Reader& in) {
    auto nested = in.object("identity", true);
    if (!nested) return {};
    return read_identity(*nested);
}

HelloRequest read_hello_request(Reader& in) {
    HelloRequest request;
    request.protocol.min = static_cast<std::uint32_t>(in.unsigned_integer("protocol_min", 1, k_max_u32));
    request.protocol.max = static_cast<std::uint32_t>(in.unsigned_integer("protocol_max", 1, k_max_u32));
    if (!in.failed() && request.protocol.max < request.protocol.min) {
        in.fail_field("protocol_max", "must not be less than \"protocol_min\"");
    }
    request.client_version = in.string("client_version");
    request.client_build = in.optional_string("client_build");
    request.capabilities = in.strings("capabilities");
    return request;
}

AcquireRequest read_acquire_request(Reader& in) {
    AcquireRequest request;
    request.root = in.root();
    request.name = in.string("name");
    request.mode = in.word("mode", k_acquire_mode_words);
    request.ttl_ms = in.optional_duration_ms("ttl_ms");
    request.wait = in.boolean("wait");
    request.timeout_ms = in.optional_duration_ms("timeout_ms");
    request.identity = read_required_identity(in);
    request.bound_pid = in.optional_pid("bound_pid");
    request.bound_pid_start = in.optional_unsigned("bound_pid_start", 0, k_max_u64);
    request.nested_lock_id = in.lock_id("nested_lock_id", false);
    request.handle = in.lock_id("handle", false);
    if (in.failed()) return request;

    const bool bound_to_pid = request.mode == AcquireMode::manual && !request.ttl_ms;
    if (request.timeout_ms && !request.wait) {
        in.fail_field("timeout_ms", "needs \"wait\": true");
    } else if (bound_to_pid && !request.bound_pid) {
        in.fail_missing("bound_pid", "a manual acquire without \"ttl_ms\" is bound to a process");
    } else if (!bound_to_pid && request.bound_pid) {
        in.fail_field("bound_pid", "is only for a manual acquire without \"ttl_ms\"");
    } else if (request.bound_pid_start && !request.bound_pid) {
        in.fail_field("bound_pid_start", "needs \"bound_pid\"");
    } else if (!request.handle.empty() && request.mode != AcquireMode::guard) {
        in.fail_field("handle", "is only for a guard");
    }
    return request;
}

ReleaseRequest read_release_request(Reader& in) {
    ReleaseRequest request;
    request.root = in.root();
    request.name = in.string("name");
    request.lock_id = in.lock_id("lock_id", true);
    request.exit_status = in.optional_unsigned("exit_status", 0, 255);
    return request;
}

RenewRequest read_renew_request(Reader& in) {
    RenewRequest request;
    request.root = in.root();
    request.name = in.string("name");
    request.lock_id = in.lock_id("lock_id", true);
    request.ttl_ms = in.duration_ms("ttl_ms");
    return request;
}

UnlockRequest read_unlock_request(Reader& in) {
    UnlockRequest request;
    request.root = in.root();
    request.name = in.string("name");
    request.mode = in.word("mode", k_unlock_mode_words);
    request.identity = read_required_identity(in);
    return request;
}

UnlockManyRequest read_unlock_many_request(Reader& in) {
    UnlockManyRequest request;
    request.root = in.root();
    const bool has_owner = in.has("owner");
    if (has_owner) request.owner = in.nonempty_string("owner");
    request.force = in.boolean("force");
    const bool all = in.boolean("all");
    request.identity = read_required_identity(in);
    if (in.failed()) return request;
    if (has_owner && all) {
        in.fail("fields \"owner\" and \"all\" exclude each other");
    } else if (!has_owner && !all) {
        in.fail("missing field \"owner\" or \"all\": true");
    }
    return request;
}

StatusRequest read_status_request(Reader& in) {
    StatusRequest request;
    request.root = in.root();
    request.name = in.optional_string("name");
    request.prune_expired = in.boolean("prune_expired");
    if (auto identity = in.object("identity", false)) request.identity = read_identity(*identity);
    if (!in.failed() && request.prune_expired && !request.identity) {
        in.fail_missing("identity", "required with \"prune_expired\": true");
    }
    return request;
}

FreezeRequest read_freeze_request(Reader& in) {
    FreezeRequest request;
    request.root = in.root();
    request.name = in.string("name");
    request.ttl_ms = in.duration_ms("ttl_ms");
    request.force = in.boolean("force");
    request.identity = read_required_identity(in);
    return request;
}

UnfreezeRequest read_unfreeze_request(Reader& in) {
    UnfreezeRequest request;
    request.root = in.root();
    request.name = in.string("name");
    request.force = in.boolean("force");
    request.identity = read_required_identity(in);
    return request;
}

SubscribeAuditRequest read_subscribe_audit_request(Reader& in) {
    SubscribeAuditRequest request;
    request.root = in.root();
    request.since = in.optional_string("since");
    request.name = in.optional_string("name");
    return request;
}

UnsubscribeRequest read_unsubscribe_request(Reader& in) {
    UnsubscribeRequest request;
    request.subscription = in.unsigned_integer("subscription", 1, k_max_u64);
    return request;
}

RequestBody read_request_body(Op op, Reader& in) {
    switch (op) {
        case Op::hello: return read_hello_request(in);
        case Op::acquire: return read_acquire_request(in);
        case Op::release: return read_release_request(in);
        case Op::renew: return read_renew_request(in);
        case Op::unlock: return read_unlock_request(in);
        case Op::unlock_many: return read_unlock_many_request(in);
        case Op::status: return read_status_request(in);
        case Op::freeze: return read_freeze_request(in);
        case Op::unfreeze: return read_unfreeze_request(in);
        case Op::subscribe_audit: return read_subscribe_audit_request(in);
        case Op::unsubscribe: return read_unsubscribe_request(in);
        case Op::daemon_status: return DaemonStatusRequest{};
        case Op::shutdown: return ShutdownRequest{};
    }
    return ShutdownRequest{};
}

// Reads "op" as a known op word, or records why not.
std::optional<Op> read_op(Reader& in) {
    const std::string word = in.string("op");
    if (in.failed()) return std::nullopt;
    const auto op = op_from_string(word);
    if (!op) in.fail("unknown op " + quote_text(word) + "; known ops: " + word_list(k_op_words));
    return op;
}

Result<Request> decode_request_checked(std::string_view line) {
    Failure failure;
    const auto fail = [&failure]() { return make_error(ErrorCode::usage, "invalid request: " + *failure.message); };
    const auto object = parse_object(line, failure);
    if (!object) return fail();
    Reader in(*object, "", failure);
    const std::uint64_t id = in.unsigned_integer("id", 1, k_max_u64);
    const auto op = read_op(in);
    if (in.failed()) return fail();
    Request request{id, read_request_body(*op, in)};
    if (in.failed()) return fail();
    return request;
}

// ---------------------------------------------------------------------------
// Replies: fields after "id", "op" and "ok"

void add_fields(Json& out, const HelloReply& reply) {
    out["protocol"] = reply.protocol;
    out["daemon_version"] = reply.daemon_version;
    if (!reply.daemon_build.empty()) out["daemon_build"] = reply.daemon_build;
    out["daemon_pid"] = reply.daemon_pid;
    out["capabilities"] = reply.capabilities;
}

void add_fields(Json& out, const AcquireReply& reply) {
    out["lock"] = to_json(reply.lock);
    out["outcome"] = to_string(reply.outcome);
}

void add_fields(Json&, const ReleaseReply&) {}

void add_fields(Json& out, const RenewReply& reply) { out["lock"] = to_json(reply.lock); }

void add_fields(Json& out, const UnlockReply& reply) {
    if (reply.lock) out["lock"] = to_json(*reply.lock);
}

void add_fields(Json& out, const UnlockManyReply& reply) {
    out["released"] = to_json(reply.released);
    if (reply.refused.empty()) return;
    Json refused = Json::array();
    for (const auto& item : reply.refused) {
        Json entry = Json::object();
        entry["code"] = to_string(item.code);
        entry["message"] = item.message;
        entry["holder"] = to_json(item.holder);
        refused.push_back(std::move(entry));
    }
    out["refused"] = std::move(refused);
}

void add_fields(Json& out, const StatusReply& reply) {
    Json locks = Json::array();
    for (const auto& entry : reply.locks) {
        Json item = Json::object();
        add_lock_fields(item, entry.lock);
        item["staleness"] = to_string(entry.staleness);
        item["waiters"] = entry.waiters;
        locks.push_back(std::move(item));
    }
    out["locks"] = std::move(locks);
    out["freezes"] = to_json(reply.freezes);
    out["pruned"] = to_json(reply.pruned);
    if (reply.waiting) {
        Json waiting = Json::array();
        for (const auto& waiter : *reply.waiting) {
            Json item = Json::object();
            item["name"] = waiter.name;
            item["position"] = waiter.position;
            item["identity"] = to_json(waiter.identity);
            item["waited_ms"] = waiter.waited_ms;
            waiting.push_back(std::move(item));
        }
        out["waiting"] = std::move(waiting);
    }
}

void add_fields(Json& out, const FreezeReply& reply) { out["freeze"] = to_json(reply.freeze); }

void add_fields(Json& out, const UnfreezeReply& reply) {
    if (reply.freeze) out["freeze"] = to_json(*reply.freeze);
}

void add_fields(Json&, const SubscribeAuditReply&) {}

void add_fields(Json&, const UnsubscribeReply&) {}

void add_fields(Json& out, const DaemonStatusReply& reply) {
    out["daemon_pid"] = reply.daemon_pid;
    out["daemon_version"] = reply.daemon_version;
    out["uptime_ms"] = reply.uptime_ms;
    out["connections"] = reply.connections;
    out["holds"] = reply.holds;
    out["waiters"] = reply.waiters;
    Json roots = Json::array();
    for (const auto& root : reply.roots) {
        Json item = Json::object();
        item["root"] = root.root;
        item["holds"] = root.holds;
        item["waiters"] = root.waiters;
        item["subscriptions"] = root.subscriptions;
        roots.push_back(std::move(item));
    }
    out["roots"] = std::move(roots);
}

void add_fields(Json&, const ShutdownReply&) {}

Json error_json(const ErrorReply& reply) {
    Json error = Json::object();
    error["code"] = to_string(reply.code);
    error["message"] = reply.message;
    if (reply.holder) error["holder"] = to_json(*reply.holder);
    if (reply.freeze) error["freeze"] = to_json(*reply.freeze);
    if (reply.supported) {
        error["protocol_min"] = reply.supported->min;
        error["protocol_max"] = reply.supported->max;
    }
    return error;
}

ErrorCode read_error_code(Reader& in) {
    const std::string code = in.string("code");
    if (in.failed()) return ErrorCode::internal;
    const auto known = error_code_from_string(code);
    if (!known) in.fail_field("code", "must be a known error code, got " + quote_text(code));
    return known.value_or(ErrorCode::internal);
}

ErrorReply read_error_reply(Reader& in, std::optional<Op> op) {
    ErrorReply reply;
    reply.op = op;
    auto error = in.object("error", true);
    if (!error) return reply;
    reply.code = read_error_code(*error);
    reply.message = error->string("message");
    reply.holder = read_optional_lock(*error, "holder");
    reply.freeze = read_optional_lock(*error, "freeze");
    const auto min = error->optional_unsigned("protocol_min", 1, k_max_u32);
    const auto max = error->optional_unsigned("protocol_max", 1, k_max_u32);
    if (min && max) {
        reply.supported = VersionRange{static_cast<std::uint32_t>(*min), static_cast<std::uint32_t>(*max)};
    } else if (min || max) {
        error->fail("fields \"error.protocol_min\" and \"error.protocol_max\" come together");
    }
    return reply;
}

HelloReply read_hello_reply(Reader& in) {
    HelloReply reply;
    reply.protocol = static_cast<std::uint32_t>(in.unsigned_integer("protocol", 1, k_max_u32));
    reply.daemon_version = in.string("daemon_version");
    reply.daemon_build = in.optional_string("daemon_build");
    reply.daemon_pid = in.pid("daemon_pid", 1);
    reply.capabilities = in.strings("capabilities");
    return reply;
}

AcquireReply read_acquire_reply(Reader& in) {
    AcquireReply reply;
    reply.lock = read_required_lock(in, "lock");
    reply.outcome = in.word("outcome", k_acquire_outcome_words);
    return reply;
}

UnlockManyReply read_unlock_many_reply(Reader& in) {
    UnlockManyReply reply;
    reply.released = read_locks(in, "released");
    for (auto& item : in.objects("refused")) {
        UnlockRefusal refusal;
        refusal.code = read_error_code(item);
        refusal.message = item.string("message");
        refusal.holder = read_required_lock(item, "holder");
        reply.refused.push_back(std::move(refusal));
    }
    return reply;
}

StatusReply read_status_reply(Reader& in) {
    StatusReply reply;
    for (auto& item : in.objects("locks")) {
        LockStatus entry;
        entry.lock = read_lock(item);
        entry.staleness = item.word("staleness", k_staleness_words);
        entry.waiters = item.count("waiters");
        reply.locks.push_back(std::move(entry));
    }
    reply.freezes = read_locks(in, "freezes");
    reply.pruned = read_locks(in, "pruned");
    if (in.has("waiting")) {
        reply.waiting.emplace();
        for (auto& item : in.objects("waiting")) {
            WaiterInfo waiter;
            waiter.name = item.nonempty_string("name");
            waiter.position = static_cast<std::uint32_t>(item.unsigned_integer("position", 1, k_max_u32));
            waiter.identity = read_required_identity(item);
            waiter.waited_ms = item.unsigned_integer("waited_ms", 0, k_max_u64);
            reply.waiting->push_back(std::move(waiter));
        }
    }
    return reply;
}

DaemonStatusReply read_daemon_status_reply(Reader& in) {
    DaemonStatusReply reply;
    reply.daemon_pid = in.pid("daemon_pid", 1);
    reply.daemon_version = in.string("daemon_version");
    reply.uptime_ms = in.unsigned_integer("uptime_ms", 0, k_max_u64);
    reply.connections = in.count("connections");
    reply.holds = in.count("holds");
    reply.waiters = in.count("waiters");
    for (auto& item : in.objects("roots")) {
        RootStatus root;
        root.root = item.string("root");
        root.holds = item.count("holds");
        root.waiters = item.count("waiters");
        root.subscriptions = item.count("subscriptions");
        reply.roots.push_back(std::move(root));
    }
    return reply;
}

ReplyBody read_ok_reply(Op op, Reader& in) {
    switch (op) {
        case Op::hello: return read_hello_reply(in);
        case Op::acquire: return read_acquire_reply(in);
        case Op::release: return ReleaseReply{};
        case Op::renew: return RenewReply{read_required_lock(in, "lock")};
        case Op::unlock: return UnlockReply{read_optional_lock(in, "lock")};
        case Op::unlock_many: return read_unlock_many_reply(in);
        case Op::status: return read_status_reply(in);
        case Op::freeze: return FreezeReply{read_required_lock(in, "freeze")};
        case Op::unfreeze: return UnfreezeReply{read_optional_lock(in, "freeze")};
        case Op::subscribe_audit: return SubscribeAuditReply{};
        case Op::unsubscribe: return UnsubscribeReply{};
        case Op::daemon_status: return read_daemon_status_reply(in);
        case Op::shutdown: return ShutdownReply{};
    }
    return ShutdownReply{};
}

// Reads "op" when it must be a given word (progress and event lines).
void expect_op(Reader& in, Op expected) {
    const std::string word = in.string("op");
    if (!in.failed() && word != to_string(expected)) {
        in.fail_field("op", "must be " + quote_text(to_string(expected)) + ", got " + quote_text(word));
    }
}

void expect_true(Reader& in, std::string_view key) {
    if (!in.boolean(key) && !in.failed()) in.fail_field(key, "must be true");
}

Progress read_progress(Reader& in, std::uint64_t id) {
    Progress progress;
    progress.id = id;
    expect_op(in, Op::acquire);
    expect_true(in, "progress");
    progress.position = in.count("position");
    progress.queue_length = in.count("queue_length");
    progress.holder = read_optional_lock(in, "holder");
    progress.freeze = read_optional_lock(in, "freeze");
    return progress;
}

AuditEvent read_audit_event(Reader& in, const Json& object, std::uint64_t id) {
    AuditEvent event;
    event.id = id;
    expect_op(in, Op::subscribe_audit);
    expect_true(in, "event");
    if (in.object("audit", true)) event.audit = dump(object.at("audit"));
    return event;
}

Reply read_reply(Reader& in, std::uint64_t id) {
    Reply reply;
    reply.id = id;
    const bool ok = in.boolean("ok");
    if (in.failed()) return reply;
    if (!ok) {
        // A refused line may have no readable op: then the reply has none.
        std::optional<Op> op;
        if (in.has("op")) op = read_op(in);
        reply.body = read_error_reply(in, op);
        return reply;
    }
    const auto op = read_op(in);
    if (in.failed()) return reply;
    reply.body = read_ok_reply(*op, in);
    return reply;
}

Result<ServerMessage> decode_server_message_checked(std::string_view line) {
    Failure failure;
    const auto fail = [&failure]() {
        return make_error(ErrorCode::internal, "invalid message from daemon: " + *failure.message);
    };
    const auto object = parse_object(line, failure);
    if (!object) return fail();
    Reader in(*object, "", failure);
    std::optional<ServerMessage> message;
    if (in.has("progress")) {
        message = read_progress(in, in.unsigned_integer("id", 1, k_max_u64));
    } else if (in.has("event")) {
        message = read_audit_event(in, *object, in.unsigned_integer("id", 1, k_max_u64));
    } else if (in.has("ok")) {
        message = read_reply(in, in.unsigned_integer("id", 0, k_max_u64));
    } else {
        in.fail("a message from the daemon needs one of the fields \"ok\", \"progress\" or \"event\"");
    }
    if (in.failed()) return fail();
    return std::move(*message);
}

Json header(std::uint64_t id, std::optional<Op> op) {
    Json out = Json::object();
    out["id"] = id;
    if (op) out["op"] = to_string(*op);
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Public functions

Result<std::uint32_t> negotiate_version(VersionRange client, VersionRange daemon) {
    const std::uint32_t low = std::max(client.min, daemon.min);
    const std::uint32_t high = std::min(client.max, daemon.max);
    if (low > high) {
        return make_error(ErrorCode::unsupported, "no common protocol version: the client speaks " + std::to_string(client.min) +
                                                      " to " + std::to_string(client.max) + ", the daemon " +
                                                      std::to_string(daemon.min) + " to " + std::to_string(daemon.max) +
                                                      "; install the same lokt version for both");
    }
    return high;
}

std::string_view to_string(Op op) { return word_of(k_op_words, op); }
std::optional<Op> op_from_string(std::string_view word) { return value_of(k_op_words, word); }
std::string_view to_string(AcquireMode mode) { return word_of(k_acquire_mode_words, mode); }
std::string_view to_string(AcquireOutcome outcome) { return word_of(k_acquire_outcome_words, outcome); }
std::string_view to_string(UnlockMode mode) { return word_of(k_unlock_mode_words, mode); }
std::string_view to_string(BoundTo bound_to) { return word_of(k_bound_to_words, bound_to); }
std::string_view to_string(Staleness staleness) { return word_of(k_staleness_words, staleness); }

std::optional<Op> Reply::op() const {
    if (const auto* error = std::get_if<ErrorReply>(&body)) return error->op;
    return static_cast<Op>(body.index() - 1);
}

Result<AuditEvent> make_audit_event(std::uint64_t id, std::string_view audit_line) {
    const Json object = Json::parse(audit_line.begin(), audit_line.end(), nullptr, false);
    if (!object.is_object()) return make_error(ErrorCode::corrupt, "audit line is not a JSON object");
    return AuditEvent{id, dump(object)};
}

std::string encode(const Request& request) {
    Json out = header(request.id, request.op());
    std::visit([&out](const auto& body) { add_fields(out, body); }, request.body);
    return dump_line(out);
}

std::string encode(const Reply& reply) {
    Json out = header(reply.id, reply.op());
    out["ok"] = reply.ok();
    if (const auto* error = std::get_if<ErrorReply>(&reply.body)) {
        out["error"] = error_json(*error);
    } else {
        std::visit(
            [&out](const auto& body) {
                if constexpr (!std::is_same_v<std::decay_t<decltype(body)>, ErrorReply>) add_fields(out, body);
            },
            reply.body);
    }
    return dump_line(out);
}

std::string encode(const Progress& progress) {
    Json out = header(progress.id, Op::acquire);
    out["progress"] = true;
    out["position"] = progress.position;
    out["queue_length"] = progress.queue_length;
    if (progress.holder) out["holder"] = to_json(*progress.holder);
    if (progress.freeze) out["freeze"] = to_json(*progress.freeze);
    return dump_line(out);
}

std::string encode(const AuditEvent& event) {
    Json out = header(event.id, Op::subscribe_audit);
    out["event"] = true;
    // make_audit_event() guarantees an object; anything else would be a bug,
    // sent as null so that every reader rejects it instead of a broken line.
    Json audit = Json::parse(event.audit.begin(), event.audit.end(), nullptr, false);
    if (!audit.is_object()) audit = nullptr;
    out["audit"] = std::move(audit);
    return dump_line(out);
}

std::string encode(const ServerMessage& message) {
    return std::visit([](const auto& alternative) { return encode(alternative); }, message);
}

Result<Request> decode_request(std::string_view line) {
    try {
        return decode_request_checked(line);
    } catch (const nlohmann::json::exception& error) {
        // Every access above is checked first; this is a last line of defence.
        return make_error(ErrorCode::usage, std::string("invalid request: ") + error.what());
    }
}

Result<ServerMessage> decode_server_message(std::string_view line) {
    try {
        return decode_server_message_checked(line);
    } catch (const nlohmann::json::exception& error) {
        return make_error(ErrorCode::internal, std::string("invalid message from daemon: ") + error.what());
    }
}

Result<Reply> decode_reply(std::string_view line) {
    LOKT_TRY_LET(message, decode_server_message(line));
    if (auto* reply = std::get_if<Reply>(&message.value())) return std::move(*reply);
    const char* kind = std::holds_alternative<Progress>(message.value()) ? "a progress message" : "an audit event";
    return make_error(ErrorCode::internal, std::string("invalid message from daemon: expected a reply, got ") + kind);
}

RequestHeader peek_request_header(std::string_view line) {
    RequestHeader out;
    // With allow_exceptions false, bad JSON parses as a discarded value.
    const Json object = Json::parse(line.begin(), line.end(), nullptr, false);
    if (!object.is_object()) return out;
    if (const auto id = object.find("id"); id != object.end() && id->is_number_unsigned()) {
        out.id = id->get<std::uint64_t>();
    }
    if (const auto op = object.find("op"); op != object.end() && op->is_string()) {
        out.op = op_from_string(op->get_ref<const std::string&>());
    }
    return out;
}

Reply error_reply_for(std::string_view line, const Error& error) {
    const RequestHeader header = peek_request_header(line);
    ErrorReply body;
    body.op = header.op;
    body.code = error.code;
    body.message = error.message;
    return Reply{header.id, std::move(body)};
}

}  // namespace lokt::protocol
