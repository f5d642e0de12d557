#pragma once
// `cairn demo step <name> …`: one stage of the churn-train pipeline in its own process
// (steps.h), as the pipeline's steps run it. The stores are opened on --data; the train
// step logs into the tracking run named by --run-id, by default $MLFLOW_RUN_ID (the
// step's child run, set by the pipeline engine):
//
//   cairn demo step training-set --data DIR [--rows N] [--features HASH]
//                                --train FILE --validation FILE --snapshot FILE
//   cairn demo step train --train FILE --validation FILE --snapshot FILE --data DIR
//                         --max-depth D --eta E --num-round N [--threads T] [--run-id ID]
//                         --model FILE --metrics FILE
//   cairn demo step evaluate --out FILE METRICS_FILE…
//   cairn demo step register --data DIR --best FILE --out FILE
//
// Each prints one line saying what it did; errors go to `err` as
// "cairn demo step <name>: <message>".

#include <iosfwd>
#include <string>
#include <vector>

namespace cairn::demo {

// `args` are the arguments after `step` (the step name first). Returns the exit code:
// 0 done, 1 the step failed, 2 bad usage.
int RunDemoStepCommand(const std::vector<std::string>& args, std::ostream& out,
                       std::ostream& err);

}  // namespace cairn::demo
