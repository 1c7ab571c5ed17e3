// lokt against an etcd that wants proof: TLS with a CA of the test's own
// (certificates made with openssl for 127.0.0.1), client certificates, and
// user/password authentication. A wrong password, an unknown CA or a missing
// client certificate each give a clear error, and nothing is granted.
#include <doctest/doctest.h>

#include <cstdio>

#include "tests/support/etcd_cluster.hpp"
#include "tests/support/process.hpp"
#include "tests/support/scratch_dir.hpp"
#include "tests/support/test_main.hpp"
#include "tests/support/text_file.hpp"

namespace {

using namespace lokt::test;
using std::chrono::milliseconds;
namespace fs = std::filesystem;

const bool g_registered = add_run_hooks({[] {
                                             if (!etcd_available() || find_program("openssl").empty()) {
                                                 std::fprintf(stderr, "etcd or openssl is not installed: skipped\n");
                                                 return 77;
                                             }
                                             return 0;
                                         },
                                         {}});

void run_ok(const std::vector<std::string>& argv, const fs::path& cwd) {
    ProcessSpec spec;
    spec.argv = argv;
    spec.env = Environment::inherited();
    spec.cwd = cwd;
    const auto result = run_process(spec, milliseconds(30000));
    REQUIRE_MESSAGE(result.status() == 0, result.describe());
}

// A CA, and a certificate signed by it for the given name (IP SAN 127.0.0.1).
void make_ca(const fs::path& dir, const std::string& ca) {
    run_ok({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=" + ca, "-keyout",
            ca + ".key", "-out", ca + ".pem"},
           dir);
}

void make_cert(const fs::path& dir, const std::string& ca, const std::string& name) {
    write_text(dir / (name + ".ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n");
    run_ok({"openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name, "-keyout", name + ".key", "-out",
            name + ".csr"},
           dir);
    run_ok({"openssl", "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key", "-CAcreateserial",
            "-days", "2", "-extfile", name + ".ext", "-out", name + ".pem"},
           dir);
}

struct Lokt {
    fs::path cwd;
    Environment env = Environment::inherited();
    std::string binary = LOKT_BINARY;

    ProcessResult run(const std::vector<std::string>& args) const {
        ProcessSpec spec;
        spec.argv = {binary};
        spec.argv.insert(spec.argv.end(), args.begin(), args.end());
        spec.env = env;
        spec.cwd = cwd;
        return run_process(spec, milliseconds(30000));
    }
};

Lokt lokt_for(const fs::path& cwd, const std::string& endpoints) {
    Lokt lokt{cwd};
    lokt.env.set("LOKT_BACKEND", "etcd");
    lokt.env.set("LOKT_DAEMON", "off");  // each process its own lease, whatever loktd runs here
    lokt.env.set("LOKT_ETCD_ENDPOINTS", endpoints);
    lokt.env.set("LOKT_ETCD_PREFIX", "test/security");
    return lokt;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_SUITE("etcd_security") {
    TEST_CASE("TLS: the right CA and client certificate work; an unknown CA or no certificate is a clear error") {
        ScratchDir dir("lokt-etcd-tls");
        const fs::path pki = dir / "pki";
        fs::create_directories(pki);
        make_ca(pki, "ca");
        make_ca(pki, "other-ca");
        make_cert(pki, "ca", "server");
        make_cert(pki, "ca", "client");
        EtcdCluster cluster(dir / "etcd", 1, EtcdTlsFiles{pki / "ca.pem", pki / "server.pem", pki / "server.key", true});
        REQUIRE(cluster.endpoints().rfind("https://", 0) == 0);

        Lokt good = lokt_for(dir.path(), cluster.endpoints());
        good.env.set("LOKT_ETCD_CACERT", (pki / "ca.pem").string());
        good.env.set("LOKT_ETCD_CERT", (pki / "client.pem").string());
        good.env.set("LOKT_ETCD_KEY", (pki / "client.key").string());
        // The member may need a moment after it listens to elect itself.
        ProcessResult first;
        for (int i = 0; i < 50; ++i) {
            first = good.run({"guard", "tls", "--", "sh", "-c", "echo fence=$LOKT_FENCE"});
            if (first.status() == 0) break;
        }
        CHECK_MESSAGE(first.status() == 0, first.describe());
        CHECK(contains(first.out, "fence="));

        Lokt unknown_ca = good;
        unknown_ca.env.set("LOKT_ETCD_CACERT", (pki / "other-ca.pem").string());
        const auto refused_ca = unknown_ca.run({"lock", "held-by-nobody", "--ttl", "1m"});
        CHECK(refused_ca.status() == 1);
        CHECK_MESSAGE(contains(refused_ca.err, "TLS handshake failed"), refused_ca.describe());
        CHECK_MESSAGE(contains(refused_ca.err, "certificate verify failed"), refused_ca.describe());

        Lokt no_cert = good;
        no_cert.env.unset("LOKT_ETCD_CERT");
        no_cert.env.unset("LOKT_ETCD_KEY");
        const auto refused_cert = no_cert.run({"lock", "held-by-nobody", "--ttl", "1m"});
        CHECK(refused_cert.status() == 1);
        CHECK_MESSAGE(contains(refused_cert.err, "error: etcd at https://127.0.0.1:"), refused_cert.describe());
        CHECK_MESSAGE(contains(refused_cert.err, "LOKT_ETCD_CERT"), refused_cert.describe());

        // Nothing was granted to either.
        const auto status = good.run({"exists", "held-by-nobody"});
        CHECK_MESSAGE(status.status() == 3, status.describe());

        // lokt itself has no TLS: a copy of it without its twin beside it
        // cannot reach the cluster, and says what is missing.
        const fs::path alone = dir / "alone";
        fs::create_directories(alone);
        fs::copy_file(LOKT_BINARY, alone / "lokt");
        Lokt orphan = good;
        orphan.binary = (alone / "lokt").string();
        const auto missing = orphan.run({"lock", "held-by-nobody", "--ttl", "1m"});
        CHECK(missing.status() == 1);
        CHECK_MESSAGE(contains(missing.err, "needs TLS, which this lokt leaves to lokt-tls, and it is missing"),
                      missing.describe());
        CHECK_MESSAGE(contains(missing.err, (alone / "lokt-tls").string()), missing.describe());
    }

    TEST_CASE("user and password: the right password works; a wrong one is refused and grants nothing") {
        ScratchDir dir("lokt-etcd-auth");
        EtcdCluster cluster(dir / "etcd", 1);
        auto post_ok = [&](const std::string& path, const std::string& body) {
            const std::string reply = cluster.post(0, path, body);
            REQUIRE_MESSAGE(contains(reply, "header"), path << ": " << reply);
        };
        post_ok("/v3/auth/user/add", R"({"name":"root","password":"root-secret"})");
        post_ok("/v3/auth/user/grant", R"({"user":"root","role":"root"})");
        post_ok("/v3/auth/user/add", R"({"name":"agent","password":"s3cret"})");
        post_ok("/v3/auth/role/add", R"({"name":"lokt"})");
        // The role may read and write every key under lokt/ ("bG9rdC8=" .. "bG9rdDA=").
        post_ok("/v3/auth/role/grant",
                R"({"name":"lokt","perm":{"permType":"READWRITE","key":"bG9rdC8=","range_end":"bG9rdDA="}})");
        post_ok("/v3/auth/user/grant", R"({"user":"agent","role":"lokt"})");
        post_ok("/v3/auth/enable", "{}");

        Lokt agent = lokt_for(dir.path(), cluster.endpoints());
        agent.env.set("LOKT_ETCD_USER", "agent");
        agent.env.set("LOKT_ETCD_PASSWORD", "s3cret");
        const auto ok = agent.run({"guard", "auth", "--", "true"});
        CHECK_MESSAGE(ok.status() == 0, ok.describe());

        Lokt wrong = agent;
        wrong.env.set("LOKT_ETCD_PASSWORD", "guess");
        const auto refused = wrong.run({"lock", "auth", "--ttl", "1m"});
        CHECK(refused.status() == 1);
        CHECK_MESSAGE(contains(refused.err, "refused user \"agent\""), refused.describe());
        CHECK_MESSAGE(contains(refused.err, "authentication failed"), refused.describe());

        Lokt anonymous = agent;
        anonymous.env.unset("LOKT_ETCD_USER");
        anonymous.env.unset("LOKT_ETCD_PASSWORD");
        const auto no_user = anonymous.run({"lock", "auth", "--ttl", "1m"});
        CHECK(no_user.status() == 1);
        CHECK_MESSAGE(contains(no_user.err, "error: etcd at"), no_user.describe());

        const auto status = agent.run({"exists", "auth"});
        CHECK_MESSAGE(status.status() == 3, status.describe());
    }
}
