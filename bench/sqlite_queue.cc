#include "sqlite_queue.h"

namespace mq::bench {

SqliteQueue::~SqliteQueue() {
  for (sqlite3_stmt* s : {insert_, first_, by_key_, mark_, begin_, commit_}) sqlite3_finalize(s);
  if (db_ != nullptr) sqlite3_close(db_);
}

std::string SqliteQueue::Err(const char* what) {
  return std::string("sqlite ") + what + ": " + (db_ != nullptr ? sqlite3_errmsg(db_) : "no database");
}

std::string SqliteQueue::Exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string e = std::string("sqlite: ") + sql + ": " + (msg ? msg : "?");
    sqlite3_free(msg);
    return e;
  }
  return {};
}

std::string SqliteQueue::Open(const std::string& path, SqliteSync sync) {
  if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) return Err("open");
  std::string e = Exec("PRAGMA journal_mode=WAL");
  if (e.empty()) {
    const char* pragma = sync == SqliteSync::kOff      ? "PRAGMA synchronous=OFF"
                         : sync == SqliteSync::kNormal ? "PRAGMA synchronous=NORMAL"
                                                       : "PRAGMA synchronous=FULL";
    e = Exec(pragma);
  }
  if (e.empty())
    e = Exec("CREATE TABLE q(seq INTEGER PRIMARY KEY, used INT NOT NULL, key BLOB, payload BLOB);"
             "CREATE INDEX q_pending ON q(seq) WHERE used = 0;"
             "CREATE INDEX q_pending_key ON q(key, seq) WHERE used = 0;");
  if (!e.empty()) return e;
  auto prep = [&](const char* sql, sqlite3_stmt** st) {
    return sqlite3_prepare_v2(db_, sql, -1, st, nullptr) == SQLITE_OK;
  };
  if (!prep("INSERT INTO q(used, key, payload) VALUES(0, ?1, ?2)", &insert_) ||
      !prep("SELECT seq, payload FROM q WHERE used = 0 ORDER BY seq LIMIT 1", &first_) ||
      !prep("SELECT seq, payload FROM q WHERE used = 0 AND key = ?1 ORDER BY seq LIMIT 1", &by_key_) ||
      !prep("UPDATE q SET used = 1 WHERE seq = ?1", &mark_) || !prep("BEGIN", &begin_) ||
      !prep("COMMIT", &commit_))
    return Err("prepare");
  return {};
}

namespace {
bool Step(sqlite3_stmt* st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW;
}
}  // namespace

std::string SqliteQueue::Append(std::string_view key, std::string_view payload, int64_t* seq) {
  sqlite3_bind_blob(insert_, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
  sqlite3_bind_blob(insert_, 2, payload.data(), static_cast<int>(payload.size()), SQLITE_STATIC);
  if (!Step(insert_)) return Err("insert");
  *seq = sqlite3_last_insert_rowid(db_);
  return {};
}

std::string SqliteQueue::AppendBatch(std::span<const std::string_view> keys,
                                     std::span<const std::string_view> payloads) {
  if (!Step(begin_)) return Err("begin");
  for (size_t i = 0; i < payloads.size(); ++i) {
    sqlite3_bind_blob(insert_, 1, keys[i].data(), static_cast<int>(keys[i].size()), SQLITE_STATIC);
    sqlite3_bind_blob(insert_, 2, payloads[i].data(), static_cast<int>(payloads[i].size()), SQLITE_STATIC);
    if (!Step(insert_)) {
      std::string e = Err("insert");
      (void)Exec("ROLLBACK");
      return e;
    }
  }
  if (!Step(commit_)) return Err("commit");
  return {};
}

std::string SqliteQueue::PopWith(sqlite3_stmt* select, int64_t* seq, std::string* payload, bool* found) {
  if (!Step(begin_)) return Err("begin");
  int rc = sqlite3_step(select);
  *found = rc == SQLITE_ROW;
  if (*found) {
    *seq = sqlite3_column_int64(select, 0);
    const void* p = sqlite3_column_blob(select, 1);
    payload->assign(static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(select, 1)));
  }
  sqlite3_reset(select);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    (void)Exec("ROLLBACK");
    return Err("select");
  }
  if (*found) {
    sqlite3_bind_int64(mark_, 1, *seq);
    if (!Step(mark_)) {
      (void)Exec("ROLLBACK");
      return Err("update");
    }
  }
  if (!Step(commit_)) return Err("commit");
  return {};
}

std::string SqliteQueue::PopFirst(int64_t* seq, std::string* payload, bool* found) {
  return PopWith(first_, seq, payload, found);
}

std::string SqliteQueue::PopByKey(std::string_view key, int64_t* seq, std::string* payload, bool* found) {
  sqlite3_bind_blob(by_key_, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
  return PopWith(by_key_, seq, payload, found);
}

}  // namespace mq::bench
