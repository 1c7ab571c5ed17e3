// The keys lokt keeps under one namespace in etcd, and the writes that every
// user of them makes the same way: lokt's etcd backend, and loktd when it ends
// the hold of a client that died. Kept here once so that both write the same
// keys and audit events (see client/etcd_backend.hpp for the layout).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/audit_log.hpp"
#include "common/lock_record.hpp"
#include "protocol/etcd/client.hpp"

namespace lokt::etcd {

// Audit events older than this are deleted by the writers of new ones.
inline constexpr std::chrono::hours k_audit_retention{24 * 30};

// Audit keys sort by time: nanoseconds since the epoch, twenty digits.
std::string time_key(WallTime time);
// Lowercase hex digits from a random source.
std::string random_hex(std::size_t digits);
// The record a queue entry holds, with its fence (the entry's create_revision).
std::optional<LockRecord> record_of(const KeyValue& kv);

class LockSpace {
public:
    // prefix: "lokt/NAMESPACE/", every key starts with it.
    explicit LockSpace(std::string prefix) : m_prefix(std::move(prefix)) {}
    const std::string& prefix() const { return m_prefix; }

    std::string queue_prefix(const std::string& name) const { return m_prefix + "q/" + name + "/"; }
    std::string queue_key(const std::string& name, const std::string& lock_id) const { return queue_prefix(name) + lock_id; }
    std::string freeze_key(const std::string& name) const { return m_prefix + "f/" + name; }
    std::string audit_prefix() const { return m_prefix + "a/"; }
    // A queue key's lock name, or nullopt for a key that is not one.
    std::optional<std::string> name_of_queue_key(const std::string& key) const;

    // The audit event's key and value, as an operation for a transaction,
    // with the deletion of events past retention.
    std::vector<Operation> audit_operations(const AuditEvent& event) const;
    // Removes a queue entry (or a freeze) if it is still the one created at
    // that revision, writing event (if any) in the same transaction. False:
    // it changed meanwhile.
    Result<bool> remove_entry(Client& client, const KeyValue& entry, const std::optional<AuditEvent>& event) const;

private:
    std::string m_prefix;
};

}  // namespace lokt::etcd
