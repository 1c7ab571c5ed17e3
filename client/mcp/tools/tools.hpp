// The factories of the tools `lokt mcp` offers, one per file in this folder;
// tool_registry.cpp lists them in order.
#pragma once

#include <memory>

#include "client/mcp/tool.hpp"

namespace lokt::client::mcp {

std::unique_ptr<Tool> make_acquire_tool();
std::unique_ptr<Tool> make_release_tool();
std::unique_ptr<Tool> make_renew_tool();
std::unique_ptr<Tool> make_status_tool();
std::unique_ptr<Tool> make_why_tool();
std::unique_ptr<Tool> make_reserve_tool();
std::unique_ptr<Tool> make_unreserve_tool();
std::unique_ptr<Tool> make_check_paths_tool();

}  // namespace lokt::client::mcp
