// The key-value API of issue 11 against real nodes: revisions, conditional writes
// (200 / 412), idempotency keys, listing with pagination, the 400s naming each rule,
// and watches as Server-Sent Events (ids, resume with Last-Event-ID, the re-list event,
// the cap on watchers a node serves, and the drop of a watcher that reads too slowly).
#include <catch2/catch.hpp>

#include <memory>

#include "core/kv/kv_store.h"
#include "tests/native/process_cluster.h"

using namespace raftbook;
using namespace raftbook::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// One request with extra header lines ("Name: value\r\n" each) on a fresh connection.
HttpResponse request(const std::string& at, const std::string& method, const std::string& target,
                     const std::string& body = "", const std::string& headers = "") {
    RawSocket s(at);
    if (!s.connected()) return HttpResponse{0, "", "", s.error()};
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers;
    if (method == "PUT" || !body.empty()) req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    s.send_all(req + "\r\n" + body);
    return parse_http_response(s.recv_all());
}

json body_of(const HttpResponse& r) { return json::parse(r.body, nullptr, false); }

// The value of a response header, "" when absent.
std::string header(const HttpResponse& r, const std::string& name) {
    const size_t at = r.headers.find("\r\n" + name + ": ");
    if (at == std::string::npos) return "";
    const size_t start = at + name.size() + 4;
    return r.headers.substr(start, r.headers.find("\r\n", start) - start);
}

// A gauge or counter of GET /metrics, -1 when absent.
double metric(const std::string& at, const std::string& name) {
    std::istringstream in(request(at, "GET", "/metrics").body);
    for (std::string line; std::getline(in, line);)
        if (line.compare(0, name.size() + 1, name + " ") == 0) return std::stod(line.substr(name.size() + 1));
    return -1;
}

uint64_t revision_of(const HttpResponse& r) { return body_of(r).value("revision", uint64_t(0)); }

struct Event {
    std::string id, event;
    json data;
};

// A watch: the connection, its response head, and the events read so far.
class Watch {
public:
    Watch(const std::string& at, const std::string& target, const std::string& headers = "", int receive_buffer = 0)
        : s_(at, 5000ms, receive_buffer) {
        s_.send_all("GET " + target + " HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n");
    }
    // The next event (waiting up to 5 s); an empty one when the stream ends first.
    Event next() {
        for (;;) {
            if (head_.empty()) {
                const size_t end = buf_.find("\r\n\r\n");
                if (end != std::string::npos) {
                    head_ = buf_.substr(0, end);
                    buf_.erase(0, end + 4);
                }
            }
            const size_t end = head_.empty() ? std::string::npos : buf_.find("\n\n");
            if (end != std::string::npos) {
                const std::string block = buf_.substr(0, end);
                buf_.erase(0, end + 2);
                if (block[0] == ':') continue;  // a comment
                Event e;
                std::istringstream lines(block);
                for (std::string line; std::getline(lines, line);) {
                    const std::string field = line.substr(0, line.find(':')), value = line.substr(line.find(':') + 2);
                    if (field == "id") e.id = value;
                    if (field == "event") e.event = value;
                    if (field == "data") e.data = json::parse(value, nullptr, false);
                }
                return e;
            }
            const std::string more = s_.recv_some();
            if (more.empty()) return Event{};
            buf_ += more;
        }
    }
    const std::string& head() const { return head_; }
    bool closed() {
        return s_.recv_some().empty() && buf_.empty();
    }

private:
    RawSocket s_;
    std::string buf_, head_;
};

}  // namespace

TEST_CASE("Writes answer their revision, and conditional writes answer 412 with the current state and change nothing",
          "[serve][kvapi]") {
    ProcessCluster c(3);
    c.start_all();
    const int leader = c.wait_for_leader();
    REQUIRE(leader != 0);
    const int follower = leader % 3 + 1;
    const std::string at = c.http_address(follower);  // every request through a follower

    HttpResponse r = request(at, "PUT", "/kv/lock?prev_revision=0", "owner-a");  // only if nobody holds it
    REQUIRE(r.status == 200);
    const uint64_t rev = revision_of(r);
    CHECK(rev > 0);
    CHECK(header(r, "Raftbook-Revision") == std::to_string(rev));

    r = request(at, "GET", "/kv/lock");
    CHECK(r.status == 200);
    CHECK(r.body == "owner-a");
    CHECK(header(r, "Raftbook-Revision") == std::to_string(rev));

    r = request(at, "PUT", "/kv/lock?prev_revision=0", "owner-b");  // taken
    CHECK(r.status == 412);
    json j = body_of(r);
    CHECK(j["revision"] == rev);
    CHECK(j["value"] == "owner-a");
    CHECK(j["error"].get<std::string>().find("condition failed") != std::string::npos);

    r = request(at, "PUT", "/kv/lock?prev_value=owner-b", "owner-c");
    CHECK(r.status == 412);
    r = request(at, "PUT", "/kv/lock?prev_value=owner%20a", "x");  // spaces and escapes decode
    CHECK(r.status == 412);
    CHECK(request(at, "GET", "/kv/lock").body == "owner-a");  // nothing changed

    r = request(at, "PUT", "/kv/lock?prev_value=owner-a", "owner b");
    REQUIRE(r.status == 200);
    const uint64_t rev2 = revision_of(r);
    CHECK(rev2 > rev);
    CHECK(request(at, "DELETE", "/kv/lock?prev_revision=" + std::to_string(rev)).status == 412);
    r = request(at, "DELETE", "/kv/lock?prev_revision=" + std::to_string(rev2));
    CHECK(r.status == 200);
    CHECK(revision_of(r) > rev2);
    CHECK(request(at, "GET", "/kv/lock").status == 404);
    r = request(at, "DELETE", "/kv/lock?prev_value=owner%20b");  // a value condition needs the key
    CHECK(r.status == 412);
    CHECK(body_of(r)["value"].is_null());
}

TEST_CASE("A write retried with its Idempotency-Key, through another node, returns the first result and applies nothing",
          "[serve][kvapi]") {
    ProcessCluster c(3);
    c.start_all();
    REQUIRE(c.wait_for_leader() != 0);
    const std::string key = "Idempotency-Key: order-17\r\n";
    HttpResponse first = request(c.http_address(1), "PUT", "/kv/balance", "100", key);
    REQUIRE(first.status == 200);
    REQUIRE(request(c.http_address(2), "PUT", "/kv/balance", "90").status == 200);
    HttpResponse retry = request(c.http_address(3), "PUT", "/kv/balance", "100", key);
    CHECK(retry.status == 200);
    CHECK(revision_of(retry) == revision_of(first));
    CHECK(request(c.http_address(1), "GET", "/kv/balance").body == "90");
    // The first result of a failed condition is what its retries get, too.
    HttpResponse failed = request(c.http_address(1), "PUT", "/kv/balance?prev_revision=0", "1", "Idempotency-Key: k2\r\n");
    CHECK(failed.status == 412);
    REQUIRE(request(c.http_address(1), "DELETE", "/kv/balance").status == 200);
    CHECK(request(c.http_address(2), "PUT", "/kv/balance?prev_revision=0", "1", "Idempotency-Key: k2\r\n").status == 412);
    CHECK(request(c.http_address(1), "GET", "/kv/balance").status == 404);
}

TEST_CASE("GET /kv/?prefix= lists keys in order, a page at a time, linearizably", "[serve][kvapi]") {
    ProcessCluster c(3);
    c.start_all();
    const int leader = c.wait_for_leader();
    REQUIRE(leader != 0);
    const std::string at = c.http_address(leader % 3 + 1);
    for (const char* k : {"svc/c", "svc/a", "svc/b", "other", "svc/d"}) REQUIRE(request(at, "PUT", std::string("/kv/") + k, std::string("v ") + k).status == 200);

    HttpResponse r = request(at, "GET", "/kv/?prefix=svc/&limit=3");
    REQUIRE(r.status == 200);
    json j = body_of(r);
    REQUIRE(j["items"].size() == 3);
    CHECK(j["items"][0]["key"] == "svc/a");
    CHECK(j["items"][0]["value"] == "v svc/a");
    CHECK(j["items"][0]["revision"].get<uint64_t>() > 0);
    CHECK(j["items"][2]["key"] == "svc/c");
    CHECK(j["more"] == true);
    r = request(at, "GET", "/kv/?prefix=svc/&limit=3&after=svc/c");
    j = body_of(r);
    REQUIRE(j["items"].size() == 1);
    CHECK(j["items"][0]["key"] == "svc/d");
    CHECK(j["more"] == false);
    // Linearizable: a write acknowledged by one node is in the next listing on another.
    REQUIRE(request(c.http_address(leader), "PUT", "/kv/svc/e", "new").status == 200);
    j = body_of(request(at, "GET", "/kv/?prefix=svc/e"));
    REQUIRE(j["items"].size() == 1);
    CHECK(j["revision"].get<uint64_t>() >= j["items"][0]["revision"].get<uint64_t>());
    CHECK(body_of(request(at, "GET", "/kv/"))["items"].size() == 6);  // no prefix: every key
}

TEST_CASE("A bad revision, prefix, limit, condition or idempotency key is a 400 naming the rule", "[serve][kvapi]") {
    ProcessCluster c(1);
    c.start(1);
    REQUIRE(c.wait_for_leader() == 1);
    const std::string at = c.http_address(1);
    const auto error_of = [&](const std::string& method, const std::string& target, const std::string& headers = "") {
        const HttpResponse r = request(at, method, target, method == "PUT" ? "v" : "", headers);
        CHECK(r.status == 400);
        return body_of(r).value("error", std::string("<no error>"));
    };
    CHECK(error_of("PUT", "/kv/k?prev_revision=abc").find("prev_revision must be a non-negative integer") == 0);
    CHECK(error_of("PUT", "/kv/k?prev_revision=-1").find("prev_revision must be a non-negative integer") == 0);
    CHECK(error_of("DELETE", "/kv/k?prev_revision=99999999999999999999").find("prev_revision must be") == 0);
    CHECK(error_of("PUT", "/kv/k?prev_revision=1&prev_value=v") == "give prev_value or prev_revision, not both");
    CHECK(error_of("PUT", "/kv/k?prev_revison=1").find("unknown query parameter 'prev_revison'") == 0);
    CHECK(error_of("GET", "/kv/?prefix=" + std::string(kMaxKeyBytes + 1, 'p')) ==
          "prefix is 1025 bytes, over the key limit of 1024");
    CHECK(error_of("GET", "/kv/?limit=0") == "limit must be from 1 to 1000, got 0");
    CHECK(error_of("GET", "/kv/?limit=1001") == "limit must be from 1 to 1000, got 1001");
    CHECK(error_of("GET", "/kv/?limit=ten") == "limit must be from 1 to 1000, got 'ten'");
    CHECK(error_of("PUT", "/kv/k", "Idempotency-Key: " + std::string(kMaxIdempotencyKeyBytes + 1, 'i') + "\r\n") ==
          "the idempotency key is 129 bytes; the limit is 128");
    CHECK(error_of("PUT", "/kv/k", "Idempotency-Key: a b\r\n") ==
          "the idempotency key may not contain spaces or control characters");
    CHECK(error_of("GET", "/watch/k?from_revision=x").find("from_revision must be a non-negative integer") == 0);
    CHECK(error_of("GET", "/watch/k", "Last-Event-ID: yesterday\r\n").find("Last-Event-ID must be a revision") == 0);
    CHECK(error_of("GET", "/watch/?prefix=" + std::string(kMaxKeyBytes + 1, 'p')) ==
          "prefix is 1025 bytes, over the key limit of 1024");
    CHECK(request(at, "PUT", "/kv/k?prev_revision=0", "v").status == 200);  // and the node still serves
}

TEST_CASE("A watch streams each change as an SSE event with the revision as its id, and resumes with Last-Event-ID",
          "[serve][kvapi][watch]") {
    ProcessCluster c(3);
    c.start_all();
    const int leader = c.wait_for_leader();
    REQUIRE(leader != 0);
    const int follower = leader % 3 + 1;
    Watch w(c.http_address(follower), "/watch/?prefix=cfg/&from_revision=1");  // on a follower
    const HttpResponse a = request(c.http_address(leader), "PUT", "/kv/cfg/a", "1");
    REQUIRE(request(c.http_address(leader), "PUT", "/kv/elsewhere", "x").status == 200);
    const HttpResponse b = request(c.http_address(leader), "PUT", "/kv/cfg/b", "two words");
    const HttpResponse d = request(c.http_address(leader), "DELETE", "/kv/cfg/a");
    Event e1 = w.next(), e2 = w.next(), e3 = w.next();
    CHECK(w.head().find("HTTP/1.1 200") == 0);
    CHECK(w.head().find("Content-Type: text/event-stream") != std::string::npos);
    CHECK(e1.id == std::to_string(revision_of(a)));
    CHECK(e1.data["key"] == "cfg/a");
    CHECK(e1.data["value"] == "1");
    CHECK(e1.data["revision"] == revision_of(a));
    CHECK(e2.id == std::to_string(revision_of(b)));
    CHECK(e2.data["value"] == "two words");
    CHECK(e3.id == std::to_string(revision_of(d)));
    CHECK(e3.data["deleted"] == true);
    CHECK_FALSE(e3.data.contains("value"));

    // A browser's EventSource reconnects with the last id it saw: the stream goes on after it.
    Watch resumed(c.http_address(leader), "/watch/?prefix=cfg/", "Last-Event-ID: " + e1.id + "\r\n");
    CHECK(resumed.next().id == e2.id);
    CHECK(resumed.next().id == e3.id);
    // One key only, from now on by default.
    Watch one(c.http_address(follower), "/watch/cfg/b");
    REQUIRE(request(c.http_address(leader), "PUT", "/kv/cfg/c", "no").status == 200);
    const HttpResponse b2 = request(c.http_address(leader), "PUT", "/kv/cfg/b", "3");
    const Event only = one.next();
    CHECK(only.id == std::to_string(revision_of(b2)));
    CHECK(only.data["value"] == "3");
}

TEST_CASE("A watch from a revision the node no longer holds is told to re-list", "[serve][kvapi][watch]") {
    ProcessCluster c(1, {"--watch-history", "3"});
    c.start(1);
    REQUIRE(c.wait_for_leader() == 1);
    const std::string at = c.http_address(1);
    std::vector<uint64_t> revs;
    for (int i = 0; i < 5; i++) revs.push_back(revision_of(request(at, "PUT", "/kv/k", std::to_string(i))));
    {
        Watch old(at, "/watch/k?from_revision=" + std::to_string(revs[1]));  // the node keeps the last 3 changes
        const Event e = old.next();
        CHECK(e.event == "compacted");
        CHECK(e.data["error"].get<std::string>().find("re-list") != std::string::npos);
        CHECK(old.next().event.empty());  // and the stream ends
    }
    Watch kept(at, "/watch/k?from_revision=" + std::to_string(revs[2]));
    const Event e = kept.next();
    CHECK(e.event.empty());
    CHECK(e.id == std::to_string(revs[2]));
}

TEST_CASE("A watcher on a node cut off from the cluster is told its stream is stale", "[serve][kvapi][watch]") {
    ProcessCluster c(3);
    c.start_all();
    const int leader = c.wait_for_leader();
    REQUIRE(leader != 0);
    const int watched = leader % 3 + 1;
    Watch w(c.http_address(watched), "/watch/?prefix=");
    for (int id = 1; id <= 3; id++)
        if (id != watched) c.kill9(id);
    const Event e = w.next();  // within kStaleAfter of losing its leader, and the election timeout
    CHECK(e.event == "stale");
    CHECK(e.data["error"].get<std::string>().find("no leader") != std::string::npos);
}

TEST_CASE("A node serves at most 1000 watchers: one more is answered 503 naming the limit", "[serve][kvapi][watch]") {
    ProcessCluster c(1);
    c.start(1);
    REQUIRE(c.wait_for_leader() == 1);
    const std::string at = c.http_address(1);
    std::vector<std::unique_ptr<Watch>> watchers;
    for (int i = 0; i < 1000; i++) watchers.push_back(std::make_unique<Watch>(at, "/watch/k"));
    REQUIRE(wait_until([&] { return metric(at, "raftbook_watchers") == 1000; }, 10s));

    const HttpResponse refused = request(at, "GET", "/watch/k");
    CHECK(refused.status == 503);
    CHECK(header(refused, "Retry-After") == "1");
    CHECK(body_of(refused)["error"] ==
          "this node has 1000 watchers, its limit; watch through another node or retry later");
    CHECK(metric(at, "raftbook_watchers") == 1000);

    // One leaves: once the node has noticed, there is room for one more.
    watchers.pop_back();
    REQUIRE(wait_until([&] { return metric(at, "raftbook_watchers") == 999; }, 10s));
    Watch another(at, "/watch/k");
    const HttpResponse w = request(at, "PUT", "/kv/k", "v");
    const Event e = another.next();
    CHECK(another.head().find("HTTP/1.1 200") == 0);
    CHECK(e.id == std::to_string(revision_of(w)));
}

TEST_CASE("serve --max-watchers sets the watcher limit", "[serve][kvapi][watch]") {
    ProcessCluster c(1, {"--max-watchers", "3"});
    c.start(1);
    REQUIRE(c.wait_for_leader() == 1);
    const std::string at = c.http_address(1);
    std::vector<std::unique_ptr<Watch>> watchers;
    for (int i = 0; i < 3; i++) watchers.push_back(std::make_unique<Watch>(at, "/watch/k"));
    REQUIRE(wait_until([&] { return metric(at, "raftbook_watchers") == 3; }, 10s));
    const HttpResponse refused = request(at, "GET", "/watch/k");
    CHECK(refused.status == 503);
    CHECK(body_of(refused)["error"] == "this node has 3 watchers, its limit; watch through another node or retry later");
}

TEST_CASE("A watcher that reads too slowly is dropped past 1 MiB queued, told where its stream stopped",
          "[serve][kvapi][watch]") {
    ProcessCluster c(1);
    c.start(1);
    REQUIRE(c.wait_for_leader() == 1);
    const std::string at = c.http_address(1);
    Watch slow(at, "/watch/?prefix=big/", "", 4096);  // reads nothing until the writes are done
    REQUIRE(wait_until([&] { return metric(at, "raftbook_watchers") == 1; }, 10s));
    // Writes until the node drops it: 1 MiB queued, and what the sockets' buffers hold
    // (at most some MiB), so a node that never drops it is caught at 24 MiB.
    const std::string value(60 * 1024, 'x');
    std::vector<uint64_t> revs;
    while (metric(at, "raftbook_watchers") == 1 && revs.size() < 400) {
        const HttpResponse r = request(at, "PUT", "/kv/big/" + std::to_string(revs.size()), value);
        REQUIRE(r.status == 200);
        revs.push_back(revision_of(r));
    }
    CHECK(metric(at, "raftbook_watchers") == 0);
    INFO("writes: " << revs.size());

    // Every change up to the drop, in order, then the event saying where it stopped, then the end.
    size_t seen = 0;
    Event e = slow.next();
    for (; e.event.empty() && !e.id.empty(); e = slow.next()) {
        REQUIRE(seen < revs.size());
        CHECK(e.id == std::to_string(revs[seen]));
        CHECK(e.data["value"] == value);
        seen++;
    }
    CHECK(seen > 0);
    CHECK(seen < revs.size());
    REQUIRE(e.event == "compacted");
    const uint64_t last = revs[seen - 1];
    CHECK(e.data["revision"] == last);
    const std::string why = e.data["error"];
    CHECK(why.find("fell more than 1048576 bytes behind") != std::string::npos);
    CHECK(why.find("watch again from revision " + std::to_string(last + 1)) != std::string::npos);
    CHECK(slow.next().event.empty());
    CHECK(slow.closed());

    // And it may resume there: the node still holds the changes it missed.
    Watch resumed(at, "/watch/?prefix=big/", "Last-Event-ID: " + std::to_string(last) + "\r\n");
    CHECK(resumed.next().id == std::to_string(revs[seen]));
}
