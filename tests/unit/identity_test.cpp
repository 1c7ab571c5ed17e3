// The parts of Identity that do not depend on the running process: the owner
// lookup in passwd(5) text and the derived agent id.
#include <doctest/doctest.h>

#include "common/identity.hpp"

TEST_SUITE("identity") {
    TEST_CASE("user_name_in_passwd finds the name of a uid") {
        const std::string passwd =
            "root:x:0:0:root:/root:/bin/bash\n"
            "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
            "alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\n"
            "alice2:x:1000:1000::/home/alice2:/bin/sh\n"
            "last:x:4294967294:65534::/:/bin/false";  // no final newline
        CHECK(lokt::user_name_in_passwd(passwd, 0) == "root");
        CHECK(lokt::user_name_in_passwd(passwd, 1) == "daemon");
        CHECK(lokt::user_name_in_passwd(passwd, 1000) == "alice");  // the first of two entries wins
        CHECK(lokt::user_name_in_passwd(passwd, 4294967294u) == "last");
        CHECK(lokt::user_name_in_passwd(passwd, 1001) == std::nullopt);
    }

    TEST_CASE("user_name_in_passwd skips lines that are not entries") {
        const std::string passwd =
            "\n"
            "# a comment:x:5:5\n"
            ":x:6:6::/:/bin/sh\n"       // no name
            "short:x:7\n"               // no field after the uid
            "sign:x:-8:8::/:/bin/sh\n"  // not a number
            "space:x: 9:9::/:/bin/sh\n"
            "trail:x:10x:10::/:/bin/sh\n"
            "+nis:x:12:12::/:/bin/sh\n"
            "-gone:x:13:13::/:/bin/sh\n"
            "ok:x:11:11::/:/bin/sh\r\n";
        for (unsigned uid : {5u, 6u, 7u, 8u, 9u, 10u, 12u, 13u}) {
            CHECK_MESSAGE(lokt::user_name_in_passwd(passwd, uid) == std::nullopt, uid);
        }
        CHECK(lokt::user_name_in_passwd(passwd, 11) == "ok");
        CHECK(lokt::user_name_in_passwd("", 0) == std::nullopt);
    }

    TEST_CASE("derive_agent_id is agent- and four hex digits, stable for the same process") {
        const std::string id = lokt::derive_agent_id(1234, 5678);
        CHECK(id.size() == 10);
        CHECK(id.rfind("agent-", 0) == 0);
        CHECK(id.find_first_not_of("0123456789abcdef", 6) == std::string::npos);
        CHECK(lokt::derive_agent_id(1234, 5678) == id);
        CHECK(lokt::derive_agent_id(1235, 5678) != id);
    }

}  // TEST_SUITE
