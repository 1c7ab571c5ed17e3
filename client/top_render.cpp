// See top_render.hpp.
#include "client/top_render.hpp"

#include <algorithm>
#include <cstdio>

#include "common/duration.hpp"

namespace lokt::client {
namespace {

constexpr std::size_t k_max_name_width = 32;
constexpr std::size_t k_max_holder_width = 28;
constexpr std::size_t k_max_agent_width = 16;
// Sections below the list get at most this many lines each.
constexpr std::size_t k_section_lines = 5;

std::string clock_text(Nanoseconds duration) {
    if (duration < Nanoseconds(0)) duration = Nanoseconds(0);
    return format_duration_seconds(duration);
}

// Left-aligned in `width` columns, cut if longer.
std::string column(std::string_view text, std::size_t width) {
    std::string out = fit_width(text, width);
    std::size_t columns = 0;
    for (unsigned char c : out) columns += (c & 0xC0) != 0x80 ? 1 : 0;
    out.append(width > columns ? width - columns : 0, ' ');
    return out;
}

std::string right(std::string_view text, std::size_t width) {
    std::string out = fit_width(text, width);
    return std::string(width > out.size() ? width - out.size() : 0, ' ') + out;
}

std::string time_of_day(WallTime when) {
    const std::string text = format_rfc3339_seconds(when);  // 2026-02-07T15:00:00Z
    return text.size() >= 19 ? text.substr(11, 8) : text;
}

std::string who_text(const Identity& who) {
    std::string text = owner_at_host(who.owner, who.host) + " pid " + std::to_string(who.pid);
    if (!who.agent_id.empty()) text += " agent " + who.agent_id;
    return text;
}

struct Widths {
    std::size_t name = 4, holder = 6, agent = 5;
};

std::vector<const TopHold*> shown_holds(const TopSnapshot& snapshot, const TopView& view) {
    std::vector<const TopHold*> holds;
    holds.reserve(snapshot.holds.size());
    for (const auto& hold : snapshot.holds) {
        if (view.filter.empty() || hold.name.find(view.filter) != std::string::npos) holds.push_back(&hold);
    }
    auto acquired = [](const TopHold* hold) { return hold->record ? hold->record->acquired : WallTime::max(); };
    switch (view.sort) {
        case TopSort::name: break;  // the snapshot is sorted by name
        case TopSort::held_for:
            std::stable_sort(holds.begin(), holds.end(),
                             [&](const TopHold* a, const TopHold* b) { return acquired(a) < acquired(b); });
            break;
        case TopSort::waiters:
            std::stable_sort(holds.begin(), holds.end(),
                             [](const TopHold* a, const TopHold* b) { return a->waiters.size() > b->waiters.size(); });
            break;
    }
    return holds;
}

std::string holder_of(const TopHold& hold) { return hold.record ? owner_at_host(hold.record->owner, hold.record->host) : "-"; }

std::string state_word(const TopHold& hold) {
    std::string word = hold.state;
    if (hold.kept_by == "command") word += "(cmd)";
    if (hold.frozen) word += ",frozen";
    return word;
}

// The held list: one line per name, one per waiter under it.
std::vector<std::string> list_lines(const std::vector<const TopHold*>& holds, const Widths& w, WallTime now) {
    std::vector<std::string> lines;
    lines.reserve(holds.size() + 16);
    for (const TopHold* hold : holds) {
        std::string line =
            column(hold->name, w.name) + "  " + column(state_word(*hold), 11) + "  " + column(holder_of(*hold), w.holder) + "  ";
        if (hold->record) {
            const LockRecord& r = *hold->record;
            const auto expiry = r.expiry();
            line += column(r.agent_id.empty() ? "-" : r.agent_id, w.agent) + "  " + right(std::to_string(r.pid), 7) + "  " +
                    right(clock_text(now - r.acquired), 8) + "  " + right(expiry ? clock_text(*expiry - now) : "-", 8) + "  " +
                    right(r.fence ? std::to_string(*r.fence) : "-", 5) + "  " +
                    column(hold->mode == "shared" ? "shrd" : "excl", 4) + "  " + (hold->command.empty() ? "-" : hold->command);
        } else {
            line += column("-", w.agent) + "  " + right("-", 7) + "  " + right("-", 8) + "  " + right("-", 8) + "  " +
                    right("-", 5) + "  " + column("-", 4) + "  -";
        }
        lines.push_back(std::move(line));
        // Which mode each waiter asks matters only where some hold or ask is shared.
        const bool modes = hold->mode == "shared" || std::any_of(hold->waiters.begin(), hold->waiters.end(),
                                                                 [](const TopWaiter& asking) { return asking.mode == "shared"; });
        for (std::size_t i = 0; i < hold->waiters.size(); ++i) {
            const TopWaiter& waiter = hold->waiters[i];
            const bool last = i + 1 == hold->waiters.size();
            lines.push_back(std::string(last ? "  `- " : "  |- ") + std::to_string(waiter.position) + ". " +
                            who_text(waiter.who) + "  waiting " + clock_text(now - waiter.since) + " (since " +
                            time_of_day(waiter.since) + ")" +
                            (modes && !waiter.mode.empty() ? ", asks " + waiter.mode : std::string()));
        }
    }
    return lines;
}

std::vector<std::string> help_lines() {
    return {
        "Keys:",
        "  q, ^C       quit (the terminal is restored)",
        "  s           sort by name, then held for (longest first), then waiters (most first)",
        "  /           filter by name: type a part of the name, Enter keeps it, Esc clears it",
        "  Up, Down    scroll the held list by a line (k, j too)",
        "  PgUp, PgDn  scroll by a page (space too)",
        "  ?           this help; any key goes back",
        "",
        "Each held name shows its holder, how long it has been held and how much of",
        "its TTL is left; the acquires waiting for it are listed under it in queue",
        "order (1 is next). Queues are known only through loktd.",
    };
}

}  // namespace

std::string_view to_string(TopSort sort) {
    switch (sort) {
        case TopSort::name: return "name";
        case TopSort::held_for: return "held-for";
        case TopSort::waiters: return "waiters";
    }
    return "name";
}

std::optional<TopSort> top_sort_from_string(std::string_view word) {
    for (TopSort sort : {TopSort::name, TopSort::held_for, TopSort::waiters}) {
        if (word == to_string(sort)) return sort;
    }
    return std::nullopt;
}

TopSort next_sort(TopSort sort) {
    switch (sort) {
        case TopSort::name: return TopSort::held_for;
        case TopSort::held_for: return TopSort::waiters;
        case TopSort::waiters: return TopSort::name;
    }
    return TopSort::name;
}

std::string fit_width(std::string_view text, std::size_t width) {
    std::string out;
    out.reserve(std::min(text.size(), width * 2));
    std::size_t columns = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        const bool continuation = (c & 0xC0) == 0x80;
        if (!continuation) {
            if (columns == width) break;
            ++columns;
        }
        out.push_back(c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c));
    }
    return out;
}

std::size_t top_list_lines(const TopSnapshot& snapshot, const TopView& view) {
    std::size_t lines = 0;
    for (const TopHold* hold : shown_holds(snapshot, view)) lines += 1 + hold->waiters.size();
    return lines;
}

std::vector<std::string> render_top(const TopSnapshot& snapshot, const TopView& view, WallTime now, std::size_t width,
                                    std::size_t height) {
    std::vector<std::string> out;
    if (height == 0 || width == 0) return out;
    const std::vector<const TopHold*> holds = shown_holds(snapshot, view);

    std::size_t frozen_count = snapshot.freezes.size();
    out.push_back("lokt top  " + snapshot.root + "  [" + (view.source.empty() ? snapshot.backend : view.source) + "]  " +
                  std::to_string(snapshot.holds.size()) + " held, " +
                  (snapshot.queues_known ? std::to_string(snapshot.waiter_count()) : std::string("?")) + " waiting, " +
                  std::to_string(frozen_count) + " frozen  " + time_of_day(now));
    std::string keys = "sort: " + std::string(to_string(view.sort)) + "  filter: ";
    if (view.editing_filter) {
        keys += view.filter + "_  (Enter keep, Esc clear)";
    } else {
        keys += view.filter.empty() ? "-" : "\"" + view.filter + "\" (" + std::to_string(holds.size()) + " shown)";
        keys += "   q quit  s sort  / filter  ? help";
    }
    if (!view.message.empty()) keys += "  ! " + view.message;
    out.push_back(keys);

    if (view.help) {
        for (auto& line : help_lines()) out.push_back(std::move(line));
    } else {
        Widths w;
        for (const TopHold* hold : holds) {
            w.name = std::max(w.name, std::min(hold->name.size(), k_max_name_width));
            w.holder = std::max(w.holder, std::min(holder_of(*hold).size(), k_max_holder_width));
            if (hold->record) w.agent = std::max(w.agent, std::min(hold->record->agent_id.size(), k_max_agent_width));
        }
        out.push_back(column("NAME", w.name) + "  " + column("STATE", 11) + "  " + column("HOLDER", w.holder) + "  " +
                      column("AGENT", w.agent) + "  " + right("PID", 7) + "  " + right("HELD", 8) + "  " + right("TTL LEFT", 8) +
                      "  " + right("FENCE", 5) + "  " + column("MODE", 4) + "  COMMAND");

        std::vector<std::string> lower;
        if (!snapshot.freezes.empty()) {
            lower.push_back("FROZEN (" + std::to_string(snapshot.freezes.size()) + ")");
            std::size_t shown = 0;
            for (const auto& freeze : snapshot.freezes) {
                if (shown++ == k_section_lines) {
                    lower.push_back("  ... " + std::to_string(snapshot.freezes.size() - k_section_lines) + " more");
                    break;
                }
                const auto expiry = freeze.record.expiry();
                std::string line = "  " + freeze.name + "  by " + owner_at_host(freeze.record.owner, freeze.record.host);
                if (!freeze.record.agent_id.empty()) line += " agent " + freeze.record.agent_id;
                if (expiry) line += "  until " + time_of_day(*expiry) + " (" + clock_text(*expiry - now) + " left)";
                if (!freeze.waiters.empty()) line += "  " + std::to_string(freeze.waiters.size()) + " waiting";
                lower.push_back(std::move(line));
            }
        }
        if (!snapshot.events.empty()) {
            lower.push_back("RECENT EVENTS");
            const std::size_t first = snapshot.events.size() > k_section_lines ? snapshot.events.size() - k_section_lines : 0;
            std::size_t event_name_width = w.name;
            for (std::size_t i = first; i < snapshot.events.size(); ++i) {
                event_name_width = std::max(event_name_width, std::min(snapshot.events[i].name.size(), k_max_name_width));
            }
            for (std::size_t i = first; i < snapshot.events.size(); ++i) {
                const AuditEvent& event = snapshot.events[i];
                std::string line = "  " + time_of_day(event.ts) + "  " + column(event.event, 12) + "  " +
                                   column(event.name, event_name_width) + "  " + owner_at_host(event.owner, event.host) +
                                   " pid " + std::to_string(event.pid);
                if (!event.agent_id.empty()) line += " agent " + event.agent_id;
                lower.push_back(std::move(line));
            }
        }

        // The list gets what the header and the lower sections leave, and at
        // least a few lines: the lower sections give way on a short screen.
        const std::size_t used = out.size();
        const std::size_t room = height > used ? height - used : 0;
        const std::size_t min_list = std::min<std::size_t>(room, 3);
        if (lower.size() > room - min_list) lower.resize(room - min_list);
        const std::size_t list_room = room - lower.size();

        std::vector<std::string> list = list_lines(holds, w, now);
        if (list.empty()) {
            list.push_back(snapshot.holds.empty() ? "  no locks held" : "  no held name matches the filter");
        }
        const std::size_t max_scroll = list.size() > list_room ? list.size() - list_room + 1 : 0;
        const std::size_t scroll = std::min(view.scroll, max_scroll);
        std::size_t take = std::min(list.size() - scroll, list_room);
        const bool more = scroll + take < list.size() || scroll > 0;
        if (more && take > 0) --take;
        for (std::size_t i = 0; i < take; ++i) out.push_back(std::move(list[scroll + i]));
        if (more && list_room > 0) {
            out.push_back("  -- lines " + std::to_string(scroll + 1) + "-" + std::to_string(scroll + take) + " of " +
                          std::to_string(list.size()) + " (Up/Down/PgUp/PgDn scroll) --");
        }
        while (!view.compact && out.size() < used + list_room && !lower.empty())
            out.emplace_back();  // lower sections sit at the bottom
        for (auto& line : lower) out.push_back(std::move(line));
    }
    if (out.size() > height) out.resize(height);
    for (auto& line : out) line = fit_width(line, width);
    return out;
}

}  // namespace lokt::client
