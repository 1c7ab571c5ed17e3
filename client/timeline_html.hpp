// `lokt audit --timeline FILE`: an incident timeline as one self-contained HTML
// page. The analysis goes in as a single JSON block (escaped so that nothing
// from the log can end the block or the page), a small inline script draws it
// as SVG (or on a canvas when a window has too many holds for one element
// each), and the summary tables are plain HTML. No network, no external files.
#pragma once

#include <string>

#include "client/audit_analysis.hpp"

namespace lokt::client {

struct TimelinePage {
    const AuditAnalysis& analysis;
    const AuditSummary& summary;
    std::string filter;  // how the window was chosen, shown under the title ("--since 8h --name build")
};

std::string render_timeline_html(const TimelinePage& page);

// A JSON string literal that is also safe inside an HTML <script> element:
// '<', '>', '&' and U+2028/U+2029 are written as \u escapes (exposed for tests).
void append_script_safe_json_string(std::string& out, std::string_view text);
// Text for HTML content or a quoted attribute value (exposed for tests).
std::string html_escape(std::string_view text);

}  // namespace lokt::client
