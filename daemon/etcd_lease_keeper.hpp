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
#include <chrono>
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
    // Waits a little (k_drain_on_stop) for the deletions already asked for,
    // then lets the worker go: it finishes its etcd call (if one is under way)
    // on its own, posts nothing more to the loop, and ends, or ends with the
    // process. loktd's stop never waits on an etcd that does not answer. The
    // lease is left to run out: a client that lost its daemon keeps it alive.
    ~EtcdLeaseKeeper();
    EtcdLeaseKeeper(const EtcdLeaseKeeper&) = delete;
    EtcdLeaseKeeper& operator=(const EtcdLeaseKeeper&) = delete;

    // The live lease (granted first if there is none), given to done on the
    // loop thread. A lease found gone at a keepalive is replaced by the next
    // request: its holds are lost, as their guards find out when they renew.
    void lease(LeaseCallback done);
    // Deletes each key still there (its holder's connection closed), with a
    // stale-break event whose reason is why.
    void release_dead(std::vector<std::string> keys, std::string why);

    static constexpr std::chrono::seconds k_drain_on_stop{2};

private:
    struct Job {
        LeaseCallback lease_done;       // a lease request, or
        std::vector<std::string> keys;  // keys to delete
        std::string why;
    };
    // Everything the worker touches: it owns a share, so that it may outlive
    // the keeper (see the destructor).
    struct Shared {
        Shared(asio::io_context& loop, etcd::ClientOptions options, std::string prefix, std::int64_t ttl, Identity who)
            : io(&loop), ttl_sec(ttl), actor(std::move(who)), space(std::move(prefix)), client(std::move(options)) {}
        std::mutex mutex;
        std::condition_variable wake;     // a job, or stop
        std::condition_variable drained;  // no job left and none running
        std::deque<Job> jobs;
        bool running_job = false;
        bool stopping = false;
        bool loop_gone = false;  // nothing more may be posted to io
        asio::io_context* io;

        const std::int64_t ttl_sec;
        const Identity actor;
        const etcd::LockSpace space;
        // The worker's alone.
        etcd::Client client;
        std::int64_t lease = 0;  // 0: none yet, or the last one ran out
        std::chrono::steady_clock::time_point next_keepalive;

        // Runs f on the loop, unless the loop is gone.
        void post(std::function<void()> f);
    };
    static void run(const std::shared_ptr<Shared>& shared);
    static void do_lease(Shared& shared, const LeaseCallback& done);
    static void do_release(Shared& shared, const std::vector<std::string>& keys, const std::string& why);
    static void keepalive(Shared& shared);
    void push(Job job);

    std::shared_ptr<Shared> m_shared;
    std::thread m_worker;
};

}  // namespace lokt::daemon
