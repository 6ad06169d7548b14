# ansible-test sanity, changelog lint, ansible-doc and the galaxy build test (included by the Makefile).
#
#   make sanity  - every ansible-test sanity test on a copy of the working tree (no ignore files); compile
#                  (and import on 3.8-3.10) also on every other Python 2.19 supports for modules that is here;
#                  antsibull-changelog lint; ansible-doc of every module
#   make build   - ansible-galaxy collection build; what the tarball holds (not the checkout's tooling);
#                  install it into a throwaway collections path; ansible-doc, the playbooks by name and real
#                  module runs from the installed copy (tests/build/test_build.sh)
#
# Everything is created under $(BUILD): the sanity venv, the collection copy, ansible-test's per-test venvs
# (HOME is pointed at $(BUILD)/sanity-home for ansible-test) and the pip cache.

SANITY_VENV := $(BUILD)/venv-sanity
SANITY_BIN := $(SANITY_VENV)/bin
SANITY_COLL := $(BUILD)/sanity/ansible_collections/netplumb/container
SANITY_HOME := $(BUILD)/sanity-home
SANITY_PYTHONS_DIR := $(BUILD)/sanity-pythons
# The controller Python (and the one every sanity test runs on).
SANITY_PYTHON := 3.11
# ansible-core 2.19 runs modules on Python 3.8 - 3.13; compile and import also run on those of them found here
# (in PATH, or in a pyenv under PYENV_ROOT). A fresh Debian 12 has only 3.11; that is enough to pass.
SANITY_EXTRA_PYTHONS ?= 3.8 3.9 3.10 3.12 3.13
# import too, on the module-only Pythons (on 3.12/3.13 ansible-test re-executes itself under that Python with a
# filtered environment, where pip in its fresh venvs loses this machine's CA settings).
SANITY_REMOTE_ONLY_PYTHONS := 3.8 3.9 3.10
PYENV_ROOT ?= $(HOME)/.pyenv
# pip's bootstrap script: ansible-test fetches it from ci-files.testing.ansible.com, we provide a stand-in
# (tests/sanity/get_pip.py) so only PyPI is needed. The version is the one ansible-test pins.
SANITY_PIP_VERSION = $(shell sed -n "s/^ *pip='\([0-9.]*\)',$$/\1/p" \
	$(SANITY_VENV)/lib/python$(SANITY_PYTHON)/site-packages/ansible_test/_internal/python_requirements.py 2>/dev/null)
SANITY_ENV := env -u ANSIBLE_CONFIG -u ANSIBLE_HOME -u ANSIBLE_LOCAL_TEMP -u ANSIBLE_REMOTE_TEMP \
	HOME=$(SANITY_HOME) PIP_CACHE_DIR=$(BUILD)/pip-cache PATH=$(SANITY_BIN):$(SANITY_PYTHONS_DIR):$$PATH \
	LC_ALL=C.UTF-8
ANSIBLE_TEST := $(SANITY_ENV) $(SANITY_BIN)/ansible-test

.PHONY: sanity sanity-tree sanity-test sanity-compile-extra changelog-lint ansible-doc-check build

$(BUILD)/.apt-sanity-stamp: $(BUILD)/.apt-stamp
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null
	touch $@

$(SANITY_VENV)/.stamp: tests/requirements-sanity.txt $(BUILD)/.apt-stamp
	rm -rf $(SANITY_VENV)
	$(SYS_PY) -m venv $(SANITY_VENV)
	PIP_CACHE_DIR=$(BUILD)/pip-cache $(SANITY_BIN)/pip install -q --disable-pip-version-check -r tests/requirements-sanity.txt
	touch $@

# A fresh copy of what git would ship (tracked + untracked-not-ignored files, i.e. the whole working tree
# minus .venv/.build/...), at the ansible_collections/NS/NAME path ansible-test needs, as its own git repo
# (the checkout's .gitignore would otherwise hide it from ansible-test, which lists files through git).
sanity-tree: $(SANITY_VENV)/.stamp
	rm -rf $(SANITY_COLL)
	mkdir -p $(SANITY_COLL)
	cd $(ROOT) && git ls-files -z -c -o --exclude-standard \
		| rsync -a --from0 --ignore-missing-args --files-from=- $(ROOT)/ $(SANITY_COLL)/
	cd $(SANITY_COLL) && git init -q .
	test -n "$(SANITY_PIP_VERSION)"
	mkdir -p $(SANITY_HOME)/.ansible/test/cache
	cp tests/sanity/get_pip.py $(SANITY_HOME)/.ansible/test/cache/get_pip_$(subst .,_,$(SANITY_PIP_VERSION)).py
	rm -rf $(SANITY_PYTHONS_DIR) && mkdir -p $(SANITY_PYTHONS_DIR)
	for v in $(SANITY_EXTRA_PYTHONS); do \
		for p in $$(ls -d $(PYENV_ROOT)/versions/$$v.*/bin/python$$v 2>/dev/null || true) $$(command -v python$$v || true); do \
			if "$$p" -c 'import sys' 2>/dev/null; then ln -s "$$p" $(SANITY_PYTHONS_DIR)/python$$v; break; fi; \
		done; \
	done

sanity-test: sanity-tree $(BUILD)/.apt-sanity-stamp
	cd $(SANITY_COLL) && $(ANSIBLE_TEST) sanity --local --python $(SANITY_PYTHON) --color no

sanity-compile-extra: sanity-tree
	cd $(SANITY_COLL) && for p in $$(ls $(SANITY_PYTHONS_DIR)); do \
		v=$${p#python}; tests="--test compile"; \
		case " $(SANITY_REMOTE_ONLY_PYTHONS) " in *" $$v "*) tests="$$tests --test import";; esac; \
		$(ANSIBLE_TEST) sanity --local --python $$v $$tests --color no || exit 1; \
	done; \
	echo "compile (and import on $(SANITY_REMOTE_ONLY_PYTHONS)) also checked on: $$(ls $(SANITY_PYTHONS_DIR) | tr '\n' ' ')"

changelog-lint: $(SANITY_VENV)/.stamp
	cd $(ROOT) && $(SANITY_BIN)/antsibull-changelog lint

# ansible-doc of every module, through the collections path of ansible.cfg (the checkout itself).
ansible-doc-check: venv collection
	for f in plugins/modules/*.py; do \
		m=netplumb.container.$$(basename $$f .py); \
		$(VENV)/bin/ansible-doc -t module $$m >/dev/null || { echo "ansible-doc $$m failed" >&2; exit 1; }; \
		echo "ansible-doc $$m: ok"; \
	done
	$(VENV)/bin/ansible-doc -t module -l netplumb.container

sanity: sanity-test sanity-compile-extra changelog-lint ansible-doc-check

build: venv
	BUILD=$(BUILD) ANSIBLE_GALAXY=$(VENV)/bin/ansible-galaxy ANSIBLE_DOC=$(VENV)/bin/ansible-doc \
		ANSIBLE=$(VENV)/bin/ansible ANSIBLE_PLAYBOOK=$(VENV)/bin/ansible-playbook PY=$(PY) \
		$(ISOLATE) $(ROOT)/tests/isolated.sh $(ROOT)/tests/build/test_build.sh

TEST_SUITES += sanity build
TEST_DEPS += $(SANITY_VENV)/.stamp $(BUILD)/.apt-sanity-stamp
