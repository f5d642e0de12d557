#pragma once
// The byte level of the Python worker pool (python_worker_pool.h): request frames as
// python_worker.py reads them, and socket helpers that never raise SIGPIPE. Internal to
// serving; every function is thread-safe (no shared state).

#include <cstdint>
#include <string>

#include "serving/model_runtime.h"

namespace cairn::serving::internal {

// Milliseconds of the monotonic clock (deadlines here are steady-clock times).
int64_t SteadyMs();

// Writes the request frame for `input` into `out` (cleared first; its capacity reused):
// u32 length, 'P', u32 rows, u32 columns, u32 header length, the header (per column u16
// name length, the name, a kind byte), then per column its cells: 'q' int64 when every
// cell is an int64, 'b' bool when every cell is a bool, 'd' float64 when no cell is a
// string (int64 and bool converted, null → NaN), 's' strings (null → 0xFFFFFFFF length),
// else 'o' with a tag per cell.
void EncodeRequest(const ModelInput& input, std::string& out);

// Sends everything; false when the peer is gone or the steady time `deadline_ms` passed
// first (-1: no deadline).
bool SendAll(int fd, const char* data, size_t size, int64_t deadline_ms = -1);

// Waits until `fd` is readable or the steady time `deadline_ms` passes (-1: no deadline;
// a deadline already past checks without waiting). true also when poll fails, so that
// the read that follows reports the error.
bool WaitReadable(int fd, int64_t deadline_ms);

enum class ReadResult { kOk, kEof, kTimeout };

// Reads one length-prefixed frame into `body`. kEof when the peer closed or failed first.
ReadResult ReadFrame(int fd, std::string& body, int64_t deadline_ms = -1);

// Sends one command byte with file descriptor `fd` attached (SCM_RIGHTS).
bool SendFd(int control, char command, int fd);

// Reads exactly `size` bytes before `deadline_ms`.
bool ReadExact(int fd, char* data, size_t size, int64_t deadline_ms);

// true once the peer of `fd` has closed (its process ended) before `deadline_ms`;
// whatever it still sends is discarded.
bool WaitPeerClosed(int fd, int64_t deadline_ms);

}  // namespace cairn::serving::internal
