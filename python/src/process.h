// Which process this is, without a system call per question: the Mailbox and
// ConfirmedSender refuse to be used in a forked child (docs/python.md, "After
// fork()"), and asking getpid() on every receive cost a system call each
// (a fifth of a receive's CPU time on the benchmark machine).
#pragma once

#include <sys/types.h>

namespace mqpy {

// Installs the fork handler (pthread_atfork: os.fork, multiprocessing and a
// C library fork all run it). Called once, when the module is imported.
void InitProcess();
// This process's id: getpid() as of the import or the last fork() in this
// process's line, read from memory.
pid_t ThisProcess();

}  // namespace mqpy
