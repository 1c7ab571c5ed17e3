// See lokt_fixture.hpp.
#include "tests/cli/support/lokt_fixture.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace lokt::cli_test {
namespace {

std::string this_host() {
    char buffer[256] = {};
    if (::gethostname(buffer, sizeof buffer - 1) != 0) return "localhost";
    return buffer;
}

std::string random_hex(std::size_t digits) {
    static std::mt19937_64 generator{std::random_device{}()};
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < digits; ++i) out.push_back(k_hex[generator() % 16]);
    return out;
}

}  // namespace

// ---- LoktFixture ----------------------------------------------------------

const fs::path& LoktFixture::binary() {
    static const fs::path path = LOKT_BINARY;
    return path;
}

LoktFixture::LoktFixture()
    : m_scratch("lokt-cli"),
      m_repo(m_scratch.path() / "repo"),
      m_root(m_repo / ".git" / "lokt"),
      m_transcript(m_scratch.path() / "transcript.txt"),
      m_host(this_host()),
      m_env(Environment::inherited()) {
    fs::create_directories(m_repo / ".git" / "refs");
    write_text(m_repo / ".git" / "HEAD", "ref: refs/heads/main\n");
    // Scenarios call `lokt` by name, as users do; messages must not depend on the locale.
    const std::string path = m_env.get("PATH").value_or("/usr/bin:/bin");
    m_env.set("PATH", binary().parent_path().string() + ":" + path);
    m_env.set("LC_ALL", "C");
    m_backend = start_backend_session(m_env, m_scratch.path());
    if (!m_backend) throw std::runtime_error("no backend named " + backend_name());
    note("# backend " + backend_name() + ", binary " + binary().string() + ", repository " + m_repo.string());
}

LoktFixture::~LoktFixture() {
    if (m_scratch.failed()) {
        std::fprintf(stderr, "transcript of every command: %s\n", m_transcript.c_str());
        const std::string diagnostics = m_backend ? m_backend->diagnostics() : std::string();
        if (!diagnostics.empty()) std::fprintf(stderr, "backend diagnostics:\n%s\n", diagnostics.c_str());
    }
    m_backend.reset();
    lokt::test::reap_stray_processes();
}

fs::path LoktFixture::lock_path(std::string_view name) const { return m_root / "locks" / (std::string(name) + ".json"); }

fs::path LoktFixture::freeze_path(std::string_view name) const { return m_root / "freezes" / (std::string(name) + ".json"); }

fs::path LoktFixture::audit_path() const { return m_root / "audit.log"; }

void LoktFixture::set_env(const std::string& name, std::string value) { m_env.set(name, std::move(value)); }

void LoktFixture::unset_env(const std::string& name) { m_env.unset(name); }

void LoktFixture::use_root(const fs::path& root) {
    m_root = root;
    m_env.set("LOKT_ROOT", root.string());
}

Environment LoktFixture::environment_for(const RunOptions& options) const {
    Environment env = m_env;
    for (const auto& [name, value] : options.env) {
        if (value)
            env.set(name, *value);
        else
            env.unset(name);
    }
    return env;
}

ProcessSpec LoktFixture::spec_for(std::vector<std::string> argv, const RunOptions& options) const {
    ProcessSpec spec;
    spec.argv = std::move(argv);
    spec.env = environment_for(options);
    spec.cwd = options.cwd.value_or(m_repo);
    spec.stdin_mode = options.stdin_mode;
    return spec;
}

void LoktFixture::note(const std::string& text) {
    std::ofstream out(m_transcript, std::ios::app);
    out << text << "\n";
}

bool LoktFixture::crash_daemon() {
    const bool crashed = m_backend->crash_daemon();
    if (crashed) note("# killed the daemon (SIGKILL)");
    return crashed;
}

std::optional<long long> LoktFixture::audit_subscriptions() const { return m_backend->audit_subscriptions(m_root); }

std::optional<std::string> LoktFixture::daemon_request(const std::string& json) const { return m_backend->daemon_request(json); }

bool LoktFixture::wait_until_tail_follows(pid_t tail, long long subscriptions) {
    const bool daemon = audit_subscriptions().has_value();
    return wait_until(
        [&] {
            if (daemon && audit_subscriptions().value_or(0) < subscriptions) return false;
            return process_state(tail) == 'S';
        },
        k_wait_timeout, Millis(20));
}

void LoktFixture::record(const ProcessResult& result) {
    note(result.describe());
    CHECK_MESSAGE(!result.timed_out, "the command did not finish in time and was killed:\n" << result.describe());
}

ProcessResult LoktFixture::run(std::vector<std::string> argv, const RunOptions& options) {
    std::string overrides;
    for (const auto& [name, value] : options.env) overrides += " " + name + (value ? "=" + *value : " (unset)");
    if (!overrides.empty()) note("# env:" + overrides);
    ProcessResult result = run_process(spec_for(std::move(argv), options), options.timeout);
    record(result);
    return result;
}

ProcessResult LoktFixture::lokt(std::vector<std::string> args, const RunOptions& options) {
    args.insert(args.begin(), binary().string());
    return run(std::move(args), options);
}

ProcessResult LoktFixture::sh(const std::string& script, const RunOptions& options) {
    return run({"/bin/sh", "-c", script}, options);
}

ChildProcess LoktFixture::start(std::vector<std::string> argv, const RunOptions& options) {
    ChildProcess child(spec_for(argv, options));
    std::string text = "# started in the background, pid " + std::to_string(child.pid()) + ":";
    for (const auto& arg : argv) text += " " + arg;
    note(text);
    return child;
}

ChildProcess LoktFixture::start_lokt(std::vector<std::string> args, const RunOptions& options) {
    args.insert(args.begin(), binary().string());
    return start(std::move(args), options);
}

ChildProcess LoktFixture::start_sh(const std::string& script, const RunOptions& options) {
    return start({"/bin/sh", "-c", script}, options);
}

ProcessResult LoktFixture::finish(ChildProcess& child, Millis timeout) {
    ProcessResult result = child.finish(timeout);
    note("# background pid " + std::to_string(child.pid()) + " ended:");
    record(result);
    return result;
}

ChildProcess LoktFixture::start_holder(const std::string& name, const RunOptions& options, std::vector<std::string> flags) {
    std::vector<std::string> args{"guard", name};
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), {"--", "sh", "-c", "echo ready; read line || :"});
    RunOptions piped = options;
    piped.stdin_mode = StdinMode::pipe;
    ChildProcess holder = start_lokt(args, piped);
    const bool ready = holder.wait_for_stdout_containing("ready", k_wait_timeout);
    if (!ready) {
        auto result = finish(holder, Millis(1));
        FAIL("the holder of \"" << name << "\" never started its command:\n" << result.describe());
    }
    return holder;
}

ProcessResult LoktFixture::release_holder(ChildProcess& holder) {
    holder.close_stdin();
    return finish(holder);
}

std::vector<Json> LoktFixture::audit_events() const {
    std::vector<Json> events;
    if (backend_name() == "etcd") {
        // The events are keys in etcd: read them as a user would.
        ProcessSpec spec = spec_for({binary().string(), "audit", "--json"}, RunOptions());
        const ProcessResult read = run_process(spec, k_command_timeout);
        for (const auto& line : split_lines(read.out)) {
            Json event = Json::parse(line, nullptr, false);
            if (!event.is_discarded() && event.is_object()) events.push_back(std::move(event));
        }
        return events;
    }
    std::ifstream in(audit_path());
    for (std::string line; std::getline(in, line);) {
        Json event = Json::parse(line, nullptr, false);
        if (!event.is_discarded() && event.is_object()) events.push_back(std::move(event));
    }
    return events;
}

std::vector<Json> LoktFixture::audit_events(std::string_view event, std::string_view name) const {
    std::vector<Json> selected;
    for (auto& e : audit_events()) {
        if (e.value("event", "") == event && e.value("name", "") == name) selected.push_back(std::move(e));
    }
    return selected;
}

std::optional<Json> LoktFixture::read_lock(std::string_view name) const {
    if (etcd_backend()) {
        ProcessSpec spec = spec_for({binary().string(), "status", std::string(name), "--json"}, RunOptions());
        const ProcessResult read = run_process(spec, k_command_timeout);
        auto shown = parse_json(read.out);
        if (!shown || !shown->is_object() || !shown->contains("lock_id")) return std::nullopt;
        for (const char* added : {"state", "age_sec", "queue_known", "waiters", "kept_by"}) shown->erase(added);
        return shown;
    }
    std::error_code ec;
    if (!fs::is_regular_file(lock_path(name), ec)) return std::nullopt;
    return parse_json(read_text(lock_path(name)));
}

std::string LoktFixture::lock_snapshot_command(std::string_view name) const {
    auto quoted = [](const std::string& text) { return "'" + text + "'"; };
    if (etcd_backend()) return quoted(binary().string()) + " status " + quoted(std::string(name)) + " --json";
    return "cat " + quoted(lock_path(name).string());
}

bool LoktFixture::has_lock(std::string_view name) const {
    if (etcd_backend()) return read_lock(name).has_value();
    std::error_code ec;
    return fs::exists(lock_path(name), ec);
}

std::optional<Json> LoktFixture::read_freeze(std::string_view name) const {
    if (etcd_backend()) {
        ProcessSpec spec = spec_for({binary().string(), "status", "--json"}, RunOptions());
        const auto shown = parse_json(run_process(spec, k_command_timeout).out);
        if (!shown || !shown->is_object()) return std::nullopt;
        for (const auto& freeze : shown->value("freezes", Json::array())) {
            if (freeze.value("name", "") == name) return freeze;
        }
        return std::nullopt;
    }
    std::error_code ec;
    if (!fs::is_regular_file(freeze_path(name), ec)) return std::nullopt;
    return parse_json(read_text(freeze_path(name)));
}

bool LoktFixture::has_freeze(std::string_view name) const {
    if (etcd_backend()) return read_freeze(name).has_value();
    std::error_code ec;
    return fs::exists(freeze_path(name), ec);
}

void LoktFixture::write_lock_file(std::string_view name, const std::string& text) { write_record_file(lock_path(name), text); }

void LoktFixture::write_freeze_file(std::string_view name, const std::string& text) {
    write_record_file(freeze_path(name), text);
}

void LoktFixture::write_record_file(const fs::path& target, const std::string& text) {
    // A scenario that plants files must be marked files_only(): against etcd
    // the file would be ignored, and the scenario would test nothing.
    REQUIRE_MESSAGE(!etcd_backend(), "this scenario writes the root's files itself: mark it files_only()");
    fs::create_directories(target.parent_path());
    ::chmod(m_root.c_str(), 0700);
    ::chmod(target.parent_path().c_str(), 0700);
    const fs::path temp = target.parent_path() / (".test-" + random_hex(8));
    write_text(temp, text);
    ::chmod(temp.c_str(), 0600);
    fs::rename(temp, target);
}

Json LoktFixture::foreign_record(std::string_view name, long long pid, std::optional<unsigned long long> pid_start) const {
    Json record;
    record["version"] = 1;
    record["name"] = name;
    record["lock_id"] = random_hex(32);
    record["owner"] = "other-agent";
    record["host"] = m_host;
    record["pid"] = pid;
    if (pid_start) record["pid_start_ns"] = *pid_start;
    record["agent_id"] = "agent-0ther";
    record["acquired_ts"] = format_rfc3339(WallClock::now());
    return record;
}

// ---- helpers --------------------------------------------------------------

bool matches(const std::string& text, const std::string& pattern) {
    return std::regex_search(text, std::regex(pattern, std::regex::ECMAScript));
}

std::string regex_escape(std::string_view text) {
    static const std::string k_special = R"(\^$.|?*+()[]{}/)";
    std::string out;
    for (char c : text) {
        if (k_special.find(c) != std::string::npos) out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::stringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

std::optional<Json> parse_json(const std::string& text) {
    Json value = Json::parse(text, nullptr, false);
    if (value.is_discarded()) return std::nullopt;
    return value;
}

std::optional<WallClock::time_point> parse_rfc3339(const std::string& text) {
    static const std::regex k_form(R"(^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$)");
    std::smatch m;
    if (!std::regex_match(text, m, k_form)) return std::nullopt;
    std::tm tm{};
    tm.tm_year = std::stoi(m[1]) - 1900;
    tm.tm_mon = std::stoi(m[2]) - 1;
    tm.tm_mday = std::stoi(m[3]);
    tm.tm_hour = std::stoi(m[4]);
    tm.tm_min = std::stoi(m[5]);
    tm.tm_sec = std::stoi(m[6]);
    long long nanos = 0;
    if (m[8].matched) {
        std::string digits = m[8];
        digits.resize(9, '0');
        nanos = std::stoll(digits);
    }
    long long offset = 0;
    const std::string zone = m[9];
    if (zone != "Z") {
        offset = (std::stoll(zone.substr(1, 2)) * 3600 + std::stoll(zone.substr(4, 2)) * 60) * (zone[0] == '-' ? -1 : 1);
    }
    const auto seconds = static_cast<long long>(::timegm(&tm)) - offset;
    return WallClock::time_point(
        std::chrono::duration_cast<WallClock::duration>(std::chrono::seconds(seconds) + std::chrono::nanoseconds(nanos)));
}

std::string format_rfc3339(WallClock::time_point time) {
    const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
    const std::time_t seconds = static_cast<std::time_t>(nanos / 1'000'000'000);
    std::tm tm{};
    ::gmtime_r(&seconds, &tm);
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(nanos % 1'000'000'000));
    return buffer;
}

unsigned file_mode(const fs::path& path) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0) return 0;
    return info.st_mode & 07777;
}

std::vector<std::string> directory_entries(const fs::path& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) names.push_back(entry.path().filename().string());
    return names;
}

}  // namespace lokt::cli_test

namespace lokt::cli_test {

std::string held_message_pattern(std::string_view name, std::string_view owner, std::string_view host, long long pid) {
    return "^error: lock \"" + regex_escape(name) + "\" held by " + regex_escape(owner) + "@" + regex_escape(host) + " \\(pid " +
           std::to_string(pid) + "\\) for [0-9]+s\n$";
}

std::string held_message_pattern_any_duration(std::string_view name, std::string_view owner, std::string_view host,
                                              long long pid) {
    return "^error: lock \"" + regex_escape(name) + "\" held by " + regex_escape(owner) + "@" + regex_escape(host) + " \\(pid " +
           std::to_string(pid) + "\\) for [0-9][0-9a-z.]*\n$";
}

namespace {

// The pattern of a freeze's end as messages print it: whole seconds, either
// truncated or rounded up.
std::string until_pattern(const std::string& expires_at) {
    std::string until = "(unparsable expires_at " + regex_escape(expires_at) + ")";
    if (auto expiry = parse_rfc3339(expires_at)) {
        const auto floor = std::chrono::floor<std::chrono::seconds>(*expiry);
        const auto ceil = std::chrono::ceil<std::chrono::seconds>(*expiry);
        auto seconds_text = [](WallClock::time_point t) {
            std::string text = format_rfc3339(t);  // ...SS.000000000Z
            return text.substr(0, 19) + "Z";
        };
        until = "(" + seconds_text(WallClock::time_point(floor)) + "|" + seconds_text(WallClock::time_point(ceil)) + ")";
    }
    return until;
}

}  // namespace

std::string frozen_message_pattern(std::string_view name, std::string_view owner, std::string_view host,
                                   const std::string& expires_at) {
    return "^error: lock \"" + regex_escape(name) + "\" is frozen until " + until_pattern(expires_at) + " \\(by " +
           regex_escape(owner) + "@" + regex_escape(host) + "\\)\n$";
}

std::string already_frozen_message_pattern(std::string_view name, std::string_view owner, std::string_view host,
                                           const std::string& expires_at) {
    return "^error: lock \"" + regex_escape(name) + "\" is already frozen until " + until_pattern(expires_at) + " \\(by " +
           regex_escape(owner) + "@" + regex_escape(host) + "\\); a human may replace it with " +
           regex_escape("'lokt freeze " + std::string(name) + " --ttl D --force'") + "\n$";
}

}  // namespace lokt::cli_test
