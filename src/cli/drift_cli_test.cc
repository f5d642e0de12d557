// `cairn drift` end to end in process: CSV files in a temp folder, the table, --json,
// --html, the exit codes and the messages of bad flags and input.

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/cli.h"
#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class DriftCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/drift_cli_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    std::ofstream ref(Path("ref.csv"));
    std::ofstream cur(Path("cur.csv"));
    ref << "x,y,city\n";
    cur << "x,y,city\n";
    static const char* kCities[] = {"Paris", "Oslo", "Rome"};
    for (int i = 0; i < 200; ++i) {
      ref << i % 50 << "," << (i * 7) % 40 << "," << kCities[i % 3] << "\n";
      cur << i % 50 + 25 << "," << (i * 7) % 40 << "," << kCities[i % 3] << "\n";
    }
  }
  void TearDown() override { std::system(absl::StrCat("rm -rf ", dir_).c_str()); }

  std::string Path(const std::string& name) const { return absl::StrCat(dir_, "/", name); }

  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    CliEnvironment env{.out = &out_, .err = &err_};
    return RunCli(args, env);
  }
  std::vector<std::string> Base() {
    return {"drift", "--reference", Path("ref.csv"), "--current", Path("cur.csv")};
  }
  std::vector<std::string> With(std::vector<std::string> extra) {
    std::vector<std::string> args = Base();
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  std::string dir_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(DriftCliTest, PrintsATableAndTheVerdictAndExitsZero) {
  ASSERT_EQ(Run(Base()), 0) << err_.str();
  const std::string out = out_.str();
  EXPECT_THAT(out, HasSubstr("COLUMN  KIND"));
  EXPECT_THAT(out, HasSubstr("P-VALUE"));
  // 200 reference rows: KS for x and y (numeric, > 5 values), chi-squared for city.
  EXPECT_THAT(out, HasSubstr("x       numeric      ks"));
  EXPECT_THAT(out, HasSubstr("city    categorical  chisquare"));
  EXPECT_THAT(out, HasSubstr("Data set drift: no — 1 of 3 columns drifted (share 0.333333 < 0.5)"));
  EXPECT_THAT(out, HasSubstr("reference 200 rows, current 200 rows"));
}

TEST_F(DriftCliTest, FailOnDriftExitsOneOnlyWhenTheDataSetDrifted) {
  EXPECT_EQ(Run(With({"--fail-on-drift"})), 0) << err_.str();
  EXPECT_EQ(Run(With({"--fail-on-drift", "--drift-share", "0.3"})), 1) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("Data set drift: YES"));
  EXPECT_EQ(Run(With({"--drift-share", "0.3"})), 0) << err_.str();
}

TEST_F(DriftCliTest, JsonColumnsTestsAndOverrides) {
  ASSERT_EQ(Run(With({"--json", "--columns", "x,city", "--test", "psi", "--column-test",
                      "city=jensenshannon:0.2"})),
            0)
      << err_.str();
  Json report = Json::parse(out_.str());
  EXPECT_EQ(report["number_of_columns"], 2);
  ASSERT_EQ(report["columns"].size(), 2u);
  EXPECT_EQ(report["columns"][0]["column"], "x");
  EXPECT_EQ(report["columns"][0]["test"], "psi");
  EXPECT_EQ(report["columns"][0]["drifted"], true);
  EXPECT_EQ(report["columns"][1]["column"], "city");
  EXPECT_EQ(report["columns"][1]["kind"], "categorical");
  EXPECT_EQ(report["columns"][1]["test"], "jensenshannon");
  EXPECT_EQ(report["columns"][1]["threshold"], 0.2);
  EXPECT_EQ(report["dataset_drift"], true);  // 1 of 2
}

TEST_F(DriftCliTest, AColumnWithNoCurrentValuesIsDriftedAndSaidSo) {
  std::ofstream cur(Path("gone.csv"));
  cur << "x,y,city\n";
  for (int i = 0; i < 200; ++i) cur << i % 50 << ",," << "\n";  // y and city stopped arriving
  cur.close();
  ASSERT_EQ(Run({"drift", "--reference", Path("ref.csv"), "--current", Path("gone.csv")}), 0)
      << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("column y: no values in the current data (counted as "
                                    "drifted)"));
  EXPECT_THAT(out_.str(), HasSubstr("column city: no values in the current data"));
  EXPECT_THAT(out_.str(), HasSubstr("Data set drift: YES"));
  ASSERT_EQ(Run({"drift", "--reference", Path("ref.csv"), "--current", Path("gone.csv"), "--json",
                 "--html", Path("gone.html")}),
            0)
      << err_.str();
  Json json = Json::parse(out_.str());
  EXPECT_EQ(json["columns"][1]["reason"], "no values in the current data");
  EXPECT_EQ(json["columns"][1]["drifted"], true);
  std::ifstream html(Path("gone.html"));
  const std::string page((std::istreambuf_iterator<char>(html)), std::istreambuf_iterator<char>());
  EXPECT_THAT(page, HasSubstr("yes (no values in the current data)"));
}

TEST_F(DriftCliTest, CategoricalFlagReadsNumbersAsCategories) {
  ASSERT_EQ(Run(With({"--json", "--categorical", "y", "--columns", "y"})), 0) << err_.str();
  Json report = Json::parse(out_.str());
  EXPECT_EQ(report["columns"][0]["kind"], "categorical");
  EXPECT_EQ(report["columns"][0]["drifted"], false);
}

TEST_F(DriftCliTest, HtmlReportIsWrittenAndNamedOnStderrWithJson) {
  const std::string html_path = Path("report.html");
  ASSERT_EQ(Run(With({"--json", "--html", html_path})), 0) << err_.str();
  EXPECT_NO_THROW(Json::parse(out_.str()));
  EXPECT_THAT(err_.str(), HasSubstr("HTML report: " + html_path));
  std::ifstream file(html_path);
  std::stringstream html;
  html << file.rdbuf();
  EXPECT_THAT(html.str(), HasSubstr("<!DOCTYPE html>"));
  EXPECT_THAT(html.str(), HasSubstr(">Paris</text>"));
  EXPECT_THAT(html.str(), Not(HasSubstr("<script")));
  size_t svgs = 0;
  for (size_t at = html.str().find("<svg"); at != std::string::npos;
       at = html.str().find("<svg", at + 1)) {
    ++svgs;
  }
  EXPECT_EQ(svgs, 3u);
}

TEST_F(DriftCliTest, BadFlagsAndInputExitTwoWithAMessage) {
  EXPECT_EQ(Run({"drift", "--current", Path("cur.csv")}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--reference is required"));

  EXPECT_EQ(Run(With({"--test", "kss"})), 2);
  EXPECT_THAT(err_.str(), HasSubstr("cairn: --test: unknown test 'kss' (did you mean 'ks'?)"));

  EXPECT_EQ(Run(With({"--threshold", "abc"})), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--threshold: 'abc' is not a threshold"));

  EXPECT_EQ(Run(With({"--drift-share", "1.5"})), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--drift-share: '1.5' is not a share"));

  EXPECT_EQ(Run(With({"--column-test", "x"})), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--column-test: 'x' is not COLUMN=TEST[:THRESHOLD]"));

  EXPECT_EQ(Run(With({"--column-test", "xx=ks"})), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--column-test: no column 'xx' in " + Path("ref.csv") +
                                    " (did you mean 'x'?)"));

  EXPECT_EQ(Run({"drift", "--reference", Path("nope.csv"), "--current", Path("cur.csv")}), 2);
  EXPECT_THAT(err_.str(),
              HasSubstr("cairn: --reference " + Path("nope.csv") + ": cannot open the file"));

  EXPECT_EQ(Run(With({"--columns", "weight"})), 2);
  EXPECT_THAT(err_.str(), HasSubstr("no column 'weight'; its columns: x, y, city"));

  std::ofstream(Path("bad.csv")) << "x,y,city\n1,2,Paris\n3,4,Oslo,extra\n";
  EXPECT_EQ(Run({"drift", "--reference", Path("ref.csv"), "--current", Path("bad.csv")}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--current " + Path("bad.csv") +
                                    ":3: this row has more fields than the 3 columns"));

  EXPECT_EQ(Run(With({"--html", Path("no/such/dir/r.html")})), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--html: cannot write"));
}

}  // namespace
}  // namespace cairn::cli
