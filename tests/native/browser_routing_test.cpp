// Browser members of a cluster of real `raftbook serve` processes, as the native nodes
// see them (native/node/peer_transport.h: routing to browser members).
//
// A browser node is emulated here by FakeBrowser: a WebSocket client that dials one
// native node's peer port, says Hello under its id, sends JSON text frames as a page
// does, and answers the leader as a learner would (a tiny honest log of terms: enough
// for AppendEntries and heartbeats; it applies nothing). The tests check what a page
// relies on: it joins through its link, /status and `raftbook members` show it as a
// browser and the native node it is reached through, a leader that is not the node it
// dialled still reaches it (relayed, the route learned from its answers), a page that
// reconnects through another native node is found again, and relaying never takes a
// frame from one native node to another except to its addressee.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>

#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

#include "core/codec/codec.h"
#include "tests/native/process_cluster.h"

using namespace raftbook;
using namespace raftbook::test;

namespace {

using WsClient = websocketpp::client<websocketpp::config::asio_client>;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kPing = 1, kPong = 2;  // an echo between two fake browsers (hint_term)

struct Received {
    Frame frame;
    Clock::time_point at;
};

class FakeBrowser {
public:
    FakeBrowser(NodeId id, std::string cluster) : id_(id), cluster_(std::move(cluster)) {
        client_.clear_access_channels(websocketpp::log::alevel::all);
        client_.clear_error_channels(websocketpp::log::elevel::all);
        client_.init_asio();
        client_.start_perpetual();
        client_.set_tcp_pre_init_handler([this](websocketpp::connection_hdl h) {  // as browsers do: no Nagle delay
            websocketpp::lib::error_code ec;
            WsClient::connection_ptr con = client_.get_con_from_hdl(h, ec);
            boost::system::error_code ignored;
            if (!ec) con->get_raw_socket().set_option(boost::asio::ip::tcp::no_delay(true), ignored);
        });
        client_.set_open_handler([this](websocketpp::connection_hdl h) {
            if (!is_current(h)) return;
            send_now(hello());
            std::lock_guard<std::mutex> lock(mu_);
            open_ = true;
        });
        const auto closed = [this](websocketpp::connection_hdl h) {
            if (!is_current(h)) return;
            std::lock_guard<std::mutex> lock(mu_);
            open_ = false;
        };
        client_.set_close_handler(closed);
        client_.set_fail_handler(closed);
        client_.set_message_handler([this](websocketpp::connection_hdl h, WsClient::message_ptr msg) {
            if (is_current(h)) on_message(msg->get_payload(), msg->get_opcode() == websocketpp::frame::opcode::text);
        });
        thread_ = std::thread([this] { client_.run(); });
    }
    ~FakeBrowser() {
        close();
        client_.stop_perpetual();
        client_.get_io_service().post([this] { client_.stop(); });
        thread_.join();
    }

    NodeId id() const { return id_; }

    // Opens a link to a native node's peer address (closing any other first); true
    // once the node's Hello arrived.
    bool connect(const std::string& peer_address) {
        close();
        const size_t before = count([](const Frame& f) { return f.type == MessageType::Hello; });
        client_.get_io_service().post([this, peer_address] {
            websocketpp::lib::error_code ec;
            WsClient::connection_ptr con = client_.get_connection("ws://" + peer_address + "/raft", ec);
            if (ec) return;
            {
                std::lock_guard<std::mutex> lock(mu_);
                hdl_ = con->get_handle();
            }
            client_.connect(con);
        });
        return wait_for([&] { return count([](const Frame& f) { return f.type == MessageType::Hello; }) > before; });
    }
    // Closes the link (a closed tab, a network cut).
    void close() {
        std::unique_lock<std::mutex> lock(mu_);
        if (!open_) return;
        const websocketpp::connection_hdl h = hdl_;
        lock.unlock();
        client_.get_io_service().post([this, h] {
            websocketpp::lib::error_code ignored;
            client_.close(h, websocketpp::close::status::going_away, "page closed", ignored);
        });
        wait_for([this] {
            std::lock_guard<std::mutex> l(mu_);
            return !open_;
        });
    }
    void send(Frame f) {
        client_.get_io_service().post([this, f = std::move(f)]() mutable { send_now(std::move(f)); });
    }
    // A client request up the link, as the page's runtime sends its own (for the node
    // at the other end); the reply, or a reply with error "no reply" after 10 s.
    ClientReply request(ClientRequest r) {
        r.client_id = id_ << 20;
        r.seq = ++seq_;
        Frame f;
        f.type = MessageType::ClientRequest;
        f.request = r;
        send(f);
        ClientReply reply;
        reply.error = "no reply";
        wait_for([&] {
            std::lock_guard<std::mutex> lock(mu_);
            for (const Received& in : received_)
                if (in.frame.type == MessageType::ClientReply && in.frame.reply.seq == r.seq) reply = in.frame.reply;
            return reply.error != "no reply";
        }, 10000ms);
        return reply;
    }

    // How many frames received so far match `pred`.
    size_t count(const std::function<bool(const Frame&)>& pred) const {
        std::lock_guard<std::mutex> lock(mu_);
        return size_t(std::count_if(received_.begin(), received_.end(), [&](const Received& r) { return pred(r.frame); }));
    }
    std::vector<Received> received() const {
        std::lock_guard<std::mutex> lock(mu_);
        return received_;
    }
    static bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5000ms) {
        return wait_until(done, timeout);
    }

private:
    Frame hello() const {
        Frame f;
        f.type = MessageType::Hello;
        f.peer.type = MessageType::Hello;
        f.peer.from = id_;
        return f;
    }
    bool is_current(websocketpp::connection_hdl h) {
        std::lock_guard<std::mutex> lock(mu_);
        return !hdl_.owner_before(h) && !h.owner_before(hdl_);
    }
    // On the client's thread: a page sends JSON text frames.
    void send_now(Frame f) {
        f.cluster = cluster_;
        f.peer.from = f.type == MessageType::ClientRequest ? kNoNode : id_;
        websocketpp::lib::error_code ignored;
        client_.send(hdl_, encode_frame(f, WireFormat::Json), websocketpp::frame::opcode::text, ignored);
    }
    Frame reply_to(const Message& m, MessageType type) const {
        Frame f;
        f.type = type;
        f.peer.type = type;
        f.peer.to = m.from;
        f.peer.term = m.term;
        return f;
    }
    Index last() const { return Index(terms_.size()); }
    Term term_at(Index i) const { return i == 0 ? 0 : terms_[size_t(i - 1)]; }

    // On the client's thread: records the frame and answers as a learner would.
    void on_message(const std::string& bytes, bool text) {
        Frame f;
        std::string error;
        if (!decode_frame(bytes, text ? WireFormat::Json : WireFormat::Cbor, &f, &error)) return;
        {
            std::lock_guard<std::mutex> lock(mu_);
            received_.push_back({f, Clock::now()});
        }
        const Message& m = f.peer;
        if (f.type == MessageType::Append) {
            Frame r = reply_to(m, MessageType::AppendResp);
            if (m.index > last() || term_at(m.index) != m.log_term) {
                r.peer.reject = true;
                r.peer.index = m.index;
                r.peer.hint_index = last();
                r.peer.hint_term = term_at(last());
            } else {
                for (const Entry& e : m.entries) {
                    if (e.index <= last() && term_at(e.index) != e.term) terms_.resize(size_t(e.index - 1));
                    if (e.index == last() + 1) terms_.push_back(e.term);
                }
                r.peer.index = m.index + m.entries.size();
            }
            send_now(r);
        } else if (f.type == MessageType::Heartbeat) {
            Frame r = reply_to(m, MessageType::HeartbeatResp);
            r.peer.context = m.context;
            r.peer.index = last();
            send_now(r);
        } else if (f.type == MessageType::HeartbeatResp && m.hint_term == kPing) {
            Frame r = reply_to(m, MessageType::HeartbeatResp);
            r.peer.context = m.context;
            r.peer.hint_term = kPong;
            send_now(r);
        }
    }

    const NodeId id_;
    const std::string cluster_;
    WsClient client_;
    std::thread thread_;
    mutable std::mutex mu_;
    websocketpp::connection_hdl hdl_;
    bool open_ = false;
    std::vector<Received> received_;
    std::vector<Term> terms_;  // the learner's log: the term of each index from 1 (client thread only)
    std::atomic<uint64_t> seq_{0};
};

// Frames from node `from` of the given type.
std::function<bool(const Frame&)> from_node(NodeId from, MessageType type) {
    return [from, type](const Frame& f) { return f.type == type && f.peer.from == from; };
}

// Member `id` as node `node`'s /status shows it (null when not listed).
nlohmann::json member(const ProcessCluster& c, int node, NodeId id) {
    const nlohmann::json s = c.status(node);
    if (s.is_object())
        for (const nlohmann::json& m : s["members"])
            if (m["id"] == id) return m;
    return nullptr;
}

bool transfer_leader(ProcessCluster& c, int to) {
    const HttpResponse r =
        http_request(c.http_address(to), "POST", "/transfer-leader", nlohmann::json{{"id", to}}.dump());
    return r.status == 200 && c.wait_for_leader() == to;
}

// A 3-node cluster led by node 1, with the id the fake browsers' frames carry.
void start_led_by_1(ProcessCluster& c) {
    c.start_all();
    REQUIRE(c.wait_for_leader(15000ms) != 0);
    REQUIRE(transfer_leader(c, 1));
}

// The leader's /status shows browser `id` caught up to its log (match index = last index).
bool caught_up(const ProcessCluster& c, int leader, NodeId id) {
    const nlohmann::json s = c.status(leader);
    const nlohmann::json m = member(c, leader, id);
    return s.is_object() && m.is_object() && m["match_index"].is_number() &&
           m["match_index"] == s["log_last_index"];
}

}  // namespace

TEST_CASE("A browser joins through its link and is reached through it, then relayed from a new leader",
          "[serve][browser]") {
    ProcessCluster c(3, {"--cluster-id", "raftbook"});
    start_led_by_1(c);
    INFO(c.logs());
    FakeBrowser page(1234, "raftbook");
    // Not a member yet: node 1 takes its Hello all the same, and its request to be added.
    REQUIRE(page.connect(c.peer_address(1)));
    ClientRequest add;
    add.op = "add_learner";
    add.node = page.id();
    add.browser = true;
    const ClientReply added = page.request(add);
    INFO(added.error);
    REQUIRE(added.ok);

    // Node 1 shows it as a browser learner reached through itself, and replicates to it.
    const nlohmann::json m = member(c, 1, page.id());
    REQUIRE(m.is_object());
    CHECK(m["kind"] == "browser");
    CHECK(m["voter"] == false);
    CHECK(m["via"] == 1);
    CHECK(m["connected"] == true);
    CHECK(member(c, 1, 2)["kind"] == "native");
    CHECK_FALSE(member(c, 1, 2).contains("via"));
    CHECK(FakeBrowser::wait_for([&] { return caught_up(c, 1, page.id()); }));
    std::string out;
    REQUIRE(run_raftbook("members --server " + c.http_address(1), &out) == 0);
    INFO(out);
    CHECK(out.find("kind") != std::string::npos);
    // member, role, kind, peer, http, connected, via, match index
    const std::vector<std::string> want = {"1234", "learner", "browser", "-", "-", "yes", "1"};
    bool row = false;
    for (std::stringstream lines(out); std::getline(lines, out);) {
        std::stringstream words(out);
        std::vector<std::string> got;
        for (std::string w; words >> w;) got.push_back(w);
        row = row || (got.size() == want.size() + 1 && std::equal(want.begin(), want.end(), got.begin()));
    }
    CHECK(row);
    out.clear();
    REQUIRE(run_raftbook("members --json --server " + c.http_address(1), &out) == 0);
    const nlohmann::json listed = nlohmann::json::parse(out, nullptr, false);
    REQUIRE(listed.is_object());
    bool json_row = false;
    for (const nlohmann::json& x : listed["members"])
        json_row = json_row || (x["id"] == page.id() && x["kind"] == "browser" && x["via"] == 1);
    CHECK(json_row);

    // Node 3 leads: it has no link to the page, so it floods to nodes 1 and 2; node 1
    // hands its frames to the page, and node 3 learns the route from the page's answers.
    REQUIRE(transfer_leader(c, 3));
    CHECK(FakeBrowser::wait_for([&] { return page.count(from_node(3, MessageType::Heartbeat)) > 0; }));
    CHECK(FakeBrowser::wait_for([&] { return caught_up(c, 3, page.id()); }));
    CHECK(FakeBrowser::wait_for([&] { return member(c, 3, page.id())["via"] == 1; }));
    CHECK(member(c, 3, page.id())["connected"] == false);
    REQUIRE(c.put(2, "after", "transfer").status == 200);
    CHECK(FakeBrowser::wait_for([&] { return caught_up(c, 3, page.id()); }));

    // The link to node 1 closes and the page dials node 2: node 3's learned route (via
    // node 1) goes stale, it floods again, node 2 delivers, and the route is relearned.
    page.close();
    REQUIRE(page.connect(c.peer_address(2)));
    const size_t before = page.count(from_node(3, MessageType::Heartbeat));
    CHECK(FakeBrowser::wait_for([&] { return page.count(from_node(3, MessageType::Heartbeat)) > before; }));
    CHECK(FakeBrowser::wait_for([&] { return member(c, 3, page.id())["via"] == 2; }));
    CHECK(member(c, 2, page.id())["via"] == 2);
    REQUIRE(c.put(1, "after", "reconnect").status == 200);
    CHECK(FakeBrowser::wait_for([&] { return caught_up(c, 3, page.id()); }));
}

TEST_CASE("Only a frame from a browser goes around: a native node relays what a native node sent only to its "
          "addressee", "[serve][browser]") {
    ProcessCluster c(3, {"--cluster-id", "raftbook"});
    start_led_by_1(c);
    INFO(c.logs());
    FakeBrowser a(1234, "raftbook"), b(5678, "raftbook");
    REQUIRE(a.connect(c.peer_address(1)));
    REQUIRE(b.connect(c.peer_address(2)));
    // Added over HTTP this time: a browser member has no addresses.
    for (NodeId id : {a.id(), b.id()}) {
        const HttpResponse r = http_request(c.http_address(3), "POST", "/members",
                                            nlohmann::json{{"id", id}, {"kind", "browser"}}.dump());
        INFO(r.body);
        REQUIRE(r.status == 200);
    }
    REQUIRE(FakeBrowser::wait_for([&] { return member(c, 2, a.id()).is_object() && member(c, 2, b.id()).is_object(); }));
    // Node 9, which is no browser member, connects to node 2 (which has no link to page
    // a) and sends a frame for a: node 2 must drop it. Then page b, at node 2 too, pings
    // a: node 2 sends that around (to node 1 and 3, or over its learned route), and
    // node 1 hands it to a. Over the same links, so had node 2 passed the first frame
    // on, a would have received it first (node 2 handles them in that order: below).
    FakeBrowser native9(9, "raftbook");
    REQUIRE(native9.connect(c.peer_address(2)));
    Frame stray;
    stray.type = MessageType::HeartbeatResp;
    stray.peer.type = MessageType::HeartbeatResp;
    stray.peer.to = a.id();
    stray.peer.context = 99;
    native9.send(stray);
    // Node 2 has handled the stray frame once it has passed on the one sent after it,
    // over the same connection, to b (connected there).
    Frame ping = stray;
    ping.peer.to = b.id();
    ping.peer.context = 1;
    ping.peer.hint_term = kPing;
    native9.send(ping);
    REQUIRE(FakeBrowser::wait_for([&] { return b.count(from_node(9, MessageType::HeartbeatResp)) > 0; }));
    ping.peer.to = a.id();
    b.send(ping);
    REQUIRE(FakeBrowser::wait_for([&] { return a.count(from_node(b.id(), MessageType::HeartbeatResp)) > 0; }));
    CHECK(a.count(from_node(9, MessageType::HeartbeatResp)) == 0);
    // a's answer goes back the same way: two relay hops, browser to browser.
    CHECK(FakeBrowser::wait_for([&] {
        return b.count([&](const Frame& f) { return f.peer.from == a.id() && f.peer.hint_term == kPong; }) > 0;
    }));
}

TEST_CASE("serve --remove-absent-browsers-after takes a duration and --min-voters a count", "[serve][browser]") {
    const std::string flags =
        "serve --id 1 --cluster 1=127.0.0.1:1 --http 127.0.0.1:2 --data /tmp/raftbook-never-created ";
    std::string help, soon, zero;
    CHECK(run_raftbook("serve --help", &help) == 0);
    CHECK(help.find("--remove-absent-browsers-after TIME") != std::string::npos);
    CHECK(help.find("--min-voters N") != std::string::npos);
    CHECK(run_raftbook(flags + "--remove-absent-browsers-after soon", &soon) == 2);
    CHECK(soon.find("--remove-absent-browsers-after must be a duration like 60s") != std::string::npos);
    CHECK(run_raftbook(flags + "--min-voters 0", &zero) == 2);
    CHECK(zero.find("--min-voters") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists("/tmp/raftbook-never-created"));
}

// Not a test of speed (no assertion on it): prints the round trip of a frame between
// two pages at the same native node (page -> node -> page, and back) against two pages
// at different native nodes (one more hop each way), for the README.
TEST_CASE("Relay cost: round trips between two browsers through one native node and through two",
          "[.][bench][browser]") {
    ProcessCluster c(3, {"--cluster-id", "raftbook"});
    start_led_by_1(c);
    FakeBrowser a(1234, "raftbook"), b(5678, "raftbook");
    REQUIRE(a.connect(c.peer_address(1)));
    for (NodeId id : {a.id(), b.id()})
        REQUIRE(http_request(c.http_address(1), "POST", "/members", nlohmann::json{{"id", id}, {"kind", "browser"}}.dump())
                    .status == 200);
    uint64_t next = 0;
    const auto median_rtt_us = [&](int rounds) {
        std::vector<double> rtts;
        for (int i = 0; i < rounds; i++) {
            const uint64_t ctx = ++next;
            Frame ping;
            ping.type = MessageType::HeartbeatResp;
            ping.peer.type = MessageType::HeartbeatResp;
            ping.peer.to = a.id();
            ping.peer.context = ctx;
            ping.peer.hint_term = kPing;
            const auto start = Clock::now();
            b.send(ping);
            const auto pong = [&](const Frame& f) { return f.peer.hint_term == kPong && f.peer.context == ctx; };
            REQUIRE(FakeBrowser::wait_for([&] { return b.count(pong) > 0; }));
            for (const Received& r : b.received())
                if (pong(r.frame)) rtts.push_back(std::chrono::duration<double, std::micro>(r.at - start).count());
            std::this_thread::sleep_for(5ms);
        }
        std::sort(rtts.begin(), rtts.end());
        return rtts[rtts.size() / 2];
    };
    REQUIRE(b.connect(c.peer_address(1)));
    median_rtt_us(20);  // warm up
    const double one = median_rtt_us(200);
    REQUIRE(b.connect(c.peer_address(2)));
    median_rtt_us(20);
    const double two = median_rtt_us(200);
    std::printf("browser-to-browser round trip, median of 200: through one native node %.0f us, through two %.0f us "
                "(one relay hop: +%.0f us each way)\n",
                one, two, (two - one) / 2);
}
