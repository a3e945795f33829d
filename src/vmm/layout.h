/*
 * The machine vmon builds, as a memory map: every guest-physical address and GSI the
 * builder places a part at. (Low-memory boot structures: boot/layout.h. The ISA ports of
 * each legacy chip are the chip's own, in its header.)
 *
 *   0x0000_0000 - 0xbfff_ffff  RAM (up to 3 GiB; the rest from 4 GiB)
 *   0xd000_0000                test device (--testdev; its guests: tests/guest/guest.h)
 *   0xd100_0000 + i * 0x1000   virtio-mmio device i, GSI virtio_mmio_gsis[i]
 *   0xe000_0000 - 0xfebf_ffff  PCI BAR window (also in the DSDT's _CRS: boot/acpi.c)
 *   0xfec0_0000                IOAPIC
 *   0xfee0_0000                LAPIC
 *   0xfffb_c000 - 0xfffb_ffff  KVM's identity map and TSS (hv/kvm/vm.c)
 *   0x1_0000_0000 -            RAM above 3 GiB
 *
 * GSIs: 1 i8042 keyboard, 4 COM1, 8 RTC, 9 ACPI SCI, 5-7 10-12 14 15 virtio-mmio, 16-23 PCI INTA# by slot
 * (the DSDT's _PRT), 24 and up one per MSI-X vector (hv/kvm/routing.c).
 */
#ifndef VMON_VMM_LAYOUT_H
#define VMON_VMM_LAYOUT_H

#include <stdint.h>

#define LAYOUT_TESTDEV_MMIO_BASE 0xd0000000ULL
#define LAYOUT_VIRTIO_MMIO_BASE 0xd1000000ULL
#define LAYOUT_VIRTIO_MMIO_STRIDE 0x1000ULL
#define LAYOUT_PCI_WINDOW_START 0xe0000000ULL
#define LAYOUT_PCI_WINDOW_END 0xfebfffffULL
#define LAYOUT_IOAPIC_ADDR 0xfec00000u
#define LAYOUT_LAPIC_ADDR 0xfee00000u

#define LAYOUT_GSI_KBD 1
#define LAYOUT_GSI_COM1 4
#define LAYOUT_GSI_RTC 8 /* the CMOS RTC's alarm (ISA IRQ 8) */
#define LAYOUT_GSI_SCI 9 /* the FADT's SCI_INT; level, active high (the MADT says so) */
/* ISA IRQs no legacy device of vmon's uses, one per virtio-mmio device. */
#define LAYOUT_VIRTIO_MMIO_GSIS { 5, 6, 7, 10, 11, 12, 14, 15 }
#define LAYOUT_MAX_VIRTIO_MMIO 8
/* PCI INTA# of slot s: ACPI_PCI_SLOT_GSI() in boot/acpi.h, which writes the _PRT. */

#endif
