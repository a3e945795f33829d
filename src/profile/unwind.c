/* The frame-pointer walk, with every guest-supplied pointer checked before it is followed. */
#include "profile/unwind.h"

bool unwind_canonical(uint64_t va, unsigned va_bits)
{
	uint64_t top = va >> (va_bits - 1);

	return top == 0 || top == (UINT64_MAX >> (va_bits - 1));
}

static bool usable(uint64_t va, unsigned va_bits, bool kernel_only)
{
	return va && unwind_canonical(va, va_bits) && (!kernel_only || (va >> 63));
}

int unwind_frame_pointers(uint64_t rbp, unsigned va_bits, bool kernel_only, int max,
			  unwind_read_fn read, void *opaque, uint64_t *out)
{
	int n = 0;

	while (n < max && usable(rbp, va_bits, kernel_only) && !(rbp & 7) &&
	       usable(rbp + 8, va_bits, kernel_only)) {
		uint64_t next, ret;

		if (read(opaque, rbp + 8, &ret) || !usable(ret, va_bits, kernel_only))
			break;
		out[n++] = ret;
		if (read(opaque, rbp, &next) || next <= rbp)
			break;
		rbp = next;
	}
	return n;
}
