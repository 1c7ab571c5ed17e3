// loktd's session with one etcd cluster and namespace: one lease (per TTL its
// clients ask for) kept alive with keepalives, one kept-open connection, and
// the holds of local clients bound to their connections. When a client's
// connection closes, its queue keys that are still there are deleted at once
// (with a `stale-break` audit event), instead of when the lease runs out.
//
// Every etcd call runs on the keeper's own worker thread, with its own
// client: loktd's event loop never waits for etcd. Results come back to the
// loop through asio::post; the loop thread alone touches the bindings.
#pragma once

#include <asio.hpp>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/identity.hpp"
#include "common/result.hpp"
#include "protocol/etcd/client.hpp"
#include "protocol/etcd/lock_space.hpp"

namespace lokt::daemon {

class EtcdLeaseKeeper {
public:
    using LeaseCallback = std::function<void(Result<std::int64_t>)>;

    // ttl_sec: the lease's TTL; it is kept alive every third of it.
    EtcdLeaseKeeper(asio::io_context& io, etcd::ClientOptions options, std::string prefix, std::int64_t ttl_sec, Identity actor);
    // Finishes the deletions already asked for, then stops the worker. The
    // lease is left to run out: a client that lost its daemon keeps it alive.
    ~EtcdLeaseKeeper();
    EtcdLeaseKeeper(const EtcdLeaseKeeper&) = delete;
    EtcdLeaseKeeper& operator=(const EtcdLeaseKeeper&) = delete;

    // The live lease (granted first if there is none), given to done on the
    // loop thread. A lease found gone at a keepalive is replaced by the next
    // request: its holds are lost, as their guards find out when they renew.
    void lease(LeaseCallback done);
    // Deletes each key still there (its holder's connection closed), with a
    // stale-break event naming what the record said.
    void release_dead(std::vector<std::string> keys, std::string why);

    // For daemon_status and the tests.
    std::size_t pending() const;

private:
    struct Job {
        LeaseCallback lease_done;       // a lease request, or
        std::vector<std::string> keys;  // keys to delete
        std::string why;
    };
    void run();
    void do_lease(const LeaseCallback& done);
    void do_release(const std::vector<std::string>& keys, const std::string& why);
    void keepalive();

    asio::io_context& m_io;
    const std::int64_t m_ttl_sec;
    const Identity m_actor;
    etcd::LockSpace m_space;
    etcd::Client m_client;  // the worker's alone

    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::deque<Job> m_jobs;
    bool m_stopping = false;

    // The worker's alone.
    std::int64_t m_lease = 0;  // 0: none yet, or the last one ran out
    std::chrono::steady_clock::time_point m_next_keepalive;

    std::thread m_worker;  // last: it starts once the rest is made
};

}  // namespace lokt::daemon
