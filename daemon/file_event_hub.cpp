// See file_event_hub.hpp.
#include "daemon/file_event_hub.hpp"

#include <cerrno>

namespace lokt::daemon {

FileEventHub::ListenerId FileEventHub::listen(Listener listener) {
    const ListenerId id = m_next++;
    m_listeners.emplace(id, std::move(listener));
    return id;
}

void FileEventHub::unlisten(ListenerId listener) {
    m_listeners.erase(listener);
    for (auto it = m_watches.begin(); it != m_watches.end();) {
        it->second.erase(listener);
        if (it->second.empty() && m_queue) {
            platform::remove_file_watch(m_queue->native_handle(), it->first);
            it = m_watches.erase(it);
        } else {
            ++it;
        }
    }
}

int FileEventHub::add(ListenerId listener, const std::filesystem::path& path, std::uint32_t events) {
    if (!m_queue) {
        UniqueFd queue = platform::open_file_event_queue();
        if (!queue) return -1;
        m_queue = std::make_unique<asio::posix::stream_descriptor>(m_io, queue.release());
        read_events();
    }
    const int watch = platform::add_file_watch(m_queue->native_handle(), path, events);
    if (watch >= 0) m_watches[watch].insert(listener);
    return watch;
}

void FileEventHub::remove(ListenerId listener, int watch) {
    auto it = m_watches.find(watch);
    if (it == m_watches.end()) return;
    it->second.erase(listener);
    if (!it->second.empty()) return;  // another root watches the same directory
    if (m_queue) platform::remove_file_watch(m_queue->native_handle(), watch);
    m_watches.erase(it);
}

void FileEventHub::read_events() {
    m_queue->async_read_some(asio::buffer(m_buffer), [this, alive = m_alive](const asio::error_code& error, std::size_t bytes) {
        if (!*alive || error) return;
        on_events(bytes);
        read_events();
    });
}

void FileEventHub::on_events(std::size_t bytes) {
    std::map<ListenerId, std::vector<FileEvent>> batches;
    std::vector<int> ended;
    platform::decode_file_events(m_buffer.data(), bytes, [&](const platform::FileEventRecord& record) {
        FileEvent event{record.watch, record.events, std::string(record.name)};
        if ((record.events & platform::events_lost) != 0) {
            for (const auto& [id, listener] : m_listeners) batches[id].push_back(event);
            return;
        }
        auto it = m_watches.find(record.watch);
        if (it == m_watches.end()) return;
        for (ListenerId id : it->second) batches[id].push_back(event);
        if ((record.events & platform::watch_ended) != 0) ended.push_back(record.watch);
    });
    for (int watch : ended) m_watches.erase(watch);  // the kernel dropped it (its directory is gone)
    // A listener may go (or add watches) while an earlier one is told.
    for (auto& [id, events] : batches) {
        auto listener = m_listeners.find(id);
        if (listener == m_listeners.end()) continue;
        auto call = listener->second;
        call(events);
    }
}

}  // namespace lokt::daemon
