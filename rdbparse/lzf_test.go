package rdbparse

import (
	"bytes"
	"testing"
)

// lzfCompressNaive produces valid LZF using literal runs and, for runs of a
// repeated byte, back-references of distance 1: enough to exercise both paths.
func lzfCompressNaive(src []byte) []byte {
	var out []byte
	lit := []byte{}
	flushLit := func() {
		for len(lit) > 0 {
			n := min(len(lit), 32)
			out = append(out, byte(n-1))
			out = append(out, lit[:n]...)
			lit = lit[n:]
		}
		lit = lit[:0]
	}
	for i := 0; i < len(src); {
		j := i + 1
		for j < len(src) && src[j] == src[i] && j-i < 265 {
			j++
		}
		if j-i >= 4 {
			lit = append(lit, src[i])
			flushLit()
			n := j - i - 1 // bytes to copy from distance 1
			l := n - 2
			if l < 7 {
				out = append(out, byte(l<<5), 0)
			} else {
				out = append(out, 7<<5, byte(l-7), 0)
			}
			i = j
			continue
		}
		lit = append(lit, src[i])
		i++
	}
	flushLit()
	return out
}

func TestLZF(t *testing.T) {
	var src []byte
	for i := 0; i < 50000; i++ {
		if i%1000 < 500 {
			src = append(src, 'a')
		} else {
			src = append(src, byte(i*7))
		}
	}
	comp := lzfCompressNaive(src)
	out := make([]byte, len(src))
	if err := lzfDecompress(comp, out); err != nil || !bytes.Equal(out, src) {
		t.Fatalf("whole: err %v, equal %v", err, bytes.Equal(out, src))
	}
	for _, chunk := range []int{1, 100, 4096, 1 << 20} {
		var got []byte
		_, err := lzfStream(comp, uint64(len(src)), nil, chunk, func(p []byte, last bool) error {
			if len(p) > chunk {
				t.Fatalf("piece of %d > chunk %d", len(p), chunk)
			}
			got = append(got, p...)
			return nil
		})
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("stream chunk %d: err %v, equal %v", chunk, err, bytes.Equal(got, src))
		}
	}
	// Wrong lengths and bad references fail.
	if err := lzfDecompress(comp, make([]byte, len(src)-1)); err == nil {
		t.Fatal("short out accepted")
	}
	if err := lzfDecompress([]byte{0x20, 0x05}, make([]byte, 3)); err == nil {
		t.Fatal("reference before start accepted")
	}
}
