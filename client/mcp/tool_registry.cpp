// The tools `lokt mcp` offers, in the order tools/list gives them. A new tool
// is a file under tools/ and one line here.
#include "client/mcp/tool.hpp"
#include "client/mcp/tools/tools.hpp"

namespace lokt::client::mcp {

std::vector<std::unique_ptr<Tool>> make_tools() {
    std::vector<std::unique_ptr<Tool>> tools;
    tools.push_back(make_acquire_tool());
    tools.push_back(make_release_tool());
    tools.push_back(make_renew_tool());
    tools.push_back(make_status_tool());
    tools.push_back(make_why_tool());
    tools.push_back(make_reserve_tool());
    tools.push_back(make_unreserve_tool());
    tools.push_back(make_check_paths_tool());
    return tools;
}

}  // namespace lokt::client::mcp
