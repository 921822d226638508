# The weak-memory check (issue 23): the real core (kmutex, osq, wait_lock, kcond, krwsem)
# compiled as C++ under Relacy (relacy-dev), every atomic a Relacy atomic
# (verify/weak/kmx_relacy.h), client scenarios that assert the critical section's data; see
# verify/README.md, "Weak memory".
#  make verify-weak        every scenario and variant, 1,000,000 iterations each
#  make test-weak          the bounded form in make test (100,000 iterations each)
#  make verify-weak-mutate each ordering site weakened in turn (verify/weak/mutate.sh)
WEAK_DIR  := $(BUILD)/weak
WEAK_CORE := kmutex osq wait_lock kcond krwsem sched_view
WEAK_SRCS := verify/weak/runtime.cpp verify/weak/scenarios.cpp
WEAK_HDRS := verify/weak/kmx_relacy.h verify/weak/world.h $(KMUTEX_HDRS)
# -fpermissive: the C sources' implicit void * conversions (warnings, not errors, in C++).
WEAK_CXXFLAGS := -std=gnu++17 -O1 -g -fpermissive -w -D_GNU_SOURCE -ICShims/include -ICShims \
	-Iverify/weak -include verify/weak/kmx_relacy.h

$(WEAK_DIR)/%.o: CShims/%.c $(WEAK_HDRS)
	@mkdir -p $(@D)
	$(CXX) $(WEAK_CXXFLAGS) -DKMX_RL_CORE_C -x c++ -c $< -o $@
$(WEAK_DIR)/%.o: verify/weak/%.cpp $(WEAK_HDRS)
	@mkdir -p $(@D)
	$(CXX) $(WEAK_CXXFLAGS) -c $< -o $@
$(WEAK_DIR)/weak: $(patsubst %,$(WEAK_DIR)/%.o,$(WEAK_CORE)) $(patsubst verify/weak/%.cpp,$(WEAK_DIR)/%.o,$(WEAK_SRCS))
	$(CXX) -o $@ $^

# The seed's v4.10 handoff rule (KMUTEX_V410_HANDOFF), for the variant without its smp_mb().
$(WEAK_DIR)/v410/%.o: CShims/%.c $(WEAK_HDRS)
	@mkdir -p $(@D)
	$(CXX) $(WEAK_CXXFLAGS) -DKMX_RL_CORE_C -DKMUTEX_V410_HANDOFF -x c++ -c $< -o $@
$(WEAK_DIR)/weak-v410: $(patsubst %,$(WEAK_DIR)/v410/%.o,$(WEAK_CORE)) $(patsubst verify/weak/%.cpp,$(WEAK_DIR)/%.o,$(WEAK_SRCS))
	$(CXX) -o $@ $^
WEAK_BINS := $(WEAK_DIR)/weak $(WEAK_DIR)/weak-v410

.PHONY: verify-weak test-weak verify-weak-mutate
verify-weak: $(WEAK_BINS)
	@WEAK_ITER=1000000 verify/weak/run.sh $(WEAK_DIR)

test-weak: $(WEAK_BINS)
	@WEAK_ITER=100000 verify/weak/run.sh $(WEAK_DIR)

verify-weak-mutate: $(WEAK_BINS)
	@verify/weak/mutate.sh $(WEAK_DIR)

TESTS += test-weak
