// The profile routes through the router on a real ProfileStore (SQLite in memory): create
// from JSON columns, CSV text or a profile; list, get, versions, check, delete; 400s and
// 404s naming the field or the profile.

#include "api/profile_handlers.h"

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"

#include "api/router.h"
#include "common/clock.h"
#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "monitoring/data_frame.h"
#include "monitoring/profile.h"
#include "monitoring/profile_store.h"
#include "monitoring/reference_rows.h"
#include "storage/database.h"

namespace cairn::api {
namespace {

using ::testing::HasSubstr;

class ProfileHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = storage::OpenDatabase("sqlite::memory:");
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    rows_dir_ = std::filesystem::temp_directory_path() /
                ("cairn-profile-handlers-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(rows_dir_);
    auto store = monitoring::ProfileStore::Open(*db_, clock_, rows_dir_.string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    RegisterProfileRoutes(router_, store_.get());
  }

  HttpResponse Call(const std::string& method, const std::string& target,
                    const Json& body = Json()) {
    HttpRequest request;
    request.method = method;
    request.target = target;
    request.path = target.substr(0, target.find('?'));
    if (target.find('?') != std::string::npos) {
      std::string query = target.substr(target.find('?') + 1);
      size_t eq = query.find('=');
      request.query.emplace_back(query.substr(0, eq), query.substr(eq + 1));
    }
    if (!body.is_null()) request.body = body.dump();
    return router_.Dispatch(std::move(request));
  }

  Json Ok(const HttpResponse& response) {
    EXPECT_EQ(response.status, 200) << response.body;
    auto json = ParseJson(response.body);
    EXPECT_TRUE(json.ok());
    return json.ok() ? *json : Json();
  }

  void TearDown() override { std::filesystem::remove_all(rows_dir_); }

  std::filesystem::path rows_dir_;
  FakeClock clock_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<monitoring::ProfileStore> store_;
  Router router_;
};

Json TrainData() {
  return {{"age", {30, 41, 25, 60}}, {"plan", {"basic", "pro", "basic", "pro"}}};
}

TEST_F(ProfileHandlersTest, CreatedFromRowsKeepsThemForMonitorsAndAProfileMayBringThem) {
  Json created = Ok(Call("POST", "/api/v1/monitoring/profiles",
                         {{"name", "train"}, {"data", TrainData()}}));
  EXPECT_EQ(created["has_rows"], true);
  auto rows = store_->GetRows("train");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_TRUE(rows->frame.has_value());
  EXPECT_EQ(rows->frame->rows, 4);

  // A profile alone has no rows; with "rows" (base64 of their encoding, as the CLI sends).
  auto frame = monitoring::DataFrameFromJson(TrainData(), {}, "data");
  ASSERT_TRUE(frame.ok());
  auto profile = monitoring::ProfileFrame(*frame);
  ASSERT_TRUE(profile.ok());
  const Json profile_json = monitoring::ProfileToJson(*profile);
  Json alone = Ok(Call("POST", "/api/v1/monitoring/profiles",
                       {{"name", "train"}, {"profile", profile_json}}));
  EXPECT_EQ(alone["has_rows"], false);
  auto encoded = monitoring::EncodeReferenceRows(*frame);
  ASSERT_TRUE(encoded.ok());
  Json with_rows = Ok(Call("POST", "/api/v1/monitoring/profiles",
                           {{"name", "train"},
                            {"profile", profile_json},
                            {"rows", absl::Base64Escape(*encoded)}}));
  EXPECT_EQ(with_rows["version"], 3);
  EXPECT_EQ(with_rows["has_rows"], true);
  Json versions = Ok(Call("GET", "/api/v1/monitoring/profiles/train/versions"));
  EXPECT_EQ(versions["versions"][1]["has_rows"], false);

  HttpResponse bad = Call("POST", "/api/v1/monitoring/profiles",
                          {{"name", "train"}, {"profile", profile_json}, {"rows", "!!"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("rows: must be base64"));
  HttpResponse both = Call("POST", "/api/v1/monitoring/profiles",
                           {{"name", "train"}, {"data", TrainData()}, {"rows", "AAAA"}});
  EXPECT_EQ(both.status, 400);
  EXPECT_THAT(both.body, HasSubstr("rows: only with profile"));
  Ok(Call("DELETE", "/api/v1/monitoring/profiles/train"));
  EXPECT_FALSE(std::filesystem::exists(rows_dir_ / "train"));
}

TEST_F(ProfileHandlersTest, CreateFromJsonThenGetListVersions) {
  Json created = Ok(Call("POST", "/api/v1/monitoring/profiles",
                         {{"name", "train"}, {"data", TrainData()}, {"source", "unit"}}));
  EXPECT_EQ(created["name"], "train");
  EXPECT_EQ(created["version"], 1);
  EXPECT_EQ(created["rows"], 4);
  EXPECT_EQ(created["column_count"], 2);
  // nlohmann objects sort keys: age, plan.
  EXPECT_EQ(created["profile"]["columns"][0]["name"], "age");
  EXPECT_EQ(created["profile"]["columns"][0]["mean"], 39.0);
  EXPECT_EQ(created["constraints"]["features"][0]["inferred_type"], "Integral");
  EXPECT_EQ(created["constraints"]["features"][1]["string_constraints"]["domains"],
            (Json{"basic", "pro"}));

  Json again = Ok(Call("POST", "/api/v1/monitoring/profiles",
                       {{"name", "train"}, {"csv", "age,plan\n1,basic\n2,pro\n"}}));
  EXPECT_EQ(again["version"], 2);
  EXPECT_EQ(again["source"], "api");

  Json list = Ok(Call("GET", "/api/v1/monitoring/profiles"));
  ASSERT_EQ(list["profiles"].size(), 1u);
  EXPECT_EQ(list["profiles"][0]["version"], 2);
  Json first = Ok(Call("GET", "/api/v1/monitoring/profiles/train?version=1"));
  EXPECT_EQ(first["rows"], 4);
  EXPECT_EQ(first["source"], "unit");
  Json versions = Ok(Call("GET", "/api/v1/monitoring/profiles/train/versions"));
  EXPECT_EQ(versions["versions"].size(), 2u);
}

TEST_F(ProfileHandlersTest, CheckReportsViolationsPerColumn) {
  Ok(Call("POST", "/api/v1/monitoring/profiles", {{"name", "train"}, {"data", TrainData()}}));
  Json pass = Ok(Call("POST", "/api/v1/monitoring/profiles/train/check", {{"data", TrainData()}}));
  EXPECT_EQ(pass["passed"], true);
  EXPECT_EQ(pass["violations"], Json::array());
  Json fail = Ok(Call("POST", "/api/v1/monitoring/profiles/train/check",
                      {{"csv", "age,plan,extra\n-5,gold,1\n,basic,2\n"}}));
  EXPECT_EQ(fail["passed"], false);
  EXPECT_EQ(fail["rows"], 2);
  std::vector<std::string> kinds;
  for (const Json& v : fail["violations"]) {
    kinds.push_back(v["feature_name"].get<std::string>() + ":" +
                    v["constraint_check_type"].get<std::string>());
  }
  EXPECT_THAT(kinds, ::testing::ElementsAre("age:completeness_check", "age:range_check",
                                            "plan:categorical_values_check",
                                            "extra:extra_column_check"));
  EXPECT_THAT(fail["violations"][2]["description"].get<std::string>(),
              HasSubstr("e.g. 'gold'"));
}

TEST_F(ProfileHandlersTest, CreateFromAProfileAndCustomConstraints) {
  Json created = Ok(Call("POST", "/api/v1/monitoring/profiles",
                         {{"name", "a"}, {"data", TrainData()}}));
  Json constraints = created["constraints"];
  constraints["features"][0]["num_constraints"]["max"] = 100;
  Json second = Ok(Call("POST", "/api/v1/monitoring/profiles",
                        {{"name", "b"}, {"profile", created["profile"]},
                         {"constraints", constraints}}));
  EXPECT_EQ(second["rows"], 4);
  EXPECT_EQ(second["constraints"]["features"][0]["num_constraints"]["max"], 100.0);
  // A profile can be checked too.
  Json check = Ok(Call("POST", "/api/v1/monitoring/profiles/b/check",
                       {{"profile", created["profile"]}}));
  EXPECT_EQ(check["passed"], true);
}

TEST_F(ProfileHandlersTest, ErrorsNameTheFieldOrProfile) {
  HttpResponse none = Call("POST", "/api/v1/monitoring/profiles", {{"name", "x"}});
  EXPECT_EQ(none.status, 400);
  EXPECT_THAT(none.body, HasSubstr("data, csv, profile: give exactly one"));
  HttpResponse bad_name = Call("POST", "/api/v1/monitoring/profiles",
                               {{"name", "no spaces"}, {"data", TrainData()}});
  EXPECT_EQ(bad_name.status, 400);
  EXPECT_THAT(bad_name.body, HasSubstr("'no spaces' is not a valid profile name"));
  HttpResponse ragged = Call("POST", "/api/v1/monitoring/profiles",
                             {{"name", "x"}, {"data", {{"a", {1, 2}}, {"b", {1}}}}});
  EXPECT_EQ(ragged.status, 400);
  EXPECT_THAT(ragged.body, HasSubstr("data"));
  HttpResponse missing = Call("GET", "/api/v1/monitoring/profiles/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(missing.body, HasSubstr("profile 'nope' does not exist"));
  HttpResponse check_missing = Call("POST", "/api/v1/monitoring/profiles/nope/check",
                                    {{"data", TrainData()}});
  EXPECT_EQ(check_missing.status, 404);
  HttpResponse bad_constraints =
      Call("POST", "/api/v1/monitoring/profiles",
           {{"name", "x"}, {"data", TrainData()}, {"constraints", {{"features", 3}}}});
  EXPECT_EQ(bad_constraints.status, 400);
  EXPECT_THAT(bad_constraints.body, HasSubstr("constraints: features: must be an array"));
}

TEST_F(ProfileHandlersTest, DeleteRemovesTheProfile) {
  Ok(Call("POST", "/api/v1/monitoring/profiles", {{"name", "gone"}, {"data", TrainData()}}));
  EXPECT_EQ(Ok(Call("DELETE", "/api/v1/monitoring/profiles/gone"))["deleted"], "gone");
  EXPECT_EQ(Call("GET", "/api/v1/monitoring/profiles/gone").status, 404);
}

}  // namespace
}  // namespace cairn::api
