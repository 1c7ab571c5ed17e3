// The one moment before lokt's first TLS connection, for a program that
// deferred OpenSSL's start-up work to it (client/deferred_cpu_probe.cpp: the
// statically linked lokt, which starts for every command and rarely speaks TLS).
#pragma once

extern "C" {
// Defined only by programs that defer OpenSSL's CPU probe; called once before
// the first TLS context is made. A weak declaration: where nobody defines it,
// the address is null and OpenSSL probed at start-up as usual.
void lokt_before_first_tls() __attribute__((weak));
}

namespace lokt::etcd {

inline void prepare_tls() {
    if (lokt_before_first_tls) lokt_before_first_tls();
}

}  // namespace lokt::etcd
