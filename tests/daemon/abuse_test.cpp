// Clients that misbehave must not disturb the others: another user (refused
// before a byte is read), a 1 MiB line, malformed JSON, hundreds of idle
// connections (below the limit one process may open), and a client that
// sends half a line and stalls.
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "tests/daemon/daemon_fixture.hpp"
#include "tests/daemon/raw_client.hpp"

namespace lokt::daemon_test {
namespace {}  // namespace

TEST_SUITE("daemon_abuse") {
    TEST_CASE("requests sent behind an unanswered hello are answered in order, and refused if the hello was") {
        DaemonFixture f;
        const std::string root = f.root().string();
        const std::string acquire =
            R"({"id":2,"op":"acquire","root":")" + root +
            R"(","name":"piped","mode":"guard","wait":false,"identity":{"owner":"raw","host":"h","pid":1,"agent_id":"a"}})"
            "\n";

        // A refused hello: the acquire behind it is refused too, and nothing is locked.
        RawClient refused(f.daemon().socket());
        REQUIRE(refused.connected());
        REQUIRE(refused.send(R"({"id":1,"op":"hello","protocol_min":7,"protocol_max":9,"client_version":"test"})"
                             "\n" +
                             acquire));
        const std::string hello_error = refused.line();
        CHECK_MESSAGE(hello_error.find(R"("id":1,"op":"hello","ok":false)") != std::string::npos, hello_error);
        const std::string acquire_error = refused.line();
        CHECK_MESSAGE(acquire_error.find(R"("id":2,"op":"acquire","ok":false)") != std::string::npos, acquire_error);
        CHECK_MESSAGE(acquire_error.find("the first request must be hello") != std::string::npos, acquire_error);
        CHECK_FALSE(fs::exists(f.root() / "locks" / "piped.json"));

        // An accepted one: both replies, in order, in one exchange; the hold ends with the connection.
        {
            RawClient accepted(f.daemon().socket());
            REQUIRE(accepted.connected());
            REQUIRE(accepted.send(k_hello + acquire));
            const std::string hello_reply = accepted.line();
            CHECK_MESSAGE(hello_reply.find(R"("id":1,"op":"hello","ok":true)") != std::string::npos, hello_reply);
            const std::string granted = accepted.line();
            CHECK_MESSAGE(granted.find(R"("id":2,"op":"acquire","ok":true)") != std::string::npos, granted);
            CHECK(fs::exists(f.root() / "locks" / "piped.json"));
        }
        CHECK(DaemonFixture::eventually([&] { return !fs::exists(f.root() / "locks" / "piped.json"); }));
    }

    TEST_CASE("a connection from another uid is closed before anything is read") {
        if (::geteuid() != 0 || find_program("setpriv").empty() || find_program("python3").empty()) {
            MESSAGE("skipped: needs root, setpriv and python3 to connect as uid 65534");
            return;
        }
        DaemonFixture f;
        // uid 65534 keeps CAP_DAC_OVERRIDE so that it can reach our 0700 socket at
        // all: only the daemon's SO_PEERCRED check stands in its way.
        const std::string script =
            "import socket,sys\n"
            "s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)\n"
            "try:\n"
            "    s.sendall(b'" +
            k_hello.substr(0, k_hello.size() - 1) +
            "\\n')\n"
            "    d=s.recv(4096)\n"
            "except (BrokenPipeError, ConnectionResetError):\n"
            "    d=b''\n"
            "print('reply' if d else 'closed')\n";
        const ProcessSpec spec{.argv = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=+dac_override",
                                        "--ambient-caps=+dac_override", "python3", "-c", script, f.daemon().socket().string()},
                               .env = Environment::inherited(),
                               .cwd = f.scratch(),
                               .output_file = f.scratch() / "other-uid.out"};
        const auto result = run_process(spec, Millis(20'000));
        const int status = result.status();
        const std::string& out = result.out;
        CHECK_MESSAGE(status == 0, out);
        CHECK_MESSAGE(out.find("closed") != std::string::npos, out);
        CHECK(f.daemon().log().find("refused uid 65534") != std::string::npos);
        CHECK(hello_answers(f.daemon().socket(), Millis(5000)));
    }

    TEST_CASE("a 1 MiB line, malformed JSON, 240 idle connections and a stalled half line disturb nobody") {
        raise_open_file_limit(2048);
        DaemonFixture f;
        const fs::path& socket = f.daemon().socket();

        std::vector<RawClient> idle;
        // 240: one process gets at most 256 connections (a quarter of the default limit).
        for (int i = 0; i < 240; ++i) {
            idle.emplace_back(socket);
            REQUIRE(idle.back().connected());
        }
        // One that says hello at once and then keeps quiet is within its rights.
        // It connects before the stalled one, so its deadline, were it kept,
        // would fall first.
        RawClient spoke(socket);
        REQUIRE(spoke.send(k_hello));
        CHECK(spoke.line().find("\"ok\":true") != std::string::npos);
        RawClient stalled(socket);
        REQUIRE(stalled.send(R"({"id":1,"op":"hel)"));

        RawClient malformed(socket);
        REQUIRE(malformed.send("{this is not json\n"));
        const std::string refusal = malformed.line();
        CHECK(refusal.find("\"code\":\"usage\"") != std::string::npos);
        CHECK(refusal.find("not valid JSON") != std::string::npos);
        // The connection stays usable.
        REQUIRE(malformed.send(k_hello));
        CHECK(malformed.line().find("\"ok\":true") != std::string::npos);

        RawClient huge(socket);
        (void)huge.send(std::string(1024 * 1024, 'x'));  // the daemon may hang up before all of it is sent
        const std::string too_long = huge.line();
        CHECK(too_long.find("line longer than 65536 bytes") != std::string::npos);

        // Meanwhile a real client is served at once.
        const auto started = std::chrono::steady_clock::now();
        CHECK(run_process(f.lokt({"guard", "busy", "--", "true"}), Millis(10'000)).status() == 0);
        MESSAGE("guard round trip beside 240 idle connections: "
                << std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - started).count() << " ms");

        // Connections that never say anything are closed after a few seconds.
        CHECK(stalled.closed_by_peer(Millis(10'000)));
        REQUIRE(spoke.send(R"({"id":2,"op":"daemon_status"})"
                           "\n"));
        CHECK(spoke.line().find("\"ok\":true") != std::string::npos);
        CHECK(DaemonFixture::eventually(
            [&] {
                auto counts = daemon_counts(socket);
                return counts && counts->connections <= 4;
            },
            Millis(15'000)));
        CHECK(f.daemon().running());
    }

    TEST_CASE("past --max-connections a connection is answered with an error and closed; a freed slot serves again") {
        DaemonFixture f;
        DaemonInstance limited(f.scratch() / "limited", {"--max-connections", "3"});
        limited.start();
        std::vector<RawClient> open;
        for (int i = 0; i < 3; ++i) {
            open.emplace_back(limited.socket());
            REQUIRE(open.back().send(k_hello));
            REQUIRE(open.back().line().find("\"ok\":true") != std::string::npos);
        }
        RawClient extra(limited.socket());
        REQUIRE(extra.connected());
        const std::string refusal = extra.line();
        CHECK(refusal.find("\"code\":\"unavailable\"") != std::string::npos);
        CHECK(refusal.find("at most 3 connections") != std::string::npos);
        CHECK(extra.closed_by_peer(Millis(10'000)));

        open.pop_back();  // one leaves; the daemon notices the close and frees its slot
        CHECK(DaemonFixture::eventually([&] {
            RawClient next(limited.socket());
            return next.send(k_hello) && next.line().find("\"ok\":true") != std::string::npos;
        }));
        CHECK(limited.running());
    }

}  // TEST_SUITE

}  // namespace lokt::daemon_test
