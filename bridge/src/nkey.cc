#include "nkey.h"

#include <openssl/evp.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace mq::bridge {
namespace {

constexpr uint8_t kPrefixSeed = 18 << 3;  // 'S'
constexpr uint8_t kPrefixUser = 20 << 3;  // 'U'
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

uint16_t Crc16Xmodem(const uint8_t* p, size_t n) {
  uint16_t crc = 0;
  for (size_t i = 0; i < n; ++i) {
    crc ^= static_cast<uint16_t>(p[i] << 8);
    for (int b = 0; b < 8; ++b) crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021) : static_cast<uint16_t>(crc << 1);
  }
  return crc;
}

bool Base32Decode(const std::string& s, std::vector<uint8_t>* out) {
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    const char* at = std::strchr(kAlphabet, c);
    if (c == '\0' || at == nullptr) return false;
    acc = (acc << 5) | static_cast<uint32_t>(at - kAlphabet);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<uint8_t>(acc >> bits));
    }
  }
  return true;
}

std::string Base32Encode(const std::vector<uint8_t>& in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : in) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kAlphabet[(acc >> bits) & 31]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (5 - bits)) & 31]);
  return out;
}

struct Wipe {
  std::vector<uint8_t>& v;
  ~Wipe() { OPENSSL_cleanse(v.data(), v.size()); }
};

}  // namespace

Result<std::string> NkeyUserPublicKey(const std::string& text) {
  const size_t b = text.find_first_not_of(" \t\r\n");
  const size_t e = text.find_last_not_of(" \t\r\n");
  std::string seed = b == std::string::npos ? "" : text.substr(b, e - b + 1);
  const std::string want = "expected one NKey user seed (a line starting SU, as `nk -gen user` writes)";
  std::vector<uint8_t> raw;
  Wipe wipe{raw};
  struct WipeText {
    std::string& s;
    ~WipeText() { OPENSSL_cleanse(s.data(), s.size()); }
  } wipe_seed{seed};
  if (seed.size() != 58 || !Base32Decode(seed, &raw) || raw.size() != 36)
    return Status::InvalidArgument("not an NKey seed: " + want);
  const uint16_t crc = static_cast<uint16_t>(raw[34] | (raw[35] << 8));
  if (Crc16Xmodem(raw.data(), 34) != crc) return Status::InvalidArgument("the seed's checksum is wrong (a damaged copy?): " + want);
  const uint8_t b1 = raw[0] & 248, b2 = static_cast<uint8_t>(((raw[0] & 7) << 5) | ((raw[1] & 248) >> 3));
  if (b1 != kPrefixSeed) return Status::InvalidArgument("not an NKey seed: " + want);
  if (b2 != kPrefixUser) return Status::InvalidArgument("an NKey seed, but not of a user (S" + seed.substr(1, 1) + "...): " + want);
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, raw.data() + 2, 32);
  if (key == nullptr) return Status::InvalidArgument("libcrypto refused the seed as an ed25519 key");
  std::vector<uint8_t> pub(1 + 32 + 2);
  size_t len = 32;
  const int ok = EVP_PKEY_get_raw_public_key(key, pub.data() + 1, &len);
  EVP_PKEY_free(key);
  if (ok != 1 || len != 32) return Status::InvalidArgument("libcrypto could not derive the seed's public key");
  pub[0] = kPrefixUser;
  const uint16_t pcrc = Crc16Xmodem(pub.data(), 33);
  pub[33] = static_cast<uint8_t>(pcrc & 0xff);
  pub[34] = static_cast<uint8_t>(pcrc >> 8);
  return Base32Encode(pub);
}

}  // namespace mq::bridge
