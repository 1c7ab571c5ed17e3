// See audit_stats_format.hpp.
#include "client/audit_stats_format.hpp"

#include <algorithm>

#include "common/duration.hpp"
#include "client/json_writer.hpp"

namespace lokt::client {
namespace {

std::string ms_text(std::int64_t ms) { return format_duration(std::chrono::milliseconds(ms)); }

// A plain table: the first column left-aligned, the others right-aligned.
class Table {
public:
    explicit Table(std::vector<std::string> header) { m_rows.push_back(std::move(header)); }
    void add(std::vector<std::string> row) { m_rows.push_back(std::move(row)); }
    std::string render() const {
        std::vector<std::size_t> width(m_rows.front().size(), 0);
        for (const auto& row : m_rows) {
            for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
        }
        std::string out;
        for (const auto& row : m_rows) {
            std::string line;
            for (std::size_t i = 0; i < row.size(); ++i) {
                const std::string pad(width[i] - row[i].size(), ' ');
                if (i == 0)
                    line += row[i] + pad;
                else
                    line += "  " + pad + row[i];
            }
            out += line + "\n";
        }
        return out;
    }

private:
    std::vector<std::vector<std::string>> m_rows;
};

std::string more_line(std::size_t total, std::size_t shown) {
    if (total <= shown) return {};
    return "(" + std::to_string(total - shown) + " more; --stats --json lists them all)\n";
}

}  // namespace

std::string format_summary_text(const AuditSummary& s, std::size_t rows) {
    using std::to_string;
    std::string out = "window " + format_rfc3339_seconds(s.window_start) + " to " + format_rfc3339_seconds(s.window_end) + " (" +
                      format_duration_seconds(s.window_end - s.window_start) + "), " + to_string(s.events) + " events\n";
    out += "holds " + to_string(s.holds) + " (" + to_string(s.open) + " open), held " + ms_text(s.held_ms) + "; refusals " +
           to_string(s.refusals) + "; waits " + to_string(s.waits) + " (" + to_string(s.waits_granted) + " granted, " +
           ms_text(s.wait_ms) + " waited); breaks " + to_string(s.breaks) + "; lost " + to_string(s.lost) + "; expired " +
           to_string(s.expired) + "; freezes " + to_string(s.freezes) + "\n";

    out += "\nBusiest names\n";
    Table names({"NAME", "HOLDS", "HELD", "LONGEST", "REFUSALS", "WAITS", "WAITED", "BREAKS", "FREEZES"});
    for (std::size_t i = 0; i < std::min(rows, s.names.size()); ++i) {
        const auto& n = s.names[i];
        names.add({n.name, to_string(n.holds), ms_text(n.held_ms), ms_text(n.longest_hold_ms), to_string(n.refusals),
                   to_string(n.waits), ms_text(n.wait_ms), to_string(n.breaks), to_string(n.freezes)});
    }
    out += names.render() + more_line(s.names.size(), rows);

    out += "\nLongest waits\n";
    if (s.longest_waits.empty()) {
        out += "(no wait ended in a grant)\n";
    } else {
        Table waits({"NAME", "AGENT", "STARTED", "WAITED"});
        for (std::size_t i = 0; i < std::min(rows, s.longest_waits.size()); ++i) {
            const auto& w = s.longest_waits[i];
            waits.add({w.name, w.agent, format_rfc3339_seconds(w.start), ms_text(w.wait_ms)});
        }
        out += waits.render();
    }

    out += "\nContention per agent\n";
    Table agents({"AGENT", "ACQUIRED", "HELD", "REFUSALS", "WAITS", "WAITED", "BREAKS", "BROKEN", "LOST"});
    for (std::size_t i = 0; i < std::min(rows, s.agents.size()); ++i) {
        const auto& a = s.agents[i];
        agents.add({a.agent, to_string(a.acquisitions), ms_text(a.held_ms), to_string(a.refusals), to_string(a.waits),
                    ms_text(a.wait_ms), to_string(a.breaks), to_string(a.broken), to_string(a.lost)});
    }
    out += agents.render() + more_line(s.agents.size(), rows);
    return out;
}

std::string format_summary_json(const AuditSummary& s) {
    JsonWriter out;
    out.begin_object();
    out.key("window").begin_object();
    out.field("start", format_rfc3339(s.window_start)).field("end", format_rfc3339(s.window_end));
    out.field("events", static_cast<std::uint64_t>(s.events));
    out.end_object();
    out.key("totals").begin_object();
    out.field("holds", s.holds).field("open", s.open).field("held_ms", s.held_ms);
    out.field("refusals", s.refusals).field("waits", s.waits).field("waits_granted", s.waits_granted);
    out.field("wait_ms", s.wait_ms).field("breaks", s.breaks).field("lost", s.lost).field("expired", s.expired);
    out.field("freezes", s.freezes);
    out.field("names", static_cast<std::uint64_t>(s.names.size())).field("agents", static_cast<std::uint64_t>(s.agents.size()));
    out.end_object();
    out.key("names").begin_array();
    for (const auto& n : s.names) {
        out.begin_object();
        out.field("name", n.name).field("holds", n.holds).field("open", n.open).field("held_ms", n.held_ms);
        out.field("longest_hold_ms", n.longest_hold_ms).field("refusals", n.refusals).field("waits", n.waits);
        out.field("wait_ms", n.wait_ms).field("breaks", n.breaks).field("lost", n.lost).field("expired", n.expired);
        out.field("freezes", n.freezes);
        out.end_object();
    }
    out.end_array();
    out.key("longest_waits").begin_array();
    for (const auto& w : s.longest_waits) {
        out.begin_object();
        out.field("name", w.name).field("agent", w.agent).field("start", format_rfc3339(w.start)).field("wait_ms", w.wait_ms);
        out.end_object();
    }
    out.end_array();
    out.key("agents").begin_array();
    for (const auto& a : s.agents) {
        out.begin_object();
        out.field("agent", a.agent).field("acquisitions", a.acquisitions).field("held_ms", a.held_ms);
        out.field("refusals", a.refusals).field("waits", a.waits).field("wait_ms", a.wait_ms);
        out.field("breaks", a.breaks).field("broken", a.broken).field("lost", a.lost);
        out.end_object();
    }
    out.end_array();
    out.end_object();
    return out.finish();
}

}  // namespace lokt::client
