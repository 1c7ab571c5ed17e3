// The check_paths tool: "may I write these files?", answered for this
// session's owner before an edit, with the reservations in the way (and so
// their holders) when not. It reads the reservation table and changes nothing.
#include <filesystem>

#include "client/mcp/tools/lock_shapes.hpp"
#include "client/mcp/tools/reservation_shapes.hpp"
#include "client/mcp/tools/tools.hpp"
#include "common/repo_path.hpp"

namespace lokt::client::mcp {
namespace {

namespace fs = std::filesystem;

// The top of the work tree the server runs in (the nearest directory at or
// above it holding .git, as repository paths count), else that directory.
fs::path work_tree_top(const fs::path& cwd) {
    std::error_code ec;
    for (fs::path dir = cwd; !dir.empty(); dir = dir.parent_path()) {
        if (fs::exists(dir / ".git", ec)) return dir;
        if (dir == dir.root_path()) break;
    }
    return cwd;
}

class CheckPathsTool final : public Tool {
public:
    CheckPathsTool() {
        m_output = std::string(R"js({"type":"object","properties":{
"allowed":{"type":"boolean","description":"true when this session may write every path"},
"owner":{"type":"string","description":"whom the answer is for (LOKT_OWNER)"},
"paths":{"type":"array","items":{"type":"object","properties":{"given":{"type":"string"},
"path":{"type":["string","null"],"description":"the path relative to the top of the work tree (null: outside it)"},
"allowed":{"type":"boolean"},"blockers":{"type":"array","items":)js") +
                   k_reservation_schema + R"js(}},"required":["given","path","allowed","blockers"]}},
"message":{"type":"string"}},
"required":["allowed","owner","paths","message"]})js";
    }

    std::string_view name() const override { return "check_paths"; }
    std::string_view title() const override { return "May I write these paths?"; }
    std::string_view description() const override {
        return "Before editing files, ask whether another agent has reserved them. Returns allowed=false with the "
               "reservations in the way (their owner, glob and expiry) for each path that is reserved by someone else; "
               "do not edit those. Cheap (well under a millisecond of work): call it before every edit.";
    }
    std::string_view input_schema() const override {
        return R"js({"type":"object","properties":{"paths":{"anyOf":[{"type":"array","items":{"type":"string","minLength":1},"minItems":1,"maxItems":256},
{"type":"string","minLength":1}],"description":"Files to check: absolute, or relative to the top of the work tree (\"src/auth/login.c\")"}},
"required":["paths"],"additionalProperties":false})js";
    }
    std::string_view output_schema() const override { return m_output; }
    bool read_only() const override { return true; }

    ToolResult call(const ToolArgs& args, ToolContext& context) override {
        if (auto ok = args.only({"paths"}); !ok) return ToolResult::error(ok.error().message);
        auto given = args.string_list("paths", k_max_reservation_items);
        if (!given) return ToolResult::error(given.error().message);
        if (!*given) return ToolResult::error("\"paths\" is required");
        std::error_code ec;
        const fs::path cwd = fs::current_path(ec);
        if (ec) return ToolResult::error("cannot determine the server's current directory");
        const fs::path top = work_tree_top(cwd);
        std::vector<std::string> repository_paths;
        std::vector<std::optional<std::size_t>> index;  // per given path: its check, if inside the work tree
        for (const auto& word : **given) {
            if (word.empty()) return ToolResult::error("\"paths\": an empty path");
            if (word.find('\0') != std::string::npos) return ToolResult::error("\"paths\": a path with a NUL byte");
            const fs::path file = fs::path(word).is_absolute() ? fs::path(word) : top / word;
            if (auto path = repository_path_of(file, cwd)) {
                index.emplace_back(repository_paths.size());
                repository_paths.push_back(*path);
            } else {
                index.emplace_back();
            }
        }
        SessionReservations& reservations = context.reservations;
        auto checks = reservations.check(repository_paths);
        if (!checks) return ToolResult::error(checks.error().message);
        const WallTime now = wall_now();
        bool allowed = true;
        std::string first_refusal;
        JsonWriter out = JsonWriter::compact();
        out.begin_object();
        std::size_t refused = 0;
        for (const auto& check : *checks) {
            if (check.allowed()) continue;
            allowed = false;
            if (refused++ == 0) {
                const Reservation& blocker = check.blockers.front();
                first_refusal = check.path + " is reserved by " + blocker.holder.owner + ": " +
                                describe_reservation(blocker, now) + ". Do not edit it: work on something else, or wait";
            }
        }
        out.field("allowed", allowed);
        out.field("owner", reservations.holder().owner);
        out.key("paths").begin_array();
        for (std::size_t i = 0; i < given->value().size(); ++i) {
            const PathCheck* check = index[i] ? &(*checks)[*index[i]] : nullptr;
            out.begin_object();
            out.field("given", (**given)[i]);
            out.key("path");
            if (check != nullptr)
                out.value(check->path);
            else
                out.null();
            out.field("allowed", check == nullptr || check->allowed());
            out.key("blockers").begin_array();
            if (check != nullptr) {
                for (const auto& blocker : check->blockers) write_session_reservation(out, blocker, reservations);
            }
            out.end_array();
            out.end_object();
        }
        out.end_array();
        if (allowed) {
            out.field("message", given->value().size() == 1
                                     ? "the path may be written"
                                     : "all " + std::to_string(given->value().size()) + " paths may be written");
        } else {
            out.field("message", first_refusal + (refused > 1 ? " (" + std::to_string(refused - 1) + " more path" +
                                                                    (refused > 2 ? "s" : "") + " reserved too)"
                                                              : std::string()));
        }
        out.end_object();
        return ToolResult::success(out.finish());
    }

private:
    std::string m_output;
};

}  // namespace

std::unique_ptr<Tool> make_check_paths_tool() { return std::make_unique<CheckPathsTool>(); }

}  // namespace lokt::client::mcp
