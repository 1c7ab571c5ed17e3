// Expected outcomes (held, frozen, not found, ...) are values, not exceptions.
// One ErrorCode vocabulary serves the C++ code, the exit status and the wire.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace lokt {

enum class ErrorCode {
    held,         // another holder has it (exit 2)
    frozen,       // a freeze blocks it (exit 2)
    timeout,      // --wait ran out of time (exit 2)
    not_found,    // no such lock or freeze (exit 3)
    not_owner,    // it exists but is someone else's (exit 4)
    usage,        // bad flag, argument, duration or name (exit 64)
    io,           // a system call failed (exit 1)
    corrupt,      // state on disk that cannot be understood or repaired (exit 1)
    unsupported,  // written by a newer tool; left alone (exit 1)
    lost,         // a hold we had was taken away (exit 1)
    unavailable,  // a required service (the daemon) is not there (exit 1)
    internal,     // a bug (exit 1)
    deadlock,     // waiting would close a cycle of holds and waits (exit 5)
};

// The stable snake_case word for a code, as used on the wire and in docs.
std::string_view to_string(ErrorCode code);
std::optional<ErrorCode> error_code_from_string(std::string_view word);
// The process exit status SPEC.md assigns to a code.
int exit_code_for(ErrorCode code);

struct Error {
    ErrorCode code;
    std::string message;  // lower case, names the lock and the cause; no "error:" prefix
    // Nothing was done because a lock name's mutex was held by another
    // process, and the store was told not to wait for it: worth trying again.
    bool busy = false;
};

inline Error make_error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

// A value or an Error. Result<void> carries no value.
template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : m_state(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : m_state(std::in_place_index<1>, std::move(error)) {}

    bool ok() const { return m_state.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(m_state); }
    const T& value() const& { return std::get<0>(m_state); }
    T&& value() && { return std::get<0>(std::move(m_state)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const { return std::get<1>(m_state); }
    Error&& take_error() { return std::get<1>(std::move(m_state)); }

private:
    std::variant<T, Error> m_state;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : m_error(std::move(error)) {}

    bool ok() const { return !m_error.has_value(); }
    explicit operator bool() const { return ok(); }
    const Error& error() const { return *m_error; }
    Error&& take_error() { return std::move(*m_error); }

private:
    std::optional<Error> m_error;
};

}  // namespace lokt

// Returns from the enclosing function with the error of `expr` (a Result) if it
// failed; the value, if any, is dropped.
#define LOKT_TRY(expr)                                           \
    do {                                                         \
        if (auto lokt_try_result_ = (expr); !lokt_try_result_) { \
            return lokt_try_result_.take_error();                \
        }                                                        \
    } while (false)

// Declares `name` as the Result of `expr` and returns its error from the
// enclosing function if it failed; afterwards `*name` is the value.
#define LOKT_TRY_LET(name, expr) \
    auto name = (expr);          \
    if (!name) return name.take_error()
