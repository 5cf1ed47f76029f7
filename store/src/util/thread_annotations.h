// Thread-safety annotations: clang's -Wthread-safety checks, at compile time,
// that a member marked MQ_GUARDED_BY(mu) is only touched with mu held, that a
// function marked MQ_REQUIRES(mu) is only called with it held, and (with
// -Wthread-safety-beta) that mutexes are taken in the declared order. Other
// compilers see nothing. The build with MQ_THREAD_SAFETY_ANALYSIS=ON (a stage
// of ./test.sh) turns the warnings into errors.
//
// The attributes only work on a mutex type that declares itself a capability:
// std::mutex does not (in libstdc++), so the store uses mq::Mutex (mutex.h).
#pragma once

#if defined(__clang__)
#define MQ_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define MQ_THREAD_ANNOTATION(x)
#endif

// On a class: its objects are locks ("mutex" names the kind in messages).
#define MQ_CAPABILITY(kind) MQ_THREAD_ANNOTATION(capability(kind))
// On a class: an RAII object that holds a lock for its lifetime.
#define MQ_SCOPED_CAPABILITY MQ_THREAD_ANNOTATION(scoped_lockable)

// On a data member: read and written only with the lock held.
#define MQ_GUARDED_BY(mu) MQ_THREAD_ANNOTATION(guarded_by(mu))
// On a pointer member: what it points to is touched only with the lock held.
#define MQ_PT_GUARDED_BY(mu) MQ_THREAD_ANNOTATION(pt_guarded_by(mu))

// On a mutex member: the lock order. A thread holding both took the one
// named in ACQUIRED_AFTER first.
#define MQ_ACQUIRED_AFTER(...) MQ_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define MQ_ACQUIRED_BEFORE(...) MQ_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))

// On a function: the caller holds the locks (and still holds them after).
#define MQ_REQUIRES(...) MQ_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
// On a function: the caller must not hold the locks (the function takes them).
#define MQ_EXCLUDES(...) MQ_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// On a function: it takes, or lets go of, the locks.
#define MQ_ACQUIRE(...) MQ_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define MQ_RELEASE(...) MQ_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
// On a function: it takes the locks if it returns the first argument (a try-lock).
#define MQ_TRY_ACQUIRE(...) MQ_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
// On a function: it checks at run time that the lock is held.
#define MQ_ASSERT_CAPABILITY(mu) MQ_THREAD_ANNOTATION(assert_capability(mu))
// On a function: it returns (a reference to) this lock.
#define MQ_RETURN_CAPABILITY(mu) MQ_THREAD_ANNOTATION(lock_returned(mu))

// On a function: not checked. Only where the rule the checker cannot see is
// stated beside it (e.g. data that nobody changes while another thread reads it).
#define MQ_NO_THREAD_SAFETY_ANALYSIS MQ_THREAD_ANNOTATION(no_thread_safety_analysis)
