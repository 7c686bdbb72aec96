//go:build linux

#include "textflag.h"

// func outsb(port uint16, p *byte, n int)
TEXT ·outsb(SB),NOSPLIT,$0-24
	MOVW port+0(FP), DX
	MOVQ p+8(FP), SI
	MOVQ n+16(FP), CX
	CLD
	REP; OUTSB
	RET
