/* e820: RAM below the EBDA, the BIOS/ACPI area reserved, RAM above 1 MiB and above 4 GiB. */
#include "boot/e820.h"

#include "boot/layout.h"

int e820_build(const struct guest_mem *gm, struct e820_entry *out)
{
	const struct gm_region *low = &gm->regions[0];
	int n = 0;

	out[n++] = (struct e820_entry){ 0, BOOT_EBDA_ADDR, E820_TYPE_RAM };
	out[n++] = (struct e820_entry){ BOOT_EBDA_ADDR, BOOT_BIOS_AREA_ADDR - BOOT_EBDA_ADDR,
					E820_TYPE_RESERVED };
	out[n++] = (struct e820_entry){ BOOT_ACPI_ADDR, BOOT_HIGH_ADDR - BOOT_ACPI_ADDR,
					E820_TYPE_RESERVED };
	if (low->size > BOOT_HIGH_ADDR)
		out[n++] = (struct e820_entry){ BOOT_HIGH_ADDR, low->size - BOOT_HIGH_ADDR,
						E820_TYPE_RAM };
	for (int i = 1; i < gm->nr_regions; i++)
		out[n++] = (struct e820_entry){ gm->regions[i].gpa, gm->regions[i].size,
						E820_TYPE_RAM };
	return n;
}
