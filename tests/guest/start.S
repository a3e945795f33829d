/*
 * Test-guest runtime: entry in long mode, our own GDT and IDT with a stub per vector,
 * and the AP trampoline (real mode -> protected mode -> long mode) copied below 1 MiB.
 */
#define TRAMP_BASE 0x70000
#define KCODE 0x08
#define KDATA 0x10
#define KCODE32 0x18

	/* PVH entry note: loaders with PVH support (vmon --boot pvh, QEMU) enter at pvh_start. */
	.section .note.Xen, "a"
	.align 4
	.long 4, 4, 18			/* namesz, descsz, XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long pvh_start

	.section .text.entry, "ax"
	/*
	 * PVH: flat 32-bit protected mode, paging off. Identity-map 4 GiB with 2 MiB pages
	 * (user-accessible, for the CPL3 benchmarks), enter long mode, continue at _start.
	 */
	.code32
pvh_start:
	cld
	mov %ebx, boot_pvh_info		/* hvm_start_info, for boot_cmdline() */
	lea pvh_pd, %edi
	xor %eax, %eax
	mov $(4 * 512), %ecx
1:	mov %eax, %edx
	shl $21, %edx
	or $0x87, %edx			/* P RW US PS */
	mov %edx, (%edi)
	mov %eax, %edx
	shr $11, %edx			/* high half of (i << 21) */
	mov %edx, 4(%edi)
	add $8, %edi
	inc %eax
	loop 1b
	lea pvh_pdpt, %edi
	lea pvh_pd, %eax
	or $7, %eax
	mov $4, %ecx
2:	mov %eax, (%edi)
	movl $0, 4(%edi)
	add $8, %edi
	add $4096, %eax
	loop 2b
	lea pvh_pml4, %edi
	lea pvh_pdpt, %eax
	or $7, %eax
	mov %eax, (%edi)
	movl $0, 4(%edi)
	mov %edi, %cr3
	mov %cr4, %eax
	or $0x20, %eax			/* PAE */
	mov %eax, %cr4
	mov $0xc0000080, %ecx		/* EFER.LME */
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax
	mov %eax, %cr0
	lgdt gdt_ptr
	ljmp $KCODE, $_start

	.code64
	.globl _start
_start:
	mov %rsi, boot_zero_page(%rip)	/* Linux boot protocol: struct boot_params */
	lea stack_top(%rip), %rsp
	lgdt gdt_ptr(%rip)
	mov $KDATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	pushq $KCODE
	lea 1f(%rip), %rax
	pushq %rax
	lretq
1:	call idt_setup
	call guest_main
	/* guest_main returned: report success through the exit port. */
	xor %eax, %eax
	mov $0xf4, %dx
	out %eax, %dx
2:	cli
	hlt
	jmp 2b

/* Interrupt stubs: push a dummy error code where the CPU pushes none, then the vector. */
	.macro stub vec
	.align 16
	.if (\vec == 8 || (\vec >= 10 && \vec <= 14) || \vec == 17 || \vec == 21 || \vec == 29 || \vec == 30)
	.else
	pushq $0
	.endif
	pushq $\vec
	jmp isr_common
	.endm

	.align 16
	.globl isr_stubs
isr_stubs:
	.set i, 0
	.rept 256
	stub i
	.set i, i + 1
	.endr

isr_common:
	push %rax
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %r8
	push %r9
	push %r10
	push %r11
	mov %rsp, %rdi
	call isr_dispatch
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rax
	add $16, %rsp
	iretq

/* ---- AP trampoline: copied to TRAMP_BASE, entered by SIPI in real mode ---- */
	.globl trampoline_start, trampoline_end, tramp_cr3, tramp_entry
	.code16
trampoline_start:
	cli
	mov %cs, %ax
	mov %ax, %ds
	lgdtl (tramp_gdtr - trampoline_start)
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $KCODE32, $(TRAMP_BASE + tramp_prot32 - trampoline_start)
	.code32
tramp_prot32:
	mov $KDATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %cr4, %eax
	or $0x20, %eax			/* PAE */
	mov %eax, %cr4
	mov (TRAMP_BASE + tramp_cr3 - trampoline_start), %eax
	mov %eax, %cr3
	mov $0xc0000080, %ecx		/* EFER.LME */
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000000, %eax		/* paging on: long mode */
	mov %eax, %cr0
	ljmp $KCODE, $(TRAMP_BASE + tramp_long - trampoline_start)
	.code64
tramp_long:
	/* A stack per AP: take the next slot atomically. */
	mov $1, %eax
	lock xadd %eax, ap_stack_next
	inc %eax
	shl $12, %rax
	lea ap_stacks, %rsp
	add %rax, %rsp
	mov (TRAMP_BASE + tramp_entry - trampoline_start), %rax
	call *%rax
3:	cli
	hlt
	jmp 3b
	.align 8
tramp_gdtr:
	.word gdt_end - gdt - 1
	.long gdt
tramp_cr3:
	.quad 0
tramp_entry:
	.quad 0
trampoline_end:

	.section .data
	.align 16
gdt:
	.quad 0
	.quad 0x00af9b000000ffff	/* 0x08: 64-bit code */
	.quad 0x00cf93000000ffff	/* 0x10: data */
	.quad 0x00cf9b000000ffff	/* 0x18: 32-bit code (trampoline) */
	.quad 0x00cff3000000ffff	/* 0x20: user data */
	.quad 0x00affb000000ffff	/* 0x28: user 64-bit code */
gdt_end:
gdt_ptr:
	.word gdt_end - gdt - 1
	.quad gdt
ap_stack_next:
	.long 0
	.globl boot_zero_page, boot_pvh_info
	.align 8
boot_zero_page:
	.quad 0
boot_pvh_info:
	.quad 0

	.section .bss
	.align 4096
pvh_pml4:
	.space 4096
pvh_pdpt:
	.space 4096
pvh_pd:
	.space 4 * 4096
	.globl ap_stacks
ap_stacks:
	.space 4096 * 65
	.space 16384
stack_top:
