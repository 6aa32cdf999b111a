package rdbparse

import (
	"bytes"
	"strings"
	"testing"
)

// vsetValue builds a vector set's module value: header (dim 2, nodes,
// Q8 with M 16, flags), then per node its element, attributes (flags 2), a
// vector and its parameters.
func vsetValue(flags uint64, nodes ...[]uint64) []byte {
	b := appendRDBLen(nil, 0xbde72da2bb1eb400) // module id: "vectorset", encver 0
	for _, v := range []uint64{2, uint64(len(nodes)), 0x1001, flags} {
		b = appendModUint(b, v)
	}
	str := func(s string) { b = append(appendRDBLen(append(b, modString), uint64(len(s))), s...) }
	if flags&vsetProjMatrix != 0 {
		b = appendModUint(b, 4)
		b = append(b, modString, 0xc3, 2, 32, 0x1f, 0) // LZF-compressed matrix: skipped as it is
	}
	for i, p := range nodes {
		str(string(rune('a' + i)))
		if flags&vsetAttribs != 0 {
			str(`{"x":1}`)
		}
		b = append(b, modString, 0xc0, 7) // an integer-encoded vector
		b = appendModUint(b, uint64(len(p)))
		for _, x := range p {
			b = appendModUint(b, x)
		}
	}
	return append(b, modEOF)
}

func TestVectorSetNodesV0(t *testing.T) {
	const l2 = 0x3f8000003f800000
	v1 := func(id, level uint64, layers ...[]uint64) []uint64 {
		p := []uint64{id, 1<<24 | level}
		for _, l := range layers {
			p = append(append(p, uint64(len(l)), 32), l...)
			p = append(p, 0x3f80000000000005) // the worst link
		}
		return append(p, l2)
	}
	v0 := func(id, level uint64, layers ...[]uint64) []uint64 {
		p := []uint64{id, level}
		for _, l := range layers {
			p = append(append(p, uint64(len(l)), 32), l...)
		}
		return append(p, l2)
	}
	tests := []struct {
		name    string
		in      []byte
		want    []byte // nil: the input
		changed bool
		err     string
	}{
		{name: "version 0 as it is", in: vsetValue(0, v0(1, 0, []uint64{2}), v0(2, 0, []uint64{1}))},
		{name: "version 1, layers", in: vsetValue(vsetAttribs|vsetProjMatrix, v1(1, 1, []uint64{2, 3}, nil), v1(2, 0, []uint64{1}), v1(3, 0, []uint64{1})),
			want: vsetValue(vsetAttribs|vsetProjMatrix, v0(1, 1, []uint64{2, 3}, nil), v0(2, 0, []uint64{1}), v0(3, 0, []uint64{1})), changed: true},
		{name: "mixed", in: vsetValue(0, v0(1, 0, []uint64{2}), v1(2, 0, []uint64{1})),
			want: vsetValue(0, v0(1, 0, []uint64{2}), v0(2, 0, []uint64{1})), changed: true},
		{name: "unknown version", in: vsetValue(0, []uint64{1, 2 << 24, 0, 32, 0, l2}), err: "serialization version 2"},
		{name: "links past the end", in: vsetValue(0, []uint64{1, 1 << 24, 9, 32, 1, l2}), err: "links beyond"},
		{name: "extra parameters", in: vsetValue(0, append(v1(1, 0, nil), 7)), err: "want 1"},
		{name: "unknown flags", in: vsetValue(4), err: "save flags"},
		{name: "truncated", in: vsetValue(0, v1(1, 0, nil))[:30], err: "vector set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, changed, err := VectorSetNodesV0(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one saying %q", err, tc.err)
				}
				return
			}
			want := tc.want
			if want == nil {
				want = tc.in
			}
			if err != nil || changed != tc.changed || !bytes.Equal(out, want) {
				t.Fatalf("got %x, %v, %v\nwant %x, %v", out, changed, err, want, tc.changed)
			}
		})
	}
}

// TestVectorSetNodesV0Bounds: every truncation of a value is an error (no
// panic, no output), and a converted value needs no second conversion.
func TestVectorSetNodesV0Bounds(t *testing.T) {
	in := vsetValue(vsetAttribs|vsetProjMatrix,
		[]uint64{1, 1<<24 | 1, 2, 32, 2, 3, 5, 1, 16, 3, 6, 0x3f8000003f800000},
		[]uint64{2, 1 << 24, 1, 32, 1, 7, 0x3f8000003f800000},
		[]uint64{3, 1<<24 | 1, 1, 32, 1, 8, 1, 16, 1, 9, 0x3f8000003f800000})
	for i := range in {
		if out, _, err := VectorSetNodesV0(in[:i]); err == nil || out != nil {
			t.Fatalf("the first %d of %d bytes: %x, %v; want an error", i, len(in), out, err)
		}
	}
	out, changed, err := VectorSetNodesV0(in)
	if err != nil || !changed {
		t.Fatalf("%v, changed %v", err, changed)
	}
	again, changed, err := VectorSetNodesV0(out)
	if err != nil || changed || !bytes.Equal(again, out) {
		t.Fatalf("converted twice: %x, changed %v, %v", again, changed, err)
	}
}
