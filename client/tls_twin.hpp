// lokt is linked without OpenSSL (client/CMakeLists.txt): every command
// would otherwise pay at start for mapping the third of the program that only
// etcd over https uses. Its twin, lokt-tls, is the same program linked with
// TLS. A command that finds it needs TLS hands itself over to the twin before
// it has done anything: the same arguments, environment, descriptors and
// process (exec), so the twin does exactly what lokt was asked to.
#pragma once

#include "common/result.hpp"

namespace lokt::client {

// Kept from main() for the handover.
void remember_command_line(int argc, char** argv);

// Whether this program can speak TLS itself.
bool has_tls();

// Becomes lokt-tls: the one beside this program (a build tree), else the one
// in ../libexec/lokt/ (an installed lokt). Returns only the error of why not.
Error hand_over_to_tls_twin(const std::string& why);

}  // namespace lokt::client
