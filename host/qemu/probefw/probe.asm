# The KVM probe firmware: what a Linux kernel does first, in a few hundred
# bytes, so that vmtest can tell a KVM that really runs guests from one that
# only looks usable.
#
# Why not just a few real-mode instructions: on some hosts (nested or
# paravirtual KVM) real-mode code runs and exits fine, yet a Linux guest
# crawls through early boot under shadow paging and then stops with "KVM
# internal error. Suberror: 1" (emulation failure) at a `lock cmpxchg16b`.
# Each step below is one that such a kernel does before its first console
# line, and each is announced on the first serial port (COM1, 0x3f8) by one
# letter, so the host can say where a probe that hangs stopped:
#
#   R  real mode (reset vector, far jump into this code)
#   P  32-bit protected mode, flat segments
#   T  page tables written: 64 MiB identity-mapped with 4 KiB pages
#   L  long mode: PAE, EFER.LME, paging, a 64-bit code segment
#   C  CPUID leaves 0, 1, 7, 0xd, 0x80000000, 0x80000001
#   M  MSRs: EFER, PAT (read and written back), APIC base, STAR/LSTAR/
#      SFMASK and FS/GS base written (as syscall_init does), the TSC;
#      XCR0 through XSETBV where CPUID offers XSAVE
#   F  48 MiB touched page by page (first-touch faults on the host)
#   U  page-table entries rewritten with paging on, INVLPG, touched again
#   X  locked instructions: xadd, cmpxchg, cmpxchg8b, and cmpxchg16b both
#      on ordinary memory and on a page-table page (the store that a
#      shadow MMU must emulate)
#
# then "ok\n", and the value 0x2a to isa-debug-exit (port 0xf4), which makes
# QEMU exit with status 0x2a<<1|1 = 85. Any fault has no handler: it becomes
# a triple fault, a reset, and with -no-reboot a QEMU exit with status 0.
#
# Build (host/qemu/probe_test.go checks that the committed probe.bin is
# what this file assembles to):
#   as --64 -o probe.o probe.asm
#   ld -m elf_x86_64 -e 0xf0000 -Ttext=0xf0000 --oformat binary -o ../probe.bin probe.o
#
# The host places these bytes at the start of a 64 KiB BIOS image (physical
# 0xf0000) and a far jump to f000:0000 at the reset vector (0xffff0).

	.set COM1, 0x3f8
	.set EXIT_PORT, 0xf4
	.set EXIT_VALUE, 0x2a
	.set PML4, 0x100000          # page tables live just above 1 MiB
	.set PDPT, 0x101000
	.set PD, 0x102000
	.set PT, 0x103000            # 32 page tables: 32 x 2 MiB = 64 MiB
	.set NPT, 32
	.set TOUCH_FROM, 0x1000000   # 16 MiB .. 64 MiB is touched
	.set TOUCH_TO, 0x4000000
	.set SCRATCH, 0x200000       # 16-byte aligned data for locked ops

	.text
	.code16
start16:
	cli
	cld
	mov $COM1, %dx
	mov $'R', %al
	out %al, %dx
	# CS is f000 (base 0xf0000): the descriptor is addressed CS-relative.
	lgdtl %cs:(gdtr - start16)
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $0x08, $start32

	.code32
start32:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %ax, %fs
	mov %ax, %gs
	mov $0x90000, %esp
	mov $'P', %al
	call putc32

	# Zero PML4, PDPT, PD and the page tables.
	mov $PML4, %edi
	mov $((3 + NPT) * 1024), %ecx
	xor %eax, %eax
	rep stosl
	movl $(PDPT | 3), PML4
	movl $(PD | 3), PDPT
	# PD[i] -> PT + i*4096, for the first NPT entries.
	mov $PD, %edi
	mov $(PT | 3), %eax
	mov $NPT, %ecx
1:	mov %eax, (%edi)
	add $8, %edi
	add $0x1000, %eax
	loop 1b
	# Every PTE: identity, present and writable.
	mov $PT, %edi
	mov $3, %eax
	mov $(NPT * 512), %ecx
2:	mov %eax, (%edi)
	add $8, %edi
	add $0x1000, %eax
	loop 2b
	mov $'T', %al
	call putc32

	# Long mode: PAE, CR3, EFER.LME (+NXE), paging.
	mov %cr4, %eax
	or $0x20, %eax
	mov %eax, %cr4
	mov $PML4, %eax
	mov %eax, %cr3
	# NXE only where CPUID offers NX: setting it elsewhere faults, and
	# the probe would blame KVM for the CPU.
	mov $0x80000001, %eax
	cpuid
	mov $0x100, %ebx             # LME
	bt $20, %edx
	jnc 3f
	or $0x800, %ebx              # NXE
3:	mov $0xc0000080, %ecx
	rdmsr
	or %ebx, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000000, %eax
	mov %eax, %cr0
	ljmp $0x18, $start64

putc32:
	push %edx
	mov $COM1, %dx
	out %al, %dx
	pop %edx
	ret

	.code64
start64:
	mov $0x90000, %rsp
	mov $'L', %al
	call putc

	# CPUID, the leaves early boot reads.
	mov $0, %eax
	cpuid
	mov $1, %eax
	cpuid
	mov %ecx, %r12d              # feature bits: cmpxchg16b (13), xsave (26)
	mov $7, %eax
	xor %ecx, %ecx
	cpuid
	mov $0xd, %eax
	xor %ecx, %ecx
	cpuid
	mov $0x80000000, %eax
	cpuid
	mov $0x80000001, %eax
	cpuid
	mov $'C', %al
	call putc

	# MSRs.
	mov $0xc0000080, %ecx        # EFER
	rdmsr
	mov $0x277, %ecx             # PAT: read, write back the value Linux uses
	rdmsr
	mov $0x00070406, %eax
	mov $0x00070406, %edx
	wrmsr
	mov $0x1b, %ecx              # APIC base
	rdmsr
	xor %eax, %eax
	xor %edx, %edx
	mov $0xc0000081, %ecx        # STAR, LSTAR, CSTAR, SFMASK
10:	wrmsr
	inc %ecx
	cmp $0xc0000085, %ecx
	jne 10b
	mov $0xc0000100, %ecx        # FS base, GS base, kernel GS base
4:	wrmsr
	inc %ecx
	cmp $0xc0000103, %ecx
	jne 4b
	rdtsc
	bt $26, %r12d                # XSAVE: enable OSXSAVE, set XCR0 = x87|SSE
	jnc 5f
	mov %cr4, %rax
	or $0x40000, %rax
	mov %rax, %cr4
	xor %ecx, %ecx
	xgetbv
	mov $3, %eax
	xor %edx, %edx
	xor %ecx, %ecx
	xsetbv
5:	mov $'M', %al
	call putc

	# First touch of every page from 16 to 64 MiB.
	mov $TOUCH_FROM, %rdi
6:	movq %rdi, (%rdi)
	add $0x1000, %rdi
	cmp $TOUCH_TO, %rdi
	jne 6b
	mov $'F', %al
	call putc

	# With paging on, rewrite the PTEs of the last 2 MiB (each pointing at
	# its own page again, now also accessed and dirty), flush each from the
	# TLB and touch the page: the page-table writes a shadow MMU traps.
	mov $(PT + (NPT - 1) * 4096), %rsi
	mov $(TOUCH_TO - 0x200000), %rdi
7:	mov %rdi, %rax
	or $0x63, %rax
	mov %rax, (%rsi)
	invlpg (%rdi)
	movq %rdi, 8(%rdi)
	add $8, %rsi
	add $0x1000, %rdi
	cmp $TOUCH_TO, %rdi
	jne 7b
	mov $'U', %al
	call putc

	# Locked read-modify-writes.
	mov $SCRATCH, %rdi
	movq $0, (%rdi)
	movq $0, 8(%rdi)
	mov $1, %eax
	lock xadd %eax, (%rdi)
	xor %eax, %eax
	mov $2, %ecx
	lock cmpxchg %ecx, 4(%rdi)
	xor %eax, %eax
	xor %edx, %edx
	xor %ebx, %ebx
	xor %ecx, %ecx
	lock cmpxchg8b (%rdi)
	bt $13, %r12d
	jnc 8f
	mov $SCRATCH, %rdi           # ordinary memory: compare with what is there
	mov (%rdi), %rax
	mov 8(%rdi), %rdx
	mov $0x1111, %rbx
	mov $0x2222, %rcx
	lock cmpxchg16b (%rdi)
	# An unused, 16-byte aligned pair of PML4 slots (256 and 257: the upper
	# half, never mapped here): zero stays zero, but it is a store into a
	# page-table page.
	mov $(PML4 + 256 * 8), %rdi
	xor %eax, %eax
	xor %edx, %edx
	xor %ebx, %ebx
	xor %ecx, %ecx
	lock cmpxchg16b (%rdi)
8:	mov $'X', %al
	call putc

	mov $'o', %al
	call putc
	mov $'k', %al
	call putc
	mov $'\n', %al
	call putc
	mov $EXIT_VALUE, %al
	out %al, $EXIT_PORT
9:	hlt
	jmp 9b

putc:
	mov $COM1, %dx
	out %al, %dx
	ret

	.p2align 3
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff     # 0x08: 32-bit code, flat
	.quad 0x00cf92000000ffff     # 0x10: data, flat
	.quad 0x00af9a000000ffff     # 0x18: 64-bit code
gdt_end:
gdtr:
	.word gdt_end - gdt - 1
	.long gdt
