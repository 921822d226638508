# C++: kmutex.hpp (header-only, installed beside kmutex.h) and the CMake package files.
# test-cxx runs Tests/unit/cxx_api.cpp (the standard lock types on kmx::mutex and
# kmx::condition_variable), plain and under TSan, then installs into a temporary prefix and
# builds Examples/cmake with find_package(kmutex) (skipped, with a message, without cmake).
# About 10 s, most of it cmake's configure step.

CXX_DIR    := $(BUILD)/cxx
CXX_PREFIX := $(CXX_DIR)/prefix
CXX_TIMEOUT ?= 120
CXXFLAGS_TEST := -std=c++17 -Wall -Wextra -Wshadow -Werror -pedantic -g -ICShims/include -ITests/unit

$(CXX_DIR)/cxx_api: Tests/unit/cxx_api.cpp CShims/include/kmutex.hpp $(CTEST_HDRS) $(BUILD)/libkmutex.a
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS_TEST) -O2 -o $@ $< $(BUILD)/libkmutex.a -lpthread
$(CXX_DIR)/cxx_api-tsan: Tests/unit/cxx_api.cpp CShims/include/kmutex.hpp $(CTEST_HDRS) $(BUILD)/tsan/libkmutex.a
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS_TEST) $(CTEST_TSAN) -o $@ $< $(BUILD)/tsan/libkmutex.a -lpthread

CMAKE_FILES := $(BUILD)/cmake/kmutexConfig.cmake $(BUILD)/cmake/kmutexConfigVersion.cmake
$(BUILD)/cmake/%.cmake: cmake/%.cmake.in Makefile
	@mkdir -p $(@D)
	sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@SOMAJOR@|$(SOMAJOR)|g' $< > $@

.PHONY: install-cxx uninstall-cxx test-cxx
install: install-cxx
install-cxx: $(CMAKE_FILES)
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/cmake/kmutex
	install -m 644 CShims/include/kmutex.hpp $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(CMAKE_FILES) $(DESTDIR)$(PREFIX)/lib/cmake/kmutex/
uninstall: uninstall-cxx
uninstall-cxx:
	rm -f $(DESTDIR)$(PREFIX)/include/kmutex.hpp
	rm -rf $(DESTDIR)$(PREFIX)/lib/cmake/kmutex

# $(call cxx_run,COMMAND...): run under timeout; say which test hung.
define cxx_run
	@echo "== cxx: $(1)"
	@timeout $(CXX_TIMEOUT) $(1); s=$$?; if [ $$s -eq 124 ]; then \
		echo "test-cxx: '$(1)' did not finish in $(CXX_TIMEOUT) s (hung?): killed"; fi; exit $$s
endef

test-cxx: $(CXX_DIR)/cxx_api $(CXX_DIR)/cxx_api-tsan lib
	$(call cxx_run,$(CXX_DIR)/cxx_api)
	$(call cxx_run,env $(CTEST_TSAN_ENV) $(CXX_DIR)/cxx_api-tsan)
	rm -rf $(CXX_PREFIX) $(CXX_DIR)/example $(CXX_DIR)/example-pc
	$(MAKE) --no-print-directory install PREFIX=$(abspath $(CXX_PREFIX)) >/dev/null
	@if ! command -v cmake >/dev/null; then \
		echo "test-cxx: SKIP the CMake example: cmake not installed (Debian: cmake)"; exit 0; fi; \
	set -e; \
	cmake -S Examples/cmake -B $(CXX_DIR)/example -DCMAKE_PREFIX_PATH=$(abspath $(CXX_PREFIX)) \
		-DCMAKE_CXX_COMPILER=$(CXX) >$(CXX_DIR)/example.log 2>&1 \
		|| { cat $(CXX_DIR)/example.log; echo "test-cxx: cmake could not configure Examples/cmake"; exit 1; }; \
	cmake --build $(CXX_DIR)/example >>$(CXX_DIR)/example.log 2>&1 \
		|| { cat $(CXX_DIR)/example.log; echo "test-cxx: Examples/cmake did not build"; exit 1; }; \
	ldd $(CXX_DIR)/example/queue | grep -q "$(abspath $(CXX_PREFIX))/lib/libkmutex.so" \
		|| { echo "test-cxx: the CMake example did not link the installed libkmutex.so"; exit 1; }; \
	! ldd $(CXX_DIR)/example/queue-static | grep -q libkmutex \
		|| { echo "test-cxx: queue-static links libkmutex.so"; exit 1; }
	$(call cxx_run,$(CXX_DIR)/example/queue)
	$(call cxx_run,$(CXX_DIR)/example/queue-static)
	@if command -v cmake >/dev/null; then set -e; \
	PKG_CONFIG_PATH=$(abspath $(CXX_PREFIX))/lib/pkgconfig cmake -S Examples/cmake -B $(CXX_DIR)/example-pc \
		-DKMUTEX_VIA_PKGCONFIG=ON -DCMAKE_CXX_COMPILER=$(CXX) >$(CXX_DIR)/example-pc.log 2>&1 \
		|| { cat $(CXX_DIR)/example-pc.log; echo "test-cxx: cmake (pkg-config route) could not configure"; exit 1; }; \
	cmake --build $(CXX_DIR)/example-pc >>$(CXX_DIR)/example-pc.log 2>&1 \
		|| { cat $(CXX_DIR)/example-pc.log; echo "test-cxx: Examples/cmake (pkg-config route) did not build"; exit 1; }; \
	echo "== cxx: $(CXX_DIR)/example-pc/queue (pkg-config route)"; \
	LD_LIBRARY_PATH=$(abspath $(CXX_PREFIX))/lib timeout $(CXX_TIMEOUT) $(CXX_DIR)/example-pc/queue; fi

TESTS += test-cxx
