// Whether this run uses etcd, and how to reach it: LOKT_BACKEND and the
// LOKT_ETCD_* variables, else the repository's committed `.lokt.toml`
// ([etcd] table), so that every clone on every host opts in once. Also the
// namespace all clones share: LOKT_ETCD_PREFIX, else the file's `prefix`, else
// the normalised URL of the `origin` remote (docs/distributed.md).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "protocol/etcd/client.hpp"

namespace lokt::client {

struct EtcdSettings {
    std::string endpoints;          // as configured: "http://a:2379,http://b:2379"
    std::string endpoints_source;   // "LOKT_ETCD_ENDPOINTS" or the file's path
    std::string name_space;         // "github.com/acme/app"
    std::string name_space_source;  // "LOKT_ETCD_PREFIX", the file, or "origin remote"
    etcd::ClientOptions client;     // endpoints parsed, TLS files, user and password
    // Every key lokt writes starts with this: "lokt/" + name_space + "/".
    std::string key_prefix() const { return "lokt/" + name_space + "/"; }
};

// nullopt: the local backends (files, loktd). An error (usage) for a bad
// LOKT_BACKEND, a bad endpoint, or etcd selected with no namespace to use.
Result<std::optional<EtcdSettings>> etcd_settings(const std::filesystem::path& working_directory);

// "git@github.com:Acme/app.git", "https://user@github.com/Acme/app" ->
// "github.com/Acme/app": the same for every clone, whatever the protocol.
std::string normalise_remote_url(std::string_view url);

}  // namespace lokt::client
