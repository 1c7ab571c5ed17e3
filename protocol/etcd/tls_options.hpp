// How to reach members over https:// : the CA that signed their certificates and,
// when the cluster asks for one, our client certificate and key (PEM files),
// from LOKT_ETCD_CACERT, LOKT_ETCD_CERT and LOKT_ETCD_KEY.
#pragma once

#include <string>

namespace lokt::etcd {

struct TlsOptions {
    std::string ca_file;    // empty: the system's trust store
    std::string cert_file;  // empty: no client certificate
    std::string key_file;
};

}  // namespace lokt::etcd
