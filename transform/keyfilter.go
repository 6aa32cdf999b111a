package transform

import (
	"hash/maphash"
)

// keyFilter is a Bloom filter of (db, key) pairs: testAndAdd answers
// "maybe seen before" for every pair added before, and for about 1% of the
// others while the filter is within its size. It grows in stages, each
// twice the size of the one before, so a small snapshot costs little; once
// the stages reach filterMaxBytes in all, the last one takes every further
// key and its false positive rate rises with them. Memory stays bounded;
// only the rate of false answers grows.
type keyFilter struct {
	seed   maphash.Seed
	stages []bloomStage
	bytes  int
}

type bloomStage struct {
	bits     []uint64
	mask     uint64 // number of bits - 1 (a power of two)
	n, limit int    // keys added, keys it takes at about 1% false positives
}

const (
	filterFirstBytes = 64 << 10
	filterMaxBytes   = 64 << 20
	filterBitsPerKey = 10 // with filterHashes probes: about 1% false positives
	filterHashes     = 7
)

func newKeyFilter() *keyFilter {
	return &keyFilter{seed: maphash.MakeSeed()}
}

// testAndAdd reports whether (db, key) may have been added before, and adds it.
func (f *keyFilter) testAndAdd(db int, key []byte) bool {
	h := maphash.Bytes(f.seed, key) ^ (uint64(db)+1)*0x9e3779b97f4a7c15
	h1, h2 := h, h>>33|h<<31|1
	seen := false
	for i := range f.stages {
		if f.stages[i].has(h1, h2) {
			seen = true
			break
		}
	}
	f.grow()
	f.stages[len(f.stages)-1].add(h1, h2)
	return seen
}

// grow adds a stage when the last one is full and the next fits in filterMaxBytes.
func (f *keyFilter) grow() {
	size := filterFirstBytes
	if n := len(f.stages); n > 0 {
		if last := &f.stages[n-1]; last.n < last.limit {
			return
		}
		size = 2 * len(f.stages[n-1].bits) * 8
	}
	if len(f.stages) > 0 && f.bytes+size > filterMaxBytes {
		return
	}
	f.stages = append(f.stages, bloomStage{bits: make([]uint64, size/8), mask: uint64(size*8 - 1),
		limit: size * 8 / filterBitsPerKey})
	f.bytes += size
}

func (s *bloomStage) has(h1, h2 uint64) bool {
	for i := uint64(0); i < filterHashes; i++ {
		bit := (h1 + i*h2) & s.mask
		if s.bits[bit>>6]&(1<<(bit&63)) == 0 {
			return false
		}
	}
	return true
}

func (s *bloomStage) add(h1, h2 uint64) {
	for i := uint64(0); i < filterHashes; i++ {
		bit := (h1 + i*h2) & s.mask
		s.bits[bit>>6] |= 1 << (bit & 63)
	}
	s.n++
}
