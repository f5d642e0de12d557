# The two set-up commands of the README: `make demo` and `make test`. Both bootstrap a
# fresh machine first (scripts/bootstrap is idempotent and quick once done).
PRESET ?= release
BUILD_DIR := build/$(PRESET)
JOBS ?= $(shell nproc)

.PHONY: all bootstrap configure build demo test fuzz-build fuzz bench bench-pipelines bench-drift bench-serving clean
FUZZ_SECONDS ?= 20

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD_DIR)/build.ninja:
	cmake --preset $(PRESET)

configure: bootstrap $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

demo: build
	$(BUILD_DIR)/cairn demo --data demo-data

# Unit and integration tests (ctest), the fuzzers for FUZZ_SECONDS each, then the
# real-mlflow-client suite (pytest). A throw-away PostgreSQL on loopback backs the
# contract tests of the PostgreSQL backend.
test: build fuzz-build
	FUZZ_BUILD_DIR=build/fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/run_tests $(BUILD_DIR)

# The libFuzzer targets (clang, ASan+UBSan); only the fuzz binaries and what they link.
fuzz-build: bootstrap
	@test -f build/fuzz/build.ninja || cmake --preset fuzz
	cmake --build build/fuzz -j $(JOBS) --target fuzzers

fuzz: fuzz-build
	scripts/run_fuzzers build/fuzz 60

bench: build
	python3 bench/tracking/run.py --cairn $(BUILD_DIR)/cairn

# Pipelines against Prefect 3 and Dagster (their own virtualenv; ~25 minutes).
bench-pipelines: build
	@test -x build/bench-venv/bin/python || python3 -m venv build/bench-venv
	build/bench-venv/bin/pip install -q -r bench/pipelines/requirements.txt
	python3 bench/pipelines/run.py --cairn $(BUILD_DIR)/cairn --peer-python build/bench-venv/bin/python

# Drift detection against Evidently's DataDriftPreset: 1M x 25 columns vs a 1M-row
# reference (bench/drift; its own virtualenv, since Evidently 0.7.23 needs pandas < 3;
# the data is generated once into build/bench-drift-data, ~430 MB; ~10 minutes).
bench-drift: build
	@test -x build/bench-drift-venv/bin/python || python3 -m venv --system-site-packages build/bench-drift-venv
	build/bench-drift-venv/bin/pip install -q -r bench/drift/requirements.txt
	python3 bench/drift/run.py --cairn $(BUILD_DIR)/cairn --peer-python build/bench-drift-venv/bin/python

# Serving side by side: an XGBoost endpoint of 100 trees x 20 online features against
# `mlflow models serve` of the same model, both under wrk (bench/serving; needs wrk and
# Python xgboost; ~6 minutes).
bench-serving: build
	python3 -m pip install -q -r bench/serving/requirements.txt
	python3 bench/serving/run.py --cairn $(BUILD_DIR)/cairn

clean:
	rm -rf build
