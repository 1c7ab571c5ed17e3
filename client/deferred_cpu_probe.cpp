// OpenSSL's CPU probe, run before the first TLS connection instead of at every
// start of lokt.
//
// Linked statically, libcrypto puts a call to OPENSSL_cpuid_setup into the
// program's .init: it runs before main() in every lokt process, and executes a
// dozen CPUID instructions, each a trap to the hypervisor on a virtual machine
// (about 5 µs each here), and faults in libcrypto's pages, for every `lokt
// guard`, although only the etcd backend over https ever uses OpenSSL. The
// static link wraps the symbol (-Wl,--wrap=OPENSSL_cpuid_setup, see
// client/CMakeLists.txt): the .init call lands in the empty wrapper below, and
// the real probe runs once, just before the first TLS context
// (protocol/etcd/tls_startup.hpp). Until then OpenSSL does no work that needs
// the probe's answer; without it, OpenSSL would still be correct, only slower
// (no AES-NI).
#include <mutex>

#include "protocol/etcd/tls_startup.hpp"

extern "C" {
void __real_OPENSSL_cpuid_setup();  // NOLINT(bugprone-reserved-identifier): named by the linker

void __wrap_OPENSSL_cpuid_setup() {}  // NOLINT(bugprone-reserved-identifier)

void lokt_before_first_tls() {
    static std::once_flag probed;
    std::call_once(probed, [] { __real_OPENSSL_cpuid_setup(); });
}
}
