# Every third-party library comes from Debian's packages (see scripts/bootstrap).
find_package(Threads REQUIRED)
find_package(absl REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(PostgreSQL REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS system)
find_package(GTest REQUIRED)
find_package(CURL REQUIRED)

# find_package(xgboost) is broken on Debian 12 (it points at /usr/bin/xgboost): find it by hand.
find_library(XGBOOST_LIBRARY NAMES xgboost REQUIRED)
find_path(XGBOOST_INCLUDE_DIR xgboost/c_api.h REQUIRED)
add_library(xgboost_c INTERFACE)
target_link_libraries(xgboost_c INTERFACE ${XGBOOST_LIBRARY})
target_include_directories(xgboost_c INTERFACE ${XGBOOST_INCLUDE_DIR})

# Feature store: YAML definitions, zstd-compressed offline segments, Redis online store.
find_package(yaml-cpp REQUIRED)
find_package(zstd REQUIRED)
find_package(OpenSSL REQUIRED)  # SHA-256 content hashes of definitions
# hiredis' CMake config is broken on Debian 12: use pkg-config.
find_package(PkgConfig REQUIRED)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
# libyaml checks definition files' syntax before yaml-cpp 0.7 (which can loop on bad input).
pkg_check_modules(LIBYAML REQUIRED IMPORTED_TARGET yaml-0.1)
# Online feature serving parses requests with simdjson (On-Demand).
find_package(simdjson REQUIRED)
