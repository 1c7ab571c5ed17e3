// Private to protocol/'s .cpp files. The words of every enum on the wire, one
// table each, read by both the encoder and the decoder (common/enum_words.hpp).
// The enums are the engine's own where it has one; Binding's words are the lock
// file's (k_binding_words in common/lock_record.hpp).
#pragma once

#include "common/enum_words.hpp"
#include "common/hold_state.hpp"
#include "common/lock_engine.hpp"
#include "protocol/json_reader.hpp"
#include "protocol/vocabulary.hpp"

#include <array>
#include <optional>
#include <string>

namespace lokt::protocol::wire {

inline constexpr std::array k_op_words{
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
    Word<Op>{Op::etcd_hold, "etcd_hold"},
};

inline constexpr std::array k_acquire_mode_words{
    Word<AcquireMode>{AcquireMode::guard, "guard"},
    Word<AcquireMode>{AcquireMode::manual, "manual"},
};

// An acquire's reply never carries `refused`: that is an error reply.
inline constexpr std::array k_outcome_words{
    Word<AcquireResult::Outcome>{AcquireResult::Outcome::acquired, "acquired"},
    Word<AcquireResult::Outcome>{AcquireResult::Outcome::refreshed, "refreshed"},
    Word<AcquireResult::Outcome>{AcquireResult::Outcome::nested, "nested"},
};

inline constexpr std::array k_unlock_mode_words{
    Word<UnlockMode>{UnlockMode::owner, "owner"},
    Word<UnlockMode>{UnlockMode::break_stale, "break_stale"},
    Word<UnlockMode>{UnlockMode::force, "force"},
};

// "staleness": the wire tells the stale states apart from live; every other
// state has no word and is written as the first, "live".
inline constexpr std::array k_staleness_words{
    Word<HoldState>{HoldState::live, "live"},
    Word<HoldState>{HoldState::expired, "expired"},
    Word<HoldState>{HoldState::dead_holder, "dead"},
};

// Reads "op" as a known op word, or records why not.
inline std::optional<Op> read_op(Reader& in) {
    const std::string word = in.string("op");
    if (in.failed()) return std::nullopt;
    const auto op = value_of(k_op_words, word);
    if (!op) in.fail("unknown op " + quote_text(word) + "; known ops: " + word_list(k_op_words));
    return op;
}

}  // namespace lokt::protocol::wire
