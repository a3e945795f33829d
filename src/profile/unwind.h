/*
 * Walking a guest kernel stack by its frame pointers: each frame holds the caller's rbp at
 * [rbp] and the return address at [rbp + 8]. Pure: guest memory comes through a callback.
 */
#ifndef VMON_PROFILE_UNWIND_H
#define VMON_PROFILE_UNWIND_H

#include <stdbool.h>
#include <stdint.h>

/* Read the 8 bytes at guest virtual address gva. 0, or nonzero if it is not mapped. */
typedef int (*unwind_read_fn)(void *opaque, uint64_t gva, uint64_t *val);

/* Canonical for a `va_bits`-bit address space (48 or 57): bits va_bits-1..63 all equal. */
bool unwind_canonical(uint64_t va, unsigned va_bits);

/*
 * Follow the chain from `rbp`, writing up to `max` return addresses (innermost first) into
 * out; returns how many. It stops at a frame pointer that is zero, misaligned (Linux marks
 * interrupt frames with bit 0), non-canonical, outside the kernel half (kernel_only), not
 * mapped, or not above the previous one, and at a return address that is zero,
 * non-canonical or outside the kernel half.
 */
int unwind_frame_pointers(uint64_t rbp, unsigned va_bits, bool kernel_only, int max,
			  unwind_read_fn read, void *opaque, uint64_t *out);

#endif
