// Bad input of every kind: corrupt and foreign lock files, FIFOs and device
// symlinks where a lock file should be, invalid names, a root that cannot be
// read or written, a full disk. Each command must answer promptly with a clear
// error, and nothing that is not ours to remove may be lost.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tests/cli/support/fault_setup.hpp"
#include "tests/cli/support/lokt_fixture.hpp"

using namespace lokt::cli_test;

namespace {

// Commands facing broken state must answer well within this.
constexpr Millis k_prompt{10'000};
const RunOptions k_agent2_prompt = as_owner("agent-2").within(k_prompt);

void set_mtime_ago(const fs::path& path, std::chrono::seconds ago) {
    const auto when = std::chrono::system_clock::now() - ago;
    const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
    struct timespec times[2];
    times[0].tv_sec = times[1].tv_sec = static_cast<time_t>(nanos / 1'000'000'000);
    times[0].tv_nsec = times[1].tv_nsec = static_cast<long>(nanos % 1'000'000'000);
    REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

void make_layout(const fs::path& root) {
    for (const char* sub : {"locks", "freezes"}) fs::create_directories(root / sub);
    ::chmod(root.c_str(), 0700);
    ::chmod((root / "locks").c_str(), 0700);
    ::chmod((root / "freezes").c_str(), 0700);
}

// A command that returned by itself, without crashing.
void check_answered(const ProcessResult& r) {
    CHECK_MESSAGE(!r.timed_out, r.describe());
    CHECK_MESSAGE(r.term_signal == 0, r.describe());
    CHECK_MESSAGE(r.status() != 64, r.describe());
    const bool doctor = std::find(r.argv.begin(), r.argv.end(), "doctor") != r.argv.end();  // reports on stdout
    if (r.status() != 0 && r.status() != 2 && r.status() != 3 && !doctor) {
        CHECK_MESSAGE(r.err.rfind("error: ", 0) == 0, r.describe());
    }
}

// A root with its mutex directory and a working directory, both usable by user
// 65534 when the test runs as root (see as_nobody), or by this user otherwise.
void layout_for_permission_tests(const fs::path& scratch, const fs::path& root, const fs::path& cwd, bool privileged) {
    make_layout(root);
    fs::create_directories(root / "mutex");
    fs::create_directories(cwd);
    if (!privileged) return;
    ::chmod(scratch.c_str(), 0711);
    ::chmod(cwd.c_str(), 0777);
    for (const auto& p : {root, root / "locks", root / "freezes", root / "mutex"}) {
        REQUIRE(::chown(p.c_str(), 65534, 65534) == 0);
    }
}

}  // namespace

TEST_SUITE("bad_input") {
    TEST_CASE_FIXTURE(LoktFixture, "corrupt lock files: every command answers, the next acquire removes them" * files_only()) {
        struct Variant {
            const char* what;
            std::string text;
        };
        const std::vector<Variant> variants{
            {"empty, older than the grace period", ""},
            {"truncated JSON", "{\n  \"version\": 1,\n  \"name\": \"build\",\n  \"own"},
            {"an empty object", "{}\n"},
            {"null", "null\n"},
            {"not JSON", "this is not a lock\n"},
            {"wrong-typed fields",
             "{\"version\": \"1\", \"name\": 5, \"owner\": [], \"host\": {}, \"pid\": \"12\", \"acquired_ts\": 7}\n"},
            {"1 MiB", std::string(1 << 20, 'x')},
        };
        for (const auto& variant : variants) {
            CAPTURE(variant.what);
            auto put = [&] {
                make_layout(root());
                write_lock_file("build", variant.text);
                set_mtime_ago(lock_path("build"), std::chrono::hours(1));
            };
            put();
            for (const auto& args : std::vector<std::vector<std::string>>{
                     {"status"}, {"status", "build"}, {"why", "build"}, {"unlock", "build"}, {"doctor"}}) {
                check_answered(lokt(args, k_agent2_prompt));
            }
            auto r = lokt({"status", "--json"}, k_agent2_prompt);
            CHECK_EXIT(r, 0);
            CHECK_MESSAGE(parse_json(r.out), r.describe());
            r = lokt({"exists", "build"}, k_agent2_prompt);
            CHECK_EXIT(r, 3);
            r = lokt({"why", "build"}, k_agent2_prompt);
            CHECK_EXIT(r, 0);

            // The next acquire removes it, audited.
            r = lokt({"guard", "build", "--", "touch", "ran"}, k_agent2_prompt);
            CHECK_EXIT(r, 0);
            CHECK(fs::exists(repo() / "ran"));
            CHECK_FALSE(has_lock("build"));
            fs::remove(repo() / "ran");

            // So does --break-stale, and --force.
            for (const char* mode : {"--break-stale", "--force"}) {
                CAPTURE(mode);
                put();
                CHECK_EXIT(lokt({"unlock", "build", mode}, k_agent2_prompt), 0);
                CHECK_FALSE(has_lock("build"));
            }
            CHECK(audit_events("corrupt-break", "build").size() >= 2);
            fs::remove(audit_path());
        }
    }

    TEST_CASE_FIXTURE(LoktFixture, "a version 2 lock file is touched only by --force" * files_only()) {
        // Expired and with a dead-looking holder, to tempt every cleanup path.
        Json record = foreign_record("build", ::getpid(), 1);
        record["version"] = 2;
        const auto acquired = WallClock::now() - std::chrono::hours(2);
        record["acquired_ts"] = format_rfc3339(acquired);
        record["ttl_sec"] = 60;
        record["expires_at"] = format_rfc3339(acquired + std::chrono::seconds(60));
        record["future_field"] = {{"anything", true}};
        const std::string text = record.dump(2) + "\n";
        write_lock_file("build", text);

        for (const auto& args : std::vector<std::vector<std::string>>{{"guard", "build", "--", "touch", "ran"},
                                                                      {"lock", "build", "--ttl", "1m"},
                                                                      {"unlock", "build", "--break-stale"},
                                                                      {"unlock", "build"},
                                                                      {"unlock", "--all"},
                                                                      {"status", "--prune-expired"},
                                                                      {"status", "--prune-expired", "--json"},
                                                                      {"status", "build"},
                                                                      {"why", "build"}}) {
            const auto r = lokt(args, k_agent2_prompt);
            check_answered(r);
            if (args[0] == "guard" || args[0] == "lock" || (args[0] == "unlock" && args[1] == "build")) {
                CHECK_MESSAGE(r.status() != 0, r.describe());
                CHECK_MESSAGE(r.err.rfind("error: ", 0) == 0, r.describe());
            }
            CHECK_MESSAGE(read_text(lock_path("build")) == text, "the version 2 file was changed by lokt " << args[0]);
        }
        CHECK_FALSE(fs::exists(repo() / "ran"));

        const auto r = lokt({"unlock", "build", "--force"}, k_agent2_prompt);
        CHECK_EXIT(r, 0);
        CHECK_FALSE(has_lock("build"));
        CHECK(audit_events("force-break", "build").size() == 1);
    }

    TEST_CASE_FIXTURE(LoktFixture, "a FIFO or a symlink to /dev/zero in locks/ hangs nothing" * files_only()) {
        const std::vector<std::vector<std::string>> commands{
            {"status"},
            {"status", "--json"},
            {"status", "build"},
            {"status", "--prune-expired"},
            {"why", "build"},
            {"exists", "build"},
            {"unlock", "build"},
            {"unlock", "--all"},
            {"doctor"},
            {"unlock", "build", "--break-stale"},
            {"unlock", "build", "--force"},
            {"lock", "build", "--ttl", "1m"},
            {"guard", "build", "--", "true"},
        };
        bool fifo = true;
        SUBCASE("a FIFO") { fifo = true; }
        SUBCASE("a symlink to /dev/zero") { fifo = false; }

        for (const auto& args : commands) {
            CAPTURE(args[0]);
            CAPTURE(args.size() > 1 ? args[1] : "");
            make_layout(root());
            std::error_code ignored;
            fs::remove(lock_path("build"), ignored);
            if (fifo) {
                REQUIRE(::mkfifo(lock_path("build").c_str(), 0600) == 0);
            } else {
                fs::create_symlink("/dev/zero", lock_path("build"));
            }
            const auto r = lokt(args, k_agent2_prompt);
            check_answered(r);
            if (args[0] == "exists") CHECK_EXIT(r, 3);
            if (args[0] == "status" && args.size() == 2 && args[1] == "--json") CHECK_MESSAGE(parse_json(r.out), r.describe());
            if (args[0] == "guard" || args[0] == "lock" || (args.size() == 3 && args[0] == "unlock")) {
                // Not a lock file: removed by the next acquire and by --break-stale / --force.
                CHECK_EXIT(r, 0);
            }
        }
        struct stat info {};
        REQUIRE(::stat("/dev/zero", &info) == 0);
        CHECK(S_ISCHR(info.st_mode));
    }

    TEST_CASE_FIXTURE(LoktFixture, "invalid lock names are usage errors that name the rule") {
        struct BadName {
            std::string name;
            std::string rule;  // a regex the message must match
        };
        const std::vector<BadName> names{
            {"../x", "letters|\\.\\."},       {"/etc", "letters"}, {"a/b", "letters"}, {std::string(300, 'a'), "200"},
            {"\xC3\xA9t\xC3\xA9", "letters"}, {"a..b", "\\.\\."},  {"..", "\\.\\."},   {"with space", "letters"},
        };
        for (const auto& bad : names) {
            CAPTURE(bad.name);
            for (const auto& args : std::vector<std::vector<std::string>>{{"lock", bad.name, "--ttl", "1m"},
                                                                          {"guard", bad.name, "--", "touch", "ran"},
                                                                          {"unlock", bad.name},
                                                                          {"unlock", bad.name, "--force"},
                                                                          {"status", bad.name},
                                                                          {"exists", bad.name},
                                                                          {"why", bad.name},
                                                                          {"freeze", bad.name, "--ttl", "1m"},
                                                                          {"unfreeze", bad.name}}) {
                const auto r = lokt(args, k_agent2_prompt);
                CHECK_EXIT(r, 64);
                CHECK_MESSAGE(matches(r.err, "^error: [^\\n]*name"), r.describe());
                CHECK_MESSAGE(matches(r.err, bad.rule), "the message does not name the rule (" << bad.rule << "):\n"
                                                                                               << r.describe());
            }
        }
        // audit --name also takes a reservation's glob: only what is neither is refused.
        for (const std::string bad : {"../x", ".."}) {
            const auto r = lokt({"audit", "--name", bad}, k_agent2_prompt);
            CHECK_EXIT(r, 64);
            CHECK_MESSAGE(matches(r.err, "neither a lock name nor a reservation glob"), r.describe());
        }
        CHECK_EXIT(lokt({"audit", "--name", "a/b"}, k_agent2_prompt), 0);
        CHECK_FALSE(fs::exists(repo() / "ran"));
        CHECK_FALSE(fs::exists(root() / "x.json"));
        CHECK_FALSE(fs::exists("/etc.json"));
        CHECK(directory_entries(root() / "locks").empty());
        CHECK(directory_entries(root() / "freezes").empty());
    }

    TEST_CASE_FIXTURE(LoktFixture, "an empty lock name is a usage error that says so") {
        for (const auto& args : std::vector<std::vector<std::string>>{{"lock", "", "--ttl", "1m"},
                                                                      {"guard", "", "--", "touch", "ran"},
                                                                      {"unlock", ""},
                                                                      {"unlock", "", "--force"},
                                                                      {"status", ""},
                                                                      {"exists", ""},
                                                                      {"why", ""},
                                                                      {"freeze", "", "--ttl", "1m"},
                                                                      {"unfreeze", ""},
                                                                      {"audit", "--name", ""}}) {
            const auto r = lokt(args, k_agent2_prompt);
            CHECK_EXIT(r, 64);
            CHECK_MESSAGE(matches(r.err, "^error: [^\\n]*name[^\\n]*empty"), r.describe());
        }
        CHECK_FALSE(fs::exists(repo() / "ran"));
    }

    TEST_CASE_FIXTURE(LoktFixture, "an owner or agent id too long for a lock file is refused before anything is written") {
        REQUIRE_EXIT(lokt({"lock", "build", "--ttl", "5m"}, k_agent1), 0);
        const std::string huge(70 * 1024, 'o');
        for (const auto& variable : {"LOKT_OWNER", "LOKT_AGENT_ID"}) {
            CAPTURE(variable);
            const RunOptions agent = RunOptions(k_agent2).set(variable, huge);
            for (const auto& args : std::vector<std::vector<std::string>>{{"lock", "db", "--ttl", "1m"},
                                                                          {"guard", "db", "--", "touch", "ran"},
                                                                          {"unlock", "build", "--break-stale"},
                                                                          {"freeze", "db", "--ttl", "1m"}}) {
                const auto r = lokt(args, agent);
                CHECK_EXIT(r, 64);
                CHECK_MESSAGE(contains(r.err, variable), r.describe());
                CHECK_MESSAGE(contains(r.err, "1024"), r.describe());
            }
        }
        CHECK_FALSE(fs::exists(repo() / "ran"));
        CHECK_FALSE(has_lock("db"));
        CHECK(directory_entries(root() / "freezes").empty());
        // The live lock is still agent-1's, readable by everyone.
        const auto r = lokt({"status", "build"}, k_agent2);
        CHECK_EXIT(r, 0);
        CHECK(contains(r.out, "agent-1"));
    }

    TEST_CASE_FIXTURE(LoktFixture, "an unreadable root gives exit 1 and the cause, promptly" * files_only()) {
        const bool privileged = ::geteuid() == 0;
        if (privileged && !have_setpriv()) {
            MESSAGE("skipped: running as root (which ignores permissions) and setpriv is not installed");
            return;
        }
        const fs::path where = scratch() / "unreadable";
        make_layout(where);
        const fs::path cwd = scratch() / "cwd";
        fs::create_directories(cwd);
        if (privileged) {
            ::chmod(scratch().c_str(), 0711);
            ::chmod(cwd.c_str(), 0777);
            for (const auto& p : {where, where / "locks", where / "freezes"}) REQUIRE(::chown(p.c_str(), 65534, 65534) == 0);
        }
        REQUIRE(::chmod(where.c_str(), 0) == 0);

        const RunOptions options = RunOptions().set("LOKT_ROOT", where.string()).in(cwd).within(k_prompt);
        for (const auto& args : std::vector<std::vector<std::string>>{{"lock", "build", "--ttl", "1m"},
                                                                      {"guard", "build", "--", "touch", "ran"},
                                                                      {"status"},
                                                                      {"status", "--json"},
                                                                      {"exists", "build"},
                                                                      {"why", "build"},
                                                                      {"unlock", "build"},
                                                                      {"audit", "--since", "1h"},
                                                                      {"freeze", "build", "--ttl", "1m"}}) {
            const auto r = privileged ? run(as_nobody(args), options) : lokt(args, options);
            CHECK_EXIT(r, 1);
            CHECK_MESSAGE(matches(r.err, "^error: cannot [^\\n]*: Permission denied"), r.describe());
        }
        const auto r = privileged ? run(as_nobody({"doctor"}), options) : lokt({"doctor"}, options);
        check_answered(r);
        CHECK(r.status() != 0);
        CHECK(matches(r.out + r.err, "fail|error"));
        CHECK_FALSE(fs::exists(cwd / "ran"));
        ::chmod(where.c_str(), 0700);
    }

    TEST_CASE_FIXTURE(LoktFixture, "a read-only root refuses to lock with the cause, and still answers queries" * files_only()) {
        const bool privileged = ::geteuid() == 0;
        if (privileged && !have_setpriv()) {
            MESSAGE("skipped: running as root (which ignores permissions) and setpriv is not installed");
            return;
        }
        const fs::path where = scratch() / "read-only";
        const fs::path cwd = scratch() / "cwd";
        layout_for_permission_tests(scratch(), where, cwd, privileged);
        for (const auto& p : {where, where / "locks", where / "freezes", where / "mutex"}) REQUIRE(::chmod(p.c_str(), 0500) == 0);

        // Another uid never reaches this user's daemon: let it fall back to the files.
        const RunOptions options =
            RunOptions().set("LOKT_ROOT", where.string()).set("LOKT_DAEMON", "auto").in(cwd).within(k_prompt);
        auto run_lokt = [&](const std::vector<std::string>& args) {
            return privileged ? run(as_nobody(args), options) : lokt(args, options);
        };
        for (const auto& args : std::vector<std::vector<std::string>>{{"lock", "build", "--ttl", "1m"},
                                                                      {"guard", "build", "--", "touch", "ran"},
                                                                      {"freeze", "build", "--ttl", "1m"}}) {
            const auto r = run_lokt(args);
            CHECK_EXIT(r, 1);
            CHECK_MESSAGE(matches(r.err, "^error: cannot [^\\n]*: Permission denied"), r.describe());
        }
        CHECK_FALSE(fs::exists(cwd / "ran"));
        CHECK(directory_entries(where / "locks").empty());
        CHECK_EXIT(run_lokt({"status"}), 0);
        CHECK_EXIT(run_lokt({"exists", "build"}), 3);
        CHECK_EXIT(run_lokt({"why", "build"}), 0);
    }

    TEST_CASE_FIXTURE(LoktFixture,
                      "a root that loses its permissions mid-hold: guard says so, fails, and audits no release" * files_only()) {
        const bool privileged = ::geteuid() == 0;
        if (privileged && !have_setpriv()) {
            MESSAGE("skipped: running as root (which ignores permissions) and setpriv is not installed");
            return;
        }
        const fs::path where = scratch() / "losing";
        use_root(where);
        const fs::path cwd = scratch() / "cwd";
        layout_for_permission_tests(scratch(), where, cwd, privileged);
        // Another uid never reaches this user's daemon: let it fall back to the files.
        RunOptions options = RunOptions().set("LOKT_DAEMON", "auto").in(cwd).within(k_prompt);
        options.stdin_mode = StdinMode::pipe;
        const std::vector<std::string> args{"guard", "build", "--", "sh", "-c", "echo started; read line"};
        ChildProcess guard = privileged ? start(as_nobody(args), options) : start_lokt(args, options);
        REQUIRE_MESSAGE(guard.wait_for_stdout_containing("started", k_prompt), guard.stderr_text());
        REQUIRE(has_lock("build"));

        REQUIRE(::chmod((where / "locks").c_str(), 0500) == 0);
        guard.write_stdin("go\n");
        guard.close_stdin();
        const ProcessResult r = guard.finish(k_prompt);
        ::chmod((where / "locks").c_str(), 0700);

        CHECK_EXIT(r, 1);
        CHECK_MESSAGE(matches(r.err, "error: cannot [^\n]*: Permission denied"), r.describe());
        CHECK(has_lock("build"));  // the file it could not remove is still there...
        CHECK(audit_events("acquire", "build").size() == 1);
        CHECK(audit_events("release", "build").empty());  // ...and no line claims otherwise
    }

    TEST_CASE_FIXTURE(LoktFixture,
                      "a read-only filesystem or a full disk: exit 1, the cause, no partial lock file" * files_only()) {
        if (::geteuid() != 0) {
            MESSAGE("skipped: mounting a small tmpfs needs root");
            return;
        }
        TmpfsMount disk(scratch() / "disk", "size=64k,mode=0700");
        if (!disk.mounted()) {
            MESSAGE("skipped: cannot mount a tmpfs here: " << disk.error());
            return;
        }
        const fs::path where = scratch() / "disk" / "lokt";
        use_root(where);

        SUBCASE("full, with the root already set up") {
            REQUIRE_EXIT(lokt({"lock", "warm-up", "--ttl", "1m"}), 0);
            REQUIRE_EXIT(lokt({"unlock", "warm-up"}), 0);
            REQUIRE(fill_disk(scratch() / "disk" / "filler"));
            for (const auto& args : std::vector<std::vector<std::string>>{{"lock", "build", "--ttl", "1m"},
                                                                          {"guard", "build", "--", "touch", "ran"},
                                                                          {"guard", "build", "--ttl", "1m", "--", "touch", "ran"},
                                                                          {"lock", "build"}}) {
                const auto r = lokt(args, RunOptions().within(k_prompt));
                CHECK_EXIT(r, 1);
                CHECK_MESSAGE(matches(r.err, "^error: cannot [^\\n]*: No space left on device\\n"), r.describe());
                CHECK(directory_entries(where / "locks").empty());  // no partial lock file, no temp file
            }
            CHECK_FALSE(fs::exists(repo() / "ran"));
            // Nothing is wedged once there is room again.
            fs::remove(scratch() / "disk" / "filler");
            CHECK_EXIT(lokt({"guard", "build", "--", "touch", "ran"}), 0);
            CHECK(fs::exists(repo() / "ran"));
        }
        SUBCASE("full before the root exists") {
            REQUIRE(fill_disk(scratch() / "disk" / "filler"));
            const auto r = lokt({"lock", "build", "--ttl", "1m"}, RunOptions().within(k_prompt));
            CHECK_EXIT(r, 1);
            CHECK_MESSAGE(matches(r.err, "^error: cannot [^\\n]*: No space left on device\\n"), r.describe());
            CHECK(directory_entries(where / "locks").empty());
        }
        SUBCASE("read-only") {
            REQUIRE_EXIT(lokt({"lock", "warm-up", "--ttl", "1m"}), 0);
            REQUIRE_EXIT(lokt({"unlock", "warm-up"}), 0);
            REQUIRE(disk.remount_read_only());
            for (const auto& args : std::vector<std::vector<std::string>>{{"lock", "build", "--ttl", "1m"},
                                                                          {"guard", "build", "--", "touch", "ran"}}) {
                const auto r = lokt(args, RunOptions().within(k_prompt));
                CHECK_EXIT(r, 1);
                CHECK_MESSAGE(matches(r.err, "^error: cannot [^\\n]*: Read-only file system\\n"), r.describe());
            }
            CHECK(directory_entries(where / "locks").empty());
            CHECK_EXIT(lokt({"status"}), 0);
            CHECK_EXIT(lokt({"exists", "build"}), 3);
        }
    }

}  // TEST_SUITE
