// A no-op step that says when it ran: appends "<start_ns> <end_ns> <run id> <step>\n"
// (CLOCK_REALTIME, nanoseconds since the epoch; $CAIRN_PIPELINE_RUN_ID and $CAIRN_STEP, as
// the engine sets them) to the file named by argv[1] in one append write, and exits 0. start_ns is read
// first thing in main(), end_ns just before the write and exit, so for a chain a -> b,
// b.start_ns - a.end_ns bounds from above the time from "a's dependencies are satisfied
// for b" (a's exit) to "b's process is running" (it also includes a's exit and the
// kernel's reaping, and b's exec and dynamic-loader start: nothing is left out).
// Built statically by bench/pipelines/run.py (`cc -O2 -static`) to keep its own start-up
// (a few tens of microseconds) out of the measure.
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char** argv) {
  long long start = now_ns();
  if (argc < 2) return 0;
  int fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return 2;
  const char* run = getenv("CAIRN_PIPELINE_RUN_ID");
  const char* step = getenv("CAIRN_STEP");
  char line[512];
  long long end = now_ns();
  int n = snprintf(line, sizeof line, "%lld %lld %s %s\n", start, end, run ? run : "-",
                   step ? step : "-");
  if (n < 0 || n >= (int)sizeof line) return 4;
  if (write(fd, line, (size_t)n) != n) return 3;
  close(fd);
  return 0;
}
