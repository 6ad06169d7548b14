# The real firewalld for tests/hostile/test_host_firewalls.py (issue 14, other firewalls): Debian's package,
# installed with its start blocked and its unit masked - it never runs in the machine's own namespace (nor at the
# machine's next boot, nor by D-Bus activation). The hostile test starts the daemon only inside its sandbox, on
# the private /run of tests/isolated.sh. Where an existing /usr/sbin/policy-rc.d would let it start, it is not
# installed and that one test skips. tests/hostile/test_firewalld.py (issue 19) uses the same package, and the
# dbus-monitor of dbus-bin (a dependency of firewalld's dbus) that the reload listener listens with.
.PHONY: firewalld-deps
firewalld-deps: $(BUILD)/.apt-firewalld-stamp

$(BUILD)/.apt-firewalld-stamp: $(BUILD)/.apt-stamp
	@if command -v firewalld >/dev/null; then systemctl mask firewalld.service >/dev/null 2>&1 || true; touch $@; exit 0; fi; \
	made=""; \
	if [ -e /usr/sbin/policy-rc.d ]; then \
	  rc=0; /usr/sbin/policy-rc.d firewalld start >/dev/null 2>&1 || rc=$$?; \
	  if [ "$$rc" -ne 101 ]; then \
	    echo "firewalld-deps: /usr/sbin/policy-rc.d would let firewalld start; not installing it (its test skips)"; \
	    exit 0; \
	  fi; \
	else \
	  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made=1; \
	fi; \
	systemctl mask firewalld.service >/dev/null 2>&1 || true; \
	rc=0; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends firewalld >/dev/null || rc=$$?; \
	systemctl mask firewalld.service >/dev/null 2>&1 || true; \
	if [ -n "$$made" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
	[ "$$rc" -eq 0 ]; \
	touch $@

hostile: $(BUILD)/.apt-firewalld-stamp
TEST_DEPS += firewalld-deps
