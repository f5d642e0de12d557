#include "features/online/online_feature_service.h"

#include <filesystem>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "api/online_feature_handlers.h"
#include "features/entity_key.h"
#include "features/online/embedded_online_store.h"
#include "gtest/gtest.h"

namespace cairn::features {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;  // 2023-11-14T22:13:20Z

class FakeCatalog : public FeatureCatalog {
 public:
  absl::StatusOr<std::shared_ptr<const ServedView>> View(std::string_view name) const override {
    auto it = views.find(std::string(name));
    if (it == views.end()) {
      return absl::NotFoundError(absl::StrCat("feature view '", std::string(name), "' not found"));
    }
    return it->second;
  }
  absl::StatusOr<std::vector<FeatureRef>> Service(std::string_view name) const override {
    auto it = services.find(std::string(name));
    if (it == services.end()) {
      return absl::NotFoundError(absl::StrCat("feature service '", std::string(name), "' not found"));
    }
    return it->second;
  }
  std::map<std::string, std::shared_ptr<const ServedView>> views;
  std::map<std::string, std::vector<FeatureRef>> services;
};

FeatureSpec Feature(std::string name, FeatureType type) {
  FeatureSpec f;
  f.name = std::move(name);
  f.type = type;
  return f;
}

std::string IntKey(int64_t id) {
  std::string out;
  EncodeKeyValue(Value(id), FeatureType::kInt64, &out);
  return out;
}

class OnlineFeatureServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-online-service-" + std::to_string(std::random_device()()));
    auto store = OpenEmbeddedOnlineStore(dir_.string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);

    auto stats = std::make_shared<ServedView>();
    stats->spec.meta.name = "driver_stats";
    stats->spec.ttl_ms = 3'600'000;
    stats->spec.features = {Feature("conv_rate", FeatureType::kDouble),
                            Feature("trips", FeatureType::kInt64),
                            Feature("city", FeatureType::kString),
                            Feature("active", FeatureType::kBool),
                            Feature("last_seen", FeatureType::kTimestamp)};
    stats->join_keys = {Field{"driver_id", FeatureType::kInt64, false}};
    catalog_.views["driver_stats"] = stats;

    auto pairs = std::make_shared<ServedView>();
    pairs->spec.meta.name = "pair_stats";
    pairs->spec.features = {Feature("trips", FeatureType::kInt64)};
    pairs->join_keys = {Field{"driver_id", FeatureType::kInt64, false},
                        Field{"city_code", FeatureType::kString, false}};
    catalog_.views["pair_stats"] = pairs;
    catalog_.services["model_v1"] = {FeatureRef{"driver_stats", "trips"},
                                     FeatureRef{"pair_stats", ""}};

    // 1001: fresh; 1002: an hour and a bit old, with nulls; 1003: absent.
    std::vector<std::string> keys = {IntKey(1001), IntKey(1002)};
    std::vector<OnlineRow> rows = {
        OnlineRow{kNow - 60'000, kNow,
                  {Value(0.5), Value(int64_t{308}), Value("Paris \"15e\""), Value(true),
                   Value(int64_t{1'640'995'200'250})}},
        OnlineRow{kNow - 3'600'001, kNow, {Value(1.0), Value(), Value(), Value(false), Value()}}};
    ASSERT_TRUE(store_->Write("driver_stats", keys, rows).ok());
    std::string pair_key = IntKey(1001);
    EncodeKeyValue(Value(std::string("PAR")), FeatureType::kString, &pair_key);
    ASSERT_TRUE(store_->Write("pair_stats", std::vector<std::string>{pair_key},
                              std::vector<OnlineRow>{OnlineRow{kNow - 250, 0, {Value(int64_t{7})}}})
                    .ok());
    service_ = std::make_unique<OnlineFeatureService>(&catalog_, store_.get(), &clock_);
  }
  void TearDown() override {
    service_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string Get(std::string_view request) {
    absl::StatusOr<std::string> out = service_->GetOnlineFeatures(request);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : "";
  }
  absl::Status Error(std::string_view request) {
    absl::StatusOr<std::string> out = service_->GetOnlineFeatures(request);
    EXPECT_FALSE(out.ok()) << *out;
    return out.status();
  }

  std::filesystem::path dir_;
  FakeClock clock_{kNow};
  FakeCatalog catalog_;
  std::unique_ptr<OnlineStore> store_;
  std::unique_ptr<OnlineFeatureService> service_;
};

TEST_F(OnlineFeatureServiceTest, AnswersFeastsColumnMajorShape) {
  std::string out = Get(R"({"features": ["driver_stats:conv_rate", "driver_stats:trips"],
                            "entities": {"driver_id": [1001, 1002, 1003]}})");
  EXPECT_EQ(out,
            R"({"metadata":{"feature_names":["driver_id","conv_rate","trips"]},"results":[)"
            R"({"values":[1001,1002,1003],"statuses":["PRESENT","PRESENT","PRESENT"],)"
            R"("event_timestamps":["1970-01-01T00:00:00Z","1970-01-01T00:00:00Z","1970-01-01T00:00:00Z"]},)"
            R"({"values":[0.5,1.0,null],"statuses":["PRESENT","OUTSIDE_MAX_AGE","NOT_FOUND"],)"
            R"("event_timestamps":["2023-11-14T22:12:20Z","2023-11-14T21:13:19.999Z","1970-01-01T00:00:00Z"]},)"
            R"({"values":[308,null,null],"statuses":["PRESENT","NULL_VALUE","NOT_FOUND"],)"
            R"("event_timestamps":["2023-11-14T22:12:20Z","2023-11-14T21:13:19.999Z","1970-01-01T00:00:00Z"]}]})");
}

TEST_F(OnlineFeatureServiceTest, EveryValueTypeIsWrittenAsFeastDoes) {
  std::string out = Get(R"({"features": ["driver_stats:city", "driver_stats:active",
                                         "driver_stats:last_seen"],
                            "entities": {"driver_id": [1001, 1002]}})");
  EXPECT_NE(out.find(R"("values":["Paris \"15e\"",null])"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("values":[true,false])"), std::string::npos) << out;
  // Timestamp features: whole epoch seconds, as Feast's unix_timestamp_val.
  EXPECT_NE(out.find(R"("values":[1640995200,null])"), std::string::npos) << out;
}

TEST_F(OnlineFeatureServiceTest, FullFeatureNamesAndAFeatureService) {
  std::string out = Get(R"({"feature_service": "model_v1", "full_feature_names": true,
                            "entities": {"city_code": ["PAR", "LYS"], "driver_id": [1001, 1001]}})");
  EXPECT_EQ(out.substr(0, out.find("\"results\"")),
            R"({"metadata":{"feature_names":["city_code","driver_id","driver_stats__trips",)"
            R"("pair_stats__trips"]},)");
  EXPECT_NE(out.find(R"({"values":["PAR","LYS"],"statuses":["PRESENT","PRESENT"])"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(R"({"values":[7,null],"statuses":["PRESENT","NOT_FOUND"],)"
                     R"("event_timestamps":["2023-11-14T22:13:19.750Z","1970-01-01T00:00:00Z"]})"),
            std::string::npos)
      << out;
}

TEST_F(OnlineFeatureServiceTest, DoublesAreWrittenLikePythonRepr) {
  std::vector<std::pair<double, std::string>> cases = {
      {0.1, "0.1"},       {1.0, "1.0"},        {-2.5, "-2.5"},   {1e16, "1e+16"},
      {1.5e-7, "1.5e-07"}, {123456.0, "123456.0"}, {0.0001, "0.0001"},
      {1e15, "1000000000000000.0"}, {std::nan(""), "null"}, {-INFINITY, "null"},
      {-0.0, "-0.0"},     {123.456, "123.456"}, {-0.00012, "-0.00012"}, {1.2e-5, "1.2e-05"},
      {1234567890123456.7, "1234567890123456.8"}, {9.5e15, "9500000000000000.0"},
      {-1e-300, "-1e-300"}, {1.7976931348623157e308, "1.7976931348623157e+308"}};
  std::vector<std::string> keys;
  std::vector<OnlineRow> rows;
  std::string ids;
  for (size_t i = 0; i < cases.size(); ++i) {
    keys.push_back(IntKey(5000 + i));
    rows.push_back(OnlineRow{kNow, 0, {Value(cases[i].first)}});
    absl::StrAppend(&ids, i ? "," : "", 5000 + i);
  }
  ASSERT_TRUE(store_->Write("driver_stats", keys, rows).ok());
  std::string out =
      Get(absl::StrCat(R"({"features":["driver_stats:conv_rate"],"entities":{"driver_id":[)", ids,
                       "]}}"));
  std::string expected;
  for (size_t i = 0; i < cases.size(); ++i) absl::StrAppend(&expected, i ? "," : "", cases[i].second);
  EXPECT_NE(out.find(absl::StrCat("{\"values\":[", expected, "]")), std::string::npos) << out;
}

TEST_F(OnlineFeatureServiceTest, BadRequestsNameTheField) {
  struct Case {
    std::string request;
    std::string message;
  };
  std::vector<Case> cases = {
      {R"({"features":["driver_stats:trips"],"entities":{"driver_id":[1001,"abc"]}})",
       R"(entities.driver_id: expected int64 values, got "abc")"},
      {R"({"features":["driver_stats:trips"],"entities":{"driver_id":[1.5]}})",
       R"(entities.driver_id: expected int64 values, got 1.5)"},
      {R"({"features":["driver_stats:trps"],"entities":{"driver_id":[1]}})",
       R"(features[0]: feature view 'driver_stats' has no feature 'trps' (did you mean 'trips'?))"},
      {R"({"features":["driver_stats:trips","drivers:x"],"entities":{"driver_id":[1]}})",
       R"(features[1]: feature view 'drivers' not found)"},
      {R"({"features":["trips"],"entities":{"driver_id":[1]}})",
       R"(features[0]: 'trips' is not of the form "view:feature")"},
      {R"({"feature_service":"nope","entities":{"driver_id":[1]}})",
       R"(feature_service: feature service 'nope' not found)"},
      {R"({"features":["pair_stats:trips"],"entities":{"driver_id":[1,2],"city_code":["A"]}})",
       R"(entities.city_code: 1 values, but entities.driver_id has 2; every join key needs one )"
       R"(value per row)"},
      {R"({"features":["pair_stats:trips"],"entities":{"driver_id":[1]}})",
       R"(entities: missing 'city_code', a join key of feature view 'pair_stats')"},
      {R"({"entities":{"driver_id":[1]}})",
       R"(request: give features (a list of "view:feature") or feature_service)"},
      {R"({"features":["driver_stats:trips"],"feature_service":"model_v1","entities":{"driver_id":[1]}})",
       R"(request: give either features or feature_service, not both)"},
      {R"({"features":["driver_stats:trips","pair_stats:trips"],)"
       R"("entities":{"driver_id":[1],"city_code":["A"]}})",
       R"(features: two feature views have a feature named 'trips'; set full_feature_names to true)"},
      {R"({"features":["driver_stats:trips"]})",
       R"(entities: must map each join key to a list of values)"},
      {R"({"features":["driver_stats:trips"],"entities":{"driver_id":5}})",
       R"(entities.driver_id: expected a list of values)"},
      {R"([1,2])", R"(request body: expected a JSON object)"},
  };
  for (const Case& c : cases) {
    absl::Status st = Error(c.request);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.request;
    EXPECT_EQ(std::string(st.message()), c.message) << c.request;
  }
  absl::Status st = Error(R"({"features": ["driver_stats:trips"], "entities": {)");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
}

TEST_F(OnlineFeatureServiceTest, RoutesAnswerJsonAnd400) {
  api::Router router;
  api::RegisterOnlineFeatureRoutes(router, service_.get(), /*inline_handler=*/true);
  for (const char* path : {"/get-online-features", "/api/v1/features/online"}) {
    api::HttpRequest request;
    request.method = "POST";
    request.path = path;
    request.target = path;
    request.body = R"({"features":["driver_stats:trips"],"entities":{"driver_id":[1001]}})";
    api::HttpResponse response = router.Dispatch(request);
    EXPECT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.body.substr(0, 14), R"({"metadata":{")");
    request.body = R"({"features":["driver_stats:trips"],"entities":{"driver_id":["x"]}})";
    response = router.Dispatch(request);
    EXPECT_EQ(response.status, 400);
    EXPECT_NE(response.body.find("entities.driver_id: expected int64 values"), std::string::npos)
        << response.body;
  }
  api::Router::Match match = router.Find("POST", "/get-online-features");
  ASSERT_NE(match.route, nullptr);
  EXPECT_TRUE(match.route->options.inline_handler);
}

}  // namespace
}  // namespace cairn::features

namespace cairn::features {
namespace {

// ---- typed lookups (the endpoint service's predict path) ----

TEST_F(OnlineFeatureServiceTest, TypedLookupWritesValuesIntoTheCallersRows) {
  catalog_.services["typed"] = {FeatureRef{"driver_stats", "conv_rate"},
                                FeatureRef{"driver_stats", "city"}, FeatureRef{"pair_stats", ""}};
  absl::StatusOr<OnlineFeatureSet> set = service_->ResolveFeatures("typed");
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->features.size(), 3u);
  EXPECT_EQ(set->features[0].name, "conv_rate");
  EXPECT_EQ(set->features[2].name, "trips");
  ASSERT_EQ(set->join_keys.size(), 2u);
  EXPECT_EQ(set->join_keys[0].name, "driver_id");
  EXPECT_EQ(set->join_keys[1].name, "city_code");

  std::vector<EntityKeyValue> drivers = {{false, 1001, {}}, {false, 1002, {}}, {false, 1003, {}}};
  std::vector<EntityKeyValue> cities = {{true, 0, "PAR"}, {true, 0, "PAR"}, {true, 0, "LON"}};
  std::vector<EntityKeyColumn> entities = {{"city_code", cities}, {"driver_id", drivers}};
  // Output rows of 4 columns: trips → 0, conv_rate → 3, city skipped; column 1, 2 untouched.
  std::vector<Value> out(12, Value(-1.0));
  std::vector<int> target = {3, -1, 0};
  ASSERT_TRUE(service_->Lookup(*set, entities, 3, target, 4, out.data()).ok());
  EXPECT_EQ(out[0], Value(int64_t{7}));
  EXPECT_EQ(out[1], Value(-1.0));
  EXPECT_EQ(out[3], Value(0.5));
  EXPECT_EQ(out[4], Value());   // no pair row for (1002, PAR)
  EXPECT_EQ(out[7], Value(1.0));  // outside the ttl: written as stored
  EXPECT_EQ(out[8], Value());
  EXPECT_EQ(out[11], Value());  // 1003: absent

  // The same thread again (reused buffers), one row.
  std::vector<Value> one(4);
  ASSERT_TRUE(service_->Lookup(*set, std::vector<EntityKeyColumn>{{"driver_id", {drivers.data(), 1}},
                                                                  {"city_code", {cities.data(), 1}}},
                               1, target, 4, one.data())
                  .ok());
  EXPECT_EQ(one[0], Value(int64_t{7}));
  EXPECT_EQ(one[3], Value(0.5));
}

// A timestamp feature also serves days_since_<name>, computed at lookup time, as training
// sets hand timestamps to models.
TEST_F(OnlineFeatureServiceTest, TimestampFeaturesAlsoServeDaysSinceAtLookupTime) {
  catalog_.services["recency"] = {FeatureRef{"driver_stats", "last_seen"},
                                  FeatureRef{"driver_stats", "trips"}};
  absl::StatusOr<OnlineFeatureSet> set = service_->ResolveFeatures("recency");
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->features.size(), 3u);
  EXPECT_EQ(set->features[2].name, "days_since_last_seen");
  EXPECT_EQ(set->features[2].type, FeatureType::kDouble);
  EXPECT_TRUE(set->features[2].days_since);
  std::vector<EntityKeyValue> drivers = {{false, 1001, {}}, {false, 1002, {}}};
  std::vector<EntityKeyColumn> entities = {{"driver_id", drivers}};
  std::vector<Value> out(2);
  std::vector<int> target = {-1, -1, 0};
  clock_.Set(1'640'995'200'250 + 3 * 86'400'000);  // three days after last_seen of 1001
  ASSERT_TRUE(service_->Lookup(*set, entities, 2, target, 1, out.data()).ok());
  EXPECT_EQ(out[0], Value(3.0));
  EXPECT_EQ(out[1], Value());  // 1002's last_seen is null
}

TEST_F(OnlineFeatureServiceTest, TypedLookupErrorsNameTheField) {
  absl::StatusOr<OnlineFeatureSet> dup = service_->ResolveFeatures("model_v1");
  ASSERT_EQ(dup.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(dup.status().message(),
            "feature_service 'model_v1': feature views 'driver_stats' and 'pair_stats' both have "
            "a feature named 'trips'; a model reads features by name, so rename one");
  absl::StatusOr<OnlineFeatureSet> unknown = service_->ResolveFeatures("nope");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown.status().message(), "feature_service: feature service 'nope' not found");

  catalog_.services["stats"] = {FeatureRef{"driver_stats", "trips"}};
  absl::StatusOr<OnlineFeatureSet> set = service_->ResolveFeatures("stats");
  ASSERT_TRUE(set.ok()) << set.status();
  std::vector<Value> out(1);
  std::vector<int> target = {0};
  std::vector<EntityKeyValue> wrong = {{true, 0, "abc"}};
  absl::Status missing =
      service_->Lookup(*set, std::vector<EntityKeyColumn>{{"rider_id", wrong}}, 1, target, 1,
                       out.data());
  EXPECT_EQ(missing.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(missing.message(),
            "entities: missing 'driver_id', a join key of feature view 'driver_stats'");
  absl::Status kind = service_->Lookup(*set, std::vector<EntityKeyColumn>{{"driver_id", wrong}},
                                       1, target, 1, out.data());
  EXPECT_EQ(kind.message(), "entities.driver_id: expected int64 values, got \"abc\"");
}

}  // namespace
}  // namespace cairn::features
