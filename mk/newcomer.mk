# A newcomer's path (issue 9): the venv's tools in a shell, README's quick example against the lab, the
# execution environment's build context. Included by the main Makefile (uses ROOT, BUILD, VENV, PY, LAB,
# FLEET_ENV, deps, venv, collection, fleet-deps).
#
#   make shell                 a subshell with .venv/bin on PATH and ANSIBLE_COLLECTIONS_PATH set (exit to leave):
#                              ansible-playbook, ansible-galaxy, ansible-doc netplumb.container.veth_pair from
#                              any directory. make shell CMD='...' runs one command in it instead.
#   make example               the example network's commands rendered on the controller (filter
#                              container_network_render, no host), then README's quick example
#                              (playbooks/example.yml) on a fresh one-host lab: --check --diff, real run,
#                              re-run changed=0, then the playbooks inspect and diagnose on that host
#                              (KEEP_LAB=1 keeps the lab)
#   make ee                    ansible-builder create of execution-environment.yml, its context checked

EE_VENV := $(BUILD)/venv-ee
EXAMPLE_LAB := $(BUILD)/lab-example
# PATH and ANSIBLE_COLLECTIONS_PATH alone, as README's one-liner sets them (no ANSIBLE_CONFIG from make).
SHELL_ENV := env -u ANSIBLE_CONFIG PATH=$(VENV)/bin:$$PATH ANSIBLE_COLLECTIONS_PATH=$(BUILD)/collections

.PHONY: shell shell-check example ee

shell: venv collection
ifdef CMD
	@$(SHELL_ENV) bash -c '$(CMD)'
else
	@echo "netplumb.container shell: $(VENV)/bin on PATH, ANSIBLE_COLLECTIONS_PATH=$(BUILD)/collections ('exit' leaves)"
	@$(SHELL_ENV) NETPLUMB_SHELL=1 bash -i
endif

# make shell works from any directory: ansible-doc finds the collection, ansible-galaxy lists it.
shell-check: venv collection
	$(MAKE) --no-print-directory shell CMD='cd / && ansible-doc -t module netplumb.container.veth_pair >/dev/null \
		&& ansible-galaxy collection list netplumb.container > $(BUILD)/shell-check.txt 2>&1'
	grep -q "^netplumb.container " $(BUILD)/shell-check.txt
	@echo "shell-check: ansible-doc and ansible-galaxy find netplumb.container from /"

example: deps fleet-deps
	$(FLEET_ENV) BUILD=$(BUILD) LAB="$(LAB)" EXAMPLE_LAB=$(EXAMPLE_LAB) $(ROOT)/tests/example/run_example.sh

$(EE_VENV)/.stamp: tests/requirements-ee.txt
	rm -rf $(EE_VENV)
	$(SYS_PY) -m venv $(EE_VENV)
	$(EE_VENV)/bin/pip install -q --disable-pip-version-check -r tests/requirements-ee.txt
	touch $@

ee: venv $(EE_VENV)/.stamp
	BUILD=$(BUILD) ANSIBLE_BUILDER=$(EE_VENV)/bin/ansible-builder ANSIBLE_GALAXY=$(VENV)/bin/ansible-galaxy \
		$(ROOT)/tests/ee/test_ee.sh

TEST_SUITES += shell-check example ee
TEST_DEPS += $(EE_VENV)/.stamp
