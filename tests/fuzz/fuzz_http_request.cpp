// libFuzzer target: the client HTTP API on arbitrary bytes.
//
// Whatever a client sends to a node's --http port, the node must answer with a sane
// status or wait for more bytes, and pass on to the cluster only requests it checked.
// Each run hands the input to HttpServer::answer(), which reads it with a connection's
// parser and limits and routes it as a connection would, to a stand-in for the node
// that answers at once. Broken properties abort:
//   - the status is one the API documents (200, 204, 400, 404, 405, 409, 412, 413, 431, 503), and
//     every error body is a JSON object with an "error" string;
//   - a request reaches the node only with a valid key (check_key, UTF-8), a known
//     operation and a value within the size limit;
//   - a static file is served only from inside the web directory.
// The web directory is a temp dir holding index.html, with a secret file beside it
// (outside) that no path may reach.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "core/codec/codec.h"
#include "core/runtime/node_runtime.h"
#include "native/node/http_server.h"

namespace fs = std::filesystem;
using namespace raftbook;

namespace {

const char kSecret[] = "the secret outside the web directory";

void check(bool ok, const char* what, const std::string& detail = "") {
    if (ok) return;
    std::fprintf(stderr, "fuzz_http_request: %s %s\n", what, detail.c_str());
    std::abort();
}

// The node behind the API: checks what the HTTP layer lets through, answers at once.
class FakeNode : public ClientApi {
public:
    void submit(ClientRequest request, std::function<void(const ClientReply&)> done) override {
        check(check_request(request).empty(), "a request breaking a rule reached the node:", check_request(request));
        check(is_utf8(request.key) && is_utf8(request.prev_value) && is_utf8(request.after) &&
                  is_utf8(request.idempotency_key),
              "a string that is not UTF-8 reached the node");
        check(request.value.size() <= kMaxValueBytes && is_utf8(request.value), "a bad value reached the node");
        check(request.op == "put" || request.value.empty(), "a request other than put carried a value");
        ClientReply reply;
        reply.ok = request.key.size() % 3 != 0;  // some requests fail as if no leader answered
        reply.found = request.key.size() % 2 == 0;
        reply.condition_failed = !request.condition.empty() && request.key.size() % 5 == 0;
        reply.value = "v";
        // Failures as if no leader answered, or (a membership change) the leader refused it for good.
        reply.error = reply.ok ? "" : request.key.size() % 2 == 0 ? "no leader" : "node 4 is already a member";
        done(reply);
    }
    nlohmann::json status() const override { return {{"id", 1}, {"role", "leader"}}; }
    std::string metrics_text() const override { return "raftbook_up 1\n"; }
};

struct Fixture {
    Fixture() {
        const char* tmp = std::getenv("TMPDIR");
        std::string root = std::string(tmp && *tmp ? tmp : "/tmp") + "/raftbook-fuzz-http-XXXXXX";
        check(::mkdtemp(root.data()) != nullptr, "cannot create a temp dir");
        root_ = root;
        fs::create_directory(root_ + "/web");
        std::ofstream(root_ + "/web/index.html") << "<!doctype html><title>index</title>";
        std::ofstream(root_ + "/secret.txt") << kSecret;
        server = std::make_unique<HttpServer>(ioc, &node, &metrics, root_ + "/web");
    }
    ~Fixture() {
        server.reset();
        fs::remove_all(root_);
    }
    boost::asio::io_context ioc;
    FakeNode node;
    Metrics metrics;
    std::unique_ptr<HttpServer> server;

private:
    std::string root_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Fixture fixture;
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    int answers = 0;
    fixture.server->answer(bytes, [&](int status, const std::string& body) {
        answers++;
        static const int kDocumented[] = {200, 204, 400, 404, 405, 409, 412, 413, 431, 503};
        check(std::find(std::begin(kDocumented), std::end(kDocumented), status) != std::end(kDocumented),
              "undocumented status", std::to_string(status));
        check(body.find(kSecret) == std::string::npos, "a file outside the web directory was served");
        if (status >= 400) {
            const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
            check(j.is_object() && j.contains("error") && j["error"].is_string(), "an error body is not {\"error\": ...}:",
                  body.substr(0, 200));
        }
    });
    check(answers <= 1, "answered one request twice");
    return 0;
}
