# One schema: plugins/module_utils/_options.py defines every option of the modules and roles once (included by
# the Makefile). The modules' argument_specs, _dryrun's defaults and _netspec's keys are derived from it when
# they run; the documentation is written from it and committed:
#
#   make schema        - rewrite each module's DOCUMENTATION options (and fragment list), the doc fragments of
#                        shared options and the roles' meta/argument_specs.yml (tools/schema.py)
#   make schema-check  - only compare (tests/unit/test_schema.py does the same in make unit)

.PHONY: schema schema-check

schema: venv collection
	$(PY) $(ROOT)/tools/schema.py

schema-check: venv collection
	$(PY) $(ROOT)/tools/schema.py --check
