#include "compute/slurm_text.h"

#include <fstream>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/strings.h"

namespace cairn::compute::slurm {
namespace {

constexpr int64_t kMiB = 1024 * 1024;

// The "Key=value Key=value" words of one `scontrol show … -o` line.
std::map<std::string, std::string> ParseKeyValues(std::string_view line) {
  // Values may contain spaces (Reason=…, Command=…); a word without '=' continues the value
  // before it. A repeated key (per-node "Nodes=… GRES=…" in detail mode) keeps the first.
  std::map<std::string, std::string> out;
  std::string* last = nullptr;
  for (absl::string_view word : absl::StrSplit(ToAbsl(line), ' ', absl::SkipEmpty())) {
    size_t eq = word.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      if (last != nullptr) absl::StrAppend(last, " ", word);
      continue;
    }
    auto [it, inserted] =
        out.emplace(std::string(word.substr(0, eq)), std::string(word.substr(eq + 1)));
    last = inserted ? &it->second : nullptr;
  }
  return out;
}

int ToInt(const std::string& text, int fallback = 0) {
  int v = 0;
  return absl::SimpleAtoi(text, &v) ? v : fallback;
}

}  // namespace

int64_t ParseSlurmTime(const std::string& text) {
  if (text.empty() || text == "N/A" || text == "Unknown" || text == "None") return 0;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime("%Y-%m-%dT%H:%M:%S", text, absl::LocalTimeZone(), &t, &err)) return 0;
  return absl::ToUnixMillis(t);
}

std::string ShellQuote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += "'";
  return out;
}

std::string BatchScript(const JobSpec& spec) {
  std::string s = "#!/bin/sh\n# Written by cairn's Slurm executor for job '";
  for (char c : spec.name) s += (c == '\n' || c == '\r') ? ' ' : c;
  s += "'.\n";
  if (const std::string abandoned = AbandonedPath(spec); !abandoned.empty()) {
    absl::StrAppend(&s, "if [ -e ", ShellQuote(abandoned), " ]; then : > ",
                    ShellQuote(NotRunPath(spec)),
                    "; echo 'cairn: not run: the server gave this job up before Slurm "
                    "started it' >&2; exit 1; fi\n");
  }
  // Slurm exports the GPUs it allocates in CUDA_VISIBLE_DEVICES; a job without GPUs sees
  // none (not the server's).
  if (spec.resources.gpus == 0 && !spec.env.contains("CUDA_VISIBLE_DEVICES")) {
    s += "export CUDA_VISIBLE_DEVICES=''\n";
  }
  for (const auto& [key, value] : spec.env) {
    absl::StrAppend(&s, "export ", key, "=", ShellQuote(value), "\n");
  }
  if (!spec.workdir.empty()) absl::StrAppend(&s, "cd ", ShellQuote(spec.workdir), " || exit 1\n");
  // A command that is not there says so in the log (exit 127, as the shell would).
  if (!spec.argv.empty()) {
    const std::string cmd = ShellQuote(spec.argv[0]);
    absl::StrAppend(&s, "command -v ", cmd,
                    " >/dev/null 2>&1 || { printf 'cairn: cannot run %s: command not found\\n' ",
                    cmd, " >&2; exit 127; }\n");
  }
  // Not exec: the shell stays to record the exit status next to the log (atomically), so
  // the outcome survives Slurm forgetting the job (MinJobAge) while the server is down.
  for (size_t i = 0; i < spec.argv.size(); ++i) {
    absl::StrAppend(&s, i == 0 ? "" : " ", ShellQuote(spec.argv[i]));
  }
  s += "\nrc=$?\n";
  const std::string status = StatusPath(spec);
  if (!status.empty()) {
    absl::StrAppend(&s, "printf '%s %s\\n' \"$rc\" \"${SLURM_JOB_ID:-}\" > ",
                    ShellQuote(status + ".tmp"), " && mv -f ", ShellQuote(status + ".tmp"), " ",
                    ShellQuote(status), "\n");
  }
  // A command killed by a signal: the shell dies of the same signal, so Slurm reports it.
  s += "[ \"$rc\" -gt 128 ] && kill -$((rc - 128)) $$\nexit $rc\n";
  return s;
}

std::string StatusPath(const JobSpec& spec) {
  return spec.log_path.empty() ? std::string() : spec.log_path + ".slurm-status";
}

std::string AbandonedPath(const JobSpec& spec) {
  return spec.log_path.empty() ? std::string() : spec.log_path + ".slurm-abandoned";
}

std::string NotRunPath(const JobSpec& spec) {
  return spec.log_path.empty() ? std::string() : spec.log_path + ".slurm-not-run";
}

std::optional<int> ReadStatusFile(const std::string& path, std::string* slurm_job_id) {
  if (path.empty()) return std::nullopt;
  std::ifstream in(path);
  int rc = 0;
  if (!(in >> rc) || rc < 0 || rc > 255) return std::nullopt;
  if (slurm_job_id != nullptr) {
    std::string id;
    if (!(in >> id) ||
        !std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; }))
      id.clear();
    *slurm_job_id = id;
  }
  return rc;
}

std::vector<std::string> SbatchArgs(const JobSpec& spec, const std::string& partition,
                                    const std::string& script_path) {
  std::string name;
  for (char c : spec.name) {
    name +=
        // A comma would split the name in `squeue --name`, a '|' the look-up's output
        // (Reattach looks jobs up by name).
        (std::isspace(static_cast<unsigned char>(c)) ||
         std::iscntrl(static_cast<unsigned char>(c)) || c == ',' || c == '|')
            ? '_'
            : c;
  }
  if (name.empty()) name = "cairn";
  // Slurm expands %j, %x… in --output; "%%" is a literal '%'.
  std::string log;
  for (char c : spec.log_path) log += (c == '%') ? std::string("%%") : std::string(1, c);
  const Resources& r = spec.resources;
  std::vector<std::string> args = {
      "--parsable",
      "--job-name=" + name,
      "--output=" + log,
      "--error=" + log,
      "--open-mode=append",
      absl::StrCat("--cpus-per-task=", std::max<int64_t>(1, std::llround(std::ceil(r.cpus)))),
  };
  if (!spec.workdir.empty()) args.push_back("--chdir=" + spec.workdir);
  if (r.memory_bytes > 0) {
    args.push_back(absl::StrCat("--mem=", (r.memory_bytes + kMiB - 1) / kMiB, "M"));
  }
  if (r.gpus > 0) args.push_back(absl::StrCat("--gres=gpu:", r.gpus));
  if (r.timeout_ms > 0) args.push_back(absl::StrCat("--time=", (r.timeout_ms + 59'999) / 60'000));
  if (!partition.empty()) args.push_back("--partition=" + partition);
  args.push_back("--export=ALL");
  args.push_back(script_path);
  return args;
}

int GresGpuCount(std::string_view gres) {
  // Drop "(…)" groups first: they may hold commas ("(S:0,1)").
  std::string flat;
  int depth = 0;
  for (char c : gres) {
    if (c == '(')
      ++depth;
    else if (c == ')')
      depth = std::max(0, depth - 1);
    else if (depth == 0)
      flat += c;
  }
  int total = 0;
  for (absl::string_view item : absl::StrSplit(flat, ',', absl::SkipEmpty())) {
    std::vector<absl::string_view> parts = absl::StrSplit(item, ':');
    if (parts.size() < 2 || parts[0] != "gpu") continue;
    int n = 0;
    if (absl::SimpleAtoi(parts.back(), &n)) total += n;
  }
  return total;
}

std::vector<int> GresGpuIndices(std::string_view gres) {
  std::vector<int> out;
  size_t pos = 0;
  std::string_view text = gres;
  while ((pos = text.find("gpu", pos)) != std::string_view::npos) {
    size_t idx = text.find("(IDX:", pos);
    if (idx == std::string_view::npos) break;
    size_t end = text.find(')', idx);
    if (end == std::string_view::npos) break;
    std::string list(text.substr(idx + 5, end - idx - 5));
    for (absl::string_view range : absl::StrSplit(list, ',', absl::SkipEmpty())) {
      std::pair<std::string, std::string> ends = absl::StrSplit(range, absl::MaxSplits('-', 1));
      int lo = 0, hi = 0;
      if (!absl::SimpleAtoi(ends.first, &lo)) continue;
      if (ends.second.empty() || !absl::SimpleAtoi(ends.second, &hi)) hi = lo;
      for (int i = lo; i <= hi && i - lo < 1024; ++i) out.push_back(i);
    }
    pos = end;
  }
  return out;
}

std::vector<SlurmNode> ParseNodes(std::string_view scontrol_output) {
  std::vector<SlurmNode> nodes;
  for (absl::string_view line : absl::StrSplit(ToAbsl(scontrol_output), '\n', absl::SkipEmpty())) {
    auto kv = ParseKeyValues(ToStd(line));
    if (!kv.contains("NodeName")) continue;
    SlurmNode n;
    n.name = kv["NodeName"];
    n.state = kv["State"];
    n.cpus = ToInt(kv.contains("CPUEfctv") ? kv["CPUEfctv"] : kv["CPUTot"]);
    n.cpus_alloc = ToInt(kv["CPUAlloc"]);
    n.memory_mib = ToInt(kv["RealMemory"]);
    n.memory_alloc_mib = ToInt(kv["AllocMem"]);
    n.gpus = GresGpuCount(kv["Gres"]);
    n.gpus_alloc = GresGpuCount(kv["GresUsed"]);
    for (absl::string_view p : absl::StrSplit(kv["Partitions"], ',', absl::SkipEmpty())) {
      n.partitions.emplace_back(p);
    }
    nodes.push_back(std::move(n));
  }
  return nodes;
}

}  // namespace cairn::compute::slurm
