#include "nats_secrets.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace mq::test {
namespace {

// Run by /bin/sh in the directory: each key and certificate in one step.
constexpr const char* kScript = R"(set -e
k() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
ca() { k "$1.key"; openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "/CN=$1"; }
leaf() { k "$1.key"; openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$2";
         printf "$3" > "$1.ext";
         openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -set_serial "$4" -out "$1.pem" -days 2 -extfile "$1.ext"; }
ca ca
ca other-ca
leaf server localhost 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' 1
leaf elsewhere nats.example.com 'subjectAltName=DNS:nats.example.com\nextendedKeyUsage=serverAuth\n' 3
leaf client mq-bridge 'extendedKeyUsage=clientAuth\n' 2
chmod 600 client.key server.key elsewhere.key
)";

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

std::string Encode(std::vector<uint8_t> raw) {
  uint16_t crc = 0;  // CRC-16/XMODEM
  for (uint8_t b : raw) {
    crc ^= static_cast<uint16_t>(b << 8);
    for (int i = 0; i < 8; ++i) crc = static_cast<uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
  }
  raw.push_back(static_cast<uint8_t>(crc & 0xff));
  raw.push_back(static_cast<uint8_t>(crc >> 8));
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : raw) {
    acc = (acc << 8) | b;
    for (bits += 8; bits >= 5;) out.push_back(kAlphabet[(acc >> (bits -= 5)) & 31]);
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (5 - bits)) & 31]);
  return out;
}

}  // namespace

bool MakeTlsFiles(const std::string& dir, std::string* why) {
  const std::string script = dir + "/make-certs.sh";
  FILE* f = std::fopen(script.c_str(), "w");
  if (f == nullptr) return *why = "cannot write " + script, false;
  std::fputs(kScript, f);
  std::fclose(f);
  const std::string cmd = "cd '" + dir + "' && /bin/sh make-certs.sh > make-certs.log 2>&1";
  if (std::system(cmd.c_str()) != 0) return *why = "openssl failed to make the test certificates; see " + dir + "/make-certs.log", false;
  return true;
}

NkeyPair MakeUserNkey() {
  uint8_t seed[32];
  if (RAND_bytes(seed, sizeof(seed)) != 1) std::abort();
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed, sizeof(seed));
  uint8_t pub[32];
  size_t len = sizeof(pub);
  if (key == nullptr || EVP_PKEY_get_raw_public_key(key, pub, &len) != 1 || len != 32) std::abort();
  EVP_PKEY_free(key);
  constexpr uint8_t kSeed = 18 << 3, kUser = 20 << 3;
  std::vector<uint8_t> s = {static_cast<uint8_t>(kSeed | (kUser >> 5)), static_cast<uint8_t>((kUser & 31) << 3)};
  s.insert(s.end(), seed, seed + 32);
  std::vector<uint8_t> p = {kUser};
  p.insert(p.end(), pub, pub + 32);
  return {Encode(s), Encode(p)};
}

}  // namespace mq::test
