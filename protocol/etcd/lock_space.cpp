// See lock_space.hpp: the key layout and the writes shared by lokt and loktd.
#include "protocol/etcd/lock_space.hpp"

#include <algorithm>
#include <cstdio>
#include <random>

namespace lokt::etcd {

std::string time_key(WallTime time) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
    char text[32];
    std::snprintf(text, sizeof text, "%020lld", static_cast<long long>(std::max<std::int64_t>(ns, 0)));
    return text;
}

std::string random_hex(std::size_t digits) {
    thread_local std::mt19937_64 generator{std::random_device{}()};
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string text;
    for (std::size_t i = 0; i < digits; ++i) text += k_hex[generator() & 15];
    return text;
}

std::optional<LockRecord> record_of(const KeyValue& kv) {
    auto parsed = parse_lock_record(kv.value);
    if (!parsed) return std::nullopt;
    LockRecord record = std::move(parsed.value());
    record.fence = static_cast<std::uint64_t>(kv.create_revision);
    return record;
}

std::optional<std::string> LockSpace::name_of_queue_key(const std::string& key) const {
    const std::string queues = m_prefix + "q/";
    if (key.compare(0, queues.size(), queues) != 0) return std::nullopt;
    const std::string rest = key.substr(queues.size());
    const auto slash = rest.find('/');
    if (slash == std::string::npos || slash == 0) return std::nullopt;
    return rest.substr(0, slash);
}

std::vector<Operation> LockSpace::audit_operations(const AuditEvent& event) const {
    std::vector<Operation> operations;
    PutRequest put;
    put.key = audit_prefix() + time_key(event.ts) + "-" + random_hex(8);
    put.value = serialize_audit_event(event);
    operations.push_back(Operation::of(std::move(put)));
    DeleteRequest trim;
    trim.key = audit_prefix();
    trim.range_end = audit_prefix() + time_key(event.ts - k_audit_retention);
    operations.push_back(Operation::of(std::move(trim)));
    return operations;
}

Result<bool> LockSpace::remove_entry(Client& client, const KeyValue& entry, const std::optional<AuditEvent>& event) const {
    TxnRequest txn;
    txn.compare.push_back(Compare::created_at(entry.key, entry.create_revision));
    DeleteRequest erase;
    erase.key = entry.key;
    txn.success.push_back(Operation::of(std::move(erase)));
    if (event) {
        for (auto& operation : audit_operations(*event)) txn.success.push_back(std::move(operation));
    }
    LOKT_TRY_LET(done, client.txn(txn));
    if (done->succeeded) return true;
    // Sent twice (a member failed mid-call): the first may have removed it.
    return client.last_call_retried();
}

}  // namespace lokt::etcd
