// Full disks and lost permissions, staged on a small tmpfs root: every
// command fails with the cause and leaves nothing half-written, the audit log
// keeps only whole lines and only lines for changes that happened, a hold that
// can no longer be renewed stops its command before it lapses, and `sudo lokt`
// in a user's root neither breaks that user's locks nor leaves files the user
// cannot use. Mounting needs root: without it the suite exits 77 (skipped).
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "tests/cli/support/fault_setup.hpp"
#include "tests/cli/support/lokt_fixture.hpp"

using namespace lokt::cli_test;

namespace {

constexpr Millis k_disk_prompt{10'000};
constexpr std::size_t k_tmpfs_page = 4096;

// Exits the whole suite as skipped (ctest SKIP_RETURN_CODE 77), saying why.
void skip_disk_suite(const std::string& why) {
    std::fprintf(stderr, "skipped: %s\n", why.c_str());
    std::fflush(stderr);
    std::_Exit(77);
}

void require_root_for_tmpfs() {
    if (::geteuid() != 0) skip_disk_suite("mounting a small tmpfs as the lock root needs root");
}

void require_mounted(const TmpfsMount& disk) {
    if (!disk.mounted()) skip_disk_suite("cannot mount a tmpfs here: " + disk.error());
}

// A lock root (DISK/lokt) on a tmpfs of its own; the suite is skipped where none can be mounted.
struct RootOnTmpfs {
    TmpfsMount disk;
    fs::path where;
    RootOnTmpfs(LoktFixture& f, const std::string& options)
        : disk(f.scratch() / "disk", options), where(f.scratch() / "disk" / "lokt") {
        require_mounted(disk);
        f.use_root(where);
    }
};

std::size_t bytes_in(const fs::path& path) {
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    return ec ? 0 : static_cast<std::size_t>(size);
}

// Pads the audit log with empty lines (which readers skip) so that it ends
// `room` bytes before a page boundary: the next line needs a new page, and
// with `room` > 0 only its start fits.
void pad_audit(const fs::path& log, std::size_t room) {
    const std::size_t size = bytes_in(log);
    std::size_t pad = (k_tmpfs_page - size % k_tmpfs_page) % k_tmpfs_page;
    pad = pad >= room ? pad - room : pad + k_tmpfs_page - room;
    std::ofstream(log, std::ios::app) << std::string(pad, '\n');
    REQUIRE(bytes_in(log) % k_tmpfs_page == (k_tmpfs_page - room) % k_tmpfs_page);
}

// Every line of the log is empty or a JSON object: nothing torn.
void check_no_torn_line(const fs::path& log) {
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);) {
        if (line.empty()) continue;
        CHECK_MESSAGE(parse_json(line).has_value(), "torn audit line: " << line);
    }
    // The last line is finished.
    const std::string text = read_text(log);
    if (!text.empty()) CHECK(text.back() == '\n');
}

// Nothing but these lock files in the root's lock directory, and no hidden temp files anywhere.
void check_only_locks(const fs::path& root, std::vector<std::string> locks) {
    for (const char* sub : {"locks", "freezes"}) {
        for (const auto& entry : directory_entries(root / sub)) {
            CHECK_MESSAGE(entry.front() != '.', "temp file left: " << (root / sub / entry).string());
        }
    }
    std::vector<std::string> found;
    for (const auto& entry : directory_entries(root / "locks")) found.push_back(entry);
    std::vector<std::string> expected;
    for (const auto& name : locks) expected.push_back(name + ".json");
    std::sort(found.begin(), found.end());
    std::sort(expected.begin(), expected.end());
    CHECK(found == expected);
}

}  // namespace

TEST_SUITE("disk_faults") {
    TEST_CASE("a full disk: each command fails with the root and the cause, nothing half-written, then works again") {
        require_root_for_tmpfs();
        LoktFixture f;
        const RootOnTmpfs tmpfs(f, "size=64k,mode=0700");
        const fs::path& where = tmpfs.where;
        REQUIRE_EXIT(f.lokt({"lock", "held", "--ttl", "5m"}), 0);
        const fs::path log = where / "audit.log";
        // Only the start of the next line fits: a write cut short.
        pad_audit(log, 100);
        REQUIRE(fill_disk(f.scratch() / "disk" / "filler"));
        const std::size_t log_size = bytes_in(log);

        const RunOptions options = RunOptions().within(k_disk_prompt);
        for (const auto& args : std::vector<std::vector<std::string>>{{"lock", "build", "--ttl", "1m"},
                                                                      {"lock", "build"},
                                                                      {"guard", "build", "--", "touch", "ran"},
                                                                      {"guard", "build", "--ttl", "1m", "--", "touch", "ran"},
                                                                      {"freeze", "build", "--ttl", "1m"},
                                                                      {"unlock", "held"},
                                                                      {"unlock", "held", "--force"}}) {
            const auto r = f.lokt(args, options);
            CHECK_EXIT(r, 1);
            CHECK_MESSAGE(matches(r.err, "^error: cannot [^\\n]*disk/lokt/[^\\n]*: No space left on device\\n"), r.describe());
            check_only_locks(where, {"held"});
        }
        // Reading needs no room.
        CHECK_EXIT(f.lokt({"status"}, options), 0);
        CHECK_EXIT(f.lokt({"status", "held"}, options), 0);
        const auto audit = f.lokt({"audit"}, options);
        CHECK_EXIT(audit, 0);
        CHECK(contains(audit.out, "\"held\""));
        CHECK_FALSE(fs::exists(f.repo() / "ran"));
        CHECK(directory_entries(where / "freezes").empty());
        CHECK(directory_entries(where / "live").empty());
        // The lines that did not fit were taken back whole.
        CHECK(bytes_in(log) == log_size);
        check_no_torn_line(log);
        CHECK(f.audit_events("release", "held").empty());

        // Room again: the first command works.
        fs::remove(f.scratch() / "disk" / "filler");
        CHECK_EXIT(f.lokt({"guard", "build", "--", "touch", "ran"}), 0);
        CHECK(fs::exists(f.repo() / "ran"));
        CHECK_EXIT(f.lokt({"unlock", "held"}), 0);
        CHECK(f.audit_events("release", "held").size() == 1);
        check_no_torn_line(log);
    }

    TEST_CASE("an audit line that cannot be written: the grant is undone, the release not made") {
        require_root_for_tmpfs();
        LoktFixture f;
        const RootOnTmpfs tmpfs(f, "size=64k,mode=0700");
        const fs::path& where = tmpfs.where;
        REQUIRE_EXIT(f.lokt({"lock", "held", "--ttl", "5m"}), 0);
        ChildProcess guard = f.start_holder("guarded");
        const fs::path log = where / "audit.log";
        const fs::path filler = f.scratch() / "disk" / "filler";
        // The log ends on a page boundary and the disk is full: no line fits.
        pad_audit(log, 0);
        REQUIRE(fill_disk(filler));
        const std::size_t log_size = bytes_in(log);

        auto r = f.lokt({"unlock", "held"}, RunOptions().within(k_disk_prompt));
        CHECK_EXIT(r, 1);
        CHECK_MESSAGE(matches(r.err, "^error: cannot append to [^\\n]*disk/lokt/audit.log: No space left on device\\n"),
                      r.describe());
        // The guard's command ends; its release cannot be logged, so it is not made.
        r = f.release_holder(guard);
        CHECK_EXIT(r, 1);
        CHECK_MESSAGE(contains(r.err, "audit.log: No space left on device"), r.describe());
        // Two pages free: the name's fence counter and its lock file fit, the audit line does not.
        const std::size_t pages = (bytes_in(filler) + k_tmpfs_page - 1) / k_tmpfs_page;
        fs::resize_file(filler, (pages - 2) * k_tmpfs_page);
        r = f.lokt({"lock", "build", "--ttl", "1m"}, RunOptions().within(k_disk_prompt));
        CHECK_EXIT(r, 1);
        CHECK_MESSAGE(matches(r.err, "^error: cannot append to [^\\n]*disk/lokt/audit.log: No space left on device\\n"),
                      r.describe());
        check_only_locks(where, {"held", "guarded"});
        CHECK(bytes_in(log) == log_size);
        check_no_torn_line(log);
        CHECK(f.audit_events("acquire", "build").empty());
        CHECK(f.audit_events("release", "held").empty());
        CHECK(f.audit_events("release", "guarded").empty());

        // Room again: the guard's hold is stale (guard and command gone) and is broken, audited.
        fs::remove(filler);
        CHECK_EXIT(f.lokt({"guard", "guarded", "--", "true"}), 0);
        CHECK(f.audit_events("stale-break", "guarded").size() == 1);
        CHECK_EXIT(f.lokt({"unlock", "held"}), 0);
        check_no_torn_line(log);
    }

    TEST_CASE("no free inodes: a running guard still releases; new holds fail with the cause") {
        require_root_for_tmpfs();
        LoktFixture f;
        const RootOnTmpfs tmpfs(f, "size=1m,nr_inodes=64,mode=0700");
        const fs::path& where = tmpfs.where;
        ChildProcess guard = f.start_holder("build", {}, {"--ttl", "1m"});
        REQUIRE(use_up_inodes(f.scratch() / "disk" / "fill"));

        for (const auto& args : std::vector<std::vector<std::string>>{{"lock", "other", "--ttl", "1m"},
                                                                      {"guard", "other", "--", "touch", "ran"},
                                                                      {"freeze", "other", "--ttl", "1m"}}) {
            const auto r = f.lokt(args, RunOptions().within(k_disk_prompt));
            CHECK_EXIT(r, 1);
            CHECK_MESSAGE(matches(r.err, "^error: cannot [^\\n]*disk/lokt/[^\\n]*: No space left on device\\n"), r.describe());
        }
        CHECK_EXIT(f.lokt({"status"}), 0);
        const auto r = f.release_holder(guard);
        CHECK_EXIT(r, 0);
        CHECK_FALSE(fs::exists(f.lock_path("build")));
        CHECK(f.audit_events("release", "build").size() == 1);
        check_only_locks(where, {});
        CHECK_FALSE(fs::exists(f.repo() / "ran"));
    }

    TEST_CASE("guard --wait on a full disk waits for the holder instead of failing") {
        require_root_for_tmpfs();
        LoktFixture f;
        const RootOnTmpfs tmpfs(f, "size=64k,mode=0700");
        ChildProcess holder = f.start_holder("build", k_agent1);
        const fs::path filler = f.scratch() / "disk" / "filler";
        REQUIRE(fill_disk(filler));

        // Waiting needs no write: it waits its whole timeout, and says it timed out.
        const auto started = std::chrono::steady_clock::now();
        auto r = f.lokt({"guard", "build", "--wait", "--timeout", "2s", "--", "touch", "ran"}, k_agent2);
        CHECK_EXIT(r, 2);
        CHECK_MESSAGE(contains(r.err, "timed out"), r.describe());
        CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(1900));

        // With room again, the waiter gets the lock when the holder ends.
        ChildProcess waiter = f.start_lokt({"guard", "build", "--wait", "--timeout", "20s", "--", "touch", "ran"}, k_agent2);
        fs::remove(filler);
        CHECK_EXIT(f.release_holder(holder), 0);
        CHECK_EXIT(f.finish(waiter), 0);
        CHECK(fs::exists(f.repo() / "ran"));
    }

    TEST_CASE("a hold that cannot be renewed: guard stops its command before the TTL lapses, and nobody overlaps") {
        require_root_for_tmpfs();
        LoktFixture f;
        const RootOnTmpfs tmpfs(f, "size=64k,mode=0755");
        const fs::path& where = tmpfs.where;
        const fs::path shared = f.scratch() / "shared";  // the witness and a working directory, for any uid
        fs::create_directories(shared);
        ::chmod(f.scratch().c_str(), 0711);
        ::chmod(shared.c_str(), 0777);
        const fs::path witness = shared / "witness";
        const fs::path filler = f.scratch() / "disk" / "filler";
        // A full disk, or (running as another user, who cannot reach this
        // test's daemon) a lock directory that stops letting the holder write.
        bool permission = false;
        SUBCASE("disk full") {}
        SUBCASE("permission lost") { permission = true; }
        if (permission && !have_setpriv()) skip_disk_suite("setpriv (util-linux) is not installed");
        RunOptions holder = RunOptions(k_agent1).in(shared);
        if (permission) {
            for (const char* sub : {"", "locks", "freezes", "mutex", "live"}) fs::create_directories(where / sub);
            for (const char* sub : {"", "locks", "freezes", "mutex", "live"}) {
                REQUIRE(::chown((where / sub).c_str(), k_other_uid, k_other_uid) == 0);
            }
            holder.set("LOKT_DAEMON", "auto");
        }

        // The command records when it enters and when it is stopped (wall time).
        const std::string command = "trap 'echo \"leave $(date +%s.%N)\" >> " + witness.string() +
                                    "; exit 143' TERM; echo \"enter $(date +%s.%N)\" >> " + witness.string() +
                                    "; echo started; while :; do sleep 0.05; done";
        const std::vector<std::string> args{"guard", "build", "--ttl", "2s", "--", "sh", "-c", command};
        ChildProcess guard = permission ? f.start(as_nobody(args), holder) : f.start_lokt(args, holder);
        REQUIRE(guard.wait_for_stdout_containing("started", k_wait_timeout));
        if (permission) {
            REQUIRE(::chmod((where / "locks").c_str(), 0500) == 0);
        } else {
            pad_audit(where / "audit.log", 100);
            REQUIRE(fill_disk(filler));
        }
        const ProcessResult r = f.finish(guard, k_wait_timeout);
        CHECK_EXIT(r, 6);  // stopped as on a lost lock
        CHECK_MESSAGE(contains(r.err, "cannot renew lock \"build\""), r.describe());
        CHECK_MESSAGE(contains(r.err, "stopping the command"), r.describe());
        CHECK(f.audit_events("release", "build").empty());

        // The command was stopped before the hold it ran under lapsed.
        const auto record = f.read_lock("build");
        REQUIRE(record.has_value());
        const auto expires = parse_rfc3339((*record)["expires_at"].get<std::string>());
        REQUIRE(expires.has_value());
        const double expires_s = std::chrono::duration<double>(expires->time_since_epoch()).count();
        const auto lines = split_lines(read_text(witness));
        REQUIRE(lines.size() == 2);
        REQUIRE(lines[1].rfind("leave ", 0) == 0);
        CHECK(std::stod(lines[1].substr(6)) < expires_s);

        // Another agent takes it once the holder is gone (room again), and only after the command left.
        if (permission) {
            REQUIRE(::chmod((where / "locks").c_str(), 0700) == 0);
        } else {
            fs::remove(filler);
        }
        const std::vector<std::string> second{"guard", "build", "--",
                                              "sh",    "-c",    "echo \"enter $(date +%s.%N)\" >> " + witness.string()};
        CHECK_EXIT(permission ? f.run(as_nobody(second), RunOptions(holder).set("LOKT_OWNER", "agent-2"))
                              : f.lokt(second, RunOptions(k_agent2).in(shared)),
                   0);
        const auto after = split_lines(read_text(witness));
        REQUIRE(after.size() == 3);
        CHECK(std::stod(after[2].substr(6)) > std::stod(after[1].substr(6)));
    }

    TEST_CASE("sudo lokt in a user's root: the user's lock is judged, not broken; what root creates is the user's") {
        require_root_for_tmpfs();
        if (!have_setpriv()) skip_disk_suite("setpriv (util-linux) is not installed");
        LoktFixture f;
        const fs::path where = f.scratch() / "users-root";
        const fs::path cwd = f.scratch() / "cwd";
        fs::create_directories(where);
        fs::create_directories(cwd);
        ::chmod(f.scratch().c_str(), 0711);
        ::chmod(cwd.c_str(), 0777);
        ::chmod(where.c_str(), 0700);
        REQUIRE(::chown(where.c_str(), k_other_uid, k_other_uid) == 0);
        f.use_root(where);
        // The user never reaches this test's daemon: let it fall back to the files.
        const RunOptions user = RunOptions().set("LOKT_OWNER", "user").set("LOKT_DAEMON", "auto").in(cwd).within(k_disk_prompt);
        const RunOptions admin = as_owner("admin").within(k_disk_prompt);

        // Root is first in the fresh root: it makes the layout, the log, a mutex file.
        CHECK_EXIT(f.lokt({"lock", "admin-lock", "--ttl", "5m"}, admin), 0);
        REQUIRE_EXIT(f.run(as_nobody({"lock", "build", "--ttl", "5m"}), user), 0);
        const std::string before = read_text(f.lock_path("build"));
        // Root sees the user's live lock as held, not as corrupt.
        auto r = f.lokt({"lock", "build", "--ttl", "1m"}, admin);
        CHECK_EXIT(r, 2);
        CHECK_MESSAGE(contains(r.err, "held by user@"), r.describe());
        CHECK(read_text(f.lock_path("build")) == before);
        CHECK(f.audit_events("corrupt-break", "build").empty());
        CHECK_EXIT(f.lokt({"status", "build"}, admin), 0);
        CHECK_EXIT(f.lokt({"unlock", "build", "--force"}, admin), 0);
        CHECK_EXIT(f.lokt({"guard", "admin-guard", "--ttl", "1m", "--", "true"}, admin), 0);

        // Everything in the root is the user's.
        for (const auto& entry : fs::recursive_directory_iterator(where)) {
            struct stat info {};
            REQUIRE(::lstat(entry.path().c_str(), &info) == 0);
            CHECK_MESSAGE(info.st_uid == k_other_uid, entry.path().string() << " is owned by uid " << info.st_uid);
        }
        // And the user carries on: lock, unlock, break root's lock.
        CHECK_EXIT(f.run(as_nobody({"lock", "build", "--ttl", "1m"}), user), 0);
        CHECK_EXIT(f.run(as_nobody({"unlock", "build"}), user), 0);
        CHECK_EXIT(f.run(as_nobody({"unlock", "admin-lock", "--force"}), user), 0);
        CHECK_EXIT(f.run(as_nobody({"freeze", "build", "--ttl", "1m"}), user), 0);
        CHECK_EXIT(f.run(as_nobody({"unfreeze", "build"}), user), 0);
        check_no_torn_line(where / "audit.log");
    }

    TEST_CASE("loktd refuses an owner or agent id over 1024 bytes as a usage error") {
        LoktFixture f;
        if (!daemon_backend()) return;  // the client's own check is in bad_input
        const std::string huge(2000, 'o');
        for (const auto& [owner, agent] : {std::pair{huge, std::string("agent-1")}, std::pair{std::string("agent-1"), huge}}) {
            const std::string request = R"({"id":2,"op":"acquire","root":")" + f.root().string() +
                                        R"(","name":"build","mode":"guard","wait":false,"identity":{"owner":")" + owner +
                                        R"(","owner_explicit":true,"host":"devbox","pid":1,"agent_id":")" + agent + R"("}})";
            const auto reply = f.daemon_request(request);
            REQUIRE(reply.has_value());
            const auto json = parse_json(*reply);
            REQUIRE_MESSAGE(json.has_value(), *reply);
            CHECK((*json)["ok"] == false);
            CHECK_MESSAGE((*json)["error"]["code"] == "usage", *reply);
            CHECK_MESSAGE(contains(*reply, "1024"), *reply);
        }
        CHECK_FALSE(fs::exists(f.lock_path("build")));
    }

}  // TEST_SUITE
