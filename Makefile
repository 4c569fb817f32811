# lastwords.panic — developer and CI entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := $(CURDIR)/.venv
STAGE   := tests/tools/stage
export PATH := $(VENV)/bin:$(PATH)
export PYTHONPATH := $(CURDIR)/tests/lab
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0
export LASTWORDS_STAGES := $(CURDIR)/.lab/stages.tsv
# each scenario phase's minutes and the real panics it proved (molecule/resources/tests/lwtest.py, the timer callback)
export LASTWORDS_PHASES := $(CURDIR)/.lab/phases.jsonl

LWLAB     := python -m lwlab
SCENARIOS := $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
# The scenarios `make test` (CI) runs: e2e, the whole kit on one lab (receiver, Debian 12, Debian 13) booted once:
# site.yml --check with checksums, site.yml and its second run, then the phases in molecule/e2e/tests/ (netconsole,
# kdump, readiness and its breakages, bad input, the crash drill on both hosts with each vmcore read back, collect,
# soak, Debian 12's kernel rolled back and forward while Debian 13 runs a trial kernel that panics at boot and has
# kdump switched off and on again, then the receiver and Debian 12 on IPv6 across a reboot): about 30 minutes on
# this 2-core TCG machine since the lab gives each VM one vCPU and makes every reboot a cold boot. README,
# "What `make test` proves", says how, and its Timing notes the minutes. The role scenarios run the same phase
# files alone, on labs of their own, for development: `make scenario S=<name>`, or all of them: `make test-all`.
TEST_SCENARIOS ?= e2e
# every scenario, cheapest first; `make test-all` runs them all
ALL_SCENARIOS := smoke netconsole kdump rollback sdboot experiment e2e
# the images those scenarios boot (make images builds every one)
TEST_IMAGES ?= bookworm trixie
# Scenarios run Ansible with Mitogen's strategy (test-only, tests/tools/strategy; never in the collection): a module
# call on a TCG guest costs ~1 s instead of 5-9 s (site.yml's second run on the e2e lab: 72 s instead of 406 s).
# The first readiness runs, the unreachable-host case and the crash drill stay on Ansible's own strategy over plain
# SSH, the path users have. LASTWORDS_MITOGEN=0 runs everything that way. Mitogen's connection timeout covers starting its Python
# on the guest too, which took longer than Ansible's default 10 s on three guests that had just booted under TCG
# (every host UNREACHABLE, "Connection timed out", at the first task after create): 60 s.
LASTWORDS_MITOGEN ?= 1
ifeq ($(LASTWORDS_MITOGEN),1)
MITOGEN_ENV := ANSIBLE_STRATEGY_PLUGINS=$(CURDIR)/tests/tools/strategy ANSIBLE_STRATEGY=mitogen_linear ANSIBLE_TIMEOUT=60
endif
DEMO_VMS  := --vm receiver:bookworm:receivers --vm host1:bookworm:panic_capture

.PHONY: help setup lint sanity unit scenario test test-all demo lab-up lab-down lab-status ssh images bench build ee clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'
	@echo "  scenarios: $(SCENARIOS)"

setup:  ## install missing Debian packages, the pinned .venv, and link the collection
	@tests/tools/setup.sh

lint: setup  ## yamllint, ansible-lint (production profile), ruff, and the AWX execution environment (make ee)
	yamllint -s .
	ruff check .
	ansible-lint --offline -q
	@$(MAKE) -s ee

sanity: setup  ## ansible-test sanity on a copy of the collection (offline parts)
	tests/tools/sanity.sh

unit: setup  ## pytest on modules, module_utils and the lab tool (real temp trees)
	python -m pytest -q tests/unit

scenario: setup  ## make scenario S=<name>: one Molecule scenario in real VMs
	@if [ -z "$(S)" ] || [ ! -f molecule/$(S)/molecule.yml ]; then \
	  echo "make scenario: unknown scenario '$(S)'; choose one of: $(SCENARIOS)" >&2; exit 2; fi
	ANSIBLE_CALLBACK_PLUGINS=$(CURDIR)/tests/tools/callbacks ANSIBLE_CALLBACKS_ENABLED=lastwords_timer \
	  LASTWORDS_RECORD_PLAYBOOKS=$(LASTWORDS_PHASES) $(MITOGEN_ENV) molecule test -s $(S)

test: setup  ## everything CI runs: lint, sanity, unit, every scenario in VMs; prints each stage's time
	@rm -f $(LASTWORDS_STAGES) $(LASTWORDS_PHASES); mkdir -p .lab
	@$(STAGE) lint $(MAKE) -s lint; \
	 $(STAGE) sanity $(MAKE) -s sanity; \
	 $(STAGE) unit $(MAKE) -s unit; \
	 $(STAGE) images $(LWLAB) build $(TEST_IMAGES); \
	 for s in $(TEST_SCENARIOS); do $(STAGE) scenario:$$s $(MAKE) -s scenario S=$$s; done; \
	 tests/tools/summary

test-all: setup  ## `make test` with every scenario (hours under TCG; CI runs TEST_SCENARIOS)
	$(MAKE) test TEST_SCENARIOS="$(ALL_SCENARIOS)" TEST_IMAGES="bookworm trixie trixie-sdboot"

images: setup  ## build (or confirm cached) the lab images
	$(LWLAB) build

demo: setup  ## boot a small lab (receiver + host), arm it with playbooks/site.yml (DRILL=1: then crash host1)
	$(LWLAB) up --name demo $(DEMO_VMS)
	ansible-playbook -i .lab/demo/inventory.yml playbooks/site.yml -e '{"kdump_reboot_ok": true}' -e lastwords_report_dir=$(CURDIR)/.lab/demo/report
ifeq ($(DRILL),1)
	@echo "demo: DRILL=1: a real panic on host1; the table shows the first frames of the trace the receiver got"
	ansible-playbook -i .lab/demo/inventory.yml playbooks/crash_drill.yml --limit host1 -e lastwords_drill_confirm=host1 -e lastwords_report_dir=$(CURDIR)/.lab/demo/report
	@python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["rows"][0]; print("demo: trace from the receiver (%s):" % r["trace_reason"]); [print("  " + f) for f in r["trace_frames"][:8]]' $(CURDIR)/.lab/demo/report/crash_drill.json
endif
	@echo "demo: lab 'demo' is up: 'make ssh VM=host1' logs in, 'make lab-down' stops it"

L ?= demo
lab-up: setup  ## boot the demo lab (L=name to name it)
	$(LWLAB) up --name $(L) $(DEMO_VMS)

lab-down:  ## tear a lab down (L=name, default demo)
	$(LWLAB) down --name $(L)

VM ?= host1
ssh:  ## log into a lab VM (L=lab, VM=name; default the demo's host1)
	$(LWLAB) ssh --name $(L) $(VM)

lab-status:  ## list running labs
	@$(LWLAB) status

bench: setup  ## run the benchmarks under benchmarks/ (each prints its figures)
	@for b in benchmarks/*/run; do echo "== $$b"; $$b || exit 1; done

build: setup  ## build the collection tarball (no venv, images or caches inside)
	ansible-galaxy collection build --force --output-path .lab/dist
	@tar tzf .lab/dist/lastwords-panic-*.tar.gz | grep -E '(^|/)(\.venv|\.lab|\.collections|.*\.qcow2)' \
	  && { echo "build: unwanted files in the tarball" >&2; exit 1; } || true
	@ls -l .lab/dist/

clean:  ## remove local build products (not the image cache in ~/.cache/lastwords)
	rm -rf .lab .pytest_cache .ruff_cache

ee: build  ## check the AWX execution environment: ansible-builder create (the build context, no image)
	rm -f .lab/dist/lastwords-panic.tar.gz && cp "$$(ls .lab/dist/lastwords-panic-[0-9]*.tar.gz | head -1)" .lab/dist/lastwords-panic.tar.gz
	rm -rf .lab/ee
	ansible-builder create --file execution-environment.yml --context .lab/ee --output-filename Containerfile
	@grep -q 'ansible-galaxy collection install .*-r requirements.yml' .lab/ee/Containerfile \
	  || { echo "ee: the Containerfile installs no collections" >&2; exit 1; }
	@grep -q '/build/collections/lastwords-panic.tar.gz' .lab/ee/_build/requirements.yml \
	  && tar tzf .lab/ee/_build/collections/lastwords-panic.tar.gz MANIFEST.json >/dev/null \
	  || { echo "ee: the collection is not in the build context" >&2; exit 1; }
	@grep -q '^crash \[platform:rpm\]' .lab/ee/_build/bindep.txt || { echo "ee: bindep.txt lacks crash" >&2; exit 1; }
	@echo "ee: build context in .lab/ee: Containerfile, the collection, its requirements and bindep.txt"
