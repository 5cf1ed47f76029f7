// Holds LMDB's write lock on a store's index for tests/store_index_writer_test.cc
// (IndexWriteBlocker), so that the store's index writer blocks in its
// transaction until told to let go.
//
//   index_write_blocker_helper INDEX_PATH
//
// Writes 'L' to its stdout once it holds the write lock ('E' if it could not
// take it), then waits for one byte on its stdin, then writes
// how many entries the seq table had while the lock was held (a long, -1 if
// unknown) and exits. It is a program of its own, started by posix_spawn,
// because a child forked from the test, whose store runs threads, and then
// allocating (LMDB does) can deadlock on a lock another thread held at the
// fork (ASan's allocator lock: GCC 12's libasan has no fork handler).
#include <lmdb.h>
#include <unistd.h>

#include <cstddef>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  MDB_env* env = nullptr;
  MDB_txn* txn = nullptr;
  MDB_dbi dbi = 0;
  MDB_stat st;
  const bool ok = mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 8) == 0 &&
                  mdb_env_set_mapsize(env, size_t{256} << 30) == 0 &&
                  mdb_env_open(env, argv[1], MDB_NOSUBDIR | MDB_NOTLS, 0600) == 0 &&
                  mdb_txn_begin(env, nullptr, 0, &txn) == 0;
  char c = ok ? 'L' : 'E';
  if (::write(1, &c, 1) != 1) return 1;
  if (::read(0, &c, 1) != 1) return 1;  // until the test says go
  long entries = -1;
  if (ok && mdb_dbi_open(txn, "seq", MDB_INTEGERKEY, &dbi) == 0 && mdb_stat(txn, dbi, &st) == 0)
    entries = static_cast<long>(st.ms_entries);
  if (txn != nullptr) mdb_txn_abort(txn);
  if (::write(1, &entries, sizeof entries) != sizeof entries) return 1;
  return 0;
}
