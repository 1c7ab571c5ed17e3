// See reservation_views.hpp.
#include "client/reservation_views.hpp"

#include "common/hold_state.hpp"

namespace lokt::client {

void write_reservation_fields(JsonWriter& out, const Reservation& r) {
    const LockRecord& h = r.holder;
    out.field("glob", r.glob.text());
    out.field("mode", to_string(r.mode));
    out.field("id", h.lock_id);
    out.field("owner", h.owner);
    out.field("host", h.host);
    out.field("pid", h.pid);
    out.field("agent_id", h.agent_id);
    out.field("acquired_ts", format_rfc3339(h.acquired));
    out.field("ttl_sec", h.ttl_sec);
    out.key("expires_at");
    if (auto expiry = h.expiry())
        out.value(format_rfc3339(*expiry));
    else
        out.null();
    out.field("bound_to", h.bound_to ? to_string(*h.bound_to) : std::string_view("unknown"));
}

void write_reservation(JsonWriter& out, const Reservation& r) {
    out.begin_object();
    write_reservation_fields(out, r);
    out.end_object();
}

std::string reservation_text(const Reservation& r, WallTime now) {
    std::string text = describe_reservation(r, now);
    if (auto expiry = r.holder.expiry()) {
        text += ", until " + format_rfc3339_seconds(*expiry);
    } else {
        text += ", while pid " + std::to_string(r.holder.pid) + " lives";
    }
    return text;
}

Result<std::unique_ptr<ReservationBook>> open_reservations(CliContext& cli, bool read_only) {
    LOKT_TRY(validate_identity(cli.identity()));
    LOKT_TRY_LET(root, cli.root());
    return open_file_reservation_book(root->path, cli.identity(), read_only);
}

}  // namespace lokt::client
