// POST /api/v1/monitoring/drift through the router: the report for JSON columns, options,
// and 400s naming the field.

#include "api/drift_handlers.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "api/router.h"
#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::api {
namespace {

using ::testing::HasSubstr;

class DriftHandlersTest : public ::testing::Test {
 protected:
  DriftHandlersTest() { RegisterDriftRoutes(router_); }

  HttpResponse Post(const Json& body) {
    HttpRequest request;
    request.method = "POST";
    request.path = "/api/v1/monitoring/drift";
    request.target = request.path;
    request.body = body.dump();
    return router_.Dispatch(std::move(request));
  }

  // 200 reference and current rows: x shifted by 25, y and city the same.
  static Json Body() {
    Json reference = {{"x", Json::array()}, {"y", Json::array()}, {"city", Json::array()}};
    Json current = reference;
    const char* cities[] = {"Paris", "Oslo", "Rome"};
    for (int i = 0; i < 200; ++i) {
      reference["x"].push_back(i % 50);
      current["x"].push_back(i % 50 + 25);
      reference["y"].push_back((i * 7) % 40);
      current["y"].push_back((i * 7) % 40);
      reference["city"].push_back(cities[i % 3]);
      current["city"].push_back(i == 0 ? Json() : Json(cities[i % 3]));
    }
    return {{"reference", reference}, {"current", current}};
  }

  Router router_;
};

TEST_F(DriftHandlersTest, ReportForJsonColumns) {
  HttpResponse response = Post(Body());
  ASSERT_EQ(response.status, 200) << response.body;
  Json report = Json::parse(response.body);
  EXPECT_EQ(report["number_of_columns"], 3);
  EXPECT_EQ(report["drifted_columns"], 1);
  EXPECT_EQ(report["dataset_drift"], false);
  EXPECT_EQ(report["reference_rows"], 200);
  for (const Json& column : report["columns"]) {
    if (column["column"] == "x") {
      EXPECT_EQ(column["test"], "ks");
      EXPECT_EQ(column["drifted"], true);
    }
    if (column["column"] == "city") {
      EXPECT_EQ(column["kind"], "categorical");
      EXPECT_EQ(column["current_missing"], 1);
      EXPECT_EQ(column["drifted"], false);
    }
    EXPECT_FALSE(column.contains("histogram"));
  }
}

TEST_F(DriftHandlersTest, OptionsReachComputeDrift) {
  Json body = Body();
  body["columns"] = {"x", "y"};
  body["test"] = "wasserstein";
  body["per_column"] = {{"y", {{"test", "psi"}, {"threshold", 0.2}}}};
  body["drift_share"] = 0.5;
  body["histograms"] = true;
  HttpResponse response = Post(body);
  ASSERT_EQ(response.status, 200) << response.body;
  Json report = Json::parse(response.body);
  ASSERT_EQ(report["columns"].size(), 2u);
  EXPECT_EQ(report["columns"][0]["column"], "x");
  EXPECT_EQ(report["columns"][0]["test"], "wasserstein");
  EXPECT_EQ(report["columns"][1]["test"], "psi");
  EXPECT_EQ(report["columns"][1]["threshold"], 0.2);
  EXPECT_TRUE(report["columns"][0].contains("histogram"));
  EXPECT_EQ(report["dataset_drift"], true);  // 1 of 2 >= 0.5
}

TEST_F(DriftHandlersTest, CategoricalForcesCategories) {
  Json body = Body();
  body["categorical"] = {"y"};
  body["columns"] = {"y"};
  HttpResponse response = Post(body);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Json::parse(response.body)["columns"][0]["kind"], "categorical");
}

TEST_F(DriftHandlersTest, BadRequestsName400TheField) {
  auto message = [this](const Json& body) {
    HttpResponse response = Post(body);
    EXPECT_EQ(response.status, 400) << response.body;
    Json error = Json::parse(response.body);
    EXPECT_EQ(error["error_code"], "INVALID_PARAMETER_VALUE");
    return error["message"].get<std::string>();
  };
  Json body = Body();
  body.erase("current");
  EXPECT_THAT(message(body), HasSubstr("current: required"));

  body = Body();
  body["reference"] = {1, 2};
  EXPECT_THAT(message(body), HasSubstr("reference: must be an object of columns"));

  body = Body();
  body["current"]["x"].push_back(1);
  EXPECT_THAT(message(body), HasSubstr("current.x: has 201 values but current.city has 200"));

  body = Body();
  body["test"] = "kss";
  EXPECT_THAT(message(body), HasSubstr("test: unknown test 'kss' (did you mean 'ks'?)"));

  body = Body();
  body["threshold"] = -1;
  EXPECT_THAT(message(body), HasSubstr("threshold: must be a number >= 0"));

  body = Body();
  body["drift_share"] = 2;
  EXPECT_THAT(message(body), HasSubstr("drift_share: must be a number above 0 and at most 1"));

  body = Body();
  body["per_column"] = {{"xx", {{"test", "ks"}}}};
  EXPECT_THAT(message(body), HasSubstr("per_column.xx: no such column in reference (did you mean 'x'?)"));

  body = Body();
  body["per_column"] = {{"x", {{"test", 3}}}};
  EXPECT_THAT(message(body), HasSubstr("per_column.x.test: must be a test name, got 3"));

  body = Body();
  body["categorical"] = {"colour"};
  EXPECT_THAT(message(body), HasSubstr("categorical: 'colour' is not a column of reference"));

  body = Body();
  body["columns"] = {"nope"};
  EXPECT_THAT(message(body), HasSubstr("nope"));

  HttpRequest request;
  request.method = "POST";
  request.path = "/api/v1/monitoring/drift";
  request.body = "{not json";
  EXPECT_EQ(router_.Dispatch(std::move(request)).status, 400);
}

}  // namespace
}  // namespace cairn::api
