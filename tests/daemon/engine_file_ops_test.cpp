// The daemon's file operations on a root it keeps open: its own lock file is
// recognised by one lookup at the path, a file put there by anyone else is
// not, and a root replaced under it is opened afresh from the next turn of
// the event loop on.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <vector>

#include "daemon/engine_file_ops.hpp"

namespace fs = std::filesystem;
using namespace lokt;
using namespace lokt::daemon;

namespace {

struct Fixture {
    fs::path scratch;
    std::vector<std::function<void()>> at_turn_end;
    EngineFileOps files;
    Identity me = current_identity();

    Fixture()
        : scratch(make_scratch()),
          files(scratch / "root", [this](std::function<void()> run) { at_turn_end.push_back(std::move(run)); }) {}
    ~Fixture() {
        std::error_code ignored;
        fs::remove_all(scratch, ignored);
    }

    static fs::path make_scratch() {
        std::string pattern = (fs::temp_directory_path() / "lokt-engine-ops-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        return pattern;
    }

    void end_turn() {
        auto due = std::move(at_turn_end);
        at_turn_end.clear();
        for (auto& run : due) run();
    }

    AcquireResult acquire(const std::string& name) {
        AcquireSpec spec;
        spec.name = name;
        spec.holder = me;
        auto result = files.try_acquire(spec, me);
        REQUIRE(result.ok());
        REQUIRE(result->granted());
        return *result;
    }

    // Another client, straight on the files at the root's path.
    AcquireResult acquire_elsewhere(const std::string& name) {
        auto store = LockStore::open(scratch / "root", LockStore::Mode::create);
        REQUIRE(store.ok());
        LockEngine engine(std::move(store.value()), me);
        AcquireSpec spec;
        spec.name = name;
        spec.holder = me;
        auto result = engine.try_acquire(spec);
        REQUIRE(result.ok());
        REQUIRE(result->granted());
        return *result;
    }
};

}  // namespace

TEST_SUITE("engine_file_ops") {
    TEST_CASE("its own lock file is recognised; one written by another after a break is not") {
        Fixture f;
        const AcquireResult mine = f.acquire("build");
        CHECK(f.files.lock_file_is("build", WrittenFile::of(mine.file)));

        fs::remove(f.scratch / "root/locks/build.json");  // broken by hand
        CHECK_FALSE(f.files.lock_file_is("build", WrittenFile::of(mine.file)));
        const AcquireResult theirs = f.acquire_elsewhere("build");
        CHECK_FALSE(f.files.lock_file_is("build", WrittenFile::of(mine.file)));
        CHECK(f.files.lock_file_is("build", WrittenFile::of(theirs.file)));
    }

    TEST_CASE("a root moved away keeps our file, but what counts is the file at the path now") {
        Fixture f;
        const AcquireResult mine = f.acquire("build");
        fs::rename(f.scratch / "root", f.scratch / "root.old");
        CHECK(fs::exists(f.scratch / "root.old/locks/build.json"));
        const AcquireResult theirs = f.acquire_elsewhere("build");  // in a new root at the old path
        CHECK_FALSE(f.files.lock_file_is("build", WrittenFile::of(mine.file)));
        CHECK(f.files.lock_file_is("build", WrittenFile::of(theirs.file)));
    }

    TEST_CASE("the root's paths are checked once per turn: a replaced root is opened afresh in the next") {
        Fixture f;
        const AcquireResult first = f.acquire("one");
        CHECK(f.at_turn_end.size() == 1);  // opened, so checked, in this turn
        f.end_turn();

        // Replaced between turns: the next operation finds the new root.
        fs::rename(f.scratch / "root", f.scratch / "root.old");
        f.acquire("two");
        CHECK(fs::exists(f.scratch / "root/locks/two.json"));
        CHECK_FALSE(fs::exists(f.scratch / "root.old/locks/two.json"));
        CHECK(f.at_turn_end.size() == 1);

        // Within one turn the paths are looked at once: more operations schedule
        // no second check.
        f.acquire("three");
        f.acquire("four");
        CHECK(f.at_turn_end.size() == 1);
        f.end_turn();
        CHECK(f.at_turn_end.empty());
        auto released = f.files.release("one", first.record.lock_id, f.me, WrittenFile{}, {});
        CHECK(released.error().code == ErrorCode::lost);  // "one" stayed in the old root
        CHECK(f.at_turn_end.size() == 1);
    }

}  // TEST_SUITE
