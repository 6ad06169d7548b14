# Fleet suites and the demo (issue 4): role container_network, playbooks/, molecule/, ansible-lint.
# Included by the main Makefile; uses its ROOT, BUILD, VENV, PY, SYS_PY, N, HOST, LAB, venv, collection, deps.

FLEET_STAMP := $(VENV)/.fleet-stamp
# molecule, ansible-lint and testinfra's pytest are run from the venv; their caches stay under .build.
FLEET_ENV := PATH=$(VENV)/bin:$$PATH XDG_CACHE_HOME=$(BUILD)/cache XDG_CONFIG_HOME=$(BUILD)/config \
	HOME=$(BUILD)/home ANSIBLE_ROLES_PATH=$(ROOT)/roles \
	ANSIBLE_COLLECTIONS_PATH=$(BUILD)/collections MOLECULE_GLOB='molecule/*/molecule.yml'
LAB_INV := $(BUILD)/lab/inventory.ini
DEMO_INV := -i $(LAB_INV) -i $(ROOT)/playbooks/inventory
VERIFY_REPORT := $(BUILD)/verify-report.json
# make demo CROSS_HOST=vxlan: the overlay on the routed lab (each host on its own segment behind a router), where
# host-gw cannot work; without it, the inventory's mode (host_gw) on the L2 lab.
CROSS_HOST ?=
# make demo CROSS_HOST=bgp: BIRD 2 on every host (bgp_speaker), on the routed lab whose router is their iBGP peer
# (NETLAB_BGP=1, container_bgp_peers) so it routes the container subnets too.
DEMO_TOPOLOGY = $(if $(filter vxlan bgp,$(CROSS_HOST)),routed,l2)
DEMO_BGP_PEERS := {"container_bgp_peers": [{"name": "tor", "address": "192.0.2.1"}]}
DEMO_VARS = $(if $(CROSS_HOST),-e container_cross_host=$(CROSS_HOST)) \
	$(if $(filter bgp,$(CROSS_HOST)),-e '$(DEMO_BGP_PEERS)')
DEMO_LAB_ENV = $(if $(filter bgp,$(CROSS_HOST)),NETLAB_BGP=1)

# The venv stamp lives inside the venv, so a rebuilt venv gets the fleet packages again.
$(FLEET_STAMP): tests/requirements-fleet.txt tests/requirements.txt | $(VENV)/.stamp
	$(PY) -m pip install -q --disable-pip-version-check -r tests/requirements.txt -r tests/requirements-fleet.txt
	mkdir -p $(BUILD)/cache $(BUILD)/config $(BUILD)/home
	touch $@

fleet-deps: venv collection $(FLEET_STAMP)

.PHONY: fleet-deps demo lint molecule molecule-default molecule-fleet fleet-unit fleet-count fleet-bench

# Role schema parser, the probe helper, the demo table printer and the fleet membership (--limit, serial), no kernel.
fleet-unit: fleet-deps
	$(FLEET_ENV) $(PY) -m pytest -q tests/fleet/test_plan.py tests/fleet/test_pyroute2.py tests/fleet/test_table.py \
		tests/fleet/test_fleet_group.py tests/fleet/test_bgp_peers.py

# FIREWALL: the role's firewall_backend for the demo (auto, iptables or nftables; docs/firewall-backends.md).
FIREWALL ?= auto

demo: deps fleet-deps
	@start=$$(date +%s); \
	$(DEMO_LAB_ENV) $(LAB) up --hosts $(N) --topology $(DEMO_TOPOLOGY) || exit $$?; \
	$(FLEET_ENV) ansible-playbook $(DEMO_INV) $(DEMO_VARS) -e container_network_firewall_backend=$(FIREWALL) \
		playbooks/site.yml; \
	rc=0; $(FLEET_ENV) ansible-playbook $(DEMO_INV) $(DEMO_VARS) -e netplumb_verify_report=$(VERIFY_REPORT) \
		playbooks/verify.yml || rc=$$?; \
	$(PY) tests/fleet/table.py $(VERIFY_REPORT); \
	$(FLEET_ENV) ansible-playbook $(DEMO_INV) -e inspect_dir=$(BUILD)/inspect playbooks/inspect.yml \
		> $(BUILD)/inspect.log 2>&1 || { cat $(BUILD)/inspect.log; rc=1; }; \
	$(FLEET_ENV) ansible-playbook $(DEMO_INV) playbooks/diagnose.yml > $(BUILD)/diagnose.log 2>&1 \
		|| { cat $(BUILD)/diagnose.log; rc=1; }; \
	echo "demo took $$(( $$(date +%s) - start )) s"; \
	echo "pictures:  $$(ls $(BUILD)/inspect/*.svg $(BUILD)/inspect/*.png | tr '\n' ' ')"; \
	echo "diagnose:  $(BUILD)/diagnose.log (ansible-playbook ... playbooks/diagnose.yml: each network checked)"; \
	echo "explore:   make lab-shell HOST=h1   (then: ip netns list; ip netns exec netns0 curl -s http://198.51.100.1/)"; \
	echo "re-run:    make demo                (second run: changed=0)"; \
	echo "tear down: make lab-down            (removes the whole lab, nothing left behind)"; \
	exit $$rc

# ansible-lint copies this collection into ANSIBLE_HOME once and keeps that copy: drop it so lint sees the checkout.
lint: fleet-deps
	rm -rf $(ANSIBLE_HOME)/collections/ansible_collections/netplumb
	cd $(ROOT) && $(FLEET_ENV) ansible-lint --offline --profile production --strict roles/ playbooks/ molecule/

molecule-default: deps fleet-deps
	cd $(ROOT) && $(FLEET_ENV) molecule test -s default

molecule-fleet: deps fleet-deps
	cd $(ROOT) && $(FLEET_ENV) molecule test -s fleet

molecule: molecule-default molecule-fleet

# 100 containers on one lab host (its own lab, .build/lab-scale): module invocations counted (<= 5), role
# first run and no-op re-run timed against tests/fleet/bench_shell.sh; result in .build/scale-result.json.
fleet-scale: deps fleet-deps
	$(FLEET_ENV) $(PY) tests/fleet/scale.py 100

TEST_SUITES += fleet-unit lint molecule fleet-scale
TEST_DEPS += fleet-deps
