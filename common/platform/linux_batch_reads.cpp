// BatchReader on Linux: io_uring through its three system calls (no liburing),
// each file a stat of its name and a linked open, read and close on a slot of
// the ring's own file table, so no descriptor of ours is ever involved. The
// stats of a round go first, and only regular files are opened and read.
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/stat.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/platform/batch_reads.hpp"

namespace lokt::platform {
namespace {

constexpr unsigned k_files_per_round = 64;
constexpr unsigned k_ops_per_file = 4;  // statx; openat -> read -> close

int ring_setup(unsigned entries, io_uring_params* params) {
    return static_cast<int>(::syscall(__NR_io_uring_setup, entries, params));
}
int ring_enter(int fd, unsigned submit, unsigned wait) {
    return static_cast<int>(::syscall(__NR_io_uring_enter, fd, submit, wait, IORING_ENTER_GETEVENTS, nullptr, 0));
}
int ring_register(int fd, unsigned op, void* arg, unsigned count) {
    return static_cast<int>(::syscall(__NR_io_uring_register, fd, op, arg, count));
}

struct Mapping {
    void* address = MAP_FAILED;
    std::size_t size = 0;
    ~Mapping() {
        if (address != MAP_FAILED) ::munmap(address, size);
    }
    bool map(int fd, std::size_t bytes, off_t offset) {
        size = bytes;
        address = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, offset);
        return address != MAP_FAILED;
    }
    template <class T>
    T* at(std::size_t offset) const {
        return reinterpret_cast<T*>(static_cast<char*>(address) + offset);
    }
};

}  // namespace

struct BatchReader::Ring {
    int fd = -1;
    Mapping rings;  // submission and completion rings in one mapping
    Mapping entries;
    unsigned* sq_tail = nullptr;
    unsigned sq_mask = 0;
    unsigned* sq_array = nullptr;
    unsigned* cq_head = nullptr;
    unsigned* cq_tail = nullptr;
    unsigned cq_mask = 0;
    io_uring_cqe* cqes = nullptr;
    io_uring_sqe* sqes = nullptr;
    // Per slot of a round: the stat, the buffer, what each operation returned.
    struct statx stats[k_files_per_round];
    std::vector<char> buffers;
    int results[k_files_per_round][k_ops_per_file];

    ~Ring() {
        if (fd >= 0) ::close(fd);
    }

    // Submits what was queued up to tail (count entries) and waits for all
    // their completions, filing each result by slot and operation. False when
    // the ring failed: the submissions may be half in, so it cannot be
    // trusted for another round.
    bool run(unsigned tail, unsigned count) {
        std::atomic_ref<unsigned>(*sq_tail).store(tail, std::memory_order_release);
        unsigned waiting = count;
        unsigned to_submit = count;
        while (waiting > 0) {
            const int entered = ring_enter(fd, to_submit, waiting);
            if (entered < 0 && errno != EINTR) return false;
            if (entered > 0) to_submit -= std::min<unsigned>(to_submit, static_cast<unsigned>(entered));
            unsigned head = *cq_head;
            const unsigned ready = std::atomic_ref<unsigned>(*cq_tail).load(std::memory_order_acquire);
            for (; head != ready; ++head) {
                const io_uring_cqe& cqe = cqes[head & cq_mask];
                results[cqe.user_data >> 8][cqe.user_data & 0xff] = cqe.res;
                --waiting;
            }
            std::atomic_ref<unsigned>(*cq_head).store(head, std::memory_order_release);
        }
        return true;
    }

    io_uring_sqe* next(unsigned& tail) {
        const unsigned index = tail & sq_mask;
        io_uring_sqe* sqe = &sqes[index];
        std::memset(sqe, 0, sizeof *sqe);
        sq_array[index] = index;
        ++tail;
        return sqe;
    }
};

std::unique_ptr<BatchReader> BatchReader::open() {
    auto ring = std::make_unique<Ring>();
    io_uring_params params{};
    params.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
    ring->fd = ring_setup(k_files_per_round * k_ops_per_file, &params);
    if (ring->fd < 0 && errno == EINVAL) {  // a kernel before 5.19 knows neither flag
        params = io_uring_params{};
        ring->fd = ring_setup(k_files_per_round * k_ops_per_file, &params);
    }
    if (ring->fd < 0) return nullptr;  // no io_uring here (ENOSYS, EPERM, EINVAL on an older kernel)
    if ((params.features & IORING_FEAT_SINGLE_MMAP) == 0) return nullptr;
    const std::size_t sq_bytes = params.sq_off.array + params.sq_entries * sizeof(unsigned);
    const std::size_t cq_bytes = params.cq_off.cqes + params.cq_entries * sizeof(io_uring_cqe);
    if (!ring->rings.map(ring->fd, std::max(sq_bytes, cq_bytes), IORING_OFF_SQ_RING)) return nullptr;
    if (!ring->entries.map(ring->fd, params.sq_entries * sizeof(io_uring_sqe), IORING_OFF_SQES)) return nullptr;
    ring->sq_tail = ring->rings.at<unsigned>(params.sq_off.tail);
    ring->sq_mask = *ring->rings.at<unsigned>(params.sq_off.ring_mask);
    ring->sq_array = ring->rings.at<unsigned>(params.sq_off.array);
    ring->cq_head = ring->rings.at<unsigned>(params.cq_off.head);
    ring->cq_tail = ring->rings.at<unsigned>(params.cq_off.tail);
    ring->cq_mask = *ring->rings.at<unsigned>(params.cq_off.ring_mask);
    ring->cqes = ring->rings.at<io_uring_cqe>(params.cq_off.cqes);
    ring->sqes = ring->entries.at<io_uring_sqe>(0);
    // A table of empty file slots, one per file of a round: the files are
    // opened into it, never into our descriptor table.
    io_uring_rsrc_register files{};
    files.nr = k_files_per_round;
    files.flags = IORING_RSRC_REGISTER_SPARSE;
    if (ring_register(ring->fd, IORING_REGISTER_FILES2, &files, sizeof files) < 0) return nullptr;
    return std::unique_ptr<BatchReader>(new BatchReader(std::move(ring)));
}

BatchReader::BatchReader(std::unique_ptr<Ring> ring) : m_ring(std::move(ring)) {}
BatchReader::~BatchReader() = default;

bool BatchReader::read(int dir_fd, const std::vector<std::string>& files, std::size_t begin, std::size_t end,
                       std::size_t max_bytes, std::vector<BatchRead>& out) {
    Ring& ring = *m_ring;
    out.assign(end - begin, BatchRead{});
    ring.buffers.resize(k_files_per_round * max_bytes);
    for (std::size_t first = begin; first < end; first += k_files_per_round) {
        const unsigned count = static_cast<unsigned>(std::min<std::size_t>(k_files_per_round, end - first));
        const auto data = [](unsigned slot, unsigned op) { return (static_cast<std::uint64_t>(slot) << 8) | op; };
        // First the stats: only a regular file of the right size is opened
        // and read (a FIFO must never be read from: that would take its
        // bytes from whoever waits for them).
        unsigned tail = std::atomic_ref<unsigned>(*ring.sq_tail).load(std::memory_order_relaxed);
        for (unsigned slot = 0; slot < count; ++slot) {
            io_uring_sqe* stat = ring.next(tail);
            stat->opcode = IORING_OP_STATX;
            stat->fd = dir_fd;
            stat->addr = reinterpret_cast<std::uint64_t>(files[first + slot].c_str());
            stat->len = STATX_TYPE | STATX_INO | STATX_SIZE | STATX_CTIME;
            stat->statx_flags = AT_SYMLINK_NOFOLLOW;
            stat->off = reinterpret_cast<std::uint64_t>(&ring.stats[slot]);
            stat->user_data = data(slot, 0);
        }
        if (!ring.run(tail, count)) {
            out.assign(end - begin, BatchRead{});
            return false;
        }
        const auto readable = [&](unsigned slot) {
            const struct statx& info = ring.stats[slot];
            return ring.results[slot][0] == 0 && S_ISREG(info.stx_mode) && info.stx_size > 0 && info.stx_size < max_bytes;
        };
        unsigned reads = 0;
        for (unsigned slot = 0; slot < count; ++slot) {
            if (!readable(slot)) continue;
            ++reads;
            const char* name = files[first + slot].c_str();
            // Hard links: the close runs whatever the read did (a soft link
            // would skip it after a short read, leaving the slot taken).
            io_uring_sqe* open = ring.next(tail);
            open->opcode = IORING_OP_OPENAT;
            open->fd = dir_fd;
            open->addr = reinterpret_cast<std::uint64_t>(name);
            open->open_flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
            open->file_index = slot + 1;
            open->flags = IOSQE_IO_HARDLINK;
            open->user_data = data(slot, 1);
            io_uring_sqe* read = ring.next(tail);
            read->opcode = IORING_OP_READ;
            read->fd = static_cast<int>(slot);
            read->flags = IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
            read->addr = reinterpret_cast<std::uint64_t>(ring.buffers.data() + slot * max_bytes);
            read->len = static_cast<unsigned>(max_bytes);
            read->off = 0;
            read->user_data = data(slot, 2);
            io_uring_sqe* close = ring.next(tail);
            close->opcode = IORING_OP_CLOSE;
            close->file_index = slot + 1;
            close->user_data = data(slot, 3);
        }
        if (!ring.run(tail, reads * 3)) {
            out.assign(end - begin, BatchRead{});
            return false;
        }
        for (unsigned slot = 0; slot < count; ++slot) {
            if (!readable(slot)) continue;
            const int* result = ring.results[slot];
            const struct statx& info = ring.stats[slot];
            // Read all there was and as much as the stat saw: else the file
            // changed in between (a renewal renames a new one over it), and
            // the caller reads it again the careful way.
            if (result[1] < 0 || result[2] <= 0 || static_cast<std::uint64_t>(result[2]) != info.stx_size) continue;
            BatchRead& entry = out[first + slot - begin];
            entry.complete = true;
            entry.device = makedev(info.stx_dev_major, info.stx_dev_minor);
            entry.inode = info.stx_ino;
            entry.change_ns = static_cast<std::int64_t>(info.stx_ctime.tv_sec) * 1'000'000'000 + info.stx_ctime.tv_nsec;
            entry.contents.assign(ring.buffers.data() + slot * max_bytes, static_cast<std::size_t>(result[2]));
        }
    }
    return true;
}

}  // namespace lokt::platform
