// Splitting a long run of independent work (reading 10,000 lock files,
// formatting their JSON) over the machine's cores, for the commands whose cost
// grows with the number of locks.
#pragma once

#include <algorithm>
#include <cstddef>
#include <thread>
#include <vector>

namespace lokt {

// How many chunks for_each_chunk splits count items into.
inline std::size_t chunk_count(std::size_t count, std::size_t min_parallel) {
    return count < min_parallel ? 1 : std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 8);
}

// Calls work(chunk, begin, end) for consecutive chunks covering [0, count),
// chunk 0 on the calling thread and the others on their own threads, and
// returns when all are done. Below min_parallel items everything runs as one
// chunk on the caller. Returns the number of chunks.
template <class Work>
std::size_t for_each_chunk(std::size_t count, std::size_t min_parallel, Work&& work) {
    const std::size_t chunks = chunk_count(count, min_parallel);
    const std::size_t size = (count + chunks - 1) / chunks;
    std::vector<std::thread> threads;
    threads.reserve(chunks - 1);
    for (std::size_t c = 1; c < chunks; ++c) {
        threads.emplace_back([&work, c, size, count] { work(c, std::min(count, c * size), std::min(count, (c + 1) * size)); });
    }
    work(std::size_t{0}, std::size_t{0}, std::min(count, size));
    for (auto& thread : threads) thread.join();
    return chunks;
}

}  // namespace lokt
