// The file store: exclusive publish, safe reads of hostile files, and
// compare-before-remove.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <vector>

#include "common/lock_store.hpp"
#include "tests/support/scratch_dir.hpp"

namespace fs = std::filesystem;
using lokt::Area;
using lokt::LockStore;
using Kind = lokt::StoredRecord::Kind;

namespace {

LockStore open_store(const fs::path& root) {
    auto store = LockStore::open(root, LockStore::Mode::create);
    REQUIRE(store.ok());
    return std::move(store.value());
}

std::string record_text(const std::string& name) {
    lokt::LockRecord r;
    r.name = name;
    r.owner = "me";
    r.host = "here";
    r.pid = 1;
    r.acquired = lokt::wall_now();
    return lokt::serialize_lock_record(r);
}

void set_old_mtime(const fs::path& path) {
    struct timespec times[2] = {{1000, 0}, {1000, 0}};
    REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

}  // namespace

TEST_CASE("the layout is created with mode 0700") {
    lokt::test::ScratchDir dir;
    LockStore store = open_store(dir / "root");
    for (const char* sub : {"", "locks", "freezes", "mutex"}) {
        struct stat info {};
        REQUIRE(::stat((dir / "root" / sub).c_str(), &info) == 0);
        CHECK((info.st_mode & 07777) == 0700);
    }
}

TEST_CASE("read-only open of a missing root creates nothing and reads empty") {
    lokt::test::ScratchDir dir;
    auto store = LockStore::open(dir / "absent", LockStore::Mode::read_only);
    REQUIRE(store.ok());
    CHECK_FALSE(fs::exists(dir / "absent"));
    CHECK(store->read(Area::locks, "x")->kind == Kind::absent);
    CHECK(store->list(Area::locks)->empty());
}

TEST_CASE("publish is exclusive, complete, and leaves no temp files") {
    lokt::test::ScratchDir dir;
    LockStore store = open_store(dir / "root");
    CHECK(*store.publish(Area::locks, "build", record_text("build")) == true);
    CHECK(*store.publish(Area::locks, "build", record_text("build")) == false);
    auto read = store.read(Area::locks, "build");
    REQUIRE(read->kind == Kind::record);
    CHECK(read->record.name == "build");
    struct stat info {};
    REQUIRE(::stat((dir / "root/locks/build.json").c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0600);
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir / "root/locks")) ++entries;
    CHECK(entries == 1);
}

TEST_CASE("replace rewrites atomically and remove_if_same checks the file identity") {
    lokt::test::ScratchDir dir;
    LockStore store = open_store(dir / "root");
    REQUIRE(*store.publish(Area::locks, "x", record_text("x")));
    const auto first = store.read(Area::locks, "x")->file;
    REQUIRE(store.replace(Area::locks, "x", record_text("x")).ok());
    const auto second = store.read(Area::locks, "x")->file;
    CHECK(first != second);
    CHECK(*store.remove_if_same(Area::locks, "x", first) == false);  // stale view: not removed
    CHECK(fs::exists(dir / "root/locks/x.json"));
    CHECK(*store.remove_if_same(Area::locks, "x", second) == true);
    CHECK_FALSE(fs::exists(dir / "root/locks/x.json"));
}

TEST_CASE("hostile and broken lock files read as corrupt without hanging") {
    lokt::test::ScratchDir dir;
    LockStore store = open_store(dir / "root");
    const fs::path locks = dir / "root/locks";

    REQUIRE(::mkfifo((locks / "fifo.json").c_str(), 0600) == 0);
    fs::create_symlink("/dev/zero", locks / "zero.json");
    {
        std::ofstream big(locks / "big.json");
        big << std::string(1 << 20, ' ');
    }
    std::ofstream(locks / "truncated.json") << "{\"name\": \"trun";
    std::ofstream(locks / "null.json") << "null";
    std::ofstream(locks / "empty-old.json");
    set_old_mtime(locks / "empty-old.json");
    std::ofstream(locks / "empty-new.json");

    const struct {
        const char* name;
        Kind kind;
        const char* problem;
    } cases[] = {
        {"fifo", Kind::corrupt, "not a regular file"}, {"zero", Kind::corrupt, "symbolic link"},
        {"big", Kind::corrupt, "larger than 64 KiB"},  {"truncated", Kind::corrupt, "not valid JSON"},
        {"null", Kind::corrupt, "not a JSON object"},  {"empty-old", Kind::corrupt, "empty"},
        {"empty-new", Kind::being_written, ""},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        auto read = store.read(Area::locks, c.name);
        REQUIRE(read.ok());
        CHECK(read->kind == c.kind);
        CHECK(read->problem.find(c.problem) != std::string::npos);
    }
    // The symlink is removed as a link; its target is untouched.
    auto zero = store.read(Area::locks, "zero");
    CHECK(*store.remove_if_same(Area::locks, "zero", zero->file));
    CHECK(fs::exists("/dev/zero"));
}

TEST_CASE("read_many gives what read gives, for every kind of file, and reads no FIFO") {
    lokt::test::ScratchDir dir;
    LockStore store = open_store(dir / "root");
    const fs::path locks = dir / "root/locks";
    // Enough records for batches of several rounds, with odd files among them.
    for (int i = 0; i < 300; ++i) {
        const std::string name = "held-" + std::to_string(1000 + i);
        REQUIRE(*store.publish(Area::locks, name, record_text(name)));
    }
    REQUIRE(::mkfifo((locks / "fifo.json").c_str(), 0600) == 0);
    // A writer on the FIFO: a read from it would take these bytes.
    const int writer_end = ::open((locks / "fifo.json").c_str(), O_RDWR | O_NONBLOCK);
    REQUIRE(writer_end >= 0);
    const std::string in_fifo = record_text("fifo");
    REQUIRE(::write(writer_end, in_fifo.data(), in_fifo.size()) == static_cast<ssize_t>(in_fifo.size()));
    fs::create_symlink("/dev/zero", locks / "zero.json");
    fs::create_symlink("held-1000.json", locks / "link.json");
    fs::create_directory(locks / "dir.json");
    {
        lokt::LockRecord r;
        r.name = "padded";
        r.owner = std::string(6000, 'o');  // above the batch's 4 KiB, below 64 KiB
        r.host = "here";
        r.pid = 1;
        r.acquired = lokt::wall_now();
        std::ofstream(locks / "padded.json") << lokt::serialize_lock_record(r);
    }
    std::ofstream(locks / "big.json") << std::string(1 << 17, ' ');
    std::ofstream(locks / "truncated.json") << "{\"name\": \"trun";
    std::ofstream(locks / "empty-old.json");
    set_old_mtime(locks / "empty-old.json");
    std::ofstream(locks / "empty-new.json");

    auto names = store.list(Area::locks);
    REQUIRE(names.ok());
    names->push_back("gone");  // listed, then removed before the read
    std::vector<std::optional<lokt::StoredRecord>> many(names->size());
    std::vector<std::size_t> order;
    store.read_many(Area::locks, *names, 0, names->size(), [&](std::size_t i, lokt::Result<lokt::StoredRecord> stored) {
        REQUIRE(stored.ok());
        many[i] = std::move(stored.value());
        order.push_back(i);
    });
    REQUIRE(order.size() == names->size());
    for (std::size_t i = 0; i < order.size(); ++i) CHECK(order[i] == i);
    for (std::size_t i = 0; i < names->size(); ++i) {
        INFO((*names)[i]);
        auto one = store.read(Area::locks, (*names)[i]);
        REQUIRE(one.ok());
        CHECK(many[i]->kind == one->kind);
        CHECK(many[i]->problem == one->problem);
        CHECK(many[i]->record == one->record);
        CHECK(many[i]->file == one->file);
    }
    char left[4096];
    CHECK(::read(writer_end, left, sizeof left) == static_cast<ssize_t>(in_fifo.size()));
    ::close(writer_end);
}

TEST_CASE("list returns sorted names and ignores hidden and foreign files") {
    lokt::test::ScratchDir dir;
    LockStore store = open_store(dir / "root");
    for (const char* name : {"b", "a", "c"}) REQUIRE(*store.publish(Area::locks, name, record_text(name)));
    std::ofstream(dir / "root/locks/.a.123.tmp") << "x";
    std::ofstream(dir / "root/locks/notes.txt") << "x";
    CHECK(*store.list(Area::locks) == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("the name mutex excludes a second holder until released") {
    lokt::test::ScratchDir dir;
    LockStore store = open_store(dir / "root");
    auto first = store.lock_name("x");
    REQUIRE(first.ok());
    const int fd = ::open((dir / "root/mutex/x.lock").c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    CHECK(::flock(fd, LOCK_EX | LOCK_NB) != 0);
    { auto released = std::move(first.value()); }
    CHECK(::flock(fd, LOCK_EX | LOCK_NB) == 0);
    ::close(fd);
}

TEST_CASE("a store kept open notices its directories being replaced") {
    lokt::test::ScratchDir dir;
    const fs::path root = dir / "lokt";
    LockStore store = open_store(root);
    CHECK(store.unchanged_on_disk());

    SUBCASE("locks/ replaced") {
        fs::rename(root / "locks", dir / "old-locks");
        fs::create_directory(root / "locks");
        CHECK_FALSE(store.unchanged_on_disk());
    }
    SUBCASE("freezes/ removed") {
        fs::remove(root / "freezes");
        CHECK_FALSE(store.unchanged_on_disk());
    }
    SUBCASE("the whole root removed and made again") {
        fs::remove_all(root);
        CHECK_FALSE(store.unchanged_on_disk());
        LockStore again = open_store(root);
        CHECK(again.unchanged_on_disk());
        REQUIRE(again.publish(Area::locks, "x", record_text("x")).ok());
        CHECK(fs::exists(root / "locks" / "x.json"));
    }
    SUBCASE("mutex/ replaced: the next lock_name uses the new one") {
        {
            auto first = store.lock_name("m");
            REQUIRE(first.ok());
        }
        fs::rename(root / "mutex", dir / "old-mutex");
        fs::create_directory(root / "mutex");
        CHECK(store.unchanged_on_disk());
        auto held = store.lock_name("m");
        REQUIRE(held.ok());
        const int fd = ::open((root / "mutex" / "m.lock").c_str(), O_RDWR | O_CLOEXEC);
        REQUIRE(fd >= 0);
        CHECK(::flock(fd, LOCK_EX | LOCK_NB) != 0);
        ::close(fd);
    }
}
