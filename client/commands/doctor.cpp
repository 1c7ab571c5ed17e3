// `lokt doctor [--json]`: checks that locking can work here: the root and its
// permissions, the filesystem, the clock, identity, and leftover state.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <lokt/build_info.hpp>
#include <memory>
#include <optional>

#include "client/backend_factory.hpp"
#include "client/commands/commands.hpp"
#include "client/daemon_backend.hpp"
#include "client/etcd_backend.hpp"
#include "client/etcd_settings.hpp"
#include "client/json_views.hpp"
#include "common/platform/files.hpp"
#include "common/sys_error.hpp"
#include "protocol/socket_location.hpp"

namespace lokt::client {
namespace {

enum class Verdict { ok, warn, fail };

struct Check {
    std::string name;
    Verdict verdict;
    std::string detail;
};

const char* word(Verdict v) { return v == Verdict::ok ? "ok" : v == Verdict::warn ? "warn" : "fail"; }

std::string milliseconds_text(Millis ms) { return std::to_string(ms.count()) + "ms"; }

// With etcd configured: where it is, the namespace every clone shares (and
// where that came from), and whether a member answers.
std::vector<Check> etcd_checks(Backend* backend) {
    std::error_code ec;
    auto settings = etcd_settings(std::filesystem::current_path(ec));
    if (!settings) return {{"etcd", Verdict::fail, settings.error().message}};
    if (!*settings) return {};
    std::vector<Check> checks;
    checks.push_back(
        {"etcd namespace", Verdict::ok, (*settings)->key_prefix() + " (from " + (*settings)->name_space_source + ")"});
    auto* etcd = dynamic_cast<EtcdBackend*>(backend);
    if (etcd == nullptr) return checks;
    const auto started = std::chrono::steady_clock::now();
    auto revision = etcd->ping();
    const auto took = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - started);
    if (!revision) {
        checks.push_back(
            {"etcd", Verdict::fail, revision.error().message + " (endpoints from " + (*settings)->endpoints_source + ")"});
    } else {
        checks.push_back({"etcd", Verdict::ok,
                          (*settings)->endpoints + " answered in " + milliseconds_text(took) + " (revision " +
                              std::to_string(*revision) + ", endpoints from " + (*settings)->endpoints_source + ")"});
    }
    return checks;
}

// Is loktd answering, is it the same build as this lokt, and does that fit LOKT_DAEMON?
Check daemon_check() {
    auto chosen = client::daemon_mode();
    if (!chosen)
        return {"daemon", Verdict::fail, chosen.error().message + ": every command fails (exit 64) until it is fixed or unset"};
    const std::string mode = *chosen;
    if (mode == "off") return {"daemon", Verdict::ok, "not used (LOKT_DAEMON=off)"};
    const Millis limit = mode == "require" ? k_require_hello_timeout : k_auto_hello_timeout;
    const auto probe = probe_daemon(limit);
    if (probe.silent) {
        // Every command waits this long for the hello, then uses the files (auto) or fails (require).
        std::string detail = "something accepts connections at " + probe.socket.string() + " but did not answer in " +
                             milliseconds_text(probe.took) + "; every command waits " + milliseconds_text(limit);
        detail += mode == "require" ? " and then fails (LOKT_DAEMON=require)" : " for it and then uses the files";
        detail += ": stop whatever holds the socket ('lokt daemon stop', or kill it) and run 'lokt daemon start'";
        return {"daemon", mode == "require" ? Verdict::fail : Verdict::warn, detail};
    }
    if (!probe.hello) {
        const Verdict v = mode == "require" || probe.problem.code == ErrorCode::io ? Verdict::fail : Verdict::ok;
        std::string detail = "not running (" + probe.problem.message + ")";
        detail += mode == "require"
                      ? "; LOKT_DAEMON=require makes every command fail: run 'lokt daemon start'"
                      : "; the files are used directly (start one with 'lokt daemon start' for instant, fair handoff)";
        return {"daemon", v, detail};
    }
    const auto& hello = *probe.hello;
    std::string detail = "loktd " + hello.daemon_version + " (build " + hello.daemon_build + ", pid " +
                         std::to_string(hello.daemon_pid) + ") at " + probe.socket.string() + ", answered in " +
                         milliseconds_text(probe.took);
    if (hello.daemon_version != k_version || hello.daemon_build != k_build_id) {
        return {"daemon", Verdict::warn,
                detail + "; version skew: this lokt is " + k_version + " (build " + k_build_id +
                    "); restart it with 'lokt daemon stop && lokt daemon start'"};
    }
    return {"daemon", Verdict::ok, detail};
}

// Does the daemon watch this root, or look at it on a timer (no inotify watch
// left for it)? Nothing to say when it does not serve the root now.
std::optional<Check> root_watch_check(const std::filesystem::path& root) {
    auto chosen = client::daemon_mode();
    if (!chosen || *chosen == "off") return std::nullopt;
    auto connection = DaemonConnection::open(protocol::default_socket_path(), k_auto_hello_timeout);
    if (!connection) return std::nullopt;
    auto reply = connection->call(protocol::DaemonStatusRequest{}, Millis(5'000));
    if (!reply || !reply->ok()) return std::nullopt;
    for (const auto& served : std::get<protocol::DaemonStatusReply>(reply->body).roots) {
        if (served.root != root.lexically_normal().string() || served.unwatched.empty()) continue;
        return Check{"watch", Verdict::warn,
                     "loktd does not watch this root: " + served.unwatched +
                         "; waiters are granted up to that much later (raise the limit: sysctl fs.inotify.max_user_watches=N, "
                         "then 'lokt daemon restart')"};
    }
    return std::nullopt;
}

std::vector<Check> run_checks(CliContext& cli) {
    std::vector<Check> checks;
    auto root = cli.root();
    if (!root) {
        checks.push_back({"root", Verdict::fail, root.error().message});
        return checks;
    }
    const auto& path = root->path;
    if (root->source == RootSource::working_directory) {
        checks.push_back({"root", Verdict::warn,
                          path.string() +
                              " (from the working directory: not inside a git repository and LOKT_ROOT is "
                              "not set, so each directory gets its own .lokt and agents in different "
                              "directories do not see each other's locks; set LOKT_ROOT, or work inside a git repository)"});
    } else {
        checks.push_back({"root", Verdict::ok, path.string() + " (from " + std::string(to_string(root->source)) + ")"});
    }

    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
        // The first lock creates it: can it? Try with a scratch directory in the nearest existing parent.
        std::filesystem::path parent = path.parent_path();
        while (!parent.empty() && parent != parent.root_path() && ::stat(parent.c_str(), &info) != 0)
            parent = parent.parent_path();
        const std::string trial = (parent / (".lokt-doctor." + std::to_string(::getpid()))).string();
        if (::mkdir(trial.c_str(), 0700) != 0) {
            const int error = errno;
            checks.push_back({"permissions", Verdict::fail,
                              "the root does not exist and cannot be created: cannot create a directory in " + parent.string() +
                                  ": " + errno_text(error)});
            return checks;
        }
        ::rmdir(trial.c_str());
        checks.push_back({"permissions", Verdict::ok, "the root does not exist yet; the first lock creates it (mode 0700)"});
    } else if (!S_ISDIR(info.st_mode)) {
        checks.push_back({"permissions", Verdict::fail, path.string() + " is not a directory"});
        return checks;
    } else if (info.st_uid != ::geteuid()) {
        checks.push_back({"permissions", Verdict::fail, path.string() + " belongs to uid " + std::to_string(info.st_uid)});
    } else if (::access(path.c_str(), W_OK | X_OK) != 0) {
        const int error = errno;
        checks.push_back({"permissions", Verdict::fail, "cannot write to " + path.string() + ": " + errno_text(error)});
    } else if ((info.st_mode & 077) != 0) {
        char mode[16];
        std::snprintf(mode, sizeof mode, "%04o", info.st_mode & 07777);
        checks.push_back({"permissions", Verdict::warn, path.string() + " has mode " + mode + "; 0700 keeps other users out"});
    } else {
        checks.push_back({"permissions", Verdict::ok, "owned by you, mode 0700"});
    }

    // The filesystem of the root, or of the nearest existing parent.
    std::filesystem::path probe = path;
    while (!probe.empty() && ::stat(probe.c_str(), &info) != 0) probe = probe.parent_path();
    if (auto type = platform::filesystem_type(probe)) {
        const std::string& name = *type;
        const bool network = name == "nfs" || name == "cifs" || name == "smb" || name == "fuse";
        checks.push_back(
            {"filesystem", network ? Verdict::warn : Verdict::ok,
             network ? name + ": lokt relies on atomic link(2) and flock(2), which network filesystems may not honour" : name});
    }

    // The clock: the filesystem's idea of now should match ours. Writing the
    // file also proves the root writable (root may write where modes say no,
    // but not on a read-only filesystem).
    if (::stat(path.c_str(), &info) == 0 && ::access(path.c_str(), W_OK) == 0) {
        const std::string temp = (path / (".doctor." + std::to_string(::getpid()))).string();
        UniqueFd fd(::open(temp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600));
        if (!fd) {
            const int error = errno;
            checks.push_back({"writable", Verdict::fail, "cannot create a file in " + path.string() + ": " + errno_text(error)});
        } else {
            struct stat made {};
            ::fstat(fd.get(), &made);
            ::unlink(temp.c_str());
            const auto skew =
                std::chrono::abs(std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(made.st_mtime));
            const bool bad = skew > std::chrono::seconds(2);
            checks.push_back({"clock", bad ? Verdict::warn : Verdict::ok,
                              bad ? "file times differ from this clock by " + format_duration(skew) + "; TTLs will be misjudged"
                                  : "wall clock " + format_rfc3339_seconds(wall_now()) + " agrees with the filesystem"});
        }
    }

    const Identity& me = cli.identity();
    checks.push_back(
        {"identity", me.owner_explicit ? Verdict::ok : Verdict::warn,
         owner_at_host(me.owner, me.host) + (me.owner_explicit ? " (LOKT_OWNER)" : " (OS user; set LOKT_OWNER per agent)")});

    checks.push_back(daemon_check());
    // Only a daemon that answered is asked (a silent one already cost its wait).
    const bool answered = checks.back().detail.rfind("loktd ", 0) == 0;
    if (auto watch = answered ? root_watch_check(path) : std::nullopt) checks.push_back(std::move(*watch));
    auto backend = cli.backend(true);
    if (!backend) checks.push_back({"backend", Verdict::fail, backend.error().message});
    if (backend) {
        const std::string mode = client::daemon_mode() ? *client::daemon_mode() : "?";
        checks.push_back({"backend", Verdict::ok, std::string((*backend)->kind()) + " (LOKT_DAEMON=" + mode + ")"});
        if (auto locks = (*backend)->list(false)) {
            std::size_t live = 0, stale = 0, corrupt = 0;
            for (const auto& view : *locks) {
                if (view.state == HoldState::live)
                    ++live;
                else if (is_stale(view.state))
                    ++stale;
                else if (view.state == HoldState::corrupt)
                    ++corrupt;
            }
            const Verdict v = corrupt > 0 || stale > 0 ? Verdict::warn : Verdict::ok;
            std::string detail =
                std::to_string(live) + " held, " + std::to_string(stale) + " stale, " + std::to_string(corrupt) + " corrupt";
            if (v == Verdict::warn) detail += " (lokt status --prune-expired, lokt unlock NAME --break-stale)";
            checks.push_back({"locks", v, detail});
        }
    }
    if (auto etcd = etcd_checks(backend ? *backend : nullptr); !etcd.empty()) {
        checks.insert(checks.end(), etcd.begin(), etcd.end());
    }
    checks.push_back({"version", Verdict::ok, std::string("lokt ") + k_version + " (build " + k_build_id + ")"});
    return checks;
}

int run_doctor(CliContext& cli, bool json) {
    const auto checks = run_checks(cli);
    bool failed = false;
    for (const auto& check : checks) failed = failed || check.verdict == Verdict::fail;
    if (json) {
        JsonWriter out;
        out.begin_object();
        out.field("ok", !failed);
        out.key("checks").begin_array();
        for (const auto& check : checks) {
            out.begin_object()
                .field("name", check.name)
                .field("status", word(check.verdict))
                .field("detail", check.detail)
                .end_object();
        }
        out.end_array();
        out.end_object();
        std::fputs(out.finish().c_str(), stdout);
    } else {
        for (const auto& check : checks)
            std::printf("%-5s %-12s %s\n", word(check.verdict), check.name.c_str(), check.detail.c_str());
    }
    return failed ? 1 : 0;
}

}  // namespace

CommandSpec doctor_command(CommandEnv env) {
    auto json = std::make_shared<bool>(false);
    CommandSpec command{"doctor", "Check the setup: root, permissions, filesystem, clock, daemon"};
    command.flag("--json", *json, "Print JSON");
    command.footer = R"(Examples:
  lokt doctor
  LOKT_DAEMON=require lokt doctor --json

Exit status: 0 every check passed (warnings allowed), 1 a check failed, 64
usage error.)";
    command.run = [env, json] { *env.exit_status = run_doctor(*env.cli, *json); };
    return command;
}

}  // namespace lokt::client
