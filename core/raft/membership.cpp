#include "core/raft/membership.h"

#include <algorithm>
#include <sstream>

namespace raftbook {

const Member* Membership::find(NodeId id) const {
    for (const Member& m : members)
        if (m.id == id) return &m;
    return nullptr;
}

bool Membership::is_voter(NodeId id) const {
    const Member* m = find(id);
    return m && m->voter;
}

bool Membership::was_removed(NodeId id) const {
    return std::find(removed.begin(), removed.end(), id) != removed.end();
}

std::vector<NodeId> Membership::voters() const {
    std::vector<NodeId> v;
    for (const Member& m : members)
        if (m.voter) v.push_back(m.id);
    return v;
}

std::vector<NodeId> Membership::learners() const {
    std::vector<NodeId> v;
    for (const Member& m : members)
        if (!m.voter) v.push_back(m.id);
    return v;
}

Membership Membership::of_voters(const std::vector<NodeId>& ids) {
    Membership c;
    for (NodeId id : ids) c.members.push_back(Member{id, true, "", ""});
    std::sort(c.members.begin(), c.members.end(), [](const Member& a, const Member& b) { return a.id < b.id; });
    return c;
}

// Text, one line per member and per removed id:
//   RBCONF 1
//   member ID voter|learner PEER HTTP [browser]   ("-" for an empty address)
//   removed ID
std::string Membership::encode() const {
    std::string out = "RBCONF 1\n";
    for (const Member& m : members) {
        out += "member " + std::to_string(m.id) + (m.voter ? " voter " : " learner ") +
               (m.peer.empty() ? "-" : m.peer) + " " + (m.http.empty() ? "-" : m.http) + (m.browser ? " browser" : "") + "\n";
    }
    for (NodeId id : removed) out += "removed " + std::to_string(id) + "\n";
    return out;
}

namespace {
bool parse_id(const std::string& s, NodeId* out) {
    if (s.empty() || s.size() > 19 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return false;
    *out = std::stoull(s);
    return *out != kNoNode;
}
}  // namespace

bool valid_member_address(const std::string& a) {
    if (a.size() > 255) return false;
    for (char c : a)
        if (c <= ' ' || c == 127) return false;
    return true;
}

std::string Membership::decode(const std::string& data, Membership* out) {
    if (data.size() > (1u << 20)) return "configuration too large";
    std::istringstream in(data);
    std::string line;
    if (!std::getline(in, line) || line != "RBCONF 1") return "not a configuration (expected \"RBCONF 1\")";
    Membership c;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string kind, id, role, peer, http, flag, extra;
        words >> kind >> id;
        NodeId n = kNoNode;
        if (!parse_id(id, &n)) return "bad member id in \"" + line.substr(0, 60) + "\"";
        if (kind == "member") {
            if (!(words >> role >> peer >> http) || (role != "voter" && role != "learner") ||
                ((words >> flag) && flag != "browser") || (words >> extra))
                return "bad member line \"" + line.substr(0, 60) + "\"";
            c.members.push_back(Member{n, role == "voter", peer == "-" ? "" : peer, http == "-" ? "" : http,
                                       flag == "browser"});
        } else if (kind == "removed") {
            if (words >> extra) return "bad removed line \"" + line.substr(0, 60) + "\"";
            c.removed.push_back(n);
        } else {
            return "unknown line \"" + line.substr(0, 60) + "\"";
        }
    }
    if (std::string err = c.validate(); !err.empty()) return err;
    *out = std::move(c);
    return "";
}

std::string Membership::validate() const {
    for (size_t i = 0; i < members.size(); ++i) {
        if (members[i].id == kNoNode) return "member id 0";
        if (i > 0 && members[i - 1].id >= members[i].id) return "members not sorted by id, or an id twice";
        if (!valid_member_address(members[i].peer) || !valid_member_address(members[i].http))
            return "member " + std::to_string(members[i].id) + ": address with a space or over 255 bytes";
        if (was_removed(members[i].id)) return "member " + std::to_string(members[i].id) + " is also removed";
    }
    for (size_t i = 1; i < removed.size(); ++i)
        if (removed[i - 1] >= removed[i]) return "removed ids not sorted, or an id twice";
    return "";
}

const char* conf_change_name(ConfChange::Type t) {
    switch (t) {
        case ConfChange::Type::AddLearner: return "add_learner";
        case ConfChange::Type::Promote: return "promote";
        case ConfChange::Type::Remove: return "remove";
    }
    return "?";
}

std::string apply_conf_change(const Membership& from, const ConfChange& cc, Membership* out) {
    const std::string who = "node " + std::to_string(cc.node);
    if (cc.node == kNoNode) return "node id 0 is not allowed";
    Membership c = from;
    switch (cc.type) {
        case ConfChange::Type::AddLearner: {
            if (from.is_member(cc.node)) return who + " is already a member";
            if (from.was_removed(cc.node))
                return who + " was removed from this cluster; ids are never reused: add it under a new id";
            if (!valid_member_address(cc.peer) || !valid_member_address(cc.http)) return "address with a space or over 255 bytes";
            Member m{cc.node, false, cc.peer, cc.http, cc.browser};
            auto at = std::lower_bound(c.members.begin(), c.members.end(), cc.node,
                                       [](const Member& a, NodeId id) { return a.id < id; });
            c.members.insert(at, m);
            break;
        }
        case ConfChange::Type::Promote: {
            const Member* m = from.find(cc.node);
            if (!m) return who + " is not a member (add it as a learner first)";
            if (m->voter) return who + " is already a voter";
            for (Member& x : c.members)
                if (x.id == cc.node) x.voter = true;
            break;
        }
        case ConfChange::Type::Remove: {
            const Member* m = from.find(cc.node);
            if (!m) return who + " is not a member";
            if (m->voter && from.voters().size() == 1) return who + " is the last voter; a cluster needs one";
            c.members.erase(std::remove_if(c.members.begin(), c.members.end(),
                                           [&](const Member& x) { return x.id == cc.node; }),
                            c.members.end());
            c.removed.insert(std::lower_bound(c.removed.begin(), c.removed.end(), cc.node), cc.node);
            break;
        }
    }
    // Browser voters stay fewer than native voters. A closed tab is a voter that never
    // answers again until the leader removes it; were browser voters half or more, tabs
    // closing (or reloading, under fresh ids) could leave no majority able to commit
    // that removal, and the cluster would be stuck for good. Fewer, the native voters
    // alone are a majority.
    size_t browser_voters = 0, native_voters = 0;
    for (const Member& m : c.members)
        if (m.voter) ++(m.browser ? browser_voters : native_voters);
    const Member* m = from.find(cc.node);
    const bool fewer_natives_or_more_browsers = m && ((cc.type == ConfChange::Type::Promote && m->browser) ||
                                                      (cc.type == ConfChange::Type::Remove && m->voter && !m->browser));
    if (fewer_natives_or_more_browsers && browser_voters > 0 && browser_voters >= native_voters)
        return who + ": that would leave " + std::to_string(browser_voters) + " browser voter(s) and " +
               std::to_string(native_voters) +
               " native; browser voters must be fewer than native ones (closed tabs could block every majority): "
               "add a native voter first";
    *out = std::move(c);
    return "";
}

}  // namespace raftbook
