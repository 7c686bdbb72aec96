//go:build linux

#include "textflag.h"

// The arm64 twin of proxy_amd64.s; see there and proxy.go for the protocol.
// Layout of block: state +0 (uint32), kind +8, nr +16, args +24..+64,
// ret +72, child +80, tidOut +88. Unlike amd64, arm64 may reorder plain
// loads and stores, so the state word is read with load-acquire (LDARW)
// and written with store-release (STLRW): the Go side's atomics then see
// the answer before the state that announces it, and the proxy sees the
// request's arguments after the state that posted them.

// func startProxy(args unsafe.Pointer, size uintptr, b unsafe.Pointer) int64
TEXT ·startProxy(SB),NOSPLIT,$0-32
	MOVD args+0(FP), R0
	MOVD size+8(FP), R1
	MOVD b+16(FP), R12
	MOVD $435, R8 // SYS_clone3
	SVC
	CBZ R0, loop
	MOVD R0, ret+24(FP)
	RET
loop:
	LDARW (R12), R2
	CMP $1, R2
	BEQ serve
	MOVD R12, R0
	MOVD $0, R1 // FUTEX_WAIT while the state is still what was read (R2)
	MOVD $0, R3
	MOVD $98, R8 // SYS_futex
	SVC
	B loop
serve:
	MOVD 80(R12), R13
	MOVD 88(R12), R14
	MOVD 8(R12), R15
	MOVD 24(R12), R0
	MOVD 32(R12), R1
	MOVD 40(R12), R2
	MOVD 48(R12), R3
	MOVD 56(R12), R4
	MOVD 64(R12), R5
	MOVD 16(R12), R8
	SVC
	CBZ R15, answer
	CBNZ R0, answer
	// The child of a clone request.
	CMP $2, R15
	BEQ newproxy
	CBZ R14, exit
	MOVD $178, R8 // SYS_gettid
	SVC
	MOVW R0, (R14)
exit:
	MOVD $0, R0
	MOVD $93, R8 // SYS_exit
	SVC
	B exit
newproxy:
	MOVD R13, R12
	B loop
answer:
	MOVD R0, 72(R12)
	MOVD $2, R2
	STLRW R2, (R12)
	MOVD R12, R0
	MOVD $1, R1 // FUTEX_WAKE
	MOVD $1, R2
	MOVD $98, R8 // SYS_futex
	SVC
	B loop
