// Writes through a shared file mapping that survive another process cutting
// the file (docs/design.md, "Consume").
//
// Touching a page of a MAP_SHARED mapping that lies wholly past the end of
// its file raises SIGBUS. The log is mapped to write used flags, and another
// process may cut the log at any time (the original design's reader
// truncates its queue file when it opens it). A guarded range is a mapping
// registered here: a SIGBUS inside it puts a private anonymous page over the
// faulting page, so the touch completes harmlessly, and counts a fault for
// the range; the writer looks at the count after its store and, if it moved,
// drops the mapping and writes with pwrite instead.
//
// The SIGBUS handler is installed once per process, the first time a range
// is registered, and hands every other SIGBUS to the handler that was there
// before (or to the default action). A program that installs its own SIGBUS
// handler afterwards replaces it: Register sees that and refuses, and the
// caller falls back to checking the file's size before each touch.
#pragma once

#include <cstddef>

namespace mq::sigbus_guard {

// Registers [base, base + len) as a guarded range. Returns its slot, or -1
// when ranges cannot be guarded (the handler could not be installed, another
// handler replaced it, or every slot is taken).
[[nodiscard]] int Register(char* base, size_t len);

// Forgets the range; call before unmapping it. Touches of the range must have
// ended (the caller serializes them with the unmapping).
void Unregister(int slot);

// Whether a touch of the slot's range faulted since the last call; clears it.
// Call after the touch: on the thread that made it, or on one ordered after
// it (the store calls it under the mutex its touches ran under).
[[nodiscard]] bool TakeFault(int slot);

}  // namespace mq::sigbus_guard
