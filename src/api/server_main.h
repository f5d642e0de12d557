#pragma once
// `cairn server`: opens the stores under the data directory (or the given URLs), applies
// schema migrations, registers every route and serves until SIGTERM/SIGINT.

#include <cstdint>
#include <string>

namespace cairn::api {

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 5000;  // 0 picks a free port; the chosen one is printed on stdout
  std::string data_dir = "cairn-data";
  // Metadata database URL; empty means SQLite at <data_dir>/cairn.db.
  std::string metadata_url;
  // Online feature store: "embedded" (files under the data directory) or redis://host:port.
  std::string online_url = "embedded";
  // Feature views materialized incrementally up to now this often (0 = only on request).
  int64_t materialize_every_ms = 0;
  int io_threads = 0;      // 0: one per core
  int worker_threads = 0;  // blocking work (SQL, files); 0: 2 × cores, at least 4
  // Threads for model predictions (their own pool, so slow models never starve the other
  // routes); 0: 32. A python endpoint needs at least replicas × max_queue of them to fill
  // its queue; beyond a pool's backlog the server answers 429 with Retry-After.
  int predict_threads = 0;
  bool access_log = true;

  // Compute (DESIGN.md §5). The local executor is always there; its capacity defaults to
  // the machine's (cores, memory, detected GPUs).
  double local_cpus = 0;          // 0: the machine's
  std::string local_memory;       // "8Gi"; empty: the machine's
  std::string local_gpus;         // "0,1" (indices) or "none"; empty: detected
  bool slurm = false;             // also run steps on Slurm (SLURM_CONF from the environment)
  std::string slurm_partition;    // partition for CPU steps; empty: the cluster's default
  std::string slurm_gpu_partition;  // partition for GPU steps; empty: the cluster's default
  // The executor of steps that ask for GPUs and name none themselves ("slurm"); empty: the
  // pipeline's executor.
  std::string gpu_executor;
};

// Blocks until the server stops; returns the process exit code.
int RunServer(const ServerConfig& config);

}  // namespace cairn::api
