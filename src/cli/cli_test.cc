#include "cli/cli.h"

#include <deque>
#include <map>
#include <sstream>

#include "cli/http_client.h"
#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::cli {
namespace {

using ::testing::HasSubstr;

// Records every call and answers from a queue of canned replies (200 {} when empty).
class FakeTransport final : public HttpTransport {
 public:
  absl::StatusOr<HttpReply> Send(const HttpCall& call) override {
    calls.push_back(call);
    if (replies.empty()) return HttpReply{200, "{}"};
    absl::StatusOr<HttpReply> reply = replies.front();
    replies.pop_front();
    return reply;
  }
  void Reply(int status, std::string body) { replies.push_back(HttpReply{status, std::move(body)}); }

  std::vector<HttpCall> calls;
  std::deque<absl::StatusOr<HttpReply>> replies;
};

class CliTest : public ::testing::Test {
 protected:
  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    CliEnvironment env{.out = &out_, .err = &err_, .transport = &transport_};
    env.getenv = [this](std::string_view name) -> std::optional<std::string> {
      auto found = env_vars_.find(std::string(name));
      if (found == env_vars_.end()) return std::nullopt;
      return found->second;
    };
    return RunCli(args, env);
  }
  Json Body(size_t call_idx) {
    return *ParseJson(transport_.calls.at(call_idx).body);
  }
  std::string Header(size_t call_idx, const std::string& name) {
    for (const auto& [key, value] : transport_.calls.at(call_idx).headers) {
      if (key == name) return value;
    }
    return "<absent>";
  }

  FakeTransport transport_;
  std::map<std::string, std::string> env_vars_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(CliTest, RunsSearchMapsFlagsToTheSearchRequest) {
  transport_.Reply(200, R"({"experiment": {"experiment_id": "7", "name": "churn"}})");
  transport_.Reply(200, R"({"runs": [{"info": {"run_id": "r1", "run_name": "xgb",
      "status": "FINISHED", "start_time": 1700000000000, "end_time": 1700000012345},
      "data": {"metrics": [{"key": "auc", "value": 0.91, "step": 3}],
               "params": [{"key": "depth", "value": "5"}]}}]})");
  ASSERT_EQ(Run({"runs", "search", "--url", "http://h:9/", "--experiment", "churn", "--filter",
                 "metrics.auc > 0.8 and params.depth = '5'", "--order-by", "metrics.auc DESC",
                 "--max", "5"}),
            0)
      << err_.str();
  ASSERT_EQ(transport_.calls.size(), 2u);
  EXPECT_EQ(transport_.calls[0].method, "GET");
  EXPECT_EQ(transport_.calls[0].url,
            "http://h:9/api/2.0/mlflow/experiments/get-by-name?experiment_name=churn");
  EXPECT_EQ(transport_.calls[1].method, "POST");
  EXPECT_EQ(transport_.calls[1].url, "http://h:9/api/2.0/mlflow/runs/search");
  EXPECT_EQ(Body(1), Json::parse(R"({"experiment_ids": ["7"], "max_results": 5,
      "run_view_type": "ACTIVE_ONLY", "filter": "metrics.auc > 0.8 and params.depth = '5'",
      "order_by": ["metrics.auc DESC"]})"));
  // The table shows the filtered param and metric as columns.
  EXPECT_EQ(out_.str(),
            "RUN ID  NAME  STATUS    START (UTC)          DURATION  depth   auc\n"
            "r1      xgb   FINISHED  2023-11-14 22:13:20  12.3s     5      0.91\n");
}

TEST_F(CliTest, NumericExperimentIsUsedAsAnIdAndUrlComesFromTheEnvironment) {
  env_vars_["CAIRN_URL"] = "http://env-host:1234";
  ASSERT_EQ(Run({"runs", "list", "--experiment", "12"}), 0) << err_.str();
  ASSERT_EQ(transport_.calls.size(), 1u);
  EXPECT_EQ(transport_.calls[0].url, "http://env-host:1234/api/2.0/mlflow/runs/search");
  EXPECT_EQ(Body(0)["experiment_ids"], Json::array({"12"}));
  EXPECT_FALSE(Body(0).contains("filter"));
}

TEST_F(CliTest, DefaultUrlWithoutFlagOrEnvironment) {
  ASSERT_EQ(Run({"experiments", "list"}), 0);
  EXPECT_EQ(transport_.calls.at(0).url, "http://127.0.0.1:5000/api/2.0/mlflow/experiments/search");
}

TEST_F(CliTest, ExperimentsCreateAndJsonOutput) {
  transport_.Reply(200, R"({"experiment_id": "3"})");
  ASSERT_EQ(Run({"experiments", "create", "my exp"}), 0);
  EXPECT_EQ(Body(0), Json::parse(R"({"name": "my exp"})"));
  EXPECT_EQ(out_.str(), "Created experiment 'my exp' with id 3\n");

  transport_.Reply(200, R"({"experiment_id": "4"})");
  ASSERT_EQ(Run({"experiments", "create", "other", "--json"}), 0);
  EXPECT_EQ(out_.str(), "{\n  \"experiment_id\": \"4\"\n}\n");
}

TEST_F(CliTest, AliasSetSendsActorAndReason) {
  env_vars_["USER"] = "alice";
  ASSERT_EQ(Run({"models", "alias", "set", "churn", "production", "3", "--reason", "best auc"}),
            0)
      << err_.str();
  EXPECT_EQ(transport_.calls[0].url, "http://127.0.0.1:5000/api/2.0/mlflow/registered-models/alias");
  EXPECT_EQ(Body(0), Json::parse(R"({"name": "churn", "alias": "production", "version": "3",
      "reason": "best auc"})"));
  EXPECT_EQ(Header(0, "x-cairn-actor"), "alice");

  env_vars_.erase("USER");
  ASSERT_EQ(Run({"models", "alias", "set", "churn", "staging", "4"}), 0);
  EXPECT_EQ(Header(1, "x-cairn-actor"), "cli");
  EXPECT_FALSE(Body(1).contains("reason"));
}

TEST_F(CliTest, AliasGetAndHistoryUseTheirEndpoints) {
  transport_.Reply(200, R"({"model_version": {"name": "churn", "version": "3",
      "run_id": "abc", "aliases": ["production"]}})");
  ASSERT_EQ(Run({"models", "alias", "get", "churn", "production"}), 0);
  EXPECT_EQ(transport_.calls[0].url,
            "http://127.0.0.1:5000/api/2.0/mlflow/registered-models/alias?name=churn&alias=production");
  EXPECT_THAT(out_.str(), HasSubstr("version        3\n"));

  transport_.Reply(200, R"({"alias_changes": [{"alias": "production", "from_version": "2",
      "to_version": "3", "time": 1700000000000, "actor": "bob", "reason": "better"}]})");
  ASSERT_EQ(Run({"models", "alias", "history", "my model"}), 0);
  EXPECT_EQ(transport_.calls[1].url,
            "http://127.0.0.1:5000/api/v1/models/my%20model/alias-history");
  EXPECT_EQ(out_.str(),
            "TIME (UTC)           ALIAS       FROM  TO  ACTOR  REASON\n"
            "2023-11-14 22:13:20  production     2   3  bob    better\n");
}

TEST_F(CliTest, ModelsVersionsChecksTheModelThenSearchesByName) {
  transport_.Reply(200, R"({"registered_model": {"name": "it's",
      "aliases": [{"alias": "staging", "version": "10"}]}})");
  transport_.Reply(200, R"({"model_versions": [{"version": "1"}, {"version": "10"},
      {"version": "2", "aliases": ["production"]}]})");
  ASSERT_EQ(Run({"models", "versions", "it's"}), 0) << err_.str();
  EXPECT_THAT(transport_.calls[1].url, HasSubstr("filter=name%3D%22it%27s%22"));
  // Versions sorted numerically, newest first.
  const std::string out = out_.str();
  EXPECT_LT(out.find("\n     10  staging"), out.find("\n      2"));
  EXPECT_LT(out.find("\n      2  production"), out.find("\n      1"));
}

TEST_F(CliTest, ServerErrorsPrintCodeAndMessageAndExit1) {
  transport_.Reply(404, R"({"error_code": "RESOURCE_DOES_NOT_EXIST",
      "message": "Run with id=nope not found"})");
  EXPECT_EQ(Run({"runs", "get", "nope"}), 1);
  EXPECT_EQ(err_.str(), "cairn: RESOURCE_DOES_NOT_EXIST: Run with id=nope not found\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CliTest, UnreachableServerSaysSo) {
  transport_.replies.push_back(absl::UnavailableError("Connection refused"));
  EXPECT_EQ(Run({"experiments", "list", "--url", "http://127.0.0.1:1"}), 1);
  EXPECT_EQ(err_.str(), "cairn: cannot reach Cairn at http://127.0.0.1:1: Connection refused\n");
}

TEST_F(CliTest, NonJsonErrorBodyIsQuoted) {
  transport_.Reply(502, "Bad Gateway");
  EXPECT_EQ(Run({"models", "list"}), 1);
  EXPECT_EQ(err_.str(), "cairn: HTTP 502: Bad Gateway\n");
}

TEST_F(CliTest, UsageErrorsExit2WithoutRequests) {
  EXPECT_EQ(Run({}), 2);
  EXPECT_EQ(Run({"runs"}), 2);
  EXPECT_EQ(Run({"runs", "search"}), 2);  // --experiment is required
  EXPECT_THAT(err_.str(), HasSubstr("--experiment"));
  EXPECT_EQ(Run({"runs", "list", "--experiment", "1", "--max", "0"}), 2);
  EXPECT_EQ(Run({"nouns"}), 2);
  EXPECT_EQ(Run({"models", "alias", "set", "churn", "production", "three"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("VERSION must be a positive integer"));
  EXPECT_TRUE(transport_.calls.empty());
}

TEST_F(CliTest, HelpExits0) {
  EXPECT_EQ(Run({"--help"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("experiments"));
  EXPECT_EQ(Run({"runs", "search", "--help"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("--order-by"));
}

TEST(UrlEncodeTest, EncodesReservedCharacters) {
  EXPECT_EQ(UrlEncode("a b/c?d=e&f'g\"~"), "a%20b%2Fc%3Fd%3De%26f%27g%22~");
  EXPECT_EQ(EncodeQuery({{"name", "x y"}, {"alias", "p"}}), "name=x%20y&alias=p");
}

}  // namespace
}  // namespace cairn::cli
