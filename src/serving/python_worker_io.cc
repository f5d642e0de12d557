#include "serving/python_worker_io.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <vector>

namespace cairn::serving::internal {
namespace {

// ---- frames -------------------------------------------------------------------------

template <typename T>
void Put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // little-endian host (x86-64, aarch64)
  out.append(bytes, sizeof(T));
}

void PutString(std::string& out, const std::string& text) {
  Put<uint32_t>(out, static_cast<uint32_t>(text.size()));
  out.append(text);
}

// The column's wire kind (python_worker.py): one typed array when every cell allows it.
char ColumnKind(const ModelInput& input, size_t column) {
  bool all_int = true, all_bool = true, any_string = false, any_number = false;
  for (size_t row = 0; row < input.rows; ++row) {
    const features::Value& cell = input.at(row, column);
    switch (cell.index()) {
      case 0:  // null
        all_int = all_bool = false;
        break;
      case 1:  // int64
        all_bool = false;
        any_number = true;
        break;
      case 2:  // double
        all_int = all_bool = false;
        any_number = true;
        break;
      case 3:  // string
        all_int = all_bool = false;
        any_string = true;
        break;
      default:  // bool
        all_int = false;
        any_number = true;
        break;
    }
  }
  if (input.rows > 0 && all_int) return 'q';
  if (input.rows > 0 && all_bool) return 'b';
  if (!any_string) return 'd';
  if (!any_number) return 's';
  return 'o';
}

}  // namespace

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void EncodeRequest(const ModelInput& input, std::string& out) {
  thread_local std::vector<char> kinds;
  kinds.clear();
  out.clear();
  Put<uint32_t>(out, 0);  // frame length, patched below
  out.push_back('P');
  Put<uint32_t>(out, static_cast<uint32_t>(input.rows));
  Put<uint32_t>(out, static_cast<uint32_t>(input.columns.size()));
  Put<uint32_t>(out, 0);  // header length, patched below
  const size_t header_start = out.size();
  for (size_t column = 0; column < input.columns.size(); ++column) {
    const std::string& name = input.columns[column];
    Put<uint16_t>(out, static_cast<uint16_t>(name.size()));
    out.append(name);
    kinds.push_back(ColumnKind(input, column));
    out.push_back(kinds.back());
  }
  uint32_t header_length = static_cast<uint32_t>(out.size() - header_start);
  std::memcpy(out.data() + header_start - 4, &header_length, 4);
  for (size_t column = 0; column < input.columns.size(); ++column) {
    const char kind = kinds[column];
    for (size_t row = 0; row < input.rows; ++row) {
      const features::Value& cell = input.at(row, column);
      switch (kind) {
        case 'q':
          Put<int64_t>(out, std::get<int64_t>(cell));
          break;
        case 'b':
          out.push_back(std::get<bool>(cell) ? 1 : 0);
          break;
        case 'd': {
          double value = std::nan("");
          if (const auto* d = std::get_if<double>(&cell)) value = *d;
          if (const auto* i = std::get_if<int64_t>(&cell)) value = static_cast<double>(*i);
          if (const auto* b = std::get_if<bool>(&cell)) value = *b ? 1.0 : 0.0;
          Put<double>(out, value);
          break;
        }
        case 's':
          if (const auto* s = std::get_if<std::string>(&cell)) {
            PutString(out, *s);
          } else {
            Put<uint32_t>(out, 0xFFFFFFFFu);
          }
          break;
        default:  // 'o'
          switch (cell.index()) {
            case 0:
              out.push_back('n');
              break;
            case 1:
              out.push_back('q');
              Put<int64_t>(out, std::get<int64_t>(cell));
              break;
            case 2:
              out.push_back('d');
              Put<double>(out, std::get<double>(cell));
              break;
            case 3:
              out.push_back('s');
              PutString(out, std::get<std::string>(cell));
              break;
            default:
              out.push_back('b');
              out.push_back(std::get<bool>(cell) ? 1 : 0);
              break;
          }
      }
    }
  }
  uint32_t length = static_cast<uint32_t>(out.size() - 4);
  std::memcpy(out.data(), &length, 4);
}

// ---- socket I/O ---------------------------------------------------------------------

// false when the peer is gone (EPIPE, ECONNRESET) or `deadline_ms` passed. No SIGPIPE.
bool SendAll(int fd, const char* data, size_t size, int64_t deadline_ms) {
  while (size > 0) {
    // With a deadline, never block in send: wait for room until the deadline instead.
    ssize_t n = send(fd, data, size, MSG_NOSIGNAL | (deadline_ms >= 0 ? MSG_DONTWAIT : 0));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        int timeout =
            static_cast<int>(std::clamp<int64_t>(deadline_ms - SteadyMs(), 0, 1'000'000));
        pollfd p{fd, POLLOUT, 0};
        int rc = poll(&p, 1, timeout);
        if (rc == 0 && timeout == 0) return false;
        continue;
      }
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Waits until `fd` is readable or `deadline_ms` (steady) passes; -1 deadline = forever.
bool WaitReadable(int fd, int64_t deadline_ms) {
  while (true) {
    int timeout = -1;
    if (deadline_ms >= 0) {
      timeout = static_cast<int>(std::clamp<int64_t>(deadline_ms - SteadyMs(), 0, 1'000'000));
    }
    pollfd p{fd, POLLIN, 0};
    int rc = poll(&p, 1, timeout);
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return true;  // let the read report it
    if (rc == 0 && timeout == 0) return false;
  }
}

// Reads one frame body into `body`. kEof when the peer closed (or failed) first.
ReadResult ReadFrame(int fd, std::string& body, int64_t deadline_ms) {
  char head[4];
  auto read_into = [&](char* dst, size_t want) -> ReadResult {
    size_t have = 0;
    while (have < want) {
      if (deadline_ms >= 0 && !WaitReadable(fd, deadline_ms)) return ReadResult::kTimeout;
      ssize_t n = recv(fd, dst + have, want - have, 0);
      if (n == 0) return ReadResult::kEof;
      if (n < 0) {
        if (errno == EINTR) continue;
        return ReadResult::kEof;
      }
      have += static_cast<size_t>(n);
    }
    return ReadResult::kOk;
  };
  ReadResult r = read_into(head, sizeof(head));
  if (r != ReadResult::kOk) return r;
  uint32_t length;
  std::memcpy(&length, head, 4);
  body.resize(length);
  return read_into(body.data(), length);
}

// Sends `fd` over the Unix socket `control` with a one-byte command (SCM_RIGHTS).
bool SendFd(int control, char command, int fd) {
  iovec iov{&command, 1};
  alignas(cmsghdr) char buffer[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = buffer;
  msg.msg_controllen = sizeof(buffer);
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  while (true) {
    ssize_t n = sendmsg(control, &msg, MSG_NOSIGNAL);
    if (n == 1) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

// Reads exactly `size` bytes before `deadline_ms` (steady).
bool ReadExact(int fd, char* data, size_t size, int64_t deadline_ms) {
  while (size > 0) {
    if (!WaitReadable(fd, deadline_ms)) return false;
    ssize_t n = recv(fd, data, size, 0);
    if (n == 0) return false;
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Waits for the peer of `fd` to close (its process exited) until `deadline_ms` (steady),
// discarding anything it still sends.
bool WaitPeerClosed(int fd, int64_t deadline_ms) {
  char sink[256];
  while (WaitReadable(fd, deadline_ms)) {
    ssize_t n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0 && errno != EINTR && errno != EAGAIN) return true;
  }
  return false;
}

}  // namespace cairn::serving::internal
