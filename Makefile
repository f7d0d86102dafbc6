# phiguard — see README.md. `make test` is the one test command; `make dev` runs the product locally.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
TOOLS     := .tools/bin
VENV      := .venv
FUNCTIONS := $(notdir $(patsubst %/,%,$(wildcard functions/*/)))
GOARCH_LAMBDA := arm64
EMULATORS := $(TOOLS)/emulators
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# ---- bootstrap: pinned tools, installed only when missing or when their lock file changed ----

.PHONY: bootstrap
bootstrap: $(VENV)/.installed node_modules/.installed $(TOOLS)/local-kms $(TOOLS)/aws-lambda-rie $(EMULATORS) ## install the pinned tools (idempotent)

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
build: ## compile every functions/<name> to build/<name>/bootstrap (linux/arm64, provided.al2023)
	@for fn in $(FUNCTIONS); do \
	  echo "build/$$fn/bootstrap"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH_LAMBDA) $(GO) build -tags lambda.norpc -trimpath \
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
bench: ## run the Go benchmarks; then phictl decrypt's events/s per algorithm; ends with the transform's speedup and cost ratios (each measured in one run)
	$(GO) test -run='^$$' -bench=. -skip='^Benchmark(Report|DecryptReport)$$' -benchmem ./...
	@mkdir -p build
	$(GO) test -run='^$$' -bench='^BenchmarkDecryptReport$$' ./scripts/phictl | tee build/bench-decrypt.txt
	$(GO) test -run='^$$' -bench='^BenchmarkReport$$' ./shared/transform | tee build/bench-report.txt
	@grep -E '^phictl decrypt' build/bench-decrypt.txt
	@grep -E '^transform (speedup vs reference|cost vs json roundtrip): ' build/bench-report.txt

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

STACK_TEMPLATE := cdk.out/Phiguard.template.json
SAM ?= sam

.PHONY: synth-sam
synth-sam: ## make synth for SAM: functions also declare the AWS_ENDPOINT_URL_* variables events/env.json sets
	$(MAKE) synth SYNTH_FLAGS='-c phiguard:sam=true'

.PHONY: sam-invoke
sam-invoke: synth-sam ## sam local invoke FN=<logical id, e.g. APIConfigCA2AFE04> EVENT=events/<file>.json (with make dev-sam running)
	$(SAM) local invoke -t $(STACK_TEMPLATE) $(FN) -e $(EVENT) --env-vars events/env.json

.PHONY: sam-api
sam-api: synth-sam ## sam local start-api against the synthesized template (with make dev-sam running)
	$(SAM) local start-api -t $(STACK_TEMPLATE) --env-vars events/env.json

.PHONY: dev-sam
dev-sam: ## make dev with the emulators on the fixed ports events/env.json names (moto 4566, local-kms 4599)
	$(MAKE) dev EMULATOR_FLAGS='-moto-port 4566 -kms-port 4599'

.PHONY: fmt
fmt: ## gofmt every Go file
	gofmt -w $$(git ls-files '*.go')

.PHONY: clean
clean: ## remove build outputs (keeps the installed tools)
	rm -rf build cdk.out .emulators

# ---- infrastructure (AWS CDK app in infra/) ----

# Functions not written yet get a placeholder bootstrap inside build/ so synth and lint run; the
# app warns about each one and `make deploy` refuses them.
CDK := npx --no-install cdk

.PHONY: synth
synth: bootstrap build ## compile the functions, then synthesize the CloudFormation template into cdk.out/ (cdk-nag runs here)
	rm -rf cdk.out
	$(CDK) synth --quiet --output cdk.out -c phiguard:placeholders=true $(SYNTH_FLAGS)

# W3005 (a DependsOn that a GetAtt already implies) is CDK's own output for every Lambda with a
# role; ignoring just that check keeps any other warning visible.
.PHONY: lint
lint: synth ## cfn-lint every synthesized template (fails on errors)
	$(VENV)/bin/cfn-lint --non-zero-exit-code error --ignore-checks W3005 -- cdk.out/*.template.json

.PHONY: nag
nag: ## cdk-nag (AwsSolutions + HIPAA Security) and the infra assertions, without building functions
	$(GO) test -count=1 ./infra/...

.PHONY: deploy
deploy: bootstrap build ## build the functions and deploy the stack with cdk deploy (needs AWS credentials and a bootstrapped account)
	$(CDK) deploy --require-approval broadening
