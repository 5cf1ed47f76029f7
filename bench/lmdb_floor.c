/* LMDB's smallest file (bench/analysis.md, "Idle cost and the shared
 * runtime": why an empty queue with its index cannot be <= 16 KB on disk).
 * Creates an LMDB environment FILE and leaves it empty (mode 0), or commits
 * one record to the main table (1) or to a named table, as the store's index
 * does (2); prints the page size, the last page used, and the bytes the file
 * and its lock file take. Not part of the build:
 *
 *   cc -O2 -o /tmp/lmdb_floor bench/lmdb_floor.c -llmdb
 *   d=$(mktemp -d -p bench); for m in 0 1 2; do /tmp/lmdb_floor $d/f$m $m; done; rm -r $d
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
static void show(const char* what, const char* f) {
  struct stat st;
  if (stat(f, &st) != 0) { perror(f); exit(1); }
  printf("%-44s %s: %6lld bytes apparent, %6lld allocated\n", what, f, (long long)st.st_size, (long long)st.st_blocks * 512);
}
static void chk(int rc, const char* w) { if (rc) { fprintf(stderr, "%s: %s\n", w, mdb_strerror(rc)); exit(1); } }
/* mode 0: open only; 1: one record in the main table; 2: one record in a named table */
int main(int argc, char** argv) {
  if (argc != 3) { fprintf(stderr, "usage: %s FILE 0|1|2\n", argv[0]); return 2; }
  const int mode = atoi(argv[2]);
  MDB_env* env; MDB_txn* txn; MDB_dbi dbi;
  chk(mdb_env_create(&env), "create");
  chk(mdb_env_set_maxdbs(env, 4), "maxdbs");
  chk(mdb_env_open(env, argv[1], MDB_NOSUBDIR, 0600), "open");
  if (mode > 0) {
    chk(mdb_txn_begin(env, NULL, 0, &txn), "begin");
    chk(mdb_dbi_open(txn, mode == 2 ? "meta" : NULL, mode == 2 ? MDB_CREATE : 0, &dbi), "dbi");
    MDB_val k = {4, "mark"}, v = {8, "in-use!!"};
    chk(mdb_put(txn, dbi, &k, &v, 0), "put");
    chk(mdb_txn_commit(txn), "commit");
  }
  MDB_stat s; chk(mdb_env_stat(env, &s), "stat");
  MDB_envinfo info; chk(mdb_env_info(env, &info), "info");
  printf("page size %u, last page used %zu (pages 0..%zu)\n", s.ms_psize, info.me_last_pgno, info.me_last_pgno);
  const char* what[] = {"empty environment", "one record, main table", "one record, named table"};
  show(what[mode], argv[1]);
  char lock[4096]; snprintf(lock, sizeof lock, "%s-lock", argv[1]);
  show("its lock file", lock);
  mdb_env_close(env);
  return 0;
}
