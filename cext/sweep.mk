# sweep.mk - error sweeps of the vectorized math (vmath.inc); included by
# the Makefile, run from cext/ (make -C cext sweep).
#   make sweep       all 2^32 float32 inputs through tanh, tanh_fast, sech^2
#                    and isru (5 values of c) on every ISA this CPU runs,
#                    against a float64 reference; exit 1 over a bound.
#                    SWEEP_FLAGS: -t threads (2), -s step (sampled run),
#                    -i isa (one ISA only).
#   make vmath64     float64 tanh, sech^2, isru on sampled inputs (every
#                    binade, uniform, dense runs around switch points)
#                    against long double; exit 1 over a bound.
#   make sweep-neon  cross-build the sweep for aarch64 (gcc-aarch64-linux-gnu)
#                    and run it sampled under qemu-aarch64 (SWEEP_NEON_FLAGS).
AARCH64_CC ?= aarch64-linux-gnu-gcc
SWEEP_FLAGS ?= -t 2
SWEEP_NEON_FLAGS ?= -t 2 -s 61
SWEEP_CFLAGS = -std=c99 -O2 -ffp-contract=off -fno-math-errno -Wall -Wextra -Wno-unused-function
SWEEP_UNITS = $(SRCS)

.PHONY: sweep vmath64 sweep-neon

$(BUILD)/sweep: tests/sweep.c $(BUILD)/libdynorm.a
	$(CC) $(SWEEP_CFLAGS) -I. $< $(BUILD)/libdynorm.a -o $@ -lm -pthread

$(BUILD)/test_vmath64: tests/test_vmath64.c $(BUILD)/libdynorm.a
	$(CC) $(SWEEP_CFLAGS) -I. $< $(BUILD)/libdynorm.a -o $@ -lm

sweep: $(BUILD)/sweep
	$(BUILD)/sweep $(SWEEP_FLAGS)

vmath64: $(BUILD)/test_vmath64
	$(BUILD)/test_vmath64

$(BUILD)/aarch64/sweep: tests/sweep.c $(SWEEP_UNITS) $(HDRS)
	@mkdir -p $(dir $@)
	$(AARCH64_CC) $(SWEEP_CFLAGS) -I. $(SWEEP_UNITS) $< -o $@ -lm -pthread -static

sweep-neon: $(BUILD)/aarch64/sweep
	@if command -v qemu-aarch64 >/dev/null 2>&1; then qemu-aarch64 $(BUILD)/aarch64/sweep $(SWEEP_NEON_FLAGS); \
	else echo "qemu-aarch64 not installed: built only"; fi
