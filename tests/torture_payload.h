// The payloads of the kill torture (tests/torture_helper.cc writes them,
// tests/torture_kill_test.cc checks them): "s<K>-<I>-<body>", where the body
// is 8 to 135 lowercase letters computed from K and I. A payload that does
// not parse, or whose body is not the one its K and I give, is corrupt.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace mq::torture {

inline uint64_t Mix(uint64_t x) {  // splitmix64's finalizer
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline std::string Body(int k, uint64_t i) {
  uint64_t h = Mix((static_cast<uint64_t>(k) << 48) ^ i);
  std::string b(8 + h % 128, 'a');
  for (char& c : b) {
    h = Mix(h);
    c = static_cast<char>('a' + h % 26);
  }
  return b;
}

inline std::string Payload(int k, uint64_t i) {
  return "s" + std::to_string(k) + "-" + std::to_string(i) + "-" + Body(k, i);
}

// True if `p` is exactly Payload(*k, *i) for some k in [0, senders).
inline bool ParsePayload(std::string_view p, int senders, int* k, uint64_t* i) {
  int kk = -1;
  unsigned long long ii = 0;
  int used = 0;
  const std::string s(p);
  if (std::sscanf(s.c_str(), "s%d-%llu-%n", &kk, &ii, &used) != 2 || used <= 0) return false;
  if (kk < 0 || kk >= senders) return false;
  if (s != Payload(kk, ii)) return false;
  *k = kk;
  *i = ii;
  return true;
}

}  // namespace mq::torture
