// Ways of starting loktd: systemd socket activation (with systemd's own
// systemd-socket-activate, skipped when it is not installed) and
// `lokt daemon start|status|stop` on a private socket.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include <thread>

#include "tests/daemon/daemon_fixture.hpp"

namespace lokt::daemon_test {

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
        const ProcessSpec spec{.argv = {activate, "-l", socket.string(), loktd_binary().string(), "--log-level", "debug"},
                               .env = Environment::inherited(),
                               .cwd = f.scratch(),
                               .output_file = dir / "activate.log"};
        ChildProcess activator(spec);
        REQUIRE(DaemonFixture::eventually([&] { return fs::exists(socket); }, Millis(10'000)));
        // The first connection starts loktd on the listening socket.
        REQUIRE_MESSAGE(DaemonFixture::eventually([&] { return hello_answers(socket, Millis(2000)); }, Millis(15'000)),
                        read_text(dir / "activate.log"));
        ProcessSpec client = f.lokt({"guard", "activated", "--", "true"});
        client.env.set("LOKT_SOCKET", socket.string());
        CHECK(run_process(client, Millis(20'000)).status() == 0);
        CHECK(read_text(dir / "activate.log").find("passed by the service manager") != std::string::npos);
        activator.stop();
    }

    TEST_CASE("lokt daemon start, status and stop") {
        DaemonFixture f;
        f.daemon().stop();
        const fs::path dir = f.scratch() / "managed";
        auto lokt_daemon = [&](const std::string& verb, std::string* out) {
            ProcessSpec spec = f.lokt({"daemon", verb});
            spec.env.set("LOKT_SOCKET", (dir / "loktd.sock").string());
            spec.env.unset("LOKT_DAEMON");
            spec.output_file = f.scratch() / ("daemon-" + verb + ".out");
            const auto result = run_process(spec, Millis(30'000));
            *out = result.out;
            return result.status();
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
        const ProcessSpec second{.argv = {loktd_binary().string(), "--socket", f.daemon().socket().string()},
                                 .env = Environment::inherited(),
                                 .cwd = f.scratch(),
                                 .output_file = f.scratch() / "second.log"};
        const auto second_run = run_process(second, Millis(10'000));
        const std::string& out = second_run.out;
        CHECK(second_run.status() == 1);
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
        ProcessSpec required = f.lokt({"guard", "x", "--", "true"});
        required.output_file = f.scratch() / "require.out";
        const auto required_run = run_process(required, Millis(20'000));
        const std::string& out = required_run.out;
        CHECK(required_run.status() == 1);
        CHECK(out.find("LOKT_DAEMON=require") != std::string::npos);
        ProcessSpec automatic = f.lokt({"guard", "x", "--", "true"});
        automatic.env.set("LOKT_DAEMON", "auto");
        CHECK(run_process(automatic, Millis(20'000)).status() == 0);
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

        ProcessSpec automatic = f.lokt({"guard", "silent", "--", "sh", "-c", "test -f \"$LOKT_ROOT/locks/silent.json\""});
        automatic.env.set("LOKT_DAEMON", "auto");
        automatic.env.set("LOKT_SOCKET", socket.string());
        CHECK(run_process(automatic, Millis(20'000)).status() == 0);
        const std::string audit = read_text(f.root() / "audit.log");
        CHECK(audit.find(R"("event":"acquire","name":"silent")") != std::string::npos);
        CHECK(audit.find(R"("event":"release","name":"silent")") != std::string::npos);

        ProcessSpec required = f.lokt({"guard", "silent", "--", "true"});
        required.env.set("LOKT_SOCKET", socket.string());
        required.output_file = f.scratch() / "silent-require.out";
        const auto required_run = run_process(required, Millis(20'000));
        const std::string& out = required_run.out;
        CHECK(required_run.status() == 1);
        CHECK_MESSAGE(out.find("LOKT_DAEMON=require") != std::string::npos, out);
        CHECK_FALSE(fs::exists(f.root() / "locks" / "silent.json"));
        ::close(listener);
    }

}  // TEST_SUITE

}  // namespace lokt::daemon_test
