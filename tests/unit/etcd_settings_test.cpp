// The etcd settings (client/etcd_settings.hpp): the namespace every clone
// derives from its origin remote, and the committed .lokt.toml.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>

#include "client/etcd_settings.hpp"
#include "tests/support/scratch_dir.hpp"
#include "tests/support/text_file.hpp"

namespace {

using lokt::client::etcd_settings;
using lokt::client::normalise_remote_url;
using lokt::test::ScratchDir;
using lokt::test::write_text;

// Clears the variables etcd_settings reads, before and after one case.
void clear_etcd_environment() {
    for (const char* name : {"LOKT_BACKEND", "LOKT_ETCD_ENDPOINTS", "LOKT_ETCD_PREFIX", "LOKT_ETCD_CACERT", "LOKT_ETCD_CERT",
                             "LOKT_ETCD_KEY", "LOKT_ETCD_USER", "LOKT_ETCD_PASSWORD"}) {
        ::unsetenv(name);
    }
}

struct CleanEtcdEnvironment {
    CleanEtcdEnvironment() { clear_etcd_environment(); }
    ~CleanEtcdEnvironment() { clear_etcd_environment(); }
    CleanEtcdEnvironment(const CleanEtcdEnvironment&) = delete;
    CleanEtcdEnvironment& operator=(const CleanEtcdEnvironment&) = delete;
};

}  // namespace

TEST_SUITE("etcd_settings") {
    TEST_CASE("every form of the same remote gives the same namespace") {
        for (const char* url :
             {"git@github.com:Acme/app.git", "https://github.com/Acme/app", "https://user@GitHub.com/Acme/app.git/",
              "ssh://git@github.com:22/Acme/app.git", "git://github.com/Acme/app"}) {
            CAPTURE(url);
            CHECK(normalise_remote_url(url) == "github.com/Acme/app");
        }
        CHECK(normalise_remote_url("/srv/git/app.git") == "srv/git/app");
    }

    TEST_CASE("without LOKT_BACKEND or .lokt.toml, etcd is not used") {
        CleanEtcdEnvironment clean;
        ScratchDir dir("etcd-settings");
        std::filesystem::create_directories(dir / ".git");
        auto settings = etcd_settings(dir.path());
        REQUIRE(settings);
        CHECK_FALSE(settings->has_value());
    }

    TEST_CASE("a committed .lokt.toml opts in; the namespace comes from origin; the environment wins") {
        CleanEtcdEnvironment clean;
        ScratchDir dir("etcd-settings");
        std::filesystem::create_directories(dir / ".git");
        write_text(dir / ".git" / "config", "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = git@github.com:Acme/app.git\n");
        write_text(dir / ".lokt.toml",
                   "# shared locks\nbackend = \"etcd\"\n\n[etcd]\nendpoints = \"http://10.0.0.5:2379, http://10.0.0.6:2379\"\n");
        std::filesystem::create_directories(dir / "sub" / "dir");
        auto settings = etcd_settings(dir / "sub" / "dir");
        REQUIRE(settings);
        REQUIRE(settings->has_value());
        CHECK((*settings)->client.endpoints.size() == 2);
        CHECK((*settings)->name_space == "github.com/Acme/app");
        CHECK((*settings)->key_prefix() == "lokt/github.com/Acme/app/");
        CHECK((*settings)->name_space_source.find("origin remote") == 0);

        ::setenv("LOKT_ETCD_PREFIX", "team/shared", 1);
        ::setenv("LOKT_ETCD_ENDPOINTS", "http://127.0.0.1:2379", 1);
        auto overridden = etcd_settings(dir.path());
        REQUIRE(overridden);
        REQUIRE(overridden->has_value());
        CHECK((*overridden)->name_space == "team/shared");
        CHECK((*overridden)->client.endpoints.size() == 1);

        ::setenv("LOKT_BACKEND", "local", 1);
        auto local = etcd_settings(dir.path());
        REQUIRE(local);
        CHECK_FALSE(local->has_value());
    }

    TEST_CASE("clear usage errors: a bad LOKT_BACKEND, no endpoints, no namespace") {
        CleanEtcdEnvironment clean;
        ScratchDir dir("etcd-settings");
        std::filesystem::create_directories(dir / ".git");
        ::setenv("LOKT_BACKEND", "consul", 1);
        auto bad = etcd_settings(dir.path());
        REQUIRE_FALSE(bad);
        CHECK(bad.error().code == lokt::ErrorCode::usage);

        ::setenv("LOKT_BACKEND", "etcd", 1);
        auto no_endpoints = etcd_settings(dir.path());
        REQUIRE_FALSE(no_endpoints);
        CHECK(no_endpoints.error().message.find("LOKT_ETCD_ENDPOINTS") != std::string::npos);

        ::setenv("LOKT_ETCD_ENDPOINTS", "http://127.0.0.1:2379", 1);
        auto no_namespace = etcd_settings(dir.path());
        REQUIRE_FALSE(no_namespace);
        CHECK(no_namespace.error().message.find("LOKT_ETCD_PREFIX") != std::string::npos);
    }
}
