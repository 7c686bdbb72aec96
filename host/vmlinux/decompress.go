package vmlinux

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz/lzma"
)

// maxKernel bounds the uncompressed size a payload may declare: a corrupt
// trailer must not make the host allocate gigabytes. Debian's kernel is
// 66 MB; allyesconfig builds stay under 1 GiB.
const maxKernel = 1 << 30

// Decompress returns the uncompressed kernel from a whole payload, as
// FindPayload located it. Every kernel build appends the uncompressed
// size as 4 little-endian bytes (for gzip they are the gzip trailer's
// ISIZE), which the result must match; an uncompressed payload
// (CONFIG_KERNEL_UNCOMPRESSED) is the ELF alone. ctx stops a long
// decompression.
func Decompress(ctx context.Context, c Compression, payload []byte) ([]byte, error) {
	if len(payload) < 8 {
		return nil, fmt.Errorf("%w: %d-byte payload", ErrCorrupt, len(payload))
	}
	want := int64(binary.LittleEndian.Uint32(payload[len(payload)-4:]))
	body := payload[:len(payload)-4]
	if c == Gzip || c == None {
		body = payload
	}
	if want > maxKernel && c != None {
		return nil, fmt.Errorf("%w: the payload declares %d uncompressed bytes", ErrCorrupt, want)
	}
	out, err := decompress(ctx, c, body, want)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if c != None && int64(len(out)) != want {
		return nil, fmt.Errorf("%w: %s gave %d bytes, the payload declares %d", ErrCorrupt, c, len(out), want)
	}
	return out, nil
}

func decompress(ctx context.Context, c Compression, body []byte, want int64) ([]byte, error) {
	src := &ctxReader{ctx: ctx, r: bytes.NewReader(body)}
	var r io.Reader
	switch c {
	case None:
		return body, nil
	case Gzip:
		z, err := gzip.NewReader(src)
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
		}
		z.Multistream(false) // the kernel's stub reads one member
		r = z
	case Bzip2:
		r = bzip2.NewReader(src)
	case LZMA:
		z, err := lzma.NewReader(src)
		if err != nil {
			return nil, fmt.Errorf("%w: lzma: %v", ErrCorrupt, err)
		}
		r = z
	case Zstd:
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxKernel), zstd.WithDecoderMaxWindow(1<<30))
		if err != nil {
			return nil, fmt.Errorf("zstd decoder: %w", err)
		}
		defer d.Close()
		out, err := d.DecodeAll(body, make([]byte, 0, want))
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
		return out, ctx.Err()
	case LZ4:
		return unlz4Legacy(ctx, body, want)
	case XZ:
		return unxz(ctx, body, want)
	default:
		return nil, fmt.Errorf("%w: %s is not decompressed by vmtest", ErrUnsupported, c)
	}
	buf := bytes.NewBuffer(make([]byte, 0, want))
	// One byte past the declared size is enough to see a mismatch.
	if _, err := io.Copy(buf, io.LimitReader(r, want+1)); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, c, err)
	}
	return buf.Bytes(), nil
}

// ctxReader ends a read when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   *bytes.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (c *ctxReader) ReadByte() (byte, error) { return c.r.ReadByte() }

// LZ4's legacy frame, the one `lz4 -l` writes and the kernel's unlz4
// reads: a magic number, then blocks each preceded by its compressed size
// (4 bytes, little-endian) and each decompressing to at most 8 MiB. The
// magic may appear again where a size would be (concatenated frames).
const (
	lz4LegacyMagic = 0x184c2102
	lz4LegacyBlock = 8 << 20
)

func unlz4Legacy(ctx context.Context, body []byte, want int64) ([]byte, error) {
	if len(body) < 4 || binary.LittleEndian.Uint32(body) != lz4LegacyMagic {
		return nil, fmt.Errorf("%w: lz4: no legacy-frame magic", ErrCorrupt)
	}
	out := make([]byte, 0, want)
	block := make([]byte, lz4LegacyBlock)
	for p := 4; p < len(body); {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if len(body)-p < 4 {
			return nil, fmt.Errorf("%w: lz4: %d stray bytes at the end", ErrCorrupt, len(body)-p)
		}
		n := int(binary.LittleEndian.Uint32(body[p:]))
		p += 4
		if n == lz4LegacyMagic {
			continue
		}
		if n > len(body)-p {
			return nil, fmt.Errorf("%w: lz4: a %d-byte block with %d bytes left", ErrCorrupt, n, len(body)-p)
		}
		m, err := lz4.UncompressBlock(body[p:p+n], block)
		if err != nil {
			return nil, fmt.Errorf("%w: lz4 block at %d: %v", ErrCorrupt, p-4, err)
		}
		if int64(len(out)+m) > want {
			return nil, fmt.Errorf("%w: lz4 gives more than the declared %d bytes", ErrCorrupt, want)
		}
		out = append(out, block[:m]...)
		p += n
	}
	return out, nil
}
