// MemFile: an in-memory mq::File (store/include/mq/env.h) for unit tests of
// the store's format code (LogScanner, ReadCache) without a file system. The
// bytes are the public `data`; `reads` counts Read calls; a read error can be
// injected at an offset. FaultEnv (fault_env.h) is the fake for whole stores.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "mq/env.h"

namespace mq::test {

class MemFile final : public File {
 public:
  MemFile() = default;
  explicit MemFile(std::string bytes) : data(std::move(bytes)) {}

  // A Read that reaches byte `offset` or beyond fails with EIO.
  void FailReadsFrom(uint64_t offset) { fail_reads_from = offset; }

  Status Read(uint64_t offset, size_t n, char* dst, size_t* got) override {
    ++reads;
    *got = 0;
    if (n > 0 && offset + n > fail_reads_from)
      return Status::IOError(name + ": read at offset " + std::to_string(offset), EIO);
    *got = offset >= data.size() ? 0 : std::min<size_t>(n, data.size() - offset);
    if (*got > 0) std::memcpy(dst, data.data() + offset, *got);
    return Status::OK();
  }
  Status Write(uint64_t offset, const char* src, size_t n) override {
    if (data.size() < offset + n) data.resize(offset + n);
    if (n > 0) std::memcpy(data.data() + offset, src, n);
    return Status::OK();
  }
  Status Sync() override { return Status::OK(); }
  Status Truncate(uint64_t size) override {
    data.resize(size);
    return Status::OK();
  }
  Result<uint64_t> Size() override { return static_cast<uint64_t>(data.size()); }
  const std::string& path() const override { return name; }

  std::string data, name = "mem";
  int reads = 0;
  uint64_t fail_reads_from = std::numeric_limits<uint64_t>::max();
};

}  // namespace mq::test
