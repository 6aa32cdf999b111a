package rdbparse

import (
	"encoding/binary"
	"fmt"
)

// VectorSetModule is the module name of Redis 8's vector sets, as Event.Name
// gives it for their values (KindModuleValue).
const VectorSetModule = "vectorset"

// Vector set save flags (vset.c SAVE_FLAG_*).
const (
	vsetProjMatrix = 1 << 0 // a projection matrix (VADD REDUCE) follows the header
	vsetAttribs    = 1 << 1 // every node has an attribute string (empty: none)
)

// VectorSetNodesV0 rewrites the serialized value of a vector set (a
// KindModuleValue's Value: module id, typed opcodes, EOF) so that every
// HNSW node is in serialization version 0, the only one Redis 8.0.2 loads
// (it refuses the value as "Bad data format" otherwise).
//
// The value is the dimension, the node count, the quantization and M, save
// flags, an optional projection matrix, then per node its element, its
// attributes (when flagged), its vector and its parameters: the node id,
// the version (bits 24+) and level, for each layer 0..level the number of
// links, their capacity and the linked node ids, then the vector's L2 norm
// and quantization range. Version 1 (Redis 8.0.6, 8.6) adds after each
// layer's links the layer's worst link (index and distance), a cache that
// version 0 computes while loading; dropping it keeps the set exactly,
// graph included. changed is false when every node was version 0 already.
func VectorSetNodesV0(value []byte) (out []byte, changed bool, err error) {
	r := modReader{b: value}
	if _, err := r.length(); err != nil { // module id
		return nil, false, err
	}
	var header [4]uint64 // dimension, count, quantization|M, flags
	for i := range header {
		if header[i], err = r.uint(); err != nil {
			return nil, false, err
		}
	}
	count, flags := header[1], header[3]
	if flags&^(vsetProjMatrix|vsetAttribs) != 0 {
		return nil, false, fmt.Errorf("vector set: unknown save flags %#x", flags)
	}
	if flags&vsetProjMatrix != 0 {
		if _, err := r.uint(); err != nil { // input dimension
			return nil, false, err
		}
		if err := r.str(); err != nil { // the matrix
			return nil, false, err
		}
	}
	out = make([]byte, 0, len(value))
	var params []uint64
	for n := uint64(0); n < count; n++ {
		if err := r.str(); err != nil { // element
			return nil, false, err
		}
		if flags&vsetAttribs != 0 {
			if err := r.str(); err != nil {
				return nil, false, err
			}
		}
		if err := r.str(); err != nil { // vector
			return nil, false, err
		}
		start := r.off
		pc, err := r.uint()
		if err != nil {
			return nil, false, err
		}
		params = params[:0]
		for i := uint64(0); i < pc; i++ {
			p, err := r.uint()
			if err != nil {
				return nil, false, err
			}
			params = append(params, p)
		}
		v0, conv, err := vsetNodeV0(params)
		if err != nil {
			return nil, false, fmt.Errorf("vector set node %d: %w", n, err)
		}
		if !conv {
			continue
		}
		// Everything up to this node's parameters as it is, then the
		// parameters in version 0.
		out = append(out, value[r.copied:start]...)
		out = appendModUint(out, uint64(len(v0)))
		for _, p := range v0 {
			out = appendModUint(out, p)
		}
		r.copied, changed = r.off, true
	}
	if op, err := r.length(); err != nil || op != modEOF || r.off != len(value) {
		return nil, false, fmt.Errorf("vector set: %d nodes read, then no end of value at byte %d of %d", count, r.off, len(value))
	}
	return append(out, value[r.copied:]...), changed, nil
}

// vsetNodeV0 is a node's parameters in version 0; conv is false when they
// are version 0 already.
func vsetNodeV0(p []uint64) (v0 []uint64, conv bool, err error) {
	if len(p) < 3 {
		return nil, false, fmt.Errorf("%d parameters", len(p))
	}
	version, level := p[1]>>24, p[1]&(1<<24-1)
	switch version {
	case 0:
		return p, false, nil
	case 1:
	default:
		return nil, false, fmt.Errorf("serialization version %d", version)
	}
	v0 = append(make([]uint64, 0, len(p)), p[0], level)
	j := 2
	for l := uint64(0); l <= level; l++ {
		if j+2 > len(p) {
			return nil, false, fmt.Errorf("layer %d of %d: parameters end", l, level)
		}
		links := p[j]
		if links > uint64(len(p)) || j+3+int(links) > len(p) {
			return nil, false, fmt.Errorf("layer %d: %d links beyond the %d parameters", l, links, len(p))
		}
		v0 = append(v0, p[j:j+2+int(links)]...) // count, capacity, ids; the worst link dropped
		j += 3 + int(links)
	}
	if j+1 != len(p) {
		return nil, false, fmt.Errorf("%d parameters after the layers, want 1 (L2 norm and range)", len(p)-j)
	}
	return append(v0, p[j]), true, nil
}

// appendModUint appends a module's unsigned integer (RDB_MODULE_OPCODE_UINT
// and the value as an RDB length).
func appendModUint(dst []byte, v uint64) []byte {
	return appendRDBLen(append(dst, modUInt), v)
}

// modReader walks a module's serialized value in memory.
type modReader struct {
	b      []byte
	off    int
	copied int // bytes up to here are in the output already
}

func (r *modReader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, fmt.Errorf("vector set: value ends at byte %d", r.off)
	}
	r.off++
	return r.b[r.off-1], nil
}

func (r *modReader) skip(n uint64) error {
	if n > uint64(len(r.b)-r.off) {
		return fmt.Errorf("vector set: %d bytes wanted at byte %d of %d", n, r.off, len(r.b))
	}
	r.off += int(n)
	return nil
}

// lenEnc reads an RDB length, or (encoded) the kind of an encoded string.
func (r *modReader) lenEnc() (n uint64, encoded bool, err error) {
	b, err := r.byte()
	if err != nil {
		return 0, false, err
	}
	switch b >> 6 {
	case 0:
		return uint64(b & 0x3f), false, nil
	case 1:
		b2, err := r.byte()
		return uint64(b&0x3f)<<8 | uint64(b2), false, err
	case 3:
		return uint64(b & 0x3f), true, nil
	}
	var size int
	switch b {
	case 0x80:
		size = 4
	case 0x81:
		size = 8
	default:
		return 0, false, fmt.Errorf("vector set: bad length prefix %#x at byte %d", b, r.off-1)
	}
	start := r.off
	if err := r.skip(uint64(size)); err != nil {
		return 0, false, err
	}
	if size == 4 {
		return uint64(binary.BigEndian.Uint32(r.b[start:])), false, nil
	}
	return binary.BigEndian.Uint64(r.b[start:]), false, nil
}

func (r *modReader) length() (uint64, error) {
	n, enc, err := r.lenEnc()
	if err == nil && enc {
		err = fmt.Errorf("vector set: a string encoding where a length belongs, at byte %d", r.off-1)
	}
	return n, err
}

// opcode reads a typed value's opcode, which must be want.
func (r *modReader) opcode(want uint64) error {
	op, err := r.length()
	if err == nil && op != want {
		err = fmt.Errorf("vector set: module opcode %d at byte %d, want %d", op, r.off-1, want)
	}
	return err
}

func (r *modReader) uint() (uint64, error) {
	if err := r.opcode(modUInt); err != nil {
		return 0, err
	}
	return r.length()
}

// str skips a string: plain, integer-encoded or LZF-compressed.
func (r *modReader) str() error {
	if err := r.opcode(modString); err != nil {
		return err
	}
	n, enc, err := r.lenEnc()
	if err != nil {
		return err
	}
	if !enc {
		return r.skip(n)
	}
	switch n {
	case 0, 1, 2: // an 8-, 16- or 32-bit integer
		return r.skip(1 << n)
	case 3: // LZF: compressed length, original length, compressed bytes
		clen, err := r.length()
		if err != nil {
			return err
		}
		if _, err := r.length(); err != nil {
			return err
		}
		return r.skip(clen)
	}
	return fmt.Errorf("vector set: unknown string encoding %d at byte %d", n, r.off)
}
