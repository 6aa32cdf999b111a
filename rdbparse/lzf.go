package rdbparse

import "errors"

var errLZF = errors.New("bad LZF data")

// lzfDecompress expands in into out, which must have exactly the
// uncompressed length; it fails unless in produces exactly len(out) bytes.
func lzfDecompress(in, out []byte) error {
	o := 0
	for i := 0; i < len(in); {
		ctrl := int(in[i])
		i++
		if ctrl < 32 { // literal run of ctrl+1 bytes
			n := ctrl + 1
			if i+n > len(in) || o+n > len(out) {
				return errLZF
			}
			copy(out[o:], in[i:i+n])
			i += n
			o += n
			continue
		}
		n := ctrl >> 5
		if n == 7 {
			if i >= len(in) {
				return errLZF
			}
			n += int(in[i])
			i++
		}
		if i >= len(in) {
			return errLZF
		}
		ref := o - (ctrl&0x1f)<<8 - int(in[i]) - 1
		i++
		n += 2
		if ref < 0 || o+n > len(out) {
			return errLZF
		}
		for k := 0; k < n; k++ { // may overlap: byte by byte
			out[o] = out[ref]
			o++
			ref++
		}
	}
	if o != len(out) {
		return errLZF
	}
	return nil
}

// lzfWindow is the farthest an LZF back-reference reaches.
const lzfWindow = 8192

// lzfStream expands in (which must produce exactly ulen bytes) through the
// window buffer win, handing out pieces of at most chunk bytes. It keeps
// only the last lzfWindow bytes plus one piece in memory.
func lzfStream(in []byte, ulen uint64, win []byte, chunk int, emit func(p []byte, last bool) error) ([]byte, error) {
	size := lzfWindow + max(chunk, 512)
	if cap(win) < size {
		win = make([]byte, size)
	}
	win = win[:size]
	o, e := 0, 0 // write position, start of the bytes not yet handed out
	var total uint64
	flush := func(last bool) error {
		for e < o {
			n := min(o-e, chunk)
			if err := emit(win[e:e+n], last && e+n == o); err != nil {
				return err
			}
			e += n
		}
		return nil
	}
	// room makes space for n more bytes, keeping the window.
	room := func(n int) error {
		if o+n <= len(win) {
			return nil
		}
		if err := flush(false); err != nil {
			return err
		}
		if o > lzfWindow {
			copy(win, win[o-lzfWindow:o])
			o = lzfWindow
			e = o
		}
		return nil
	}
	for i := 0; i < len(in); {
		ctrl := int(in[i])
		i++
		if ctrl < 32 {
			n := ctrl + 1
			if i+n > len(in) || total+uint64(n) > ulen {
				return win, errLZF
			}
			if err := room(n); err != nil {
				return win, err
			}
			copy(win[o:], in[i:i+n])
			i += n
			o += n
			total += uint64(n)
			continue
		}
		n := ctrl >> 5
		if n == 7 {
			if i >= len(in) {
				return win, errLZF
			}
			n += int(in[i])
			i++
		}
		if i >= len(in) {
			return win, errLZF
		}
		dist := (ctrl&0x1f)<<8 + int(in[i]) + 1
		i++
		n += 2
		if uint64(dist) > total || total+uint64(n) > ulen {
			return win, errLZF
		}
		if err := room(n); err != nil {
			return win, err
		}
		ref := o - dist
		if ref < 0 {
			return win, errLZF
		}
		for k := 0; k < n; k++ {
			win[o] = win[ref]
			o++
			ref++
		}
		total += uint64(n)
	}
	if total != ulen {
		return win, errLZF
	}
	return win, flush(true)
}
