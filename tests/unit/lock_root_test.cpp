// Root discovery without spawning git: LOKT_ROOT, plain repositories, worktrees
// (a .git file pointing at a git dir with "commondir"), and the ./.lokt fallback.
#include <doctest/doctest.h>

#include <fstream>

#include "common/lock_root.hpp"
#include "tests/support/scratch_dir.hpp"

namespace fs = std::filesystem;
using lokt::discover_lock_root;
using lokt::RootSource;

namespace {
void write_file(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
}
}  // namespace

TEST_CASE("LOKT_ROOT wins, relative to the working directory") {
    lokt::test::ScratchDir dir;
    fs::create_directories(dir / "repo/.git");
    auto root = discover_lock_root(dir / "repo", "/somewhere/else");
    REQUIRE(root.ok());
    CHECK(root->path == "/somewhere/else");
    CHECK(root->source == RootSource::environment);
    auto relative = discover_lock_root(dir / "repo", "locks-here");
    CHECK(relative->path == dir / "repo/locks-here");
}

TEST_CASE("a plain repository uses .git/lokt from any subdirectory") {
    lokt::test::ScratchDir dir;
    fs::create_directories(dir / "repo/.git");
    fs::create_directories(dir / "repo/src/deep");
    auto root = discover_lock_root(dir / "repo/src/deep", nullptr);
    REQUIRE(root.ok());
    CHECK(root->path == dir / "repo/.git/lokt");
    CHECK(root->source == RootSource::git);
}

TEST_CASE("a worktree shares the main repository's common dir") {
    lokt::test::ScratchDir dir;
    fs::create_directories(dir / "main/.git/worktrees/wt");
    write_file(dir / "main/.git/worktrees/wt/commondir", "../..\n");
    write_file(dir / "wt/.git", "gitdir: " + (dir / "main/.git/worktrees/wt").string() + "\n");
    auto root = discover_lock_root(dir / "wt", nullptr);
    REQUIRE(root.ok());
    CHECK(root->path == dir / "main/.git/lokt");

    // A relative gitdir path is relative to the directory holding the .git file.
    write_file(dir / "wt2/.git", "gitdir: ../main/.git/worktrees/wt\n");
    CHECK(discover_lock_root(dir / "wt2", nullptr)->path == dir / "main/.git/lokt");
}

TEST_CASE("outside a repository: ./.lokt") {
    lokt::test::ScratchDir dir;
    fs::create_directories(dir / "plain");
    // A .git file that points nowhere is not a repository.
    write_file(dir / "plain/.git", "gitdir: /does/not/exist\n");
    auto root = discover_lock_root(dir / "plain", "");
    REQUIRE(root.ok());
    CHECK(root->path == dir / "plain/.lokt");
    CHECK(root->source == RootSource::working_directory);
}
