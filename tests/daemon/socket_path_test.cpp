// The daemon's socket directory: created 0700 when missing, refused when it is
// a symlink, not a directory, or open to group or others. Where the socket
// lives is tested with protocol/socket_location (tests/protocol).
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "daemon/socket_path.hpp"

namespace lokt::daemon {
namespace {

struct TempDir {
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "lokt-sockdir-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path = pattern;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::filesystem::path path;
};

}  // namespace

TEST_SUITE("socket_path") {
    TEST_CASE("a missing directory is created with mode 0700") {
        TempDir t;
        const auto dir = t.path / "lokt";
        REQUIRE(prepare_socket_directory(dir).ok());
        struct stat info {};
        REQUIRE(::lstat(dir.c_str(), &info) == 0);
        CHECK((info.st_mode & 07777) == 0700);
        CHECK(prepare_socket_directory(dir).ok());  // and accepted the second time
    }

    TEST_CASE("a directory open to others is refused with the fix in the message") {
        TempDir t;
        const auto dir = t.path / "open";
        std::filesystem::create_directory(dir);
        ::chmod(dir.c_str(), 0755);
        auto result = prepare_socket_directory(dir);
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().message.find("mode 0755") != std::string::npos);
        CHECK(result.error().message.find("chmod 700") != std::string::npos);
    }

    TEST_CASE("a symlink or a file is not a socket directory") {
        TempDir t;
        const auto real = t.path / "real";
        std::filesystem::create_directory(real);
        ::chmod(real.c_str(), 0700);
        const auto link = t.path / "link";
        std::filesystem::create_directory_symlink(real, link);
        CHECK_FALSE(prepare_socket_directory(link).ok());
        const auto file = t.path / "file";
        std::ofstream(file) << "x";
        CHECK_FALSE(prepare_socket_directory(file).ok());
    }

}  // TEST_SUITE

}  // namespace lokt::daemon
