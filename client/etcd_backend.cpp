// See etcd_backend.hpp: acquiring (at once, or queued FIFO behind the
// predecessor's key), renewing and releasing through leases and
// transactions on create_revision; unlock, freeze and status over the queue
// keys; the audit events as keys, read by range and followed by watch.
#include "client/etcd_backend.hpp"

#include <poll.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "common/hold_deadline.hpp"
#include "common/hold_state.hpp"
#include "common/lock_name.hpp"
#include "common/platform/processes.hpp"

namespace lokt::client {
namespace {

using Clock = std::chrono::steady_clock;
using etcd::Compare;
using etcd::DeleteRequest;
using etcd::KeyValue;
using etcd::Operation;
using etcd::PutRequest;
using etcd::RangeRequest;
using etcd::record_of;
using etcd::time_key;
using etcd::TxnRequest;
using Json = nlohmann::json;

// How often a waiter looks again even without news (a holder on this host
// that died without its lease running out is judged by pid).
constexpr std::chrono::milliseconds k_etcd_recheck{1000};
constexpr int k_etcd_rounds = 50;

std::string etcd_quoted(const std::string& name) { return "\"" + name + "\""; }

std::int64_t lease_seconds(Nanoseconds ttl) {
    return std::max<std::int64_t>(2, std::chrono::ceil<std::chrono::seconds>(ttl).count());
}

// A lease id of our choosing: positive, never 0, and 62 random bits.
std::int64_t random_lease_id() {
    static std::mt19937_64 generator{std::random_device{}()};
    return static_cast<std::int64_t>((generator() >> 2) | 1);
}

// An audit entry's line and event. The acquire line written in the
// transaction that created its queue entry could not name the fence, which is
// that transaction's revision: the audit key's own create_revision, put in
// here as the writer would have.
struct AuditEntry {
    std::string line;
    AuditEvent event;
};

std::optional<AuditEntry> audit_entry(const KeyValue& kv) {
    auto event = parse_audit_line(kv.value);
    if (!event) return std::nullopt;
    if (event->event == "acquire" && kv.create_revision > 0 &&
        (event->extra_json.empty() || event->extra_json.find("\"fence\"") == std::string::npos)) {
        Json extra{{"fence", kv.create_revision}};  // first, as the writer puts it
        if (!event->extra_json.empty()) {
            const Json written = Json::parse(event->extra_json, nullptr, false);
            if (written.is_object()) {
                for (const auto& [key, value] : written.items()) extra[key] = value;  // a group, for one
            }
        }
        event->extra_json = extra.dump();
        std::string line = serialize_audit_event(*event);
        return AuditEntry{std::move(line), std::move(*event)};
    }
    return AuditEntry{kv.value, std::move(*event)};
}

RangeRequest range_of_prefix(const std::string& prefix) {
    RangeRequest request;
    request.key = prefix;
    request.range_end = etcd::prefix_end(prefix);
    return request;
}

}  // namespace

EtcdBackend::EtcdBackend(EtcdSettings settings, Identity actor, std::optional<DaemonConnection> daemon, bool daemon_required)
    : m_settings(std::move(settings)),
      m_actor(std::move(actor)),
      m_prefix(m_settings.key_prefix()),
      m_space(m_prefix),
      m_client(m_settings.client),
      m_daemon(std::move(daemon)),
      m_daemon_required(daemon_required) {}

// The process lease is not revoked as the process ends: by then it holds no
// key (releases and timed-out waits delete theirs), and revoking it would be
// one more write etcd syncs to disk before lokt may exit. It runs out by itself.
EtcdBackend::~EtcdBackend() = default;

std::string EtcdBackend::root() const { return "etcd " + m_settings.endpoints + " " + m_prefix; }

Result<std::int64_t> EtcdBackend::ping() {
    RangeRequest request = range_of_prefix(m_prefix);
    request.count_only = true;
    LOKT_TRY_LET(read, m_client.range(request));
    return read->revision;
}

Result<std::vector<KeyValue>> EtcdBackend::queue_entries(const std::string& name, std::int64_t* revision) {
    RangeRequest request = range_of_prefix(m_space.queue_prefix(name));
    request.sort_by_create = true;
    LOKT_TRY_LET(read, m_client.range(request));
    if (revision != nullptr) *revision = read->revision;
    return std::move(read->kvs);
}

Result<std::vector<KeyValue>> EtcdBackend::all_queue_entries() {
    RangeRequest request = range_of_prefix(m_prefix + "q/");
    request.sort_by_create = true;
    LOKT_TRY_LET(read, m_client.range(request));
    return std::move(read->kvs);
}

Result<std::optional<LockRecord>> EtcdBackend::live_freeze(const std::string& name) {
    RangeRequest request;
    request.key = m_space.freeze_key(name);
    LOKT_TRY_LET(read, m_client.range(request));
    if (read->kvs.empty()) return std::optional<LockRecord>();
    auto record = record_of(read->kvs.front());
    if (!record || has_lapsed(*record, wall_now())) return std::optional<LockRecord>();
    return record;
}

void EtcdBackend::audit(const AuditEvent& event) {
    TxnRequest txn;
    txn.success = m_space.audit_operations(event);
    (void)m_client.txn(txn);
}

std::optional<Result<std::int64_t>> EtcdBackend::daemon_lease(std::int64_t ttl_sec, const std::string& key) {
    if (!m_daemon || !m_daemon_leases) return std::nullopt;
    protocol::EtcdHoldRequest request;
    request.endpoints = m_settings.endpoints;
    request.cacert = m_settings.client.tls.ca_file;
    request.cert = m_settings.client.tls.cert_file;
    request.key = m_settings.client.tls.key_file;
    request.user = m_settings.client.user;
    request.password = m_settings.client.password;
    request.prefix = m_prefix;
    request.ttl_ms = static_cast<std::uint64_t>(ttl_sec) * 1000;
    request.hold_key = key;
    // loktd may have to grant the lease first: up to one etcd call.
    const auto timeout = m_settings.client.call_timeout + std::chrono::seconds(2);
    // The first request goes out with the hello: binding a key is undone by
    // closing the connection, so nothing is left if the hello fails.
    auto reply = m_daemon_hello_sent ? m_daemon->call(request, timeout) : m_daemon->call_before_hello(request, timeout);
    m_daemon_hello_sent = true;
    Error why{ErrorCode::io, {}};
    bool daemon_answered = false;
    if (reply && reply->ok()) {
        if (const auto* answer = std::get_if<protocol::EtcdHoldReply>(&reply->body)) {
            return Result<std::int64_t>(static_cast<std::int64_t>(answer->lease));
        }
        why = make_error(ErrorCode::io, "loktd answered etcd_hold with another reply");
    } else if (reply) {
        const auto& refused = std::get<protocol::ErrorReply>(reply->body);
        why = make_error(refused.code, refused.message);
        // etcd itself refused (loktd asked it with our settings): so would it us.
        if (refused.code != ErrorCode::usage && refused.code != ErrorCode::unavailable) return Result<std::int64_t>(why);
        daemon_answered = true;
    } else {
        why = reply.error();
    }
    // No loktd any more, or one too old to know etcd: our own lease from now
    // on. A connection still open stays so: the keys bound to it are ours.
    m_daemon_leases = false;
    if (!m_daemon->alive()) m_daemon.reset();
    if (m_daemon_required) {
        // A loktd that answered is running: telling the user to start it
        // would send them the wrong way (it cannot reach etcd, say).
        if (daemon_answered) {
            why.message = "LOKT_DAEMON=require: loktd could not keep a lease for this guard: " + why.message;
            return Result<std::int64_t>(std::move(why));
        }
        return Result<std::int64_t>(daemon_required_error(std::move(why)));
    }
    return std::nullopt;
}

Result<std::int64_t> EtcdBackend::lease_for(const AcquireSpec& spec, const std::string& key, bool may_defer) {
    if (spec.binding == Binding::process) return std::int64_t{0};
    const std::int64_t wanted = lease_seconds(spec.ttl.value_or(k_etcd_guard_lease_ttl));
    const auto chosen = [&] {
        m_ungranted_lease = random_lease_id();
        m_ungranted_ttl = wanted;
        return m_ungranted_lease;
    };
    if (spec.binding == Binding::ttl) {
        // Its own lease of the hold's TTL, renewed by nobody.
        if (may_defer) return chosen();
        return m_client.lease_grant(wanted);
    }
    // loktd's lease, with the key bound to our connection: loktd deletes it
    // the moment we go.
    if (auto shared = daemon_lease(wanted, key)) {
        if (*shared) {
            m_process_lease = **shared;
            m_process_lease_ttl = wanted;
        }
        return std::move(*shared);
    }
    if (m_process_lease != 0 && m_process_lease_ttl == wanted) {
        if (m_client.lease_keepalive(m_process_lease)) return m_process_lease;
    }
    if (may_defer) {
        m_process_lease = chosen();
        m_process_lease_ttl = wanted;
        return m_process_lease;
    }
    LOKT_TRY_LET(lease, m_client.lease_grant(wanted));
    m_process_lease = *lease;
    m_process_lease_ttl = wanted;
    return *lease;
}

void EtcdBackend::drop_lease(std::int64_t lease) {
    if (lease == 0) return;
    if (lease == m_ungranted_lease) {
        m_ungranted_lease = 0;  // never granted: nothing to revoke
        return;
    }
    (void)m_client.lease_revoke(lease);
    if (lease == m_process_lease) m_process_lease = 0;
}

Refusal EtcdBackend::refusal_for(const std::string& name, const LockRecord& holder) const {
    Refusal refusal;
    refusal.code = holder.version > 1 ? ErrorCode::unsupported : ErrorCode::held;
    refusal.holder = holder;
    refusal.message = "lock " + etcd_quoted(name) + " held by " + describe_holder(holder, wall_now());
    return refusal;
}

void EtcdBackend::wait_for_delete(const std::string& key, std::int64_t revision, Clock::time_point until) {
    etcd::WatchRequest request;
    request.key = key;
    request.start_revision = revision;
    auto watch = m_client.watch(request);
    if (!watch) {
        // No member to watch with: look again in a moment.
        std::this_thread::sleep_for(
            std::min(std::chrono::milliseconds(100), std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now())));
        return;
    }
    for (;;) {
        const auto now = Clock::now();
        if (now >= until) return;
        auto batch = watch->next(std::chrono::ceil<std::chrono::milliseconds>(until - now));
        if (!batch || !*batch) return;   // broken or timed out: the caller reads again
        if ((*batch)->canceled) return;  // compacted: read again
        for (const auto& event : (*batch)->events) {
            if (event.type == etcd::WatchEvent::Type::erase) return;
        }
    }
}

Result<Acquired> EtcdBackend::acquire(const AcquireSpec& spec, const WaitOptions& wait, const WaitObserver& observer) {
    // Taken as a plain lock of the name, a slot or a shared hold would silently
    // exclude its fellow holders: say so instead.
    if (spec.slots) return make_error(ErrorCode::usage, "slot pools (--slots) are not available with the etcd backend yet");
    if (spec.shared) return make_error(ErrorCode::usage, "shared holds (--shared) are not available with the etcd backend yet");
    const auto started = Clock::now();
    const auto deadline = started + wait.timeout;
    Acquired acquired;

    // Inside a guard of this very lock: nothing to do.
    if (!spec.inherited_lock_id.empty()) {
        LOKT_TRY_LET(entries, queue_entries(spec.name));
        if (!entries->empty()) {
            if (auto head = record_of(entries->front()); head && head->lock_id == spec.inherited_lock_id) {
                acquired.outcome = Acquired::Outcome::nested;
                acquired.lease.record = *head;
                return acquired;
            }
        }
    }

    std::string lock_id = new_lock_id();
    std::string key = m_space.queue_prefix(spec.name) + lock_id;
    LockRecord record;
    std::optional<KeyValue> mine;  // our queue entry, once it waits in the queue
    // The key is bound to our connection to loktd. Once that connection is
    // closed (loktd gone, or its lease), loktd deletes the key whenever it
    // gets to it: a key of ours written from then on must be a new one.
    const auto rekey = [&] {
        lock_id = new_lock_id();
        key = m_space.queue_prefix(spec.name) + lock_id;
        record.lock_id = lock_id;
        mine.reset();
    };
    const auto lease_for_key = [&](bool may_defer) -> Result<std::int64_t> {
        const bool bound = m_daemon.has_value();
        auto got = lease_for(spec, key, may_defer);
        if (bound && !m_daemon) rekey();
        return got;
    };
    // A new lease is granted with the first transaction (one request fewer).
    LOKT_TRY_LET(lease_id, lease_for_key(true));
    std::int64_t lease = *lease_id;
    record.name = spec.name;
    record.lock_id = lock_id;
    record.owner = spec.holder.owner;
    record.owner_explicit = spec.holder.owner_explicit;
    record.host = spec.holder.host;
    record.pid = spec.holder.pid;
    record.pid_start = spec.holder.pid_start;
    record.agent_id = spec.holder.agent_id;
    record.acquired = wall_now();
    record.bound_to = spec.binding;
    record.boot_id = platform::this_boot_id();
    // Only a TTL-bound lock shows an expiry: the lease of a guard is renewed
    // and its record is never rewritten, so its deadline lives in etcd.
    if (spec.binding == Binding::ttl && spec.ttl) set_deadline(record, record.acquired, *spec.ttl);
    const std::string value = serialize_lock_record(record);

    auto granted = [&](std::int64_t fence) -> Result<Acquired> {
        record.fence = static_cast<std::uint64_t>(fence);
        acquired.outcome = Acquired::Outcome::acquired;
        acquired.lease.record = record;
        return acquired;
    };
    auto acquire_event = [&](std::int64_t fence) {
        AuditEvent event = make_audit_event("acquire", spec.name, m_actor);
        event.lock_id = lock_id;
        event.ttl_sec = spec.ttl ? std::chrono::ceil<std::chrono::seconds>(*spec.ttl).count() : 0;
        Json extra = Json::object();
        if (fence > 0) extra["fence"] = fence;
        if (!spec.group.empty()) extra["group"] = spec.group;  // one of several names taken together
        if (!extra.empty()) event.extra_json = extra.dump();
        return event;
    };
    auto refused = [&](Refusal refusal) -> Result<Acquired> {
        if (lease != m_process_lease) drop_lease(lease);
        acquired.outcome = Acquired::Outcome::refused;
        acquired.refusal = std::move(refusal);
        return acquired;
    };
    auto deny = [&](const Refusal& refusal) {
        if (spec.audit_denial) audit(denial_event(spec.name, refusal, wait.wait, m_actor));
    };
    auto timed_out = [&](Refusal refusal) -> Result<Acquired> {
        refusal.code = ErrorCode::timeout;
        refusal.message = "timed out after " + format_duration(wait.timeout) + " waiting: " + refusal.message;
        return refused(std::move(refusal));
    };

    bool denied = false;
    int lease_renewals = 0;
    // The create_revision of a lapsed freeze (its lease not yet run out) that
    // may be ignored; 0: none may be there.
    std::int64_t lapsed_freeze = 0;
    const std::string queue = m_space.queue_prefix(spec.name);
    const std::string queue_end = etcd::prefix_end(queue);
    // A waiter keeps its lease alive too (a third of its TTL apart), or its
    // place in the queue goes with it.
    const std::chrono::milliseconds keepalive_every{lease_seconds(spec.ttl.value_or(k_etcd_guard_lease_ttl)) * 1000 / 3};
    auto next_keepalive = Clock::now() + keepalive_every;
    for (int stale_breaks = 0;;) {
        record.acquired = wall_now();
        if (spec.binding == Binding::ttl && spec.ttl) set_deadline(record, record.acquired, *spec.ttl);
        PutRequest put;
        put.key = key;
        put.value = serialize_lock_record(record);
        put.lease = lease;
        RangeRequest entries_now = range_of_prefix(queue);
        entries_now.sort_by_create = true;
        if (!wait.wait) entries_now.limit = 1;
        RangeRequest freeze_now;
        freeze_now.key = m_space.freeze_key(spec.name);

        std::int64_t revision = 0;
        std::vector<KeyValue> entries;
        std::vector<KeyValue> freezes;
        bool retried = false;
        if (mine) {
            // Queued, after a wake-up: one read of the queue and the freeze
            // (reads only, so etcd answers without a write to its log). Our
            // own entry must be there and first: an entry whose lease ran out
            // while it waited is gone, and is never told it holds the lock.
            TxnRequest look;
            look.success.push_back(Operation::of(std::move(entries_now)));
            look.success.push_back(Operation::of(std::move(freeze_now)));
            LOKT_TRY_LET(seen, m_client.txn(look));
            if (seen->responses.size() < 2) return make_error(ErrorCode::io, "etcd answered a read without its ranges");
            revision = seen->revision;
            entries = std::move(seen->responses[0].range.kvs);
            freezes = std::move(seen->responses[1].range.kvs);
            const bool first =
                !entries.empty() && entries.front().key == key && entries.front().create_revision == mine->create_revision;
            bool frozen = false;
            if (!freezes.empty()) {
                auto f = record_of(freezes.front());
                frozen = f && !has_lapsed(*f, wall_now());
            }
            if (first && !frozen) {
                // Ours. The record is written again with the hold's start, with
                // the acquire line, if our entry is still the one queued; the
                // command need not wait for etcd's answer (read before the
                // next call, which is sent again if the connection broke).
                TxnRequest begin;
                begin.compare.push_back(Compare::created_at(key, mine->create_revision));
                begin.success.push_back(Operation::of(std::move(put)));
                for (auto& operation : m_space.audit_operations(acquire_event(mine->create_revision))) {
                    begin.success.push_back(std::move(operation));
                }
                LOKT_TRY(m_client.txn_later(begin));
                return granted(mine->create_revision);
            }
        } else {
            // One transaction decides: the lock is ours when nobody is queued
            // and no live freeze is on the name. Then our entry is put with the
            // acquire line beside it. Otherwise it answers who is queued and
            // the freeze, and a waiter joins the queue in the same transaction.
            TxnRequest txn;
            txn.compare.push_back(Compare::none_in(queue, queue_end));
            txn.compare.push_back(Compare::created_at(m_space.freeze_key(spec.name), lapsed_freeze));
            txn.success.push_back(Operation::of(put));
            // The fence is this transaction's revision, not known yet: the
            // acquire line leaves it out, and the readers of the audit take it
            // from the line's own create_revision (the same).
            for (auto& operation : m_space.audit_operations(acquire_event(0))) txn.success.push_back(std::move(operation));
            if (wait.wait) txn.failure.push_back(Operation::of(std::move(put)));
            txn.failure.push_back(Operation::of(std::move(entries_now)));
            txn.failure.push_back(Operation::of(std::move(freeze_now)));
            const bool grant_first = lease != 0 && lease == m_ungranted_lease;
            auto done = grant_first ? m_client.grant_then_txn(lease, m_ungranted_ttl, txn) : m_client.txn(txn);
            if (grant_first) m_ungranted_lease = 0;
            if (!done) {
                // Our lease ran out (etcd was unreachable for longer than its
                // TTL, or we were paused): a new one.
                if (done.error().code != ErrorCode::not_found || lease == 0 || lease_renewals++ > k_etcd_rounds) {
                    return done.take_error();
                }
                // loktd's lease, gone before loktd noticed (it was paused):
                // a lease of our own (unless loktd is required: it gets a
                // new one at its next keepalive).
                if (lease == m_process_lease && m_daemon && !m_daemon_required) {
                    // The connection stays open: what is bound to it is
                    // still ours, and loktd still releases it if we die.
                    m_daemon_leases = false;
                    m_process_lease = 0;
                }
                LOKT_TRY_LET(fresh, lease_for_key(false));
                lease = *fresh;
                continue;
            }
            if (done->succeeded) return granted(done->revision);
            retried = m_client.last_call_retried();
            revision = done->revision;
            const std::size_t reads = wait.wait ? 1 : 0;  // after the joining put's answer
            if (done->responses.size() < reads + 2) {
                return make_error(ErrorCode::io, "etcd answered a transaction without its reads");
            }
            entries = std::move(done->responses[reads].range.kvs);
            freezes = std::move(done->responses[reads + 1].range.kvs);
        }
        const auto at = std::find_if(entries.begin(), entries.end(), [&](const KeyValue& kv) { return kv.key == key; });
        if (!wait.wait && at == entries.begin() && at != entries.end()) {
            // Only a transaction sent twice finds our entry first: the first
            // attempt was granted, with its acquire line.
            return granted(at->create_revision);
        }
        if (wait.wait) {
            if (at == entries.end()) {
                if (mine || retried) {
                    // Our entry is gone (its lease ran out while we waited, or
                    // it was broken): we hold nothing. Queue again, at the back.
                    mine.reset();
                    if (lease != 0 && !m_client.lease_keepalive(lease)) {
                        if (lease_renewals++ > k_etcd_rounds) {
                            return make_error(ErrorCode::lost, "lock " + etcd_quoted(spec.name) +
                                                                   ": our etcd lease keeps running out while we wait");
                        }
                        LOKT_TRY_LET(fresh, lease_for_key(false));
                        lease = *fresh;
                    }
                    continue;
                }
                return make_error(ErrorCode::io, "lock " + etcd_quoted(spec.name) + ": etcd did not queue our entry");
            }
            mine = *at;
        }

        // A freeze: refused, or waited out.
        if (!freezes.empty()) {
            const KeyValue& f_kv = freezes.front();
            auto f = record_of(f_kv);
            if (!f || has_lapsed(*f, wall_now())) {
                // Lapsed, its lease about to run out: not in the way.
                if (lapsed_freeze != f_kv.create_revision) {
                    lapsed_freeze = f_kv.create_revision;
                    continue;
                }
            } else {
                Refusal refusal;
                refusal.code = ErrorCode::frozen;
                refusal.freeze = *f;
                refusal.message = "lock " + etcd_quoted(spec.name) + " is frozen";
                if (auto expiry = f->expiry()) refusal.message += " until " + format_rfc3339_seconds(*expiry);
                refusal.message += " (by " + owner_at_host(f->owner, f->host) + ")";
                if (!denied) deny(refusal);
                denied = true;
                if (!wait.wait || Clock::now() >= deadline) {
                    if (mine) (void)m_space.remove_entry(m_client, *mine, std::nullopt);
                    return wait.wait ? timed_out(std::move(refusal)) : refused(std::move(refusal));
                }
                if (observer) observer(WaitProgress{refusal, Clock::now() - started, std::nullopt});
                auto until = std::min(deadline, Clock::now() + k_etcd_recheck);
                wait_for_delete(m_space.freeze_key(spec.name), revision + 1, until);
                continue;
            }
        } else {
            lapsed_freeze = 0;
        }
        if (entries.empty() || at == entries.begin()) continue;  // released in between, or sent twice: again

        const KeyValue& head_kv = entries.front();
        auto holder = record_of(head_kv);
        if (!holder) {
            Refusal refusal;
            refusal.message = "lock " + etcd_quoted(spec.name) + " holds a record lokt cannot read";
            if (!wait.wait) return refused(std::move(refusal));
        }
        if (holder) {
            const HoldState state = judge_record(*holder, wall_now(), m_actor.host);
            if (is_stale(state) && stale_breaks++ < k_etcd_rounds) {
                AuditEvent broke = make_audit_event("stale-break", spec.name, m_actor);
                broke.lock_id = holder->lock_id;
                broke.extra_json = holder_extra(*holder, stale_reason(*holder, state));
                LOKT_TRY(m_space.remove_entry(m_client, head_kv, broke));
                continue;
            }
        }
        if (!wait.wait) {
            const bool both_manual =
                spec.binding != Binding::guard && holder->bound_to != Binding::guard && holder->bound_to.has_value();
            if (both_manual && spec.holder.owner_explicit && holder->owner_explicit && holder->owner == spec.holder.owner) {
                // Re-entry by the same explicit owner: the same hold (lock_id and
                // fence), with a new TTL on a lease of its own.
                LockRecord renewed = *holder;
                clear_deadline(renewed);
                if (spec.ttl) set_deadline(renewed, wall_now(), *spec.ttl);
                renewed.bound_to = spec.binding;
                renewed.fence.reset();
                TxnRequest refresh;
                refresh.compare.push_back(Compare::created_at(head_kv.key, head_kv.create_revision));
                PutRequest rewrite;
                rewrite.key = head_kv.key;
                rewrite.value = serialize_lock_record(renewed);
                rewrite.lease = lease;
                refresh.success.push_back(Operation::of(std::move(rewrite)));
                AuditEvent event = make_audit_event("renew", spec.name, m_actor);
                event.lock_id = renewed.lock_id;
                event.ttl_sec = renewed.ttl_sec;
                for (auto& operation : m_space.audit_operations(event)) refresh.success.push_back(std::move(operation));
                LOKT_TRY_LET(refreshed, m_client.txn(refresh));
                if (!refreshed->succeeded) continue;  // changed meanwhile: look again
                renewed.fence = static_cast<std::uint64_t>(head_kv.create_revision);
                acquired.outcome = Acquired::Outcome::refreshed;
                acquired.lease.record = renewed;
                return acquired;
            }
            Refusal refusal = refusal_for(spec.name, *holder);
            deny(refusal);
            return refused(std::move(refusal));
        }

        // Waiting behind the entry just before ours.
        const std::size_t position = static_cast<std::size_t>(at - entries.begin());
        Refusal refusal;
        if (holder) {
            refusal = refusal_for(spec.name, *holder);
        } else {
            refusal.message = "lock " + etcd_quoted(spec.name) + " holds a record lokt cannot read";
        }
        if (!denied) deny(refusal);
        denied = true;
        const auto now = Clock::now();
        if (now >= deadline) {
            (void)m_space.remove_entry(m_client, *at, std::nullopt);
            mine.reset();
            return timed_out(std::move(refusal));
        }
        if (observer) observer(WaitProgress{refusal, now - started, position});
        if (lease != 0 && now >= next_keepalive) {
            auto kept = m_client.lease_keepalive(lease);
            if (!kept && kept.error().code != ErrorCode::lost) return kept.take_error();
            next_keepalive = now + keepalive_every;
        }
        auto until = std::min({deadline, now + k_etcd_recheck, lease != 0 ? next_keepalive : deadline});
        wait_for_delete((at - 1)->key, revision + 1, until);
    }
}

Result<void> EtcdBackend::renew(Lease& lease, Nanoseconds ttl) {
    (void)ttl;
    const std::string key = m_space.queue_prefix(lease.name()) + lease.lock_id();
    if (m_process_lease != 0) {
        auto kept = m_client.lease_keepalive(m_process_lease);
        if (!kept) {
            if (kept.error().code == ErrorCode::lost) {
                return make_error(ErrorCode::lost, "lock " + etcd_quoted(lease.name()) + " was lost: " + kept.error().message);
            }
            return kept.take_error();
        }
    }
    RangeRequest request;
    request.key = key;
    LOKT_TRY_LET(read, m_client.range(request));
    if (read->kvs.empty() || static_cast<std::uint64_t>(read->kvs.front().create_revision) != lease.record.fence) {
        std::string message = "lock " + etcd_quoted(lease.name()) + " was lost: its key in etcd is gone";
        std::int64_t revision = 0;
        if (auto entries = queue_entries(lease.name(), &revision); entries && !entries->empty()) {
            if (auto holder = record_of(entries->front())) {
                message = "lock " + etcd_quoted(lease.name()) + " was lost: now held by " + describe_holder(*holder, wall_now());
            }
        }
        return make_error(ErrorCode::lost, std::move(message));
    }
    return {};
}

Result<void> EtcdBackend::release(const Lease& lease, const ReleaseNote& note) {
    KeyValue entry;
    entry.key = m_space.queue_prefix(lease.name()) + lease.lock_id();
    entry.create_revision = static_cast<std::int64_t>(lease.record.fence.value_or(0));
    AuditEvent event = make_audit_event("release", lease.name(), m_actor);
    event.lock_id = lease.lock_id();
    event.extra_json = release_extra(note, wall_now());
    LOKT_TRY_LET(removed, m_space.remove_entry(m_client, entry, event));
    if (!*removed) {
        std::string message = "lock " + etcd_quoted(lease.name()) + " was lost before release";
        if (auto entries = queue_entries(lease.name()); entries && !entries->empty()) {
            if (auto holder = record_of(entries->front())) message += ": now held by " + describe_holder(*holder, wall_now());
        }
        return make_error(ErrorCode::lost, std::move(message));
    }
    // The process lease is revoked as the process ends (a TTL-bound hold's
    // lease, now empty, runs out by itself).
    return {};
}

void EtcdBackend::record_lost(const Lease& lease, const std::string& detail) {
    AuditEvent event = make_audit_event("lost", lease.name(), m_actor);
    event.lock_id = lease.lock_id();
    event.extra_json = Json{{"reason", detail}}.dump();
    audit(event);
}

Result<LockRecord> EtcdBackend::unlock(const std::string& name, UnlockMode mode) {
    for (int round = 0; round < k_etcd_rounds; ++round) {
        LOKT_TRY_LET(entries, queue_entries(name));
        if (entries->empty()) return make_error(ErrorCode::not_found, "lock " + etcd_quoted(name) + " is not held");
        const KeyValue head = entries->front();
        auto holder = record_of(head);
        if (!holder && mode == UnlockMode::owner) {
            return make_error(ErrorCode::corrupt, "lock " + etcd_quoted(name) +
                                                      " holds a record lokt cannot read; remove it with 'lokt unlock " + name +
                                                      " --break-stale'");
        }
        LockRecord record = holder.value_or(LockRecord{});
        const HoldState state = holder ? judge_record(record, wall_now(), m_actor.host) : HoldState::corrupt;
        std::string event_name;
        std::string reason;
        if (mode == UnlockMode::force) {
            event_name = "force-break";
            reason = "unlock --force";
        } else if (state == HoldState::corrupt) {
            event_name = "corrupt-break";
            reason = "not a lock record";
        } else if (state == HoldState::unsupported) {
            return make_error(ErrorCode::unsupported, refusal_for(name, record).message);
        } else if (mode == UnlockMode::break_stale) {
            if (!is_stale(state)) {
                return make_error(ErrorCode::held, "lock " + etcd_quoted(name) + " is not stale: held by " +
                                                       describe_holder(record, wall_now()) +
                                                       "; a human may break it anyway with --force");
            }
            event_name = "stale-break";
            reason = stale_reason(record, state);
        } else {
            if (auto refusal = unlock_refusal(name, record, state, m_actor.owner, wall_now())) return std::move(*refusal);
            event_name = "release";
        }
        AuditEvent event = make_audit_event(event_name, name, m_actor);
        event.lock_id = record.lock_id;
        if (event_name != "release") event.extra_json = holder_extra(record, reason);
        LOKT_TRY_LET(removed, m_space.remove_entry(m_client, head, event));
        if (!*removed) continue;
        if (record.bound_to == Binding::ttl && head.lease != 0) (void)m_client.lease_revoke(head.lease);
        return record;
    }
    return make_error(ErrorCode::held, "lock " + etcd_quoted(name) + " keeps changing; try again");
}

Result<UnlockManyResult> EtcdBackend::unlock_many(const std::string& owner, bool force) {
    UnlockManyResult result;
    LOKT_TRY_LET(entries, all_queue_entries());
    std::map<std::string, KeyValue> heads;  // the first entry of each name
    for (const auto& kv : *entries) {
        const std::string rest = kv.key.substr(m_prefix.size() + 2);
        const std::string name = rest.substr(0, rest.find('/'));
        heads.emplace(name, kv);
    }
    for (const auto& [name, head] : heads) {
        auto holder = record_of(head);
        if (!holder) continue;
        LockRecord record = *holder;
        record.name = name;
        const bool selected = owner.empty() ? (force || record.owner == m_actor.owner) : record.owner == owner;
        if (!selected) continue;
        const HoldState state = judge_record(record, wall_now(), m_actor.host);
        UnlockManyStep step = unlock_many_step(unlock_refusal(name, record, state, m_actor.owner, wall_now()), record, state,
                                               force, !owner.empty());
        if (step.refused) {
            Refusal kept;
            kept.code = step.refused->code;
            kept.message = std::move(step.refused->message);
            kept.holder = record;
            result.refused.push_back(std::move(kept));
            continue;
        }
        const std::string& event_name = step.event;
        const std::string& reason = step.reason;
        AuditEvent event = make_audit_event(event_name, name, m_actor);
        event.lock_id = record.lock_id;
        if (!reason.empty()) event.extra_json = holder_extra(record, reason);
        LOKT_TRY_LET(removed, m_space.remove_entry(m_client, head, event));
        if (*removed) result.released.push_back(std::move(record));
    }
    return result;
}

Result<LockRecord> EtcdBackend::freeze(const std::string& name, Nanoseconds ttl, bool force) {
    for (int round = 0; round < k_etcd_rounds; ++round) {
        RangeRequest request;
        request.key = m_space.freeze_key(name);
        LOKT_TRY_LET(read, m_client.range(request));
        std::optional<LockRecord> overridden;
        std::int64_t seen_revision = 0;
        if (!read->kvs.empty()) {
            seen_revision = read->kvs.front().create_revision;
            if (auto current = record_of(read->kvs.front());
                current && !has_lapsed(*current, wall_now()) && current->owner != m_actor.owner) {
                if (!force) {
                    std::string message = "lock " + etcd_quoted(name) + " is already frozen";
                    if (auto expiry = current->expiry()) message += " until " + format_rfc3339_seconds(*expiry);
                    message += " (by " + owner_at_host(current->owner, current->host) +
                               "); a human may replace it with 'lokt freeze " + name + " --ttl D --force'";
                    return make_error(ErrorCode::frozen, std::move(message));
                }
                overridden = current;
            }
        }
        LockRecord record;
        record.name = name;
        record.lock_id = new_lock_id();
        record.owner = m_actor.owner;
        record.owner_explicit = m_actor.owner_explicit;
        record.host = m_actor.host;
        record.pid = m_actor.pid;
        record.pid_start = m_actor.pid_start;
        record.agent_id = m_actor.agent_id;
        record.acquired = wall_now();
        record.bound_to = Binding::ttl;
        record.boot_id = platform::this_boot_id();
        set_deadline(record, record.acquired, ttl);
        LOKT_TRY_LET(lease, m_client.lease_grant(lease_seconds(ttl)));
        TxnRequest txn;
        txn.compare.push_back(Compare::created_at(m_space.freeze_key(name), seen_revision));
        PutRequest put;
        put.key = m_space.freeze_key(name);
        put.value = serialize_lock_record(record);
        put.lease = *lease;
        txn.success.push_back(Operation::of(std::move(put)));
        AuditEvent event = make_audit_event(overridden ? "force-freeze" : "freeze", name, m_actor);
        event.lock_id = record.lock_id;
        event.ttl_sec = record.ttl_sec;
        if (overridden) event.extra_json = holder_extra(*overridden, "freeze --force");
        for (auto& operation : m_space.audit_operations(event)) txn.success.push_back(std::move(operation));
        LOKT_TRY_LET(done, m_client.txn(txn));
        if (done->succeeded) {
            if (!read->kvs.empty() && read->kvs.front().lease != 0) (void)m_client.lease_revoke(read->kvs.front().lease);
            return record;
        }
        (void)m_client.lease_revoke(*lease);
    }
    return make_error(ErrorCode::held, "the freeze of " + etcd_quoted(name) + " keeps changing; try again");
}

Result<LockRecord> EtcdBackend::unfreeze(const std::string& name, bool force) {
    RangeRequest request;
    request.key = m_space.freeze_key(name);
    LOKT_TRY_LET(read, m_client.range(request));
    if (read->kvs.empty()) return make_error(ErrorCode::not_found, "lock " + etcd_quoted(name) + " is not frozen");
    const KeyValue seen = read->kvs.front();
    auto record = record_of(seen);
    const bool own = record && record->owner == m_actor.owner;
    if (!own && !force) {
        const std::string by = record ? owner_at_host(record->owner, record->host) : "an unreadable freeze";
        return make_error(ErrorCode::not_owner, "lock " + etcd_quoted(name) + " was frozen by " + by +
                                                    "; a human may lift it with 'lokt unfreeze " + name + " --force'");
    }
    AuditEvent event = make_audit_event(own ? "unfreeze" : "force-unfreeze", name, m_actor);
    if (record) {
        event.lock_id = record->lock_id;
        if (!own) event.extra_json = holder_extra(*record, "unfreeze --force");
    }
    LOKT_TRY_LET(removed, m_space.remove_entry(m_client, seen, event));
    if (!*removed) return make_error(ErrorCode::held, "the freeze of " + etcd_quoted(name) + " changed meanwhile; look again");
    if (seen.lease != 0) (void)m_client.lease_revoke(seen.lease);
    return record.value_or(LockRecord{});
}

Result<LockView> EtcdBackend::inspect(const std::string& name) {
    LockView view;
    view.name = name;
    LOKT_TRY_LET(entries, queue_entries(name));
    if (!entries->empty()) {
        if (auto record = record_of(entries->front())) {
            view.stored.kind = StoredRecord::Kind::record;
            view.stored.record = std::move(*record);
            view.state = judge_record(view.stored.record, wall_now(), m_actor.host);
        } else {
            view.stored.kind = StoredRecord::Kind::corrupt;
            view.stored.problem = "not a lock record";
            view.state = HoldState::corrupt;
        }
    }
    LOKT_TRY_LET(freeze, live_freeze(name));
    view.freeze = std::move(freeze.value());
    return view;
}

Result<std::vector<LockView>> EtcdBackend::list(bool prune) {
    LOKT_TRY_LET(entries, all_queue_entries());
    std::map<std::string, KeyValue> heads;
    for (const auto& kv : *entries) {
        const std::string rest = kv.key.substr(m_prefix.size() + 2);
        heads.emplace(rest.substr(0, rest.find('/')), kv);
    }
    std::vector<LockView> views;
    for (const auto& [name, head] : heads) {
        LockView view;
        view.name = name;
        if (auto record = record_of(head)) {
            view.stored.kind = StoredRecord::Kind::record;
            view.stored.record = std::move(*record);
            view.state = judge_record(view.stored.record, wall_now(), m_actor.host);
            if (prune && is_stale(view.state)) {
                AuditEvent event = make_audit_event("auto-prune", name, m_actor);  // as status --prune-expired on the files
                event.lock_id = view.stored.record.lock_id;
                event.extra_json = holder_extra(view.stored.record, stale_reason(view.stored.record, view.state));
                LOKT_TRY_LET(removed, m_space.remove_entry(m_client, head, event));
                if (*removed) continue;
            }
        } else {
            view.stored.kind = StoredRecord::Kind::corrupt;
            view.stored.problem = "not a lock record";
            view.state = HoldState::corrupt;
        }
        views.push_back(std::move(view));
    }
    LOKT_TRY_LET(freezes, list_freezes());
    for (auto& view : views) {
        for (const auto& f : *freezes) {
            if (f.name == view.name) view.freeze = f.record;
        }
    }
    return views;
}

Result<std::vector<FreezeView>> EtcdBackend::list_freezes() {
    LOKT_TRY_LET(read, m_client.range(range_of_prefix(m_prefix + "f/")));
    std::vector<FreezeView> freezes;
    for (const auto& kv : read->kvs) {
        auto record = record_of(kv);
        if (!record || has_lapsed(*record, wall_now())) continue;
        record->fence.reset();
        freezes.push_back(FreezeView{kv.key.substr(m_prefix.size() + 2), std::move(*record)});
    }
    return freezes;
}

Result<std::vector<std::string>> EtcdBackend::names(Area area) {
    std::vector<std::string> found;
    if (area == Area::freezes) {
        LOKT_TRY_LET(freezes, list_freezes());
        for (const auto& f : *freezes) found.push_back(f.name);
    } else {
        LOKT_TRY_LET(entries, all_queue_entries());
        for (const auto& kv : *entries) {
            const std::string rest = kv.key.substr(m_prefix.size() + 2);
            found.push_back(rest.substr(0, rest.find('/')));
        }
    }
    std::sort(found.begin(), found.end());
    found.erase(std::unique(found.begin(), found.end()), found.end());
    return found;
}

Result<QueueView> EtcdBackend::queue(const std::string& name) {
    LOKT_TRY_LET(entries, queue_entries(name));
    QueueView view;
    view.known = true;
    view.keeper = "the etcd queue";
    const WallTime now = wall_now();
    for (std::size_t i = 1; i < entries->size(); ++i) {
        auto record = record_of((*entries)[i]);
        if (!record) continue;
        // etcd takes no shared holds: every waiter asks for the name alone.
        view.waiters.push_back(QueuedWaiter{i, holder_identity(*record), now - record->acquired, "exclusive"});
    }
    return view;
}

Result<QueuesView> EtcdBackend::queues() {
    LOKT_TRY_LET(entries, all_queue_entries());
    QueuesView view;
    view.known = true;
    std::map<std::string, std::size_t> seen;
    const WallTime now = wall_now();
    for (const auto& kv : *entries) {
        const std::string rest = kv.key.substr(m_prefix.size() + 2);
        const std::string name = rest.substr(0, rest.find('/'));
        const std::size_t position = seen[name]++;
        if (position == 0) continue;  // the holder
        auto record = record_of(kv);
        if (!record) continue;
        view.by_name[name].push_back(QueuedWaiter{position, holder_identity(*record), now - record->acquired, "exclusive"});
    }
    return view;
}

namespace {

// Wakes the live views on every change under the namespace (a watch).
class EtcdChangeFeed final : public ChangeFeed {
public:
    explicit EtcdChangeFeed(etcd::Watch watch) : m_watch(std::move(watch)) {}
    int fd() const override { return m_watch.fd(); }
    bool drain() override {
        bool changed = false;
        for (;;) {
            auto batch = m_watch.next(std::chrono::milliseconds(0));
            if (!batch) return true;  // broken: the view reads again (and every reread_every)
            if (!*batch) return changed;
            changed = true;
        }
    }
    std::string_view source() const override { return "etcd events"; }
    std::chrono::milliseconds reread_every() const override { return std::chrono::milliseconds(1000); }

private:
    etcd::Watch m_watch;
};

}  // namespace

Result<std::unique_ptr<ChangeFeed>> EtcdBackend::watch_changes() {
    etcd::WatchRequest request;
    request.key = m_prefix;
    request.range_end = etcd::prefix_end(m_prefix);
    LOKT_TRY_LET(watch, m_client.watch(request));
    return std::unique_ptr<ChangeFeed>(std::make_unique<EtcdChangeFeed>(std::move(watch.value())));
}

std::vector<AuditEvent> EtcdBackend::latest_audit_events(std::size_t count) {
    RangeRequest request = range_of_prefix(m_prefix + "a/");
    request.descending = true;
    request.limit = static_cast<std::int64_t>(count);
    std::vector<AuditEvent> events;
    auto read = m_client.range(request);
    if (!read) return events;
    for (auto it = read->kvs.rbegin(); it != read->kvs.rend(); ++it) {
        if (auto entry = audit_entry(*it)) events.push_back(std::move(entry->event));
    }
    return events;
}

Result<std::optional<WallTime>> EtcdBackend::audit_time_of_last(const AuditQuery& query, std::size_t count) {
    RangeRequest request = range_of_prefix(m_prefix + "a/");
    if (query.since) request.key = m_prefix + "a/" + time_key(*query.since);
    request.descending = true;
    LOKT_TRY_LET(read, m_client.range(request));
    std::size_t matched = 0;
    for (const auto& kv : read->kvs) {
        auto event = parse_audit_line(kv.value);
        if (!event || !audit_event_matches(*event, query)) continue;
        if (++matched == count) return std::optional<WallTime>(event->ts);
    }
    return std::optional<WallTime>();
}

std::optional<Result<void>> EtcdBackend::read_own_audit(const AuditQuery& query, const AuditPrinter& visit) {
    RangeRequest request = range_of_prefix(m_prefix + "a/");
    if (query.since) request.key = m_prefix + "a/" + time_key(*query.since);
    auto read = m_client.range(request);
    if (!read) return Result<void>(read.take_error());
    for (const auto& kv : read->kvs) {
        auto entry = audit_entry(kv);
        if (!entry || !audit_event_matches(entry->event, query)) continue;
        visit(entry->line, entry->event);
    }
    return Result<void>();
}

Result<void> EtcdBackend::follow_audit(const AuditQuery& query, const AuditPrinter& print) {
    std::int64_t revision = 0;
    if (query.since) {
        RangeRequest request = range_of_prefix(m_prefix + "a/");
        request.key = m_prefix + "a/" + time_key(*query.since);
        LOKT_TRY_LET(read, m_client.range(request));
        revision = read->revision;
        for (const auto& kv : read->kvs) {
            auto entry = audit_entry(kv);
            if (!entry || !audit_event_matches(entry->event, query)) continue;
            print(entry->line, entry->event);
        }
        std::fflush(stdout);
        if (std::ferror(stdout)) return {};
    } else {
        LOKT_TRY_LET(now, ping());
        revision = *now;
    }
    for (;;) {
        etcd::WatchRequest request;
        request.key = m_prefix + "a/";
        request.range_end = etcd::prefix_end(request.key);
        request.start_revision = revision + 1;
        LOKT_TRY_LET(watch, m_client.watch(request));
        for (;;) {
            auto batch = watch->next(std::chrono::milliseconds(1000));
            if (!batch) break;  // a member went away: watch again from where we were
            if (!*batch) {
                // Nobody wrote: is the reader still there?
                pollfd out{1, 0, 0};
                if (::poll(&out, 1, 0) == 1 && (out.revents & (POLLERR | POLLHUP)) != 0) return {};
                continue;
            }
            if ((*batch)->canceled) {
                // Compacted past where we were: carry on from the compaction.
                revision = std::max(revision, (*batch)->compact_revision - 1);
                break;
            }
            for (const auto& change : (*batch)->events) {
                revision = std::max(revision, change.kv.mod_revision);
                if (change.type != etcd::WatchEvent::Type::put) continue;
                auto entry = audit_entry(change.kv);
                if (!entry || !audit_event_matches(entry->event, query)) continue;
                print(entry->line, entry->event);
            }
            std::fflush(stdout);
            if (std::ferror(stdout)) return {};
        }
    }
}

}  // namespace lokt::client
