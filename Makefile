# swift-ngpt: set-up, build, test and benchmark entry points.
SWIFT ?= swift
APT_PACKAGES := libopenblas-dev liblapacke-dev pkg-config bible-kjv
CORPUS_DIR := data/kjv
# Release builds compile the library for this machine's CPU (256-bit AVX2 vector loops where the
# CPU has them; see docs/performance.md). `make release TARGET_CPU=` builds the portable binary.
TARGET_CPU ?= native
RELEASE_ENV := NGPT_TARGET_CPU=$(TARGET_CPU)

.PHONY: setup deps build release test test-examples bench info clean corpus demo demo-bf16 contexts ablate ablate-wide scale long scale-plan bpe three check-report docs

## setup: install the system packages if missing, build the release binary
setup: deps release corpus

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $$missing; \
	else echo "system packages present: $(APT_PACKAGES)"; fi

## corpus: the King James text (Debian's bible-kjv) as the built-in default corpus; the studies below
## prepare it with the last 10 % as validation text (--split tail), as docs/results.md measured them
corpus: $(CORPUS_DIR)/kjv.txt

$(CORPUS_DIR)/kjv.txt:
	@mkdir -p $(CORPUS_DIR)
	bible Gen1:1-Rev22:21 > $@.tmp && mv $@.tmp $@
	@wc -c $@

build:
	$(SWIFT) build

release:
	$(RELEASE_ENV) $(SWIFT) build -c release
	@echo "binary: $$($(SWIFT) build -c release --show-bin-path)/ngpt"

## demo: GPT vs nGPT on the King James text with the demo's shape (about 5 minutes on 2 cores, 7 with the build; 4 min 40 s and 6 min 48 s measured):
## both models at 125, 250 and 500 steps, GPT also at 1,000, three seeds, rates tuned on a grid
DEMO_OUT ?= reports/demo
demo: corpus release
	@bin=$$($(SWIFT) build -c release --show-bin-path)/ngpt; \
	[ -f $(CORPUS_DIR)/train.bin ] || $$bin prepare $(CORPUS_DIR)/kjv.txt --out $(CORPUS_DIR) --split tail; \
	$$bin compare --data $(CORPUS_DIR) --out $(DEMO_OUT) \
	  --dim 64 --layers 2 --heads 4 --context 128 --batch 16 \
	  --budgets 125,250,500 --gpt-budgets 2x --seeds 3 --lr-grid 2e-3,4e-3,8e-3,1.6e-2,3.2e-2 --jobs 2 $(DEMO_FLAGS)

## three: GPT, GPT with q/k RMS normalisation (Examples/QKNormGPT.swift) and nGPT in one comparison at
## the demo's shape and budgets, run by ngpt-examples (the command line with the examples registered)
THREE_OUT ?= reports/three
three: corpus release
	cd Examples && $(RELEASE_ENV) $(SWIFT) build -c release --product ngpt-examples
	@bin=$$($(SWIFT) build -c release --show-bin-path)/ngpt; \
	ex=$$(cd Examples && $(SWIFT) build -c release --show-bin-path)/ngpt-examples; \
	[ -f $(CORPUS_DIR)/train.bin ] || $$bin prepare $(CORPUS_DIR)/kjv.txt --out $(CORPUS_DIR) --split tail; \
	$$ex compare --data $(CORPUS_DIR) --out $(THREE_OUT) --models gpt,qknorm-gpt,ngpt \
	  --dim 64 --layers 2 --heads 4 --context 128 --batch 16 \
	  --budgets 125,250,500 --gpt-budgets 2x --seeds 3 --lr-grid 2e-3,4e-3,8e-3,1.6e-2,3.2e-2 --jobs 2 $(THREE_FLAGS)

## ablate: the paper's ablation tables (Tables 4-6), scale-matched rows and rows beyond the paper at
## the demo's shape: 39 rows, 250 steps, 5 seeds; both models' rates and the rows that change the
## optimisation tuned by the study itself (42 min 29 s measured on 2 cores beside other work)
ABLATE_OUT ?= reports/ablate
ablate: corpus release
	@bin=$$($(SWIFT) build -c release --show-bin-path)/ngpt; \
	[ -f $(CORPUS_DIR)/train.bin ] || $$bin prepare $(CORPUS_DIR)/kjv.txt --out $(CORPUS_DIR) --split tail; \
	$$bin ablate --data $(CORPUS_DIR) --out $(ABLATE_OUT) --budget 250 --seeds 5 --jobs 2

## ablate-wide: the attention rows again with heads twice as wide (d 64, 2 heads of 32)
ABLATE_WIDE_OUT ?= reports/ablate-wide
ABLATE_WIDE_ROWS := ngpt,gpt,sqk-scalar,sqk-fixed,sqk-fixed-trained,sqk-fixed-paper-scale,sqk-init0.05-scale1,sqk-scale1,no-qk-norm,gpt-qk-norm
ablate-wide: corpus release
	@bin=$$($(SWIFT) build -c release --show-bin-path)/ngpt; \
	[ -f $(CORPUS_DIR)/train.bin ] || $$bin prepare $(CORPUS_DIR)/kjv.txt --out $(CORPUS_DIR) --split tail; \
	$$bin ablate --data $(CORPUS_DIR) --out $(ABLATE_WIDE_OUT) --heads 2 --budget 250 --seeds 5 --variants $(ABLATE_WIDE_ROWS) --jobs 2

## contexts: speedup against context at the demo's width: contexts 64, 128, 256 with 2,048 tokens per
## step at each, rates tuned per context and budget, three seeds (12 min 44 s measured on 2 cores)
contexts: corpus release
	@bin=$$($(SWIFT) build -c release --show-bin-path)/ngpt; \
	[ -f $(CORPUS_DIR)/train.bin ] || $$bin prepare $(CORPUS_DIR)/kjv.txt --out $(CORPUS_DIR) --split tail; \
	$$bin compare --data $(CORPUS_DIR) --out reports/contexts \
	  --dim 64 --layers 2 --heads 4 --contexts 64,128,256 --batch 32 \
	  --budgets 125,250 --seeds 3 --lr-grid 2e-3,4e-3,8e-3,1.6e-2,3.2e-2,6.4e-2 --jobs 2

## scale: speedup against model size (1 h 16 min measured beside `make long`): shapes 32x1, 64x2, 128x2 (head width 16; 16 k to 524 k
## non-embedding parameters, 32x) at the demo's context and tokens per step, budgets 125/250/500
## (GPT also 1,000), three seeds, rates tuned per shape at each model's smallest and largest budget
## (grid grown at its edges); one run at a time with 2 BLAS threads, as measured beside `make long`
## (SCALE_JOBS=2: two at a time, one thread each)
SCALE_OUT ?= reports/scale
SCALE_JOBS ?= 1
scale: corpus release
	@bin=$$($(SWIFT) build -c release --show-bin-path)/ngpt; \
	[ -f $(CORPUS_DIR)/train.bin ] || $$bin prepare $(CORPUS_DIR)/kjv.txt --out $(CORPUS_DIR) --split tail; \
	$$bin compare --data $(CORPUS_DIR) --out $(SCALE_OUT) --shapes 32x1,64x2,128x2 --head-width 16 \
	  --context 128 --batch 16 --budgets 125,250,500 --gpt-budgets 2x --seeds 3 \
	  --lr-grid 2e-3,4e-3,8e-3,1.6e-2,3.2e-2 --jobs $(SCALE_JOBS)

## long (1 h 41 min measured beside `make scale`): the demo's shape trained 8x longer (nGPT 1,000/2,000/4,000 steps, GPT also 8,000: 16x the
## demo's 500), three seeds, rates tuned at each model's smallest and largest budget; one run at a
## time with 2 BLAS threads (LONG_JOBS=2: two at a time, one thread each)
LONG_OUT ?= reports/long
LONG_JOBS ?= 1
long: corpus release
	@bin=$$($(SWIFT) build -c release --show-bin-path)/ngpt; \
	[ -f $(CORPUS_DIR)/train.bin ] || $$bin prepare $(CORPUS_DIR)/kjv.txt --out $(CORPUS_DIR) --split tail; \
	$$bin compare --data $(CORPUS_DIR) --out $(LONG_OUT) --dim 64 --layers 2 --heads 4 \
	  --context 128 --batch 16 --budgets 1000,2000,4000 --gpt-budgets 2x --seeds 3 \
	  --lr-grid 3e-3,1e-2,3e-2 --jobs $(LONG_JOBS)

## bpe: subword tokens beside bytes at the demo's shape: the KJV prepared with a byte-level BPE of
## BPE_VOCAB ids learnt on its training text (tail split, as the demo's), and the demo's comparison
## run on both, bytes into BPE_OUT/bytes and BPE into BPE_OUT/bpe-BPE_VOCAB, with the same budgets
## in bytes of text: BPE_BUDGETS are byte-level steps, and the BPE runs take steps × the BPE
## data's training tokens ÷ its bytes (same batch and context in tokens), rounded. Both reports give
## the losses in bits per byte. Tiny check: make bpe BPE_OUT=/tmp/bpe BPE_DIR=/tmp/kjv-bpe
## BPE_BUDGETS=10,20 BPE_SEEDS=2 BPE_LR_GRID=4e-3,8e-3 BPE_FLAGS="--grid-extensions 0"
BPE_OUT ?= reports/bpe
BPE_DIR ?= data/kjv-bpe
BPE_VOCAB ?= 4096
BPE_BUDGETS ?= 125,250,500
BPE_SEEDS ?= 3
BPE_LR_GRID ?= 2e-3,4e-3,8e-3,1.6e-2,3.2e-2
BPE_FLAGS ?=
bpe: corpus release
	@bin=$$($(SWIFT) build -c release --show-bin-path)/ngpt; \
	[ -f $(CORPUS_DIR)/train.bin ] || $$bin prepare $(CORPUS_DIR)/kjv.txt --out $(CORPUS_DIR) --split tail || exit 1; \
	[ -f $(BPE_DIR)/tokenizer.json ] || $$bin prepare $(CORPUS_DIR)/kjv.txt --out $(BPE_DIR) --split tail \
	  --tokenizer bpe --vocab-size $(BPE_VOCAB) || exit 1; \
	bytes=$$(sed -n 's/.*"train_bytes" *: *\([0-9]*\).*/\1/p' $(BPE_DIR)/meta.json); \
	tokens=$$(sed -n 's/.*"train_tokens" *: *\([0-9]*\).*/\1/p' $(BPE_DIR)/meta.json); \
	[ -n "$$bytes" ] && [ -n "$$tokens" ] || { echo "$(BPE_DIR)/meta.json has no train_bytes: prepare it again with --tokenizer bpe"; exit 1; }; \
	steps=$$(echo "$(BPE_BUDGETS)" | awk -F, -v b=$$bytes -v t=$$tokens \
	  '{ for (i = 1; i <= NF; i++) { s = int($$i * t / b + 0.5); if (s < 1) s = 1; printf "%s%d", (i > 1 ? "," : ""), s } }'); \
	echo "byte-level budgets $(BPE_BUDGETS) steps; BPE budgets $$steps steps ($$bytes bytes in $$tokens tokens)"; \
	common="--dim 64 --layers 2 --heads 4 --context 128 --batch 16 --gpt-budgets 2x --seeds $(BPE_SEEDS) --lr-grid $(BPE_LR_GRID) --jobs 2 $(BPE_FLAGS)"; \
	$$bin compare --data $(CORPUS_DIR) --out $(BPE_OUT)/bytes --budgets $(BPE_BUDGETS) $$common || status=1; \
	$$bin compare --data $(BPE_DIR) --out $(BPE_OUT)/bpe-$(BPE_VOCAB) --budgets $$steps $$common || status=1; \
	echo "reports: $(BPE_OUT)/bytes/report.html, $(BPE_OUT)/bpe-$(BPE_VOCAB)/report.html"; \
	exit $${status:-0}

## demo-bf16: the demo with the block matrices stored in bfloat16 (as the paper trained)
demo-bf16: corpus release
	@$(MAKE) --no-print-directory demo DEMO_OUT=reports/demo-bf16 DEMO_FLAGS="--param-precision bf16"

## test: the whole test suite (debug build): the library's, then Examples/'s
test:
	$(SWIFT) test
	$(MAKE) test-examples

## test-examples: the architectures written outside the library (Examples/, a package of its own
## that depends on this one by path): gradient checks, decoding and training tests
test-examples:
	cd Examples && $(SWIFT) test

## check-report: render an `ngpt inspect` and an `ngpt compare` report in headless Chromium and
## check their figures (scripts/check-report.sh; needs Debian's chromium package and python3)
check-report:
	scripts/check-report.sh --inspect
	scripts/check-report.sh --compare

## docs: the DocC documentation of NGPTNumerics, NGPTModels and NGPTStudy (their catalogues are
## Sources/*/*.docc) as one static site in .build/docs; any DocC warning fails it
DOCS_OUT := .build/docs
docs:
	@mkdir -p $(dir $(DOCS_OUT))
	$(SWIFT) package --allow-writing-to-directory $(DOCS_OUT) generate-documentation \
	  --enable-experimental-combined-documentation \
	  --target NGPTNumerics --target NGPTModels --target NGPTStudy \
	  --warnings-as-errors --output-path $(DOCS_OUT)
	@echo "open: python3 -m http.server -d $(DOCS_OUT), then http://localhost:8000/documentation/ngptmodels"

## bench: the ordo-one/benchmark targets under Benchmarks/ (release builds)
bench:
	cd Benchmarks && $(RELEASE_ENV) $(SWIFT) package --allow-writing-to-package-directory benchmark

info: release
	$$($(SWIFT) build -c release --show-bin-path)/ngpt info

clean:
	rm -rf .build Benchmarks/.build Examples/.build
