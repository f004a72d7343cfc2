# Thin entry points; the work is in scripts/ and the package's command-line tools.
.PHONY: setup demo docs test lint bench bench-pt2 bench-node bench-qos gpu-check eval fuzz soak clean

RUN := bash scripts/run.sh
RESULTS ?= results

setup:
	bash scripts/setup_env.sh

demo: setup
	$(RUN) python -m rgbd_tracker_ros.tools.demo --output $(RESULTS)/demo

# The README's pictures (docs/) from a fresh demo run.
docs: setup
	$(RUN) python -m rgbd_tracker_ros.tools.demo --output $(RESULTS)/demo --docs docs

test: setup
	$(RUN) python -m pytest rgbd_tracker_ros/test -q -p no:cacheprovider

lint: setup
	$(RUN) ruff check . && $(RUN) ruff format --check .

# Network trackers: random weights (no checkpoint can be assumed), refinement on every frame.
NETWORK_BENCH := python -m rgbd_tracker_ros.tools.benchmark --threads 2 --frames 60 \
	--trackers dimp det trdimp --random-weights --param target_not_found_threshold=0

bench: setup
	$(RUN) python -m rgbd_tracker_ros.tools.benchmark --threads 1 \
		--trackers depth_dcf opencv_mil opencv_csrt opencv_kcf --output $(RESULTS)/benchmark
	$(RUN) $(NETWORK_BENCH) --forms eager torchscript --output $(RESULTS)/benchmark_networks

# Also the .pt2 packages (compiling them takes minutes per tracker).
bench-pt2: setup
	$(RUN) $(NETWORK_BENCH) --forms eager torchscript pt2 --output $(RESULTS)/benchmark_pt2

# Bare machine with a CUDA torch: no setup, no ROS (see scripts/gpu_check.sh).
gpu-check:
	bash scripts/gpu_check.sh --output $(RESULTS)/gpu_check

bench-node: setup
	$(RUN) python -m rgbd_tracker_ros.tools.node_benchmark --output $(RESULTS)/node_benchmark

bench-qos: setup
	$(RUN) python -m rgbd_tracker_ros.tools.qos_benchmark --output $(RESULTS)/qos_benchmark

eval: setup
	$(RUN) python -m rgbd_tracker_ros.tools.evaluate --suite synthetic hard --threads 1 \
		--trackers depth_dcf opencv_mil opencv_csrt opencv_kcf --output $(RESULTS)/eval

# Hostile inputs to the node over loopback DDS: `make fuzz COUNT=10000 SEED=0 FUZZ_SECONDS=900`.
COUNT ?= 10000
SEED ?= 0
FUZZ_SECONDS ?= 900
fuzz: setup
	$(RUN) python -m rgbd_tracker_ros.tools.fuzz --count $(COUNT) --seed $(SEED) \
		--seconds $(FUZZ_SECONDS) --output $(RESULTS)/fuzz

# A valid 30 Hz stream into the node for a long time: `make soak MINUTES=10`.
MINUTES ?= 10
soak: setup
	$(RUN) python -m rgbd_tracker_ros.tools.soak --minutes $(MINUTES) --output $(RESULTS)/soak

clean:
	rm -rf .build $(RESULTS)
