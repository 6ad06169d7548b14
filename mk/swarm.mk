# Swarm node prerequisites (issue 10): the molecule scenario on three lab hosts (one manager, two workers).
# Included by the main Makefile after mk/fleet.mk; uses its ROOT, FLEET_ENV, deps, fleet-deps.
.PHONY: molecule-swarm

molecule-swarm: deps fleet-deps
	cd $(ROOT) && $(FLEET_ENV) molecule test -s swarm

# A suite of its own in make test (tests/suites/run.sh runs each suite in its own make, so `molecule` does not
# include it: it would run twice).
TEST_SUITES += molecule-swarm
