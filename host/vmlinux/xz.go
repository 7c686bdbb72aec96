package vmlinux

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"

	"fmt"
	"hash/crc32"
	"hash/crc64"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// The .xz container (https://tukaani.org/xz/xz-file-format.txt), read here
// rather than by github.com/ulikunitz/xz because the kernel's xz_wrap.sh
// compresses x86 kernels with the x86 BCJ filter in front of LZMA2, which
// that package does not decode. It provides the LZMA2 decoder; this file
// the container, the checks and the BCJ filter.

const (
	xzFilterX86   = 0x04
	xzFilterLZMA2 = 0x21
)

var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0}

func unxz(ctx context.Context, data []byte, want int64) ([]byte, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: xz: %s", ErrCorrupt, fmt.Sprintf(format, a...))
	}
	if len(data) < 12 || !bytes.HasPrefix(data, xzMagic) {
		return nil, bad("no stream header")
	}
	if crc32.ChecksumIEEE(data[6:8]) != binary.LittleEndian.Uint32(data[8:12]) {
		return nil, bad("stream header checksum mismatch")
	}
	if data[6] != 0 || data[7] > 0x0f {
		return nil, bad("unknown stream flags %#x %#x", data[6], data[7])
	}
	check := data[7]
	checkSize := [16]int{0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64}[check]
	out := make([]byte, 0, want)
	p := 12
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if p >= len(data) {
			return nil, bad("truncated before the index")
		}
		if data[p] == 0 { // the index: no more blocks
			return out, nil
		}
		hsize := (int(data[p]) + 1) * 4
		if p+hsize > len(data) {
			return nil, bad("truncated block header")
		}
		hdr := data[p : p+hsize]
		if crc32.ChecksumIEEE(hdr[:hsize-4]) != binary.LittleEndian.Uint32(hdr[hsize-4:]) {
			return nil, bad("block header checksum mismatch at %d", p)
		}
		filters, err := xzFilters(hdr[:hsize-4])
		if err != nil {
			return nil, err
		}
		p += hsize
		rest := bytes.NewReader(data[p:])
		r2, err := lzma.Reader2Config{DictCap: filters.dict}.NewReader2(rest)
		if err != nil {
			return nil, bad("%v", err)
		}
		start := len(out)
		buf := bytes.NewBuffer(out)
		if _, err := io.Copy(buf, io.LimitReader(&ctxReader2{ctx, r2}, want-int64(start)+1)); err != nil {
			return nil, bad("block at %d: %v", p-hsize, err)
		}
		out = buf.Bytes()
		if int64(len(out)) > want {
			return nil, bad("more than the declared %d bytes", want)
		}
		// The LZMA2 decoder reads its input byte by byte through
		// io.ByteReader, so rest now stands at the end of the block's
		// compressed data.
		p = len(data) - rest.Len()
		for (p-12)%4 != 0 { // block padding
			if p >= len(data) || data[p] != 0 {
				return nil, bad("bad block padding at %d", p)
			}
			p++
		}
		if p+checkSize > len(data) {
			return nil, bad("truncated block check")
		}
		block := out[start:]
		if filters.x86 {
			bcjX86(block, filters.x86Start)
		}
		if err := xzCheck(check, block, data[p:p+checkSize]); err != nil {
			return nil, err
		}
		p += checkSize
	}
}

// ctxReader2 stops the LZMA2 decoder when ctx is done.
type ctxReader2 struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader2) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

type xzChain struct {
	x86      bool
	x86Start uint32
	dict     int
}

// xzFilters parses a block header (without its CRC): the filter chain
// must be LZMA2, optionally after the x86 BCJ filter, as the kernel
// writes it.
func xzFilters(h []byte) (xzChain, error) {
	var c xzChain
	flags := h[1]
	if flags&0x3c != 0 {
		return c, fmt.Errorf("%w: xz: reserved block flags %#x", ErrCorrupt, flags)
	}
	p := 2
	varint := func() (uint64, bool) {
		var v uint64
		for i := 0; i < 9 && p < len(h); i++ {
			b := h[p]
			p++
			v |= uint64(b&0x7f) << (7 * i)
			if b&0x80 == 0 {
				return v, true
			}
		}
		return 0, false
	}
	if flags&0x40 != 0 { // compressed size
		if _, ok := varint(); !ok {
			return c, fmt.Errorf("%w: xz: bad block header", ErrCorrupt)
		}
	}
	if flags&0x80 != 0 { // uncompressed size
		if _, ok := varint(); !ok {
			return c, fmt.Errorf("%w: xz: bad block header", ErrCorrupt)
		}
	}
	n := int(flags&3) + 1
	for i := 0; i < n; i++ {
		id, ok1 := varint()
		size, ok2 := varint()
		if !ok1 || !ok2 || p+int(size) > len(h) {
			return c, fmt.Errorf("%w: xz: bad filter flags", ErrCorrupt)
		}
		props := h[p : p+int(size)]
		p += int(size)
		last := i == n-1
		switch {
		case id == xzFilterX86 && !last && !c.x86:
			c.x86 = true
			switch len(props) {
			case 0:
			case 4:
				c.x86Start = binary.LittleEndian.Uint32(props)
			default:
				return c, fmt.Errorf("%w: xz: bad x86 filter properties", ErrCorrupt)
			}
		case id == xzFilterLZMA2 && last:
			if len(props) != 1 || props[0] > 40 {
				return c, fmt.Errorf("%w: xz: bad LZMA2 properties", ErrCorrupt)
			}
			d := uint64(2|props[0]&1) << (props[0]/2 + 11)
			c.dict = int(min(max(d, lzma.MinDictCap), lzma.MaxDictCap))
		default:
			return c, fmt.Errorf("%w: xz filter %#x in position %d of %d (vmtest decodes x86 BCJ + LZMA2 only)", ErrUnsupported, id, i+1, n)
		}
	}
	return c, nil
}

// xzCheck verifies a block's integrity check.
func xzCheck(kind byte, block, sum []byte) error {
	var got []byte
	switch kind {
	case 0:
		return nil
	case 1:
		got = binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(block))
	case 4:
		got = binary.LittleEndian.AppendUint64(nil, crc64.Checksum(block, crc64.MakeTable(crc64.ECMA)))
	case 10:
		s := sha256.Sum256(block)
		got = s[:]
	default:
		return fmt.Errorf("%w: xz check type %d", ErrUnsupported, kind)
	}
	if !bytes.Equal(got, sum) {
		return fmt.Errorf("%w: xz: block check mismatch", ErrCorrupt)
	}
	return nil
}

// bcjX86 undoes the x86 BCJ filter in place: the encoder turned the
// relative targets of CALL and JMP (E8/E9) into absolute ones, which
// compress better; this turns them back. It is xz-embedded's bcj_x86
// (public domain) for a whole buffer at once, which leaves the last four
// bytes alone exactly as the encoder did.
func bcjX86(buf []byte, start uint32) {
	allowed := [8]bool{true, true, true, false, true, false, false, false}
	bitNum := [8]uint32{0, 1, 2, 2, 3, 3, 3, 3}
	msb := func(b byte) bool { return b == 0x00 || b == 0xff }
	if len(buf) <= 4 {
		return
	}
	size := len(buf) - 4
	prevPos := -1
	var prevMask uint32
	for i := 0; i < size; i++ {
		if buf[i]&0xfe != 0xe8 {
			continue
		}
		d := i - prevPos
		if d > 3 {
			prevMask = 0
		} else {
			prevMask = (prevMask << (d - 1)) & 7
			if prevMask != 0 {
				b := buf[i+4-int(bitNum[prevMask])]
				if !allowed[prevMask] || msb(b) {
					prevPos = i
					prevMask = prevMask<<1 | 1
					continue
				}
			}
		}
		prevPos = i
		if !msb(buf[i+4]) {
			prevMask = prevMask<<1 | 1
			continue
		}
		src := binary.LittleEndian.Uint32(buf[i+1:])
		var dest uint32
		for {
			dest = src - (start + uint32(i) + 5)
			if prevMask == 0 {
				break
			}
			j := bitNum[prevMask] * 8
			if !msb(byte(dest >> (24 - j))) {
				break
			}
			src = dest ^ (1<<(32-j) - 1)
		}
		dest &= 0x01ffffff
		dest |= -(dest & 0x01000000)
		binary.LittleEndian.PutUint32(buf[i+1:], dest)
		i += 4
	}
}
