//go:build linux

#include "textflag.h"

// Layout of block (see proxy.go): state +0 (uint32), kind +8, nr +16,
// args +24..+64, ret +72, child +80, tidOut +88.

// func startProxy(args unsafe.Pointer, size uintptr, b unsafe.Pointer) int64
//
// clone3 with the caller's flags (always CLONE_VM: the proxy shares this
// address space). The parent returns the raw result. The child becomes a
// proxy: it serves the requests posted in its block, forever, using
// registers only (no stack, no Go): wait on the block's futex until a
// request is posted, make the system call, post the answer, wake the
// poster. A request of kind 1 is a clone whose child (a fork copy, or a
// thread on its own stack) stores gettid() at tidOut when asked and
// exits; kind 2 is a clone whose child becomes a proxy serving the block
// at child.
TEXT ·startProxy(SB),NOSPLIT,$0-32
	MOVQ args+0(FP), DI
	MOVQ size+8(FP), SI
	MOVQ b+16(FP), R12
	MOVQ $435, AX // SYS_clone3
	SYSCALL
	CMPQ AX, $0
	JEQ loop
	MOVQ AX, ret+24(FP)
	RET
loop:
	MOVL 0(R12), AX
	CMPL AX, $1
	JEQ serve
	MOVQ R12, DI
	MOVQ $0, SI // FUTEX_WAIT while the state is still what was read
	MOVL AX, DX
	MOVQ $0, R10
	MOVQ $202, AX // SYS_futex
	SYSCALL
	JMP loop
serve:
	MOVQ 80(R12), R13
	MOVQ 88(R12), R14
	MOVQ 8(R12), R15
	MOVQ 24(R12), DI
	MOVQ 32(R12), SI
	MOVQ 40(R12), DX
	MOVQ 48(R12), R10
	MOVQ 56(R12), R8
	MOVQ 64(R12), R9
	MOVQ 16(R12), AX
	SYSCALL
	CMPQ R15, $0
	JEQ answer
	CMPQ AX, $0
	JNE answer
	// The child of a clone request.
	CMPQ R15, $2
	JEQ newproxy
	CMPQ R14, $0
	JEQ exit
	MOVQ $186, AX // SYS_gettid
	SYSCALL
	MOVL AX, 0(R14)
exit:
	MOVQ $0, DI
	MOVQ $60, AX // SYS_exit
	SYSCALL
	HLT
newproxy:
	MOVQ R13, R12
	JMP loop
answer:
	MOVQ AX, 72(R12)
	MOVL $2, 0(R12)
	MOVQ R12, DI
	MOVQ $1, SI // FUTEX_WAKE
	MOVQ $1, DX
	MOVQ $202, AX
	SYSCALL
	JMP loop
