//go:build linux

#include "textflag.h"

// func rawClone3(args unsafe.Pointer, size uintptr, tidOut *int32) int64
//
// The arm64 twin of clone3_amd64.s: the child must not run Go code, so it
// only stores gettid() when asked, then exits, using registers alone.
// Linux arm64 takes the system call number in R8 and arguments in R0-R5.
TEXT ·rawClone3(SB),NOSPLIT,$0-32
	MOVD args+0(FP), R0
	MOVD size+8(FP), R1
	MOVD tidOut+16(FP), R12
	MOVD $435, R8 // SYS_clone3
	SVC
	CBZ R0, child
	MOVD R0, ret+24(FP)
	RET
child:
	CBZ R12, exit
	MOVD $178, R8 // SYS_gettid
	SVC
	MOVW R0, (R12)
exit:
	MOVD $0, R0
	MOVD $93, R8 // SYS_exit: ends this thread; for a process child, the process
	SVC
	B exit
