# BGP cross-host mode (issue 17, container_cross_host: bgp): Debian's BIRD 2 (package bird2) for the tests that run
# bird - tests/integration/test_bgp_speaker.py (bird in the sandbox's own namespaces) and the molecule scenario bgp
# (bird on each lab host). Installed like mk/hostfw.mk installs firewalld: its start blocked by policy-rc.d, its
# unit bird.service masked, so it never runs in the machine's own namespace (nor at the machine's next boot); the
# tests start bird only inside their namespaces, with their own control socket and pid file on a private /run.
# Where an existing /usr/sbin/policy-rc.d would let it start, it is not installed (and those tests skip).
.PHONY: bird-deps molecule-bgp
bird-deps: $(BUILD)/.apt-bird-stamp

$(BUILD)/.apt-bird-stamp: $(BUILD)/.apt-stamp
	@if command -v bird >/dev/null; then systemctl mask bird.service >/dev/null 2>&1 || true; touch $@; exit 0; fi; \
	made=""; \
	if [ -e /usr/sbin/policy-rc.d ]; then \
	  rc=0; /usr/sbin/policy-rc.d bird start >/dev/null 2>&1 || rc=$$?; \
	  if [ "$$rc" -ne 101 ]; then \
	    echo "bird-deps: /usr/sbin/policy-rc.d would let bird start; not installing it (its tests skip)"; \
	    exit 0; \
	  fi; \
	else \
	  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made=1; \
	fi; \
	systemctl mask bird.service >/dev/null 2>&1 || true; \
	rc=0; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bird2 >/dev/null || rc=$$?; \
	systemctl mask bird.service >/dev/null 2>&1 || true; \
	if [ -n "$$made" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
	[ "$$rc" -eq 0 ]; \
	touch $@

integration: $(BUILD)/.apt-bird-stamp
TEST_DEPS += bird-deps

# The molecule scenario bgp on the routed lab, its router a BGP peer (NETLAB_BGP=1). Uses mk/fleet.mk's FLEET_ENV.
molecule-bgp: deps fleet-deps $(BUILD)/.apt-bird-stamp
	cd $(ROOT) && $(FLEET_ENV) molecule test -s bgp

# A suite of its own in make test (tests/suites/run.sh runs each suite in its own make).
TEST_SUITES += molecule-bgp

# make demo CROSS_HOST=bgp runs bird on the lab's hosts and router: installed (masked) first.
demo: $(if $(filter bgp,$(CROSS_HOST)),$(BUILD)/.apt-bird-stamp)
