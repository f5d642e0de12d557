#pragma once
// The text the Slurm executor writes for Slurm and reads back from it: the batch script,
// the sbatch arguments, `scontrol show node` lines, GRES strings and Slurm's times. Pure
// functions; thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "compute/executor.h"

namespace cairn::compute::slurm {

// `text` in single quotes for /bin/sh ("it's" → 'it'\''s').
std::string ShellQuote(std::string_view text);

// The batch script: #!/bin/sh, an exit when AbandonedPath(spec) exists, `export K='v'` per
// env entry, `cd 'workdir' || exit`, `'argv0' 'argv1' …`, then the exit status written to
// StatusPath(spec) and returned.
std::string BatchScript(const JobSpec& spec);

// Where the batch script records the command's exit status ("<log>.slurm-status", one line:
// the status in decimal, 128+N for a signal N, then Slurm's job id): the outcome of a job
// that ended more than MinJobAge ago, when squeue has forgotten it. Empty for a spec
// without a log path.
std::string StatusPath(const JobSpec& spec);
// The marker a server writes when it gives a job up as never submitted ("<log>.slurm-
// abandoned"): the batch script exits (code 1) without running the command when it finds it, so a
// job that an sbatch still in flight submits afterwards does not run behind a new attempt.
// Empty for a spec without a log path.
std::string AbandonedPath(const JobSpec& spec);
// What a batch script that found AbandonedPath(spec) leaves before it exits ("<log>.slurm-
// not-run"): the job did not run its command. Empty for a spec without a log path.
std::string NotRunPath(const JobSpec& spec);
// The recorded status, or nullopt when the file is missing or unreadable. With
// `slurm_job_id`, also the job id recorded after it (left empty when the file has none:
// files written before the id was recorded).
std::optional<int> ReadStatusFile(const std::string& path, std::string* slurm_job_id = nullptr);

// The sbatch arguments after the executable, ending with `script_path`.
std::vector<std::string> SbatchArgs(const JobSpec& spec, const std::string& partition,
                                    const std::string& script_path);

// One node as `scontrol show node -d -o` describes it.
struct SlurmNode {
  std::string name;
  std::string state;
  int cpus = 0, cpus_alloc = 0;
  int64_t memory_mib = 0, memory_alloc_mib = 0;
  int gpus = 0, gpus_alloc = 0;
  std::vector<std::string> partitions;
};
std::vector<SlurmNode> ParseNodes(std::string_view scontrol_output);

// The GPU count of a Gres string: "gpu:2", "gpu:a100:4(S:0-1)", "gpu:2(IDX:0-1),shard:4".
int GresGpuCount(std::string_view gres);

// The GPU indices of "gpu:2(IDX:0-1)" / "gpu:3(IDX:0,2-3)" → {0,1} / {0,2,3}.
std::vector<int> GresGpuIndices(std::string_view gres);

// Slurm's "2026-11-28T06:02:40" in the local time zone (how Slurm prints times) → epoch
// ms; 0 for "N/A", "Unknown", "None" or anything unparsable.
int64_t ParseSlurmTime(const std::string& text);

}  // namespace cairn::compute::slurm
