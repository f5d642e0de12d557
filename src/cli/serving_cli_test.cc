// `cairn endpoints …`, `cairn ci check` and `cairn models promote|approve|rollback` against
// a fake transport: the requests each verb sends, what it prints, and its exit code.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/cli.h"
#include "cli/http_client.h"
#include "cli/testing/fake_transport.h"
#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::cli {
namespace {

using ::testing::HasSubstr;

class ServingCliTest : public ::testing::Test {
 protected:
  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    CliEnvironment env{.out = &out_, .err = &err_, .transport = &transport_};
    env.getenv = [](std::string_view name) -> std::optional<std::string> {
      if (name == "USER") return std::string("ana");
      return std::nullopt;
    };
    return RunCli(args, env);
  }
  Json BodyOf(size_t call) { return Json::parse(transport_.calls.at(call).body); }

  testing::FakeTransport transport_;
  std::ostringstream out_;
  std::ostringstream err_;
};

constexpr char kBase[] = "http://127.0.0.1:5000";

TEST_F(ServingCliTest, PredictSendsEntitiesAndFeaturesAsColumnsAndPrintsPredictions) {
  transport_.Reply(200, R"({"ids": ["r1"], "model": "churn", "model_version": 3,
                            "predictions": [0.125], "variant": "champion"})");
  ASSERT_EQ(Run({"endpoints", "predict", "churn", "--entity", "customer_id=1001", "--feature",
                 "plan=basic", "--feature", "discount=0.5"}),
            0)
      << err_.str();
  ASSERT_EQ(transport_.calls.size(), 1u);
  EXPECT_EQ(transport_.calls[0].method, "POST");
  EXPECT_EQ(transport_.calls[0].url, std::string(kBase) + "/api/v1/endpoints/churn/predict");
  EXPECT_EQ(BodyOf(0), Json::parse(R"({"entities": {"customer_id": [1001]},
                                       "features": {"plan": ["basic"], "discount": [0.5]}})"));
  EXPECT_EQ(out_.str(),
            "Model churn version 3 (champion)\n"
            "ID  PREDICTION\n"
            "r1       0.125\n");

  // Nothing to predict from, or a malformed pair: usage errors, nothing sent.
  transport_.calls.clear();
  EXPECT_EQ(Run({"endpoints", "predict", "churn"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--entity KEY=VALUE"));
  EXPECT_EQ(Run({"endpoints", "predict", "churn", "--entity", "=3"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--entity: expected NAME=VALUE"));
  EXPECT_TRUE(transport_.calls.empty());
}

TEST_F(ServingCliTest, BusyEndpointIsReportedWithTheServersMessage) {
  transport_.Reply(429, R"({"error_code": "REQUEST_LIMIT_EXCEEDED",
                            "message": "endpoint busy: 64 requests queued; retry after 1 s"})");
  EXPECT_EQ(Run({"endpoints", "predict", "churn", "--feature", "x=1"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("endpoint busy: 64 requests queued"));
}

TEST_F(ServingCliTest, PredictBatchSendsAFileOrATrainingSetAndNeedsExactlyOne) {
  // Neither or both sources, or no --output: usage errors, nothing sent.
  EXPECT_EQ(Run({"endpoints", "predict-batch", "churn", "--output", "out.csv"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("exactly one of --input FILE"));
  EXPECT_EQ(Run({"endpoints", "predict-batch", "churn", "--input", "in.csv", "--training-set",
                 "abc", "--output", "out.csv"}),
            2);
  EXPECT_THAT(err_.str(), HasSubstr("--training-set ID"));
  EXPECT_EQ(Run({"endpoints", "predict-batch", "churn", "--input", "in.csv"}), 2);
  EXPECT_TRUE(transport_.calls.empty());

  transport_.Reply(200, R"({"rows": 3, "output": "scored/out.csv", "training_set": "ab12"})");
  ASSERT_EQ(Run({"endpoints", "predict-batch", "churn", "--training-set", "ab12", "--output",
                 "scored/out.csv"}),
            0)
      << err_.str();
  ASSERT_EQ(transport_.calls.size(), 1u);
  EXPECT_EQ(transport_.calls[0].method, "POST");
  EXPECT_EQ(transport_.calls[0].url,
            std::string(kBase) + "/api/v1/endpoints/churn/predict-batch");
  EXPECT_EQ(BodyOf(0), Json::parse(R"({"training_set": "ab12", "output": "scored/out.csv"})"));
  EXPECT_EQ(out_.str(),
            "Predicted 3 rows of training set ab12 into scored/out.csv (on the server).\n");

  transport_.Reply(200, R"({"rows": 2, "output": "out.csv"})");
  ASSERT_EQ(Run({"endpoints", "predict-batch", "churn", "--input", "batch/in.csv", "--output",
                 "out.csv"}),
            0)
      << err_.str();
  EXPECT_EQ(BodyOf(1), Json::parse(R"({"input": "batch/in.csv", "output": "out.csv"})"));
  EXPECT_EQ(out_.str(), "Predicted 2 rows of batch/in.csv into out.csv (on the server).\n");

  // The server's 400 (a path outside its data directory) is shown as it says it.
  transport_.Reply(400, R"js({"error_code": "INVALID_PARAMETER_VALUE",
      "message": "output: '/etc/x.csv' is outside the server's data directory (/srv/cairn)"})js");
  EXPECT_EQ(Run({"endpoints", "predict-batch", "churn", "--input", "in.csv", "--output",
                 "/etc/x.csv"}),
            1);
  EXPECT_THAT(err_.str(), HasSubstr("is outside the server's data directory (/srv/cairn)"));
}

TEST_F(ServingCliTest, CanaryNeedsExactlyOneChallengerAndSendsTheGuard) {
  EXPECT_EQ(Run({"endpoints", "canary", "churn", "--percent", "20"}), 2);
  EXPECT_EQ(Run({"endpoints", "canary", "churn", "--version", "4", "--alias", "challenger"}), 2);
  EXPECT_TRUE(transport_.calls.empty());

  transport_.Reply(200, R"({"rollout": {"id": "ro-1", "mode": "canary", "model": "churn",
                                         "version": 4, "percent": 20}})");
  ASSERT_EQ(Run({"endpoints", "canary", "churn", "--version", "4", "--percent", "20",
                 "--window", "5m", "--min-requests", "50", "--reason", "retrained"}),
            0)
      << err_.str();
  EXPECT_EQ(transport_.calls[0].url, std::string(kBase) + "/api/v1/endpoints/churn/rollouts");
  EXPECT_EQ(BodyOf(0), Json::parse(R"({"mode": "canary", "version": 4, "percent": 20.0,
                                       "actor": "ana", "reason": "retrained",
                                       "guard": {"window": "5m", "min_requests": 50}})"));
  EXPECT_EQ(out_.str(), "Rollout ro-1: canary of churn version 4 at 20% on endpoint churn.\n");

  transport_.Reply(200, R"({"rollout": {"id": "ro-1", "model": "churn", "version": 4,
                                         "state": "rolled_back"}})");
  ASSERT_EQ(Run({"endpoints", "rollback", "churn", "ro-1", "--reason", "p99 too high"}), 0);
  EXPECT_EQ(transport_.calls[1].url,
            std::string(kBase) + "/api/v1/endpoints/churn/rollouts/ro-1/rollback");
  EXPECT_EQ(BodyOf(1), Json::parse(R"({"actor": "ana", "reason": "p99 too high"})"));
  EXPECT_EQ(out_.str(), "Rollout ro-1 (churn version 4): rolled_back.\n");
}

TEST_F(ServingCliTest, CiCheckExitsZeroWhenPassedOneWhenFailedTwoOnError) {
  const std::filesystem::path md =
      std::filesystem::temp_directory_path() / ("cairn-ci-" + std::to_string(::getpid()) + ".md");
  transport_.Reply(200, R"({"evaluation": {"passed": true}, "promotion": {"action": "promoted",
                            "detail": "production moved from 2 to 3"},
                            "report_text": "PASSED churn v3\n",
                            "report_markdown": "### passed\n"})");
  ASSERT_EQ(Run({"ci", "check", "churn", "3", "--markdown", md.string()}), 0) << err_.str();
  EXPECT_EQ(transport_.calls[0].url, std::string(kBase) + "/api/v1/cicd/check");
  EXPECT_EQ(BodyOf(0), Json::parse(R"({"model": "churn", "version": 3, "actor": "ana"})"));
  EXPECT_EQ(out_.str(), "PASSED churn v3\n\nproduction moved from 2 to 3\n");
  std::ifstream in(md);
  std::string markdown((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(markdown, "### passed\n");
  std::filesystem::remove(md);

  transport_.Reply(200, R"({"evaluation": {"passed": false}, "promotion": {"action": "rejected"},
                            "report_text": "FAILED churn v4: auc >= 0.7\n"})");
  EXPECT_EQ(Run({"ci", "check", "churn", "4"}), 1);
  EXPECT_EQ(out_.str(), "FAILED churn v4: auc >= 0.7\n");

  transport_.Reply(409, R"({"error_code": "FAILED_PRECONDITION",
                            "message": "no policy governs model churn"})");
  EXPECT_EQ(Run({"ci", "check", "churn", "4"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("no policy governs model churn"));
  EXPECT_EQ(Run({"ci", "check", "churn", "v4"}), 2);
}

TEST_F(ServingCliTest, PromoteApproveAndRollbackPostTheirVerbs) {
  transport_.Reply(200, R"({"promotion": {"action": "promoted", "alias": "production",
                            "from_version": 2, "to_version": 3, "detail": ""}})");
  ASSERT_EQ(Run({"models", "promote", "churn", "3", "--override", "hotfix"}), 0) << err_.str();
  EXPECT_EQ(transport_.calls[0].url, std::string(kBase) + "/api/v1/models/churn/promote");
  EXPECT_EQ(BodyOf(0), Json::parse(R"({"version": 3, "override_reason": "hotfix",
                                       "actor": "ana"})"));
  EXPECT_EQ(out_.str(), "Alias 'production' of model 'churn' moved from version 2 to version 3.\n");

  transport_.Reply(200, R"({"promotion": {"action": "promoted", "alias": "production",
                            "from_version": 0, "to_version": 1}})");
  ASSERT_EQ(Run({"models", "approve", "churn", "1"}), 0);
  EXPECT_EQ(transport_.calls[1].url, std::string(kBase) + "/api/v1/models/churn/approve");
  EXPECT_EQ(out_.str(), "Alias 'production' of model 'churn' moved to version 1.\n");

  transport_.Reply(200, R"({"promotion": {"action": "promoted", "alias": "production",
                            "from_version": 3, "to_version": 2}})");
  ASSERT_EQ(Run({"models", "rollback", "churn", "--reason", "bad canary"}), 0);
  EXPECT_EQ(transport_.calls[2].url, std::string(kBase) + "/api/v1/models/churn/rollback");
  EXPECT_EQ(BodyOf(2), Json::parse(R"({"alias": "production", "reason": "bad canary",
                                       "actor": "ana"})"));

  transport_.Reply(409, R"({"error_code": "FAILED_PRECONDITION",
                            "message": "version 4 has no passed evaluation; run cairn ci check"})");
  EXPECT_EQ(Run({"models", "promote", "churn", "4"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("run cairn ci check"));
}

}  // namespace
}  // namespace cairn::cli
