// See cli_context.hpp.
#include "client/cli_context.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "client/backend_factory.hpp"
#include "common/sys_error.hpp"

namespace lokt::client {
namespace {

// The options of the run's context, once the parser has filled them in.
const GlobalOptions* g_options = nullptr;

}  // namespace

CliContext::CliContext() { g_options = &m_options; }

CliContext::~CliContext() {
    if (g_options == &m_options) g_options = nullptr;
}

const Identity& CliContext::identity() {
    if (!m_identity) m_identity = current_identity();
    return *m_identity;
}

Result<LockRoot> CliContext::root() {
    if (m_root) return *m_root;
    std::error_code ec;
    const auto cwd = std::filesystem::current_path(ec);
    if (ec) return sys_error("cannot determine", "the current directory", ec.value());
    auto found = discover_lock_root(cwd, std::getenv("LOKT_ROOT"));
    if (!found) return found;
    m_root = found.value();
    if (m_options.verbose) {
        std::fprintf(stderr, "lokt: root %s (from %s)\n", m_root->path.c_str(), std::string(to_string(m_root->source)).c_str());
        if (m_root->source == RootSource::working_directory) {
            std::fprintf(stderr,
                         "lokt: not inside a git repository and LOKT_ROOT is not set: each directory gets its own "
                         ".lokt; set LOKT_ROOT to share one root\n");
        }
    }
    return *m_root;
}

Result<Backend*> CliContext::backend(bool read_only) {
    if (m_backend) return m_backend.get();
    LOKT_TRY(validate_identity(identity()));
    auto where = root();
    if (!where) return where.take_error();
    auto made = make_backend(*where, identity(), read_only, m_options.verbose);
    if (!made) return made.take_error();
    m_backend = std::move(made.value());
    return m_backend.get();
}

int report(const Error& error) {
    std::fprintf(stderr, "error: %s\n", error.message.c_str());
    return exit_code_for(error.code);
}

void warn(const std::string& message) {
    if (g_options == nullptr || !g_options->quiet) std::fprintf(stderr, "warning: %s\n", message.c_str());
}

int report_json(const Error& error, const Blocker& blocker) {
    JsonWriter out;
    write_error(out, error, blocker);
    std::fputs(out.finish().c_str(), stdout);
    return report(error);
}

int report_json_line(const Error& error) {
    std::string line = "{\"error\":{\"code\":";
    append_json_string(line, to_string(error.code));
    line += ",\"message\":";
    append_json_string(line, error.message);
    line += "}}\n";
    std::fputs(line.c_str(), stdout);
    return report(error);
}

Result<Nanoseconds> parse_duration_flag(const std::string& text, const char* flag, Nanoseconds min) {
    auto parsed = parse_duration(text);
    if (!parsed) return make_error(ErrorCode::usage, std::string(flag) + ": " + parsed.error().message);
    if (auto in_range = check_duration_range(flag, *parsed, min); !in_range) return in_range.take_error();
    return parsed;
}

}  // namespace lokt::client
