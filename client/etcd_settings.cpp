// See etcd_settings.hpp. `.lokt.toml` is read with a deliberately small subset
// of TOML: `[etcd]` then `key = "string"` lines, `#` comments. It is found by
// walking up from the working directory to the repository's top (the
// directory that has .git). The origin remote is read from the git common
// directory's `config` file; git is never run.
#include "client/etcd_settings.hpp"

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "common/lock_root.hpp"

namespace lokt::client {
namespace {

namespace fs = std::filesystem;

std::string trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
    return std::string(text);
}

std::string env(const char* name) {
    const char* value = std::getenv(name);
    return value == nullptr ? std::string() : std::string(value);
}

struct ConfigFile {
    fs::path path;
    std::map<std::string, std::string> etcd;  // the [etcd] table
    std::string backend;                      // top-level `backend`
};

// The first .lokt.toml from the working directory up to the repository's top.
Result<std::optional<ConfigFile>> find_config(const fs::path& working_directory) {
    std::error_code ec;
    for (fs::path dir = working_directory; !dir.empty(); dir = dir.parent_path()) {
        const fs::path candidate = dir / ".lokt.toml";
        if (fs::exists(candidate, ec)) {
            ConfigFile file;
            file.path = candidate;
            std::ifstream in(candidate);
            std::string line;
            std::string table;
            int number = 0;
            while (std::getline(in, line)) {
                ++number;
                std::string text = trim(line);
                if (const auto hash = text.find('#'); hash != std::string::npos && text.find('"') > hash) {
                    text = trim(text.substr(0, hash));
                }
                if (text.empty()) continue;
                if (text.front() == '[') {
                    table = trim(text.substr(1, text.find(']') - 1));
                    continue;
                }
                const auto equals = text.find('=');
                const std::string key = trim(text.substr(0, equals));
                std::string value = equals == std::string::npos ? std::string() : trim(text.substr(equals + 1));
                if (equals == std::string::npos || value.size() < 2 || value.front() != '"' || value.back() != '"') {
                    return make_error(ErrorCode::usage,
                                      candidate.string() + ":" + std::to_string(number) + ": expected key = \"value\"");
                }
                value = value.substr(1, value.size() - 2);
                if (table == "etcd") {
                    file.etcd[key] = value;
                } else if (table.empty() && key == "backend") {
                    file.backend = value;
                }
            }
            return std::optional<ConfigFile>(std::move(file));
        }
        if (fs::exists(dir / ".git", ec)) break;  // the repository's top
        if (dir == dir.root_path()) break;
    }
    return std::optional<ConfigFile>();
}

// The url of [remote "origin"] in the git config file, if any.
std::string origin_url(const fs::path& working_directory) {
    const auto common = find_git_common_dir(working_directory);
    if (!common) return {};
    std::ifstream in(*common / "config");
    std::string line;
    bool in_origin = false;
    while (std::getline(in, line)) {
        const std::string text = trim(line);
        if (!text.empty() && text.front() == '[') {
            in_origin = text == "[remote \"origin\"]";
            continue;
        }
        if (!in_origin) continue;
        const auto equals = text.find('=');
        if (equals != std::string::npos && trim(text.substr(0, equals)) == "url") return trim(text.substr(equals + 1));
    }
    return {};
}

}  // namespace

std::string normalise_remote_url(std::string_view url) {
    std::string text = trim(url);
    std::string host;
    std::string path;
    if (const auto scheme = text.find("://"); scheme != std::string::npos) {
        std::string rest = text.substr(scheme + 3);
        const auto slash = rest.find('/');
        host = rest.substr(0, slash);
        path = slash == std::string::npos ? std::string() : rest.substr(slash + 1);
        if (const auto at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);
        // A port says how to reach the host, not which repository it is.
        if (const auto colon = host.find(':'); colon != std::string::npos) host = host.substr(0, colon);
    } else if (const auto colon = text.find(':'); colon != std::string::npos && text.find('/') > colon) {
        // scp-like: user@host:path
        host = text.substr(0, colon);
        path = text.substr(colon + 1);
        if (const auto at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);
    } else {
        path = text;  // a local path
    }
    for (char& c : host) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    while (!path.empty() && path.back() == '/') path.pop_back();
    if (path.size() > 4 && path.compare(path.size() - 4, 4, ".git") == 0) path.resize(path.size() - 4);
    while (!path.empty() && path.front() == '/') path.erase(0, 1);
    if (path.rfind("~", 0) == 0) path.erase(0, 1);
    return host.empty() ? path : host + "/" + path;
}

Result<std::optional<EtcdSettings>> etcd_settings(const fs::path& working_directory) {
    const std::string backend = env("LOKT_BACKEND");
    if (!backend.empty() && backend != "etcd" && backend != "local") {
        return make_error(ErrorCode::usage, "LOKT_BACKEND must be local or etcd, not \"" + backend + "\"");
    }
    if (backend == "local") return std::optional<EtcdSettings>();
    LOKT_TRY_LET(file, find_config(working_directory));
    const bool file_says_etcd = *file && (*file)->backend == "etcd";
    if (backend != "etcd" && !file_says_etcd) return std::optional<EtcdSettings>();

    EtcdSettings settings;
    auto from_file = [&](const char* key) -> std::string {
        if (!*file) return {};
        const auto found = (*file)->etcd.find(key);
        return found == (*file)->etcd.end() ? std::string() : found->second;
    };
    const std::string file_name = *file ? (*file)->path.string() : std::string();
    settings.endpoints = env("LOKT_ETCD_ENDPOINTS");
    settings.endpoints_source = "LOKT_ETCD_ENDPOINTS";
    if (settings.endpoints.empty()) {
        settings.endpoints = from_file("endpoints");
        settings.endpoints_source = file_name;
    }
    if (settings.endpoints.empty()) {
        return make_error(ErrorCode::usage,
                          "the etcd backend needs endpoints: set LOKT_ETCD_ENDPOINTS=http://HOST:2379[,...] (or `endpoints` "
                          "under [etcd] in .lokt.toml)");
    }
    LOKT_TRY_LET(endpoints, etcd::parse_endpoints(settings.endpoints));
    settings.client.endpoints = std::move(endpoints.value());

    settings.name_space = env("LOKT_ETCD_PREFIX");
    settings.name_space_source = "LOKT_ETCD_PREFIX";
    if (settings.name_space.empty()) {
        settings.name_space = from_file("prefix");
        settings.name_space_source = file_name;
    }
    if (settings.name_space.empty()) {
        const std::string url = origin_url(working_directory);
        if (!url.empty()) {
            settings.name_space = normalise_remote_url(url);
            settings.name_space_source = "origin remote " + url;
        }
    }
    while (!settings.name_space.empty() && settings.name_space.back() == '/') settings.name_space.pop_back();
    if (settings.name_space.empty()) {
        return make_error(ErrorCode::usage,
                          "the etcd backend needs a namespace shared by every clone: this repository has no `origin` "
                          "remote; set LOKT_ETCD_PREFIX (or `prefix` under [etcd] in .lokt.toml)");
    }

    auto pick = [&](const char* variable, const char* key) {
        std::string value = env(variable);
        return value.empty() ? from_file(key) : value;
    };
    settings.client.tls.ca_file = pick("LOKT_ETCD_CACERT", "cacert");
    settings.client.tls.cert_file = pick("LOKT_ETCD_CERT", "cert");
    settings.client.tls.key_file = pick("LOKT_ETCD_KEY", "key");
    // The password only from the environment: a committed file is no place for it.
    settings.client.user = pick("LOKT_ETCD_USER", "user");
    settings.client.password = env("LOKT_ETCD_PASSWORD");
    return std::optional<EtcdSettings>(std::move(settings));
}

}  // namespace lokt::client
