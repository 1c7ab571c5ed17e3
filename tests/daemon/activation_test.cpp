// Ways of starting loktd: systemd socket activation (with systemd's own
// systemd-socket-activate, skipped when it is not installed) and
// `lokt daemon start|status|stop` on a private socket.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include <thread>

#include "daemon_fixture.hpp"

namespace lokt::daemon_test {
namespace {

std::string find_program(const std::string& name) {
    std::string out;
    SpawnSpec spec{{"/bin/sh", "-c", "command -v " + name}, EnvMap::inherited(), {}, {}, false, true};
    spec.output = fs::temp_directory_path() / ("lokt-which-" + std::to_string(::getpid()));
    const int status = run(spec, Millis(5000), &out);
    fs::remove(spec.output);
    if (status != 0) return "";
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
}

}  // namespace

TEST_SUITE("daemon_activation") {
    TEST_CASE("socket activation: loktd adopts the socket systemd passes") {
        const std::string activate = find_program("systemd-socket-activate");
        if (activate.empty()) {
            MESSAGE("skipped: systemd-socket-activate is not installed");
            return;
        }
        DaemonFixture f;
        const fs::path dir = f.scratch() / "activated";
        fs::create_directories(dir);
        ::chmod(dir.c_str(), 0700);
        const fs::path socket = dir / "loktd.sock";
        SpawnSpec spec{{activate, "-l", socket.string(), loktd_binary().string(), "--log-level", "debug"},
                       EnvMap::inherited(),
                       f.scratch(),
                       dir / "activate.log",
                       false,
                       true};
        Process activator(spec);
        REQUIRE(DaemonFixture::eventually([&] { return fs::exists(socket); }, Millis(10'000)));
        // The first connection starts loktd on the listening socket.
        REQUIRE_MESSAGE(DaemonFixture::eventually([&] { return hello_answers(socket, Millis(2000)); }, Millis(15'000)),
                        read_file(dir / "activate.log"));
        SpawnSpec client = f.lokt({"guard", "activated", "--", "true"});
        client.env.set("LOKT_SOCKET", socket.string());
        CHECK(run(client, Millis(20'000)) == 0);
        CHECK(read_file(dir / "activate.log").find("passed by the service manager") != std::string::npos);
        activator.stop();
    }

    TEST_CASE("lokt daemon start, status and stop") {
        DaemonFixture f;
        f.daemon().stop();
        const fs::path dir = f.scratch() / "managed";
        auto lokt_daemon = [&](const std::string& verb, std::string* out) {
            SpawnSpec spec = f.lokt({"daemon", verb});
            spec.env.set("LOKT_SOCKET", (dir / "loktd.sock").string());
            spec.env.unset("LOKT_DAEMON");
            spec.output = f.scratch() / ("daemon-" + verb + ".out");
            return run(spec, Millis(30'000), out);
        };
        std::string out;
        CHECK(lokt_daemon("status", &out) == 3);
        CHECK(out.find("not running") != std::string::npos);
        REQUIRE_MESSAGE(lokt_daemon("start", &out) == 0, out);
        CHECK(out.find("started: loktd") != std::string::npos);
        CHECK(lokt_daemon("start", &out) == 0);
        CHECK(out.find("already running") != std::string::npos);
        CHECK(lokt_daemon("status", &out) == 0);
        CHECK(out.find("uptime") != std::string::npos);
        CHECK(lokt_daemon("stop", &out) == 0);
        CHECK(out.find("stopped loktd") != std::string::npos);
        CHECK(lokt_daemon("status", &out) == 3);
    }

    TEST_CASE("a second loktd on a live socket exits 1; a stale socket file is replaced") {
        DaemonFixture f;
        SpawnSpec second{{loktd_binary().string(), "--socket", f.daemon().socket().string()},
                         EnvMap::inherited(),
                         f.scratch(),
                         f.scratch() / "second.log",
                         false,
                         true};
        std::string out;
        CHECK(run(second, Millis(10'000), &out) == 1);
        CHECK(out.find("already running") != std::string::npos);
        CHECK(hello_answers(f.daemon().socket(), Millis(5000)));
        f.daemon().crash();
        CHECK(fs::exists(f.daemon().socket()));  // left behind by the crash
        f.daemon().start();
        CHECK(f.daemon().log().find("replacing the stale socket") != std::string::npos);
    }

    TEST_CASE("LOKT_DAEMON=require without a daemon fails with exit 1; auto falls back to the files") {
        DaemonFixture f;
        f.daemon().stop();
        SpawnSpec required = f.lokt({"guard", "x", "--", "true"});
        required.output = f.scratch() / "require.out";
        std::string out;
        CHECK(run(required, Millis(20'000), &out) == 1);
        CHECK(out.find("LOKT_DAEMON=require") != std::string::npos);
        SpawnSpec automatic = f.lokt({"guard", "x", "--", "true"});
        automatic.env.set("LOKT_DAEMON", "auto");
        CHECK(run(automatic, Millis(20'000)) == 0);
    }

    TEST_CASE("a daemon that never answers hello: auto uses the files after the hello timeout, require fails") {
        DaemonFixture f;
        f.daemon().stop();
        // A socket that accepts connections (the kernel's backlog) and never reads.
        const fs::path directory = f.scratch() / "silent";
        fs::create_directory(directory);
        fs::permissions(directory, fs::perms::owner_all, fs::perm_options::replace);
        const fs::path socket = directory / "loktd.sock";
        const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(listener >= 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
        REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
        REQUIRE(::listen(listener, 16) == 0);

        SpawnSpec automatic = f.lokt({"guard", "silent", "--", "sh", "-c", "test -f \"$LOKT_ROOT/locks/silent.json\""});
        automatic.env.set("LOKT_DAEMON", "auto");
        automatic.env.set("LOKT_SOCKET", socket.string());
        CHECK(run(automatic, Millis(20'000)) == 0);
        const std::string audit = read_file(f.root() / "audit.log");
        CHECK(audit.find(R"("event":"acquire","name":"silent")") != std::string::npos);
        CHECK(audit.find(R"("event":"release","name":"silent")") != std::string::npos);

        SpawnSpec required = f.lokt({"guard", "silent", "--", "true"});
        required.env.set("LOKT_SOCKET", socket.string());
        required.output = f.scratch() / "silent-require.out";
        std::string out;
        CHECK(run(required, Millis(20'000), &out) == 1);
        CHECK_MESSAGE(out.find("LOKT_DAEMON=require") != std::string::npos, out);
        CHECK_FALSE(fs::exists(f.root() / "locks" / "silent.json"));
        ::close(listener);
    }

}  // TEST_SUITE

}  // namespace lokt::daemon_test
