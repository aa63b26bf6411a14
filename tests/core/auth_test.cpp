// Access control's primitives (core/auth/auth.h) against their standards' published
// vectors: SHA-256 (FIPS 180-4, NIST's examples, and lengths either side of where the
// padding needs a second block), HMAC-SHA256 (RFC 4231), and the peer proof: a proof
// admits one node on one connection and nothing else.
#include <catch2/catch.hpp>

#include <string>

#include "core/auth/auth.h"

using namespace raftbook;

namespace {

std::string sha256_hex(const std::string& data) { return to_hex(sha256(data)); }
std::string hmac_hex(const std::string& key, const std::string& data) { return to_hex(hmac_sha256(key, data)); }

}  // namespace

TEST_CASE("SHA-256 gives the FIPS 180-4 example digests", "[auth]") {
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(sha256_hex(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("SHA-256 pads right on either side of the block boundary", "[auth]") {
    // 55 bytes leave room for the 0x80 byte and the 8-byte length in one block; 56 do
    // not, so they need a second; 64 fill a block and the padding is a block of its own.
    CHECK(sha256_hex(std::string(55, 'a')) == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    CHECK(sha256_hex(std::string(56, 'a')) == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    CHECK(sha256_hex(std::string(63, 'a')) == "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34");
    CHECK(sha256_hex(std::string(64, 'a')) == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
    // The same boundary one block later (a full block hashed before the tail).
    CHECK(sha256_hex(std::string(119, 'a')) == "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb");
    CHECK(sha256_hex(std::string(120, 'a')) == "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c");
}

TEST_CASE("HMAC-SHA256 gives RFC 4231's test case results", "[auth]") {
    SECTION("1: a 20-byte key") {
        CHECK(hmac_hex(std::string(20, '\x0b'), "Hi There") ==
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    }
    SECTION("2: a key shorter than the output") {
        CHECK(hmac_hex("Jefe", "what do ya want for nothing?") ==
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
    SECTION("3: 50 bytes of 0xdd under 20 bytes of 0xaa") {
        CHECK(hmac_hex(std::string(20, '\xaa'), std::string(50, '\xdd')) ==
              "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    }
    SECTION("4: a 25-byte key 0x01..0x19") {
        std::string key;
        for (char b = 1; b <= 25; b++) key.push_back(b);
        CHECK(hmac_hex(key, std::string(50, '\xcd')) ==
              "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    }
    SECTION("6: a key longer than a block is hashed first") {
        CHECK(hmac_hex(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First") ==
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }
    SECTION("7: a long key and data longer than a block") {
        CHECK(hmac_hex(std::string(131, '\xaa'),
                       "This is a test using a larger than block-size key and a larger than block-size data. The key "
                       "needs to be hashed before being used by the HMAC algorithm.") ==
              "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
    }
}

TEST_CASE("A peer proof is HMAC-SHA256 of the nonce and the sender's id under the token", "[auth]") {
    const std::string nonce = auth_nonce(1, 2);
    CHECK(nonce == "00000000000000010000000000000002");
    CHECK(auth_nonce(0xfedcba9876543210ull, 0x0123456789abcdefull) == "fedcba98765432100123456789abcdef");
    // Computed independently: HMAC-SHA256("sesame", "raftbook-auth-v1\n" + nonce + "\n4").
    CHECK(auth_proof("sesame", nonce, 4) == "ebcaa51e1c8fdc8a3849992e67d1d868ee90c29f6379c7208b27af51316f8127");
}

TEST_CASE("A proof admits one node on one connection, under one token", "[auth]") {
    const std::string nonce = auth_nonce(0x1111, 0x2222);
    const std::string proof = auth_proof("sesame", nonce, 4);
    CHECK(auth_proof_ok("sesame", nonce, 4, proof));
    SECTION("another connection's nonce") { CHECK_FALSE(auth_proof_ok("sesame", auth_nonce(0x1111, 0x2223), 4, proof)); }
    SECTION("another node's id") { CHECK_FALSE(auth_proof_ok("sesame", nonce, 5, proof)); }
    SECTION("another token") { CHECK_FALSE(auth_proof_ok("sesamE", nonce, 4, proof)); }
    SECTION("a proof of the wrong length") {
        CHECK_FALSE(auth_proof_ok("sesame", nonce, 4, proof.substr(0, 63)));
        CHECK_FALSE(auth_proof_ok("sesame", nonce, 4, proof + "0"));
        CHECK_FALSE(auth_proof_ok("sesame", nonce, 4, ""));
    }
    SECTION("one character changed") {
        std::string bad = proof;
        bad[63] = bad[63] == '0' ? '1' : '0';
        CHECK_FALSE(auth_proof_ok("sesame", nonce, 4, bad));
    }
}
