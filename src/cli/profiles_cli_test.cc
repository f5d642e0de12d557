// `cairn profiles …` against a fake transport: what create sends (a profile computed
// here, not the rows), the tables, check's local verdict and exit codes.

#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "cli/cli.h"
#include "cli/http_client.h"
#include "cli/testing/fake_transport.h"
#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "monitoring/constraints.h"
#include "monitoring/profile.h"
#include "monitoring/reference_rows.h"

namespace cairn::cli {
namespace {

using ::testing::HasSubstr;

using FakeTransport = ::cairn::cli::testing::FakeTransport;

class ProfilesCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-profiles-cli-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream(Path("train.csv")) << "age,plan\n30,basic\n41,pro\n25,basic\n60,pro\n";
    std::ofstream(Path("new.csv")) << "age,plan\n-5,gold\n,basic\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) { return (dir_ / name).string(); }

  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    CliEnvironment env{.out = &out_, .err = &err_, .transport = &transport_};
    env.getenv = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
    return RunCli(args, env);
  }

  // What the server would answer for the stored train.csv profile.
  Json Stored() {
    monitoring::DataFrame frame;
    frame.rows = 4;
    monitoring::FrameColumn age;
    age.name = "age";
    age.numbers = {30, 41, 25, 60};
    monitoring::FrameColumn plan;
    plan.name = "plan";
    plan.categorical = true;
    plan.categories = {"basic", "pro"};
    plan.codes = {0, 1, 0, 1};
    frame.columns = {age, plan};
    auto profile = monitoring::ProfileFrame(frame);
    return {{"name", "train"},
            {"version", 2},
            {"rows", 4},
            {"column_count", 2},
            {"source", "train.csv"},
            {"created_ms", 0},
            {"profile", monitoring::ProfileToJson(*profile)},
            {"constraints", monitoring::ConstraintsToJson(monitoring::InferConstraints(*profile))}};
  }

  std::filesystem::path dir_;
  FakeTransport transport_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(ProfilesCliTest, CreateSendsTheProfileAndTheRowsCompressed) {
  transport_.Reply(200, Stored().dump());
  ASSERT_EQ(Run({"profiles", "create", "train", "-f", Path("train.csv"), "--max-domain", "10"}), 0)
      << err_.str();
  ASSERT_EQ(transport_.calls.size(), 1u);
  EXPECT_EQ(transport_.calls[0].method, "POST");
  EXPECT_EQ(transport_.calls[0].url, "http://127.0.0.1:5000/api/v1/monitoring/profiles");
  Json body = Json::parse(transport_.calls[0].body);
  EXPECT_EQ(body["name"], "train");
  EXPECT_EQ(body["source"], "train.csv");
  EXPECT_EQ(body["max_domain_size"], 10);
  EXPECT_EQ(body["profile"]["rows"], 4);
  EXPECT_EQ(body["profile"]["columns"][0]["mean"], 39.0);
  EXPECT_FALSE(body.contains("data"));
  // The rows ride along compressed (reference_rows.h, base64) for monitors' drift.
  std::string rows;
  ASSERT_TRUE(absl::Base64Unescape(body["rows"].get<std::string>(), &rows));
  auto frame = monitoring::DecodeReferenceRows(rows);
  ASSERT_TRUE(frame.ok()) << frame.status();
  EXPECT_EQ(frame->rows, 4);
  EXPECT_EQ(frame->Names(), (std::vector<std::string>{"age", "plan"}));
  EXPECT_THAT(out_.str(), HasSubstr("profile train version 2: 4 rows, 2 columns"));
  EXPECT_THAT(out_.str(), HasSubstr("age     Integral      4      0    39"));
  EXPECT_THAT(out_.str(), HasSubstr("basic (2), pro (2)"));
}

TEST_F(ProfilesCliTest, CheckFetchesConstraintsAndChecksHere) {
  transport_.Reply(200, Stored().dump());
  EXPECT_EQ(Run({"profiles", "check", "train", "-f", Path("new.csv")}), 1);
  ASSERT_EQ(transport_.calls.size(), 1u);
  EXPECT_EQ(transport_.calls[0].method, "GET");
  EXPECT_EQ(transport_.calls[0].url, "http://127.0.0.1:5000/api/v1/monitoring/profiles/train");
  EXPECT_THAT(out_.str(), HasSubstr("age     completeness_check"));
  EXPECT_THAT(out_.str(), HasSubstr("plan    categorical_values_check"));
  EXPECT_THAT(out_.str(), HasSubstr("3 violations of profile train version 2"));

  transport_.Reply(200, Stored().dump());
  EXPECT_EQ(Run({"profiles", "check", "train", "-f", Path("train.csv"), "--json"}), 0);
  Json out = Json::parse(out_.str());
  EXPECT_EQ(out["passed"], true);
  EXPECT_EQ(out["violations"], Json::array());
}

TEST_F(ProfilesCliTest, ErrorsExitTwoWithTheMessage) {
  EXPECT_EQ(Run({"profiles", "create", "x", "-f", Path("missing.csv")}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("missing.csv"));
  EXPECT_TRUE(transport_.calls.empty());
  transport_.Reply(404, R"({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "profile 'nope' does not exist; list them with `cairn profiles list`"})");
  EXPECT_EQ(Run({"profiles", "show", "nope"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("profile 'nope' does not exist"));
}

TEST_F(ProfilesCliTest, ListPrintsATable) {
  transport_.Reply(200, R"({"profiles": [{"name": "train", "version": 2, "rows": 4,
      "column_count": 2, "source": "train.csv", "created_ms": 0}]})");
  ASSERT_EQ(Run({"profiles", "list"}), 0) << err_.str();
  EXPECT_EQ(out_.str(),
            "NAME   VERSION  ROWS  COLUMNS  SOURCE     CREATED (UTC)\n"
            "train        2     4        2  train.csv  -\n");
}

}  // namespace
}  // namespace cairn::cli
