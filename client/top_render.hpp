// Draws a TopSnapshot as the lines of `lokt top`'s screen: a header, the held
// names with their waiters as a tree under each (who blocks whom), the frozen
// names and the latest events. Pure text in, text out: no terminal here, so
// the same lines serve `lokt top --once` and the tests.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/top_snapshot.hpp"

namespace lokt::client {

enum class TopSort { name, held_for, waiters };
std::string_view to_string(TopSort sort);
std::optional<TopSort> top_sort_from_string(std::string_view word);
TopSort next_sort(TopSort sort);

// What the viewer chose: order, filter, scrolling, help.
struct TopView {
    TopSort sort = TopSort::name;
    std::string filter;           // names containing it; empty for all
    bool editing_filter = false;  // typing after '/'
    std::size_t scroll = 0;       // first line of the held list shown
    bool help = false;
    std::string source;    // what drives the view ("daemon events", "file events")
    std::string message;   // a passing note (an error reading the root)
    bool compact = false;  // no blank lines to push the lower sections to the bottom
};

// Exactly `height` lines (fewer if there is less to show), none wider than
// `width` columns. `now` runs the clocks (held for, TTL left, waited).
std::vector<std::string> render_top(const TopSnapshot& snapshot, const TopView& view, WallTime now, std::size_t width,
                                    std::size_t height);

// How many lines the held list has after the filter (for scrolling).
std::size_t top_list_lines(const TopSnapshot& snapshot, const TopView& view);

// The text cut to `width` columns; control characters become '?'. Counts one
// column per UTF-8 character.
std::string fit_width(std::string_view text, std::size_t width);

}  // namespace lokt::client
