// SQLite used as a local durable queue: the peer most users would pick.
//
//   CREATE TABLE q(seq INTEGER PRIMARY KEY, used INT NOT NULL, key BLOB, payload BLOB)
//   CREATE INDEX q_pending     ON q(seq)      WHERE used = 0   -- oldest pending
//   CREATE INDEX q_pending_key ON q(key, seq) WHERE used = 0   -- oldest pending with key K
//
// journal_mode=WAL; synchronous=OFF for our "none", NORMAL for "batch" (as
// the issue asks) and FULL for "always". Consuming sets used=1 in place, as
// our log does; the partial indexes drop the row, as our index does.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace mq::bench {

enum class SqliteSync { kOff, kNormal, kFull };

class SqliteQueue {
 public:
  SqliteQueue() = default;
  ~SqliteQueue();
  SqliteQueue(const SqliteQueue&) = delete;
  SqliteQueue& operator=(const SqliteQueue&) = delete;

  // Creates the database at `path`. Returns an empty string or an error.
  std::string Open(const std::string& path, SqliteSync sync);

  // One transaction per call.
  std::string Append(std::string_view key, std::string_view payload, int64_t* seq);
  std::string AppendBatch(std::span<const std::string_view> keys, std::span<const std::string_view> payloads);
  // The oldest pending message (with key `key`), marked used in the same
  // transaction. *found is false if there is none.
  std::string PopFirst(int64_t* seq, std::string* payload, bool* found);
  std::string PopByKey(std::string_view key, int64_t* seq, std::string* payload, bool* found);

 private:
  std::string Exec(const char* sql);
  std::string Err(const char* what);
  std::string PopWith(sqlite3_stmt* select, int64_t* seq, std::string* payload, bool* found);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* first_ = nullptr;
  sqlite3_stmt* by_key_ = nullptr;
  sqlite3_stmt* mark_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
};

}  // namespace mq::bench
