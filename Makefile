# coldsend — see README.md. Every target needs only Go unless it says root.
GO       ?= go
BIN      := bin/coldsend
PKGS     := ./...
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.7.0
DEMO_IMG := fixtures/images/demo
DEMO_DIR := out/demo
export CGO_ENABLED := 0

.PHONY: all build demo test lint vet fmt-check staticcheck unit oracle oracle-ci bench fuzz fixtures cross man clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/coldsend

# Build coldsend and run it on a small bundled image: read it, send a
# snapshot (the kernel's exact bytes, see make test) into dump and validate.
demo: build
	@$(GO) run ./internal/cmd/unpack -o $(DEMO_DIR) $(DEMO_IMG) >/dev/null
	@set -e; img=$$(ls $(DEMO_DIR)/*.img | head -n1); \
	echo "\$$ coldsend show $$img"; $(BIN) show $$img; echo; \
	echo "\$$ coldsend subvolume list $$img"; $(BIN) subvolume list $$img; echo; \
	echo "\$$ coldsend ls -l -R $$img snaps/1"; $(BIN) ls -l -R $$img snaps/1; echo; \
	echo "\$$ coldsend cat $$img snaps/1/hello.txt"; $(BIN) cat $$img snaps/1/hello.txt; echo; \
	echo "\$$ coldsend send -q $$img snaps/1 | coldsend dump"; $(BIN) send -q $$img snaps/1 | $(BIN) dump; echo; \
	echo "\$$ coldsend send -q $$img snaps/1 | coldsend validate"; $(BIN) send -q $$img snaps/1 | $(BIN) validate

# The whole test suite: formatting, vet, staticcheck and every unit test.
test: lint unit

unit:
	$(GO) test -count=1 $(PKGS)

lint: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(GO) run $(STATICCHECK) $(PKGS)

# Kernel oracle (root, loop devices, btrfs): fresh random scenarios.
# SEED=N reruns one seed; COLDSEND_ORACLE_SEEDS=N sets how many.
oracle:
	COLDSEND_ORACLE=fresh COLDSEND_ORACLE_SEED=$(SEED) $(GO) test -count=1 -timeout 60m -v -run 'TestOracle' ./oracle/

# The oracle's fixed seeds and named scenarios, as CI runs them.
# It also runs the README's rootless mkfs.btrfs --rootdir recipe, which
# make test skips where btrfs-progs is missing.
oracle-ci:
	$(GO) test -count=1 -v -run 'TestRootdirRecipe' ./internal/readme/
	COLDSEND_ORACLE=ci $(GO) test -count=1 -timeout 20m -v -run 'TestOracle' ./oracle/

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

# Every fuzz target for FUZZTIME each (FUZZ=regexp picks some), one
# after the other; a failure stops it and leaves the input in testdata.
FUZZTIME ?= 60s
FUZZ     ?= .
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' | grep -E '$(FUZZ)'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg || exit 1; \
		done; \
	done

# Regenerate the committed fixtures (root).
fixtures:
	bash fixtures/regen.sh

# Man pages, one per command, into out/man (man -l out/man/coldsend-send.1).
man:
	$(GO) run ./internal/cmd/genman -o out/man

cross:
	@for t in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64; do \
		os=$${t%/*}; arch=$${t#*/}; echo "build $$os/$$arch"; \
		GOOS=$$os GOARCH=$$arch $(GO) build -o /dev/null ./cmd/coldsend || exit 1; \
	done

clean:
	rm -rf bin out
