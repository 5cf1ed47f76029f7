// Opens a store through the installed mq: proves headers and libraries link.
#include <cstdio>
#include <memory>

#include "mq/store.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  mq::StoreOptions o;
  std::unique_ptr<mq::Store> s;
  mq::Status st = mq::Store::Open(argv[1], o).MoveTo(&s);
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  uint64_t seq = 0;
  if (!s->Append("hello").MoveTo(&seq).ok() || seq != 1 || !s->Close().ok()) return 1;
  std::puts("ok");
  return 0;
}
