# VXLAN overlay (issue 17): the molecule scenario on the routed lab (three hosts, each on its own L3 segment).
# Included by the main Makefile after mk/fleet.mk; uses its ROOT, FLEET_ENV, deps, fleet-deps.
.PHONY: molecule-overlay

molecule-overlay: deps fleet-deps
	cd $(ROOT) && $(FLEET_ENV) molecule test -s overlay

# A suite of its own in make test (tests/suites/run.sh runs each suite in its own make).
TEST_SUITES += molecule-overlay
