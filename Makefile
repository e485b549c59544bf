# greenshim — build, test, demo, bench.
#   make          build the library and the launcher (release)
#   make test     build and run every test (cargo nextest, or cargo test without it)
#   make test-raw the same suite with GREENSHIM_RAW=catch (raw system calls caught)
#   make test-report  the same suite with GREENSHIM_RAW=report (raw calls counted, the
#                 exit report kept out of the programs' streams)
#   make test-preempt the same suite with GREENSHIM_RAW=catch GREENSHIM_PREEMPT=5
#   make test-hubs, make test-all-modes  the same with two hubs; with two hubs, catch
#                 and GREENSHIM_PREEMPT=5
#                 (in each, a test whose property depends on a mode pins it itself)
#   make demo     build, then show the effect on real programs (native vs shim)
#   make bench    side-by-side benchmarks (native vs greenshim vs gevent)
#   make faults   the fault and soak suite (signals, limits, fork, memory), native vs
#                 shim, case by case; longer soaks with FAULTS_SOAK_S=60
#   make compat   CPython's own threading, queue, socket, ssl, signal, logging, asyncio,
#                 multiprocessing, os and I/O suites on CPython 3.11 and 3.13
#                 (COMPAT_PYTHONS=3.11,3.12,3.13), native vs shim, case by case
#   make compat-preempt  CPython's threading and signal suites with GREENSHIM_PREEMPT=5,
#                 then with GREENSHIM_RAW=catch too: every case, the cooperative-scheduling
#                 ones too
#   make wheel    the Python wheel, build/wheel/greenshim-*.whl (maturin, pip-installed
#                 once into build/pkg-venv)
#   make deb      the Debian package, build/deb/greenshim_*.deb (dpkg-deb)

PREFIX ?= /usr/local
CARGO  ?= cargo
LIB    := target/release/libgreenshim.so
BIN    := target/release/greenshim
# CPython versions `make compat` runs (pyenv installs; python3 when none is found).
COMPAT_PYTHONS ?= 3.11,3.13

.PHONY: all build rust-tests test test-hubs test-raw test-report test-preempt test-all-modes demo bench compat compat-preempt faults wheel deb install clean

all: build

build:
	$(CARGO) build --release

# The Rust test programs are a Cargo project of their own (c-tests/rust, own target
# dir): the library's build never depends on them. tests/futex.rs builds them too.
rust-tests:
	$(CARGO) build --release --locked --manifest-path c-tests/rust/Cargo.toml --target-dir target/rust-tests

test: build rust-tests
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --release --no-fail-fast; \
	else \
		$(CARGO) test --release --no-fail-fast; \
	fi

# The whole suite with green threads on two hubs (two OS threads), each time-sliced
# every 5 ms of its CPU time (GREENSHIM_PREEMPT=auto, the default with several hubs).
test-hubs: build rust-tests
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		GREENSHIM_HUBS=2 $(CARGO) nextest run --release --no-fail-fast; \
	else \
		GREENSHIM_HUBS=2 $(CARGO) test --release --no-fail-fast; \
	fi

# The whole suite with everything on at once: two hubs, raw system calls caught, and
# preemption every 5 ms (each hub its own selector and timer).
test-all-modes: build rust-tests
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		GREENSHIM_HUBS=2 GREENSHIM_RAW=catch GREENSHIM_PREEMPT=5 $(CARGO) nextest run --release --no-fail-fast; \
	else \
		GREENSHIM_HUBS=2 GREENSHIM_RAW=catch GREENSHIM_PREEMPT=5 $(CARGO) test --release --no-fail-fast; \
	fi

# The whole suite again with raw system calls caught (GREENSHIM_RAW=catch: every shim
# run traps and parks the calls glibc makes inside itself). CI runs it before `make test`.
test-raw: build rust-tests
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		GREENSHIM_RAW=catch $(CARGO) nextest run --release --no-fail-fast; \
	else \
		GREENSHIM_RAW=catch $(CARGO) test --release --no-fail-fast; \
	fi

# The whole suite with raw system calls reported (GREENSHIM_RAW=report: every shim run
# traps and counts them; the report, written nowhere unless asked, must leave every
# program's output as native).
test-report: build rust-tests
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		GREENSHIM_RAW=report $(CARGO) nextest run --release --no-fail-fast; \
	else \
		GREENSHIM_RAW=report $(CARGO) test --release --no-fail-fast; \
	fi

# The whole suite with preemption (GREENSHIM_RAW=catch GREENSHIM_PREEMPT=5: a green
# thread that runs 5 ms without a switch is switched out at a safe point).
test-preempt: build rust-tests
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		GREENSHIM_RAW=catch GREENSHIM_PREEMPT=5 $(CARGO) nextest run --release --no-fail-fast; \
	else \
		GREENSHIM_RAW=catch GREENSHIM_PREEMPT=5 $(CARGO) test --release --no-fail-fast; \
	fi

demo: build
	@bash scripts/demo.sh

bench: build
	@bash scripts/bench.sh

faults: build
	@bash scripts/faults.sh

compat: build
	@python3 scripts/cpython-compat.py --pyenv $(COMPAT_PYTHONS)

# CPython's threading and signal suites with preemption on: the cases cooperative
# scheduling cannot pass ([no-preempt] in scripts/cpython-known-differences.txt) run too.
compat-preempt: build
	@GREENSHIM_PREEMPT=5 python3 scripts/cpython-compat.py --pyenv $(COMPAT_PYTHONS) test_threading test_signal
	@GREENSHIM_RAW=catch GREENSHIM_PREEMPT=5 python3 scripts/cpython-compat.py --pyenv $(COMPAT_PYTHONS) test_threading test_signal

wheel: build
	@bash scripts/build-wheel.sh

deb: build
	@bash scripts/build-deb.sh

install: build
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libgreenshim.so
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/greenshim
	install -d $(DESTDIR)$(PREFIX)/share/greenshim
	install -m 0644 scripts/greenshim-gdb.py $(DESTDIR)$(PREFIX)/share/greenshim/greenshim-gdb.py

clean:
	$(CARGO) clean
	rm -rf build
