// See tls_twin.hpp.
#include "client/tls_twin.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "protocol/etcd/tls_layer.hpp"

namespace lokt::client {
namespace {

char** g_argv = nullptr;

}  // namespace

void remember_command_line(int argc, char** argv) {
    (void)argc;
    g_argv = argv;
}

bool has_tls() { return etcd::TlsLayer::linked(); }

Error hand_over_to_tls_twin(const std::string& why) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (ec || g_argv == nullptr) {
        return make_error(ErrorCode::unavailable,
                          why + ", which this lokt leaves to lokt-tls, and lokt cannot tell where it is itself (" +
                              (ec ? ec.message() : std::string("no command line")) + ")");
    }
    const fs::path beside = self.parent_path() / "lokt-tls";
    const fs::path installed = self.parent_path().parent_path() / "libexec" / "lokt" / "lokt-tls";
    for (const auto& twin : {beside, installed}) {
        if (::access(twin.c_str(), X_OK) != 0) continue;
        ::execv(twin.c_str(), g_argv);
        return make_error(ErrorCode::unavailable,
                          why + ", which this lokt leaves to " + twin.string() + ": " + std::strerror(errno));
    }
    return make_error(ErrorCode::unavailable, why + ", which this lokt leaves to lokt-tls, and it is missing (looked for " +
                                                  beside.string() + " and " + installed.string() + "; reinstall lokt)");
}

}  // namespace lokt::client
