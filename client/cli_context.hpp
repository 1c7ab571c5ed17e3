// What every command needs and nothing more: who we are, where the lock root
// is, the backend chosen for this run, and the one way lokt prints things.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "client/backend.hpp"
#include "common/identity.hpp"
#include "client/json_views.hpp"
#include "common/lock_root.hpp"
#include "common/result.hpp"

namespace lokt::client {

// The options every command takes (-v, -q), before or after the command name.
struct GlobalOptions {
    bool verbose = false;  // say which root and backend are used
    bool quiet = false;    // no warnings, no live waiting line
};

class CliContext {
public:
    // The context of this run: warn() reads its -q.
    CliContext();
    ~CliContext();
    CliContext(const CliContext&) = delete;
    CliContext& operator=(const CliContext&) = delete;

    const GlobalOptions& options() const { return m_options; }
    // Where the parser stores the global options: read by the commands, which
    // run once parsing is done.
    GlobalOptions& parsed_options() { return m_options; }
    const Identity& identity();
    Result<LockRoot> root();
    // Opens the backend; read_only commands never create the root.
    Result<Backend*> backend(bool read_only);

private:
    GlobalOptions m_options;
    std::optional<Identity> m_identity;
    std::optional<LockRoot> m_root;
    std::unique_ptr<Backend> m_backend;
};

// "error: <message>" on stderr; returns the exit status for the code.
int report(const Error& error);
// "warning: <message>" on stderr, unless -q silenced warnings.
void warn(const std::string& message);
// For --json commands: the error as JSON on stdout (with what blocks the
// operation, for a refusal) as well as text on stderr.
int report_json(const Error& error, const Blocker& blocker = {});
// The same on one line, for commands whose --json output is JSON Lines (audit).
int report_json_line(const Error& error);

// A duration flag (--ttl, --timeout): a usage error (exit 64) when malformed or
// outside [min, k_max_duration]. Every such flag is read here, before any
// backend runs, so the limits and their wording are the same in both.
Result<Nanoseconds> parse_duration_flag(const std::string& text, const char* flag, Nanoseconds min);
// A TTL flag: at least k_min_ttl.
inline Result<Nanoseconds> parse_ttl(const std::string& text, const char* flag) {
    return parse_duration_flag(text, flag, k_min_ttl);
}

}  // namespace lokt::client
