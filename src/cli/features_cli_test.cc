// `cairn apply` and `cairn features list|describe` against a fake transport: the request
// each verb sends and what it prints.

#include <unistd.h>

#include <deque>
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

using FakeTransport = ::cairn::cli::testing::FakeTransport;

class FeaturesCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-features-cli-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "defs");
    std::ofstream(dir_ / "defs" / "b.yaml") << "kind: Entity\nname: b\njoin_key: id\n";
    std::ofstream(dir_ / "defs" / "a.yml") << "kind: Entity\nname: a\njoin_key: id\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    CliEnvironment env{.out = &out_, .err = &err_, .transport = &transport_};
    env.getenv = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
    return RunCli(args, env);
  }

  std::filesystem::path dir_;
  FakeTransport transport_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(FeaturesCliTest, ApplySendsEveryFileAndPrintsThePlan) {
  transport_.Reply(200, R"json({"applied": true, "changes": [
      {"kind": "Entity", "name": "a", "action": "added", "old_version": null,
       "new_version": 1, "diffs": []},
      {"kind": "FeatureView", "name": "spend", "action": "changed", "old_version": 1,
       "new_version": 2, "diffs": [{"path": "features[2].expr", "old": "log1p(amount)",
       "new": "log(amount)"}, {"path": "ttl_ms", "old": 0, "new": 86400000}]},
      {"kind": "Source", "name": "tx", "action": "unchanged", "old_version": 3,
       "new_version": 3, "diffs": []},
      {"kind": "FeatureService", "name": "old", "action": "removed", "old_version": 2,
       "new_version": null, "diffs": []}]})json");
  const std::string defs = (dir_ / "defs").string();
  ASSERT_EQ(Run({"apply", "-f", defs, "--prune"}), 0) << err_.str();
  ASSERT_EQ(transport_.calls.size(), 1u);
  EXPECT_EQ(transport_.calls[0].method, "POST");
  EXPECT_EQ(transport_.calls[0].url, "http://127.0.0.1:5000/api/v1/features/apply");
  Json body = Json::parse(transport_.calls[0].body);
  EXPECT_EQ(body["dry_run"], false);
  EXPECT_EQ(body["prune"], true);
  ASSERT_EQ(body["files"].size(), 2u);
  EXPECT_EQ(body["files"][0]["path"], defs + "/a.yml");
  EXPECT_EQ(body["files"][0]["content"], "kind: Entity\nname: a\njoin_key: id\n");
  EXPECT_EQ(body["files"][1]["path"], defs + "/b.yaml");
  EXPECT_EQ(out_.str(),
            "+ Entity a (v1)\n"
            "~ FeatureView spend v1 \u2192 v2\n"
            "    features[2].expr: \"log1p(amount)\" \u2192 \"log(amount)\"\n"
            "    ttl_ms: 0 \u2192 86400000\n"
            "= Source tx (v3, unchanged)\n"
            "- FeatureService old (v2 removed)\n"
            "\n"
            "Applied: 1 added, 1 changed, 1 unchanged, 1 removed.\n");
}

TEST_F(FeaturesCliTest, ApplySendsPipelinesAndFeatureKindsEachToTheirModule) {
  const std::filesystem::path mixed = dir_ / "mixed.yaml";
  {
    std::ofstream out(mixed);
    out << "{\"kind\": \"Pipeline\", name: p, steps: [{name: a, command: [x]}]}\n---\n"
           "kind: Entity\nname: a\njoin_key: id\n";
  }
  transport_.Reply(200, R"({"applied": true, "changes": [{"kind": "Pipeline", "name": "p",
      "action": "added", "old_version": null, "new_version": 1, "diffs": []}]})");
  transport_.Reply(200, R"({"applied": false, "changes": [{"kind": "Entity", "name": "a",
      "action": "unchanged", "old_version": 1, "new_version": 1, "diffs": []}]})");
  ASSERT_EQ(Run({"apply", "-f", mixed.string()}), 0) << err_.str();
  ASSERT_EQ(transport_.calls.size(), 2u);
  EXPECT_EQ(transport_.calls[0].url, "http://127.0.0.1:5000/api/v1/pipelines/apply");
  EXPECT_EQ(transport_.calls[1].url, "http://127.0.0.1:5000/api/v1/features/apply");
  EXPECT_EQ(out_.str(),
            "+ Pipeline p (v1)\n"
            "= Entity a (v1, unchanged)\n"
            "\n"
            "Applied: 1 added, 0 changed, 1 unchanged, 0 removed.\n");

  // A file of pipelines only never reaches the feature store (so --prune cannot remove
  // its objects).
  const std::filesystem::path only = dir_ / "only.yaml";
  {
    std::ofstream out(only);
    out << "kind: 'Pipeline'\nname: p\nsteps: [{name: a, command: [x]}]\n";
  }
  transport_.calls.clear();
  transport_.Reply(200, R"({"applied": false, "changes": []})");
  ASSERT_EQ(Run({"apply", "-f", only.string(), "--prune"}), 0) << err_.str();
  ASSERT_EQ(transport_.calls.size(), 1u);
  EXPECT_EQ(transport_.calls[0].url, "http://127.0.0.1:5000/api/v1/pipelines/apply");
}

TEST_F(FeaturesCliTest, ApplySendsEndpointsAndPoliciesToServingAndCicdAfterTheRest) {
  const std::filesystem::path mixed = dir_ / "serving.yaml";
  {
    std::ofstream out(mixed);
    out << "kind: Policy\nname: gate\n---\nkind: \"Endpoint\"\nname: churn\n---\n"
           "kind: FeatureService\nname: churn\n";
  }
  for (int i = 0; i < 3; ++i) transport_.Reply(200, R"({"applied": false, "changes": []})");
  ASSERT_EQ(Run({"apply", "-f", mixed.string()}), 0) << err_.str();
  ASSERT_EQ(transport_.calls.size(), 3u);
  EXPECT_EQ(transport_.calls[0].url, "http://127.0.0.1:5000/api/v1/features/apply");
  EXPECT_EQ(transport_.calls[1].url, "http://127.0.0.1:5000/api/v1/endpoints/apply");
  EXPECT_EQ(transport_.calls[2].url, "http://127.0.0.1:5000/api/v1/cicd/apply");

  // Endpoints alone never reach the feature store.
  const std::filesystem::path only = dir_ / "endpoint.yaml";
  {
    std::ofstream out(only);
    out << "kind: Endpoint\nname: churn\nmodel: churn@production\n";
  }
  transport_.calls.clear();
  transport_.Reply(200, R"({"applied": false, "changes": []})");
  ASSERT_EQ(Run({"apply", "-f", only.string(), "--prune"}), 0) << err_.str();
  ASSERT_EQ(transport_.calls.size(), 1u);
  EXPECT_EQ(transport_.calls[0].url, "http://127.0.0.1:5000/api/v1/endpoints/apply");
}

TEST_F(FeaturesCliTest, DryRunSaysNothingWasAppliedAndJsonPrintsTheReply) {
  transport_.Reply(200, R"({"applied": false, "changes": [{"kind": "Entity", "name": "a",
      "action": "added", "old_version": null, "new_version": 1, "diffs": []}]})");
  ASSERT_EQ(Run({"apply", "-f", (dir_ / "defs" / "a.yml").string(), "--dry-run"}), 0);
  EXPECT_EQ(Json::parse(transport_.calls[0].body)["dry_run"], true);
  EXPECT_EQ(Json::parse(transport_.calls[0].body)["files"].size(), 1u);
  EXPECT_THAT(out_.str(),
              HasSubstr("Plan: 1 to add, 0 to change, 0 unchanged, 0 to remove (dry run: "
                        "nothing applied).\n"));
  transport_.Reply(200, R"({"applied": false, "changes": []})");
  ASSERT_EQ(Run({"apply", "-f", (dir_ / "defs").string(), "--json"}), 0);
  EXPECT_EQ(Json::parse(out_.str()), Json::parse(R"({"applied": false, "changes": []})"));
}

TEST_F(FeaturesCliTest, ApplyErrorsExit1WithTheServerMessageOrTheMissingPath) {
  transport_.Reply(400, R"({"error_code": "INVALID_PARAMETER_VALUE", "message":
      "defs/a.yml:3: Entity a: unknown field 'join_kez'"})");
  EXPECT_EQ(Run({"apply", "-f", (dir_ / "defs").string()}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("defs/a.yml:3: Entity a: unknown field 'join_kez'"));
  EXPECT_EQ(Run({"apply", "-f", (dir_ / "nope").string()}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("nope: no such file or directory"));
  EXPECT_EQ(transport_.calls.size(), 1u);
  EXPECT_EQ(Run({"apply"}), 2);  // -f is required
}

TEST_F(FeaturesCliTest, ListAsksEachKindAndPrintsATable) {
  transport_.Reply(200, R"({"items": [{"kind": "Entity", "name": "customer", "version": 1,
      "created_at": 1700000000000, "owner": "growth", "description": ""}]})");
  transport_.Reply(200, R"({"items": []})");
  transport_.Reply(200, R"({"items": [{"kind": "FeatureView", "name": "spend", "version": 3,
      "created_at": 1700000000000, "owner": "", "description": "Spend"}]})");
  transport_.Reply(200, R"({"items": []})");
  ASSERT_EQ(Run({"features", "list"}), 0) << err_.str();
  ASSERT_EQ(transport_.calls.size(), 4u);
  EXPECT_EQ(transport_.calls[0].url, "http://127.0.0.1:5000/api/v1/features/entities");
  EXPECT_EQ(transport_.calls[3].url, "http://127.0.0.1:5000/api/v1/features/services");
  EXPECT_EQ(out_.str(),
            "KIND         NAME      VERSION  CREATED (UTC)        OWNER   DESCRIPTION\n"
            "Entity       customer        1  2023-11-14 22:13:20  growth  -\n"
            "FeatureView  spend           3  2023-11-14 22:13:20  -       Spend\n");

  ASSERT_EQ(Run({"features", "list", "--kind", "views", "--json"}), 0);
  EXPECT_EQ(transport_.calls[4].url, "http://127.0.0.1:5000/api/v1/features/views");
  EXPECT_EQ(Run({"features", "list", "--kind", "tables"}), 2);
}

TEST_F(FeaturesCliTest, DescribeFindsTheKindAndPrintsTheView) {
  transport_.Reply(404, R"({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"})");
  transport_.Reply(404, R"({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"})");
  transport_.Reply(200, R"json({"kind": "FeatureView", "name": "spend", "version": 2,
      "content_hash": "abc", "created_at": 1700000000000, "description": "", "owner": "ml",
      "tags": {"team": "growth"}, "entities": ["customer"], "source": "tx", "ttl_ms": 2592000000,
      "online": true, "versions": [{"version": 1}, {"version": 2}], "features": [
        {"name": "amount", "type": "double", "nullable": true, "expr": "", "agg": "", "of": "",
         "window_ms": 0},
        {"name": "amount_log", "type": "double", "nullable": true, "expr": "log1p(amount)",
         "agg": "", "of": "", "window_ms": 0},
        {"name": "tx_7d", "type": "int64", "nullable": false, "expr": "", "agg": "count",
         "of": "", "window_ms": 604800000}]})json");
  transport_.Reply(404, R"({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"})");
  ASSERT_EQ(Run({"features", "describe", "spend"}), 0) << err_.str();
  EXPECT_EQ(transport_.calls[2].url, "http://127.0.0.1:5000/api/v1/features/views/spend");
  EXPECT_EQ(out_.str(),
            "FeatureView spend\n"
            "  version:       2 (versions: 1, 2)\n"
            "  content hash:  abc\n"
            "  created (UTC): 2023-11-14 22:13:20\n"
            "  description:   -\n"
            "  owner:         ml\n"
            "  tags:          team=growth\n"
            "  entities:      customer\n"
            "  source:        tx\n"
            "  ttl:           30d\n"
            "  online:        true\n"
            "\n"
            "FEATURE     TYPE    NULLABLE  DEFINITION\n"
            "amount      double  yes       source column\n"
            "amount_log  double  yes       log1p(amount)\n"
            "tx_7d       int64   no        count(*) over 7d\n");

  transport_.Reply(200, R"({"kind": "Entity", "name": "c", "version": 1, "removed": true,
      "join_keys": [{"name": "id", "type": "int64"}]})");
  ASSERT_EQ(Run({"features", "describe", "c", "--kind", "entities", "--version", "1"}), 0);
  EXPECT_EQ(transport_.calls.back().url,
            "http://127.0.0.1:5000/api/v1/features/entities/c/versions/1");
  EXPECT_THAT(out_.str(), HasSubstr("version:       1 (the object was removed since)"));
}

TEST_F(FeaturesCliTest, DescribeOfAnUnknownOrAmbiguousNameFails) {
  for (int i = 0; i < 4; ++i) {
    transport_.Reply(404, R"({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"})");
  }
  EXPECT_EQ(Run({"features", "describe", "ghost"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("no entity, source, view or service named 'ghost'"));

  transport_.Reply(200, R"({"kind": "Entity", "name": "x"})");
  transport_.Reply(200, R"({"kind": "Source", "name": "x"})");
  transport_.Reply(404, R"({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"})");
  transport_.Reply(404, R"({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"})");
  EXPECT_EQ(Run({"features", "describe", "x"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("'x' names objects of several kinds (entities, sources); "
                                    "pick one with --kind"));
}

}  // namespace
}  // namespace cairn::cli
