# netplumb.container — everything make creates stays in ignored folders of this checkout.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ROOT := $(abspath .)
BUILD := $(ROOT)/.build
VENV := $(ROOT)/.venv
VENV_DEB := $(ROOT)/.venv-deb
SYS_PY := /usr/bin/python3
PY := $(VENV)/bin/python
PY_DEB := $(VENV_DEB)/bin/python
COLL_LINK := $(BUILD)/collections/ansible_collections/netplumb/container
N ?= 3
# lab topology: l2 (every host on one bridge) or routed (each host on its own segment behind a router)
TOPOLOGY ?= l2
HOST ?= h1

APT_PACKAGES := iproute2 iptables nftables conntrack openssh-server openssh-client python3 python3-venv \
	python3-pyroute2 python3-nftables socat curl rsync util-linux procps git iputils-ping stress-ng graphviz

# Ansible never writes to /root/.ansible or /tmp outside the checkout.
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export ANSIBLE_HOME := $(BUILD)/ansible-home
export ANSIBLE_LOCAL_TEMP := $(BUILD)/ansible-tmp
export ANSIBLE_REMOTE_TEMP := $(BUILD)/ansible-remote-tmp
export PYTHONDONTWRITEBYTECODE := 1

# Runs a command in a private network + mount namespace, so the machine's own is never touched.
ISOLATE := NETPLUMB_OUTER_NETNS=$$(readlink /proc/self/ns/net) unshare --net --mount --propagation private
PYTEST_ISOLATED := $(ISOLATE) $(ROOT)/tests/isolated.sh

.PHONY: help deps venv collection test test-kernel unit unit-deb integration hostile integration-deb record-netlink lab-test sanity lab-up lab-down lab-shell demo clean

help:
	@echo "make demo              bring the lab fleet up, run playbooks/site.yml and verify.yml, print a table;"
	@echo "                       then inspect.yml (pictures in .build/inspect) and diagnose.yml (.build/diagnose.log)"
	@echo "make test              install what is needed and run every suite: $(TEST_SUITES)"
	@echo "make lab-up N=3        the lab of namespaced hosts (make lab-shell HOST=h1, make lab-down)"
	@echo "make lab-up TOPOLOGY=routed   the same, each host on its own L3 segment behind a router"
	@echo "make example           README's quick example on a fresh lab host: --check --diff, real, re-run, inspect, diagnose"
	@echo "make shell             a shell with the venv's ansible tools on PATH, the collection found anywhere"
	@echo "make bench             the role vs the tutorials' script, K=10/100/1000 containers, 5000 ports, 3 lab hosts:"
	@echo "                       ratios and targets in .build/bench.md (quick: make bench BENCH_K=\"10 100\" BENCH_PORTS=0)"
	@echo "make test-kernel       only the suites that touch the kernel or time (.ci/run's pass under load)"
	@echo "make <suite>           one suite alone (unit, integration, sanity, molecule, ...)"

$(BUILD)/.apt-stamp:
	mkdir -p $(BUILD)
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null
	touch $@

deps: $(BUILD)/.apt-stamp

$(VENV)/.stamp: tests/requirements.txt $(BUILD)/.apt-stamp
	rm -rf $(VENV)
	$(SYS_PY) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r tests/requirements.txt
	touch $@

# The Debian-12-fleet flavour: system python with Debian's python3-pyroute2 0.7.x, no PyPI pyroute2.
$(VENV_DEB)/.stamp: tests/requirements-deb.txt $(BUILD)/.apt-stamp
	rm -rf $(VENV_DEB)
	$(SYS_PY) -m venv --system-site-packages $(VENV_DEB)
	$(PY_DEB) -m pip install -q --disable-pip-version-check -r tests/requirements-deb.txt
	touch $@

venv: $(VENV)/.stamp $(VENV_DEB)/.stamp

collection: $(COLL_LINK)
$(COLL_LINK):
	mkdir -p $(dir $@) $(ANSIBLE_HOME) $(ANSIBLE_LOCAL_TEMP)
	ln -sfn $(ROOT) $@

unit: venv collection
	$(PY) -m pytest -q tests/unit

# The same unit tests under Debian's pyroute2 0.7.2: tests/unit/test_nl_recorded.py then decodes the recorded
# netlink messages of both versions with 0.7's own decoder (pure, no kernel).
unit-deb: venv collection
	$(PY_DEB) -m pytest -q -p no:cacheprovider tests/unit

integration: venv collection
	$(PYTEST_ISOLATED) $(PY) -m pytest -q tests/integration

# Debian's pyroute2 0.7.2 on the real kernel: only the tests marked `deb` (links made with their peer in a
# namespace, moves, bridge and port settings, routes, sockets per namespace). Every dump both versions decode is
# replayed per version by tests/unit/test_nl_recorded.py (make unit, make unit-deb); make integration runs all.
integration-deb: venv collection
	$(PYTEST_ISOLATED) $(PY_DEB) -m pytest -q -m deb tests/integration

# Re-records tests/unit/fixtures/netlink-pyroute2-*.json (not part of test): one representative state built in a
# throwaway namespace, then the collection's readers run against it once with each pyroute2 version.
NLREC := tests/helpers/nlrecord.py
NLFIX := tests/unit/fixtures/netlink-pyroute2
record-netlink: venv collection
	mkdir -p $(dir $(NLFIX))
	$(PYTEST_ISOLATED) bash -c '$(PY) $(NLREC) build && $(PY) $(NLREC) record $(NLFIX)-0.9.json \
		&& $(PY_DEB) $(NLREC) record $(NLFIX)-0.7.json'

# The lab brings up its own isolated world (top namespace) and checks it leaves nothing behind.
lab-test: venv collection
	NETLAB_STATE_DIR=$(BUILD)/lab-pytest $(PY) -m pytest -q tests/lab

# The hostile-input and fault suite (docs/safety.md): prints its cases per category and fails under 60. Its files
# run on HOSTILE_WORKERS pytest-xdist workers (default 2; 1: one process, as before), each worker in a network and
# mount namespace of its own (tests/helpers/isolated-python); an idle worker takes cases from the busy one
# (worksteal), so one long file does not leave a worker waiting. The 15 slowest cases are listed.
HOSTILE_WORKERS ?= 2
HOSTILE_XDIST = $(if $(filter-out 0 1,$(HOSTILE_WORKERS)),--dist worksteal --durations=15 \
	--tx $(HOSTILE_WORKERS)*popen//python=$(ROOT)/tests/helpers/isolated-python)
hostile: venv collection
	$(PYTEST_ISOLATED) env NETPLUMB_WORKER_PYTHON=$(PY) $(PY) -m pytest -q -p no:cacheprovider $(HOSTILE_XDIST) \
		tests/hostile

TEST_SUITES := unit unit-deb integration hostile integration-deb lab-test
# What the suites install (venvs, apt packages): built once, before any suite starts, so suites running side by
# side never build the same stamp (or run apt-get) at once. mk/*.mk append their own.
TEST_DEPS := deps venv collection
# Further suites and targets (sanity, lint, molecule, demo...) live in mk/*.mk and append to TEST_SUITES.
include $(sort $(wildcard mk/*.mk))

.PHONY: test-deps
test-deps: $(TEST_DEPS)

# The suites run side by side in lanes where they share nothing (tests/suites/suites.txt declares what they
# share); each is timed and logged in .build/suites/ (tests/suites/run.sh prints the table, also when one
# fails, and the failed suite's log tail). SUITE_JOBS=1 runs them one after the other.
test: test-deps
	@MAKE="$(MAKE)" $(ROOT)/tests/suites/run.sh $(TEST_SUITES)
	@echo "all suites passed: $(TEST_SUITES)"

# The suites whose result can depend on the kernel or on time (they build namespaces, labs, run packets or
# waits): the second pass of .ci/run runs these under a CPU burner. The others (unit, unit-deb, fleet-unit, lint,
# sanity, build, shell-check, ee) are pure and give the same answer on a loaded machine, so they run once.
KERNEL_SUITES = $(filter-out unit unit-deb fleet-unit lint sanity build shell-check ee,$(TEST_SUITES))
test-kernel: test-deps
	@MAKE="$(MAKE)" $(ROOT)/tests/suites/run.sh $(KERNEL_SUITES)
	@echo "all kernel and timing suites passed: $(KERNEL_SUITES)"

LAB := $(SYS_PY) $(ROOT)/tests/lab/netlab.py

lab-up: deps
	$(LAB) up --hosts $(N) --topology $(TOPOLOGY)

lab-down:
	$(LAB) down

lab-shell:
	$(LAB) shell $(HOST)

clean:
	rm -rf $(BUILD) $(VENV) $(VENV_DEB) tests/output

# Benchmarks (not part of test): ratios against the hand-written script, measured in the same run (docs/performance.md).
# The role part runs isolated, each run in a fresh namespace; the fleet part in its own lab (.build/lab-bench).
BENCH_K ?= 10 100 1000
BENCH_RUNS ?= 3
BENCH_PORTS ?= 5000
BENCH_ENV = BENCH_K="$(BENCH_K)" BENCH_RUNS="$(BENCH_RUNS)" BENCH_PORTS="$(BENCH_PORTS)"
.PHONY: bench bench-links
bench: venv collection
	$(BENCH_ENV) $(PYTEST_ISOLATED) $(PY) bench/bench_role.py
	$(BENCH_ENV) $(PY) bench/bench_fleet.py

# The link modules alone (netns, linux_bridge, veth_pair): script vs in-process modules vs playbook, BENCH_N=100.
bench-links: venv collection
	$(PYTEST_ISOLATED) $(PY) bench/bench_links.py

# The module alone in-process on the bench's network (K=PROFILE_K, default 1000): converge, no-op, check timed,
# netlink socket calls counted, cProfile of each in .build/bench/profile-*.txt (PROFILE=0: timings only).
PROFILE_PY ?= $(PY)
.PHONY: profile-module
profile-module: venv collection
	$(PYTEST_ISOLATED) $(PROFILE_PY) bench/profile_module.py

# The module's peak RSS by phase (issue 18): converge, then no-op and check each in a fresh interpreter, the
# resident set sampled and each rise named by the running code (K=PROFILE_K; PROFILE_PY=.venv-deb/bin/python: 0.7.2).
.PHONY: profile-rss
profile-rss: venv collection
	$(PYTEST_ISOLATED) $(PROFILE_PY) bench/rss_phases.py

# The role through ansible-playbook under cProfile (main process and each forked worker, -f 1), no-op re-run at
# K in PROFILE_ROLE_K (default "0 1000", 0: the floor): .build/bench/profile-role-K.txt.
.PHONY: profile-role
profile-role: venv collection
	$(PYTEST_ISOLATED) $(PY) bench/profile_role.py
