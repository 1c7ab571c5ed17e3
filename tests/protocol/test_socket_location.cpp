// Where the socket lives ($LOKT_SOCKET, then $XDG_RUNTIME_DIR, then /tmp) and
// which directories are safe for it: ours, a real directory, mode 0700.
#include "protocol/socket_location.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

using namespace lokt::protocol;
using lokt::ErrorCode;

namespace {

struct TempDir {
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "lokt-sockloc-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path = pattern;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::filesystem::path path;
};

// Sets (or unsets, for nullopt) an environment variable until the end of the scope.
class ScopedEnv {
public:
    ScopedEnv(const char* name, std::optional<std::string> value) : m_name(name) {
        if (const char* old = std::getenv(name)) m_old = old;
        if (value) {
            ::setenv(name, value->c_str(), 1);
        } else {
            ::unsetenv(name);
        }
    }
    ~ScopedEnv() {
        if (m_old) {
            ::setenv(m_name, m_old->c_str(), 1);
        } else {
            ::unsetenv(m_name);
        }
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    const char* m_name;
    std::optional<std::string> m_old;
};

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_SUITE("socket_location") {
    TEST_CASE("the socket path follows LOKT_SOCKET, then XDG_RUNTIME_DIR, then /tmp") {
        const std::string tmp_path = "/tmp/lokt-" + std::to_string(::geteuid()) + "/loktd.sock";
        {
            ScopedEnv socket("LOKT_SOCKET", "/run/x/explicit.sock");
            ScopedEnv runtime("XDG_RUNTIME_DIR", "/run/user/1000");
            CHECK(default_socket_path() == "/run/x/explicit.sock");
        }
        {
            ScopedEnv socket("LOKT_SOCKET", "");
            ScopedEnv runtime("XDG_RUNTIME_DIR", "/run/user/1000");
            CHECK(default_socket_path() == "/run/user/1000/lokt/loktd.sock");
        }
        {
            ScopedEnv socket("LOKT_SOCKET", std::nullopt);
            ScopedEnv runtime("XDG_RUNTIME_DIR", "relative/run");
            CHECK(default_socket_path() == tmp_path);
        }
        {
            ScopedEnv socket("LOKT_SOCKET", std::nullopt);
            ScopedEnv runtime("XDG_RUNTIME_DIR", std::nullopt);
            CHECK(default_socket_path() == tmp_path);
        }
    }

    TEST_CASE("a directory of ours with mode 0700 is accepted") {
        TempDir t;
        const auto dir = t.path / "lokt";
        REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
        REQUIRE(::chmod(dir.c_str(), 0700) == 0);
        const auto result = verify_socket_directory(dir);
        CHECK_MESSAGE(result.ok(), (result.ok() ? std::string() : result.error().message));
    }

    TEST_CASE("a missing directory is not_found, apart from the refusals") {
        TempDir t;
        const auto missing = verify_socket_directory(t.path / "absent");
        REQUIRE_FALSE(missing.ok());
        CHECK(missing.error().code == ErrorCode::not_found);
        CHECK(missing.error().message == "socket directory " + (t.path / "absent").string() + " does not exist");

        const auto file = t.path / "file";
        std::ofstream(file) << "x";
        const auto under_file = verify_socket_directory(file / "lokt");
        REQUIRE_FALSE(under_file.ok());
        CHECK(under_file.error().code == ErrorCode::not_found);
    }

    TEST_CASE("a directory open to group or others is refused with the fix in the message") {
        TempDir t;
        const auto dir = t.path / "open";
        REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
        REQUIRE(::chmod(dir.c_str(), 0755) == 0);
        const auto result = verify_socket_directory(dir);
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == ErrorCode::io);
        CHECK(result.error().message ==
              "socket directory " + dir.string() + ": has mode 0755; it must be 0700 (chmod 700 " + dir.string() + ")");
    }

    TEST_CASE("a symlink or a file is not a socket directory") {
        TempDir t;
        const auto real = t.path / "real";
        REQUIRE(::mkdir(real.c_str(), 0700) == 0);
        REQUIRE(::chmod(real.c_str(), 0700) == 0);
        const auto link = t.path / "link";
        std::filesystem::create_directory_symlink(real, link);
        const auto linked = verify_socket_directory(link);
        REQUIRE_FALSE(linked.ok());
        CHECK(linked.error().code == ErrorCode::io);
        CHECK(contains(linked.error().message, "symbolic link"));

        const auto file = t.path / "file";
        std::ofstream(file) << "x";
        const auto plain = verify_socket_directory(file);
        REQUIRE_FALSE(plain.ok());
        CHECK(plain.error().code == ErrorCode::io);
        CHECK(contains(plain.error().message, "is not a directory"));
    }

}  // TEST_SUITE
