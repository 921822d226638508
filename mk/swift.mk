# The Swift API (KernelMutex), its tests, the inlining check, and the C example built the way C
# users build it.  `make swift-bench` runs the Swift benchmark package (not part of `make test`).

SWIFT ?= swift
SWIFT_TSAN_SCRATCH := .build-tsan
SWIFT_EXAMPLE_PREFIX := $(BUILD)/swift/example-prefix

.PHONY: test-swift test-swift-tsan test-swift-inlining test-examples swift-bench

# Swift Testing (and XCTest, if any) in debug: the C target has KMUTEX_DEBUG there.
test-swift:
	$(SWIFT) test

# TSan instruments the C target too.  swift test can print "passed" and still exit non-zero on
# a race report: make fails on the exit code, and on a report that left it zero.
test-swift-tsan:
	@mkdir -p $(BUILD)/swift
	$(SWIFT) test --sanitize=thread --scratch-path $(SWIFT_TSAN_SCRATCH) \
		> $(BUILD)/swift/tsan.log 2>&1; status=$$?; cat $(BUILD)/swift/tsan.log; \
	if [ $$status -ne 0 ]; then echo "test-swift-tsan: swift test exited $$status"; exit 1; fi; \
	if grep -q "WARNING: ThreadSanitizer" $(BUILD)/swift/tsan.log; then \
		echo "test-swift-tsan: ThreadSanitizer reported a race"; exit 1; fi

# The release disassembly of a caller of withLock: inlined lock cmpxchg, no call on the fast path.
test-swift-inlining:
	scripts/check-swift-inlining.py

# Install into a temporary prefix, build the example with pkg-config, run it against the
# shared library (rpath) and against the static one.
test-examples: lib
	rm -rf $(SWIFT_EXAMPLE_PREFIX)
	$(MAKE) --no-print-directory install PREFIX=$(abspath $(SWIFT_EXAMPLE_PREFIX))
	grep -qx "prefix=$(abspath $(SWIFT_EXAMPLE_PREFIX))" \
		$(SWIFT_EXAMPLE_PREFIX)/lib/pkgconfig/kmutex.pc
	PKG_CONFIG_PATH=$(abspath $(SWIFT_EXAMPLE_PREFIX))/lib/pkgconfig; export PKG_CONFIG_PATH; \
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O2 Examples/bank.c -o $(BUILD)/swift/bank-shared \
		$$(pkg-config --cflags --libs kmutex) -lpthread \
		-Wl,-rpath,$(abspath $(SWIFT_EXAMPLE_PREFIX))/lib && \
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O2 Examples/bank.c -o $(BUILD)/swift/bank-static \
		$$(pkg-config --cflags kmutex) $$(pkg-config --variable=libdir kmutex)/libkmutex.a -lpthread
	$(BUILD)/swift/bank-shared
	$(BUILD)/swift/bank-static
	@ldd $(BUILD)/swift/bank-shared | grep -q "$(abspath $(SWIFT_EXAMPLE_PREFIX))/lib/libkmutex.so" \
		|| { echo "test-examples: bank-shared did not load the installed libkmutex.so"; exit 1; }

# SWIFT_BACKTRACE=enable=no: a crashing benchmark must end the run, not leave the backtracer
# holding the output pipe that the benchmark tool waits on.
swift-bench:
	cd Benchmarks && SWIFT_BACKTRACE=enable=no \
		$(SWIFT) package --allow-writing-to-package-directory benchmark --no-progress

TESTS += test-swift test-swift-tsan test-swift-inlining test-examples
