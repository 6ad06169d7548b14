# Swarm node prerequisites (issue 10): the molecule scenario on three lab hosts (one manager, two workers).
# Included by the main Makefile after mk/fleet.mk; uses its ROOT, FLEET_ENV, deps, fleet-deps.
.PHONY: molecule-swarm

molecule-swarm: deps fleet-deps
	cd $(ROOT) && $(FLEET_ENV) molecule test -s swarm

molecule: molecule-swarm
TEST_SUITES += molecule-swarm
