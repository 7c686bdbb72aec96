//go:build linux

#include "textflag.h"

// func rawClone3(args unsafe.Pointer, size uintptr, tidOut *int32) int64
//
// The child must not run Go code: it shares (CLONE_VM) or copies an address
// space in which the Go runtime's locks may be held by threads it does not
// have, and a thread child runs on a bare stack. So the child only stores
// gettid() when asked, then exits, using registers alone.
TEXT ·rawClone3(SB),NOSPLIT,$0-32
	MOVQ args+0(FP), DI
	MOVQ size+8(FP), SI
	MOVQ tidOut+16(FP), R12
	MOVQ $435, AX // SYS_clone3
	SYSCALL
	CMPQ AX, $0
	JEQ child
	MOVQ AX, ret+24(FP)
	RET
child:
	CMPQ R12, $0
	JEQ exit
	MOVQ $186, AX // SYS_gettid
	SYSCALL
	MOVL AX, 0(R12)
exit:
	MOVQ $60, AX // SYS_exit: ends this thread; for a process child, the process
	MOVQ $0, DI
	SYSCALL
	HLT
