# phiguard — see README.md. `make test` is the one test command; `make dev` runs the product locally.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
TOOLS     := .tools/bin
VENV      := .venv
FUNCTIONS := $(notdir $(patsubst %/,%,$(wildcard functions/*/)))
EMULATORS := $(TOOLS)/emulators
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

# ---- settings: make <target> NAME=value (docs/OPERATING.md, "Deployment settings") ----
# Each deployment setting becomes a CDK context value (-c phiguard:…), checked when the app
# synthesizes; they may also live in cdk.json's "context". Empty means the default.

STAGE ?=             ## deploy stack Phiguard-<STAGE> beside the default Phiguard (a-z, 0-9, inner -; at most 16)
ACCOUNT ?=           ## pin the stack to this AWS account id (the CDK CLI refuses credentials of another)
REGION ?=            ## pin the stack to this region (default: the profile's region or AWS_REGION)
PROFILE ?=           ## AWS CLI profile for every cdk command (default: AWS_PROFILE or the default chain)
OPERATOR_ROLE_ARN ?= ## only this IAM role may call /operator/* (default: any principal of the account IAM allows)
ALARM_EMAIL ?=       ## e-mail address(es), comma-separated, subscribed to the alarm topic (each confirms by mail)
GOARCH_LAMBDA ?= arm64 ## make build's architecture: arm64 (deploy); amd64 for SAM on x86 without QEMU (with the SAM targets)
BIND_HOST ?= 127.0.0.1 ## make dev-sam: address moto listens on, e.g. 172.17.0.1 for SAM on Linux (warns)

STACK     := Phiguard$(if $(strip $(STAGE)),-$(strip $(STAGE)))
CDK_SETTINGS := $(if $(strip $(STAGE)),-c 'phiguard:stage=$(strip $(STAGE))') \
  $(if $(strip $(ACCOUNT)),-c 'phiguard:account=$(strip $(ACCOUNT))') \
  $(if $(strip $(REGION)),-c 'phiguard:region=$(strip $(REGION))') \
  $(if $(strip $(OPERATOR_ROLE_ARN)),-c 'phiguard:operatorRoleArn=$(strip $(OPERATOR_ROLE_ARN))') \
  $(if $(strip $(ALARM_EMAIL)),-c 'phiguard:alarmEmail=$(strip $(ALARM_EMAIL))') \
  $(if $(strip $(PROFILE)),--profile '$(strip $(PROFILE))')
# SAM runs the functions on the architecture they are built for.
SAM_ARCH  := $(if $(filter amd64,$(strip $(GOARCH_LAMBDA))),x86_64,arm64)

.PHONY: help
help: ## list the targets and the settings
	@echo "Targets:"
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'
	@echo "Settings (make <target> NAME=value; docs/OPERATING.md, \"Deployment settings\"):"
	@grep -hE '^[A-Z_]+ \?=.*## ' $(MAKEFILE_LIST) | sed -E 's/^([A-Z_]+) \?= *([^#]*[^# ])? *## (.*)$$/\1|\2|\3/' | \
	  awk -F'|' '{d = ($$2 == "") ? "" : " (default " $$2 ")"; printf "  %-18s %s%s\n", $$1, $$3, d}'

# ---- bootstrap: pinned tools, installed only when missing or when their lock file changed ----

.PHONY: bootstrap
bootstrap: $(VENV)/.installed node_modules/.installed $(TOOLS)/local-kms $(TOOLS)/aws-lambda-rie $(EMULATORS) chromium ## install the pinned tools (idempotent)

# The console's browser tests drive headless Chromium (Debian's package chromium): installed when
# missing and the machine can (root with apt-get), else named in one line. The browser tests
# fail without it, in CI and everywhere else.
CHROMIUM_NAMES := chromium chromium-browser google-chrome
.PHONY: chromium
chromium: ## install Chromium for the console's browser tests when missing (apt-get, as root)
	@if [ -n "$$PHI_CHROMIUM" ] || for b in $(CHROMIUM_NAMES); do command -v $$b >/dev/null 2>&1 && exit 0; done; false; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium (apt-get) for the console's browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "bootstrap: the console's browser tests need Chromium: install the package chromium (Debian/Ubuntu: sudo apt-get install chromium)"; fi

$(VENV)/.installed: requirements.txt
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@# node_modules holds Go template files (aws-cdk's init templates): a go.mod of its own keeps
	@# them out of this module's ./... pattern.
	@printf 'module node_modules\n' > node_modules/go.mod
	@touch $@

# Go tools are pinned by the tool directives in go.mod.
$(TOOLS)/local-kms: go.mod go.sum
	$(GO) build -o $@ github.com/nsmithuk/local-kms
$(TOOLS)/aws-lambda-rie: go.mod go.sum
	$(GO) build -o $@ github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie
$(EMULATORS): go.mod go.sum $(wildcard scripts/emulators/*.go shared/awsclient/*.go shared/awsconfig/*.go)
	$(GO) build -o $@ ./scripts/emulators

# ---- build ----

.PHONY: build
build: ## compile every functions/<name> to build/<name>/bootstrap (linux/GOARCH_LAMBDA, default arm64; provided.al2023)
	@for fn in $(FUNCTIONS); do \
	  echo "build/$$fn/bootstrap"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$(strip $(GOARCH_LAMBDA)) $(GO) build -tags lambda.norpc -trimpath \
	    -ldflags='-s -w' -o build/$$fn/bootstrap ./functions/$$fn || exit 1; \
	done

# ---- test ----

.PHONY: test
test: bootstrap ## go vet, all Go tests (unit + integration) against the emulators, then make smoke
	$(GO) vet ./...
	$(EMULATORS) -- $(GO) test -count=1 ./...
	$(EMULATORS) -- $(GO) run ./scripts/smoke

.PHONY: test-short
test-short: ## unit tests only (skips integration tests; never used by CI)
	$(GO) test -short ./...

.PHONY: smoke
smoke: bootstrap ## boot every function under the Lambda RIE, invoke it with its events/ samples, report cold starts
	$(EMULATORS) -- $(GO) run ./scripts/smoke

.PHONY: bench
bench: ## run the Go benchmarks; then phictl decrypt's events/s per algorithm and the pipeline's AWS requests and Lambda ms per 1000 events (local stack); ends with the transform's speedup and cost ratios (each measured in one run)
	$(GO) test -run='^$$' -bench=. -skip='^Benchmark(Report|DecryptReport|PipelineReport)$$' -benchmem ./...
	@mkdir -p build
	$(GO) test -run='^$$' -bench='^BenchmarkDecryptReport$$' ./scripts/phictl | tee build/bench-decrypt.txt
	$(EMULATORS) -- env PHI_BENCH_MEASURED=$(CURDIR)/build/bench-pipeline.json $(GO) test -run='^$$' -bench='^BenchmarkPipelineReport$$' -benchtime=1x -timeout=30m ./scripts/internal/devserver | tee build/bench-pipeline.txt
	$(GO) test -run='^$$' -bench='^BenchmarkReport$$' ./shared/transform | tee build/bench-report.txt
	@grep -E '^phictl decrypt' build/bench-decrypt.txt
	@grep -E '^pipeline ' build/bench-pipeline.txt
	@grep -E '^transform (speedup vs reference|cost vs json roundtrip): ' build/bench-report.txt

.PHONY: soak
soak: bootstrap ## the fault campaign at 10,000 events (EVENTS=n, RATE=n events/s): one accounting line per destination; fails unless nothing is lost or in clear
	$(EMULATORS) -- env PHI_SOAK_EVENTS=$(or $(strip $(EVENTS)),10000) PHI_SOAK_RATE=$(or $(strip $(RATE)),50) \
	  $(GO) test -count=1 -run='^TestSoakCampaign$$' -timeout=120m -v ./scripts/internal/soak

.PHONY: contract
contract: bootstrap ## schemathesis against the local service for DURATION (10m by default), then the resident memory of the service and the emulators; fails above 2 GiB
	$(EMULATORS) -- env PHI_ST_DURATION=$(or $(strip $(DURATION)),10m) \
	  $(GO) test -count=1 -run='^TestSchemathesisFindsNoFailure$$' -timeout=120m -v ./scripts/internal/apicontract

.PHONY: cost
cost: ## write docs/COST.md and docs/SCALING.md from docs/cost/measured.json and docs/cost/prices.json (FROM=build/bench-pipeline.json takes the last make bench's figures first)
	$(GO) run ./scripts/costmodel $(if $(strip $(FROM)),-from '$(strip $(FROM))')

# ---- run ----

.PHONY: dev
dev: bootstrap ## run the whole service locally: API on 127.0.0.1:3000, pipeline, webhook receiver; Ctrl-C stops it (ARGS='-h' for flags)
	$(GO) build -o $(TOOLS)/phiguard-dev ./scripts/dev
	$(EMULATORS) $(EMULATOR_FLAGS) -- $(TOOLS)/phiguard-dev $(ARGS)

.PHONY: demo
demo: bootstrap ## walk the HIPAA workflow end to end against a fresh local service; last line: demo: N checks passed
	$(GO) build -o $(TOOLS)/phiguard-demo ./scripts/demo
	$(GO) build -o $(TOOLS)/phictl ./scripts/phictl
	$(EMULATORS) -- $(TOOLS)/phiguard-demo $(ARGS)

# ---- SAM (needs Docker, which these machines lack; make smoke is the Docker-free equivalent) ----

STACK_TEMPLATE := cdk.out/$(STACK).template.json
SAM_VENV := .tools/sam
SAM_VERSION := 1.170.0
SAM ?= $(if $(wildcard $(SAM_VENV)/bin/sam),$(SAM_VENV)/bin/sam,sam)
# Docker Engine on Linux has no host.docker.internal (events/env.json's emulator host) unless asked.
SAM_DOCKER_FLAGS ?= $(if $(filter Linux,$(shell uname -s)),--add-host host.docker.internal:host-gateway)
export SAM_CLI_TELEMETRY ?= 0

.PHONY: sam-cli
sam-cli: ## optional: install the pinned AWS SAM CLI into .tools/sam/ (make's SAM targets then use it)
	@test -x $(SAM_VENV)/bin/python || python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check aws-sam-cli==$(SAM_VERSION)

.PHONY: synth-sam
synth-sam: ## make synth for SAM: short function ids (Config, Hashing, …), the AWS_ENDPOINT_URL_* variables events/env.json sets
	$(MAKE) synth SYNTH_FLAGS='-c phiguard:sam=true -c phiguard:architecture=$(SAM_ARCH)'

.PHONY: sam-validate
sam-validate: synth-sam ## sam validate --lint on the SAM template (cfn-lint reads .cfnlintrc, as make lint does)
	$(SAM) validate --lint -t $(STACK_TEMPLATE) --region $(or $(strip $(REGION)),us-east-1)

.PHONY: sam-invoke
sam-invoke: synth-sam ## sam local invoke FN=<Config|Operator|Keygen|Authorizer|Hashing|Delivery> EVENT=events/<file>.json (with make dev-sam running)
	$(SAM) local invoke -t $(STACK_TEMPLATE) $(FN) -e $(EVENT) --env-vars events/env.json $(SAM_DOCKER_FLAGS) $(SAM_FLAGS)

.PHONY: sam-api
sam-api: synth-sam ## sam local start-api against the synthesized template (with make dev-sam running)
	$(SAM) local start-api -t $(STACK_TEMPLATE) --env-vars events/env.json $(SAM_DOCKER_FLAGS) $(SAM_FLAGS)

.PHONY: dev-sam
dev-sam: ## make dev with the emulators on the fixed ports events/env.json names (moto 4566 on BIND_HOST, local-kms 4599)
	$(MAKE) dev EMULATOR_FLAGS='-moto-port 4566 -kms-port 4599 -bind-host $(strip $(BIND_HOST))'

.PHONY: fmt
fmt: ## gofmt every Go file
	gofmt -w $$(git ls-files '*.go')

.PHONY: clean
clean: ## remove build outputs (keeps the installed tools)
	rm -rf build cdk.out .emulators

# ---- infrastructure (AWS CDK app in infra/; docs/OPERATING.md) ----

CDK := npx --no-install cdk
# Synthesis that only finds the stack's environment (cdk bootstrap, cdk destroy) uploads no
# asset: placeholder binaries, outside build/, let it run on a fresh checkout.
NO_ASSETS := -c phiguard:placeholders=true -c phiguard:assetRoot=build/placeholder-assets

# Functions not written yet get a placeholder bootstrap inside build/ so synth and lint run; the
# app warns about each one and `make deploy` refuses them.
.PHONY: synth
synth: bootstrap build ## compile the functions, then synthesize the CloudFormation template into cdk.out/ (cdk-nag runs here)
	rm -rf cdk.out
	$(CDK) synth --quiet --output cdk.out -c phiguard:placeholders=true $(CDK_SETTINGS) $(SYNTH_FLAGS)

# cfn-lint reads .cfnlintrc (W3005, CDK's own redundant DependsOn, is ignored there).
.PHONY: lint
lint: synth ## cfn-lint every synthesized template (fails on errors)
	$(VENV)/bin/cfn-lint --non-zero-exit-code error -- cdk.out/*.template.json

.PHONY: nag
nag: ## cdk-nag (AwsSolutions + HIPAA Security) and the infra assertions, without building functions
	$(GO) test -count=1 ./infra/...

.PHONY: cdk-bootstrap
cdk-bootstrap: bootstrap ## once per account and region: cdk bootstrap the account (PROFILE/REGION/ACCOUNT choose it; no build needed)
	$(CDK) bootstrap $(CDK_SETTINGS) $(NO_ASSETS)

.PHONY: diff
diff: bootstrap build ## build the functions and show what make deploy would change (cdk diff)
	$(CDK) diff $(CDK_SETTINGS)

.PHONY: deploy
deploy: bootstrap build ## build the functions and deploy the stack (cdk deploy); its outputs are written to build/<stack>-outputs.json
	$(CDK) deploy $(CDK_SETTINGS) --require-approval broadening --outputs-file build/$(STACK)-outputs.json

.PHONY: outputs
outputs: ## print the deployed stack's outputs (needs the AWS CLI)
	aws cloudformation describe-stacks --stack-name $(STACK) $(if $(strip $(PROFILE)),--profile '$(strip $(PROFILE))') \
	  $(if $(strip $(REGION)),--region $(strip $(REGION))) --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text

.PHONY: destroy
destroy: bootstrap ## delete the stack (cdk destroy; asks first); retained data stays (docs/OPERATING.md); no build needed
	$(CDK) destroy $(CDK_SETTINGS) $(NO_ASSETS)
