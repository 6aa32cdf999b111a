package sink

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// How a mark is stored. A cluster target writes one mark per slot touched
// by a batch, so with keys spread over all the slots nearly every key of a
// batch carries one: its encoding is on the hot path of both redferry
// (building it) and the target (parsing and storing the SET's value).
//
// Version 2 is a short text, readable in redis-cli and appended into a
// reused buffer without reflection:
//
//	2|<k or s>|<upto offset>|<nonce>|<slots>|<sent>|<done>
//
// k: Upto is a snapshot position, s: a stream offset. <slots> is the claim
// of a broadcast's mark (slot ranges "0-5460,5462", empty for none),
// <sent> the snapshot position up to which keys may have been written
// without a mark (cluster_snapshot.go; empty for none) and <done> the
// checkpoint of the last batch wholly applied, as the bytes of
// checkpoint.State, running to the end of the value (it may hold '|');
// empty for none. Version 1 was JSON (mark's field tags); marks written
// by a redferry before version 2 are still read, so a restart after an
// upgrade resumes from them.
const markV2 = '2'

// appendMark appends mk encoded (version 2) to dst.
func appendMark(dst []byte, mk *mark) []byte {
	dst = append(dst, markV2, '|')
	if mk.Upto.Streaming {
		dst = append(dst, 's')
	} else {
		dst = append(dst, 'k')
	}
	dst = append(dst, '|')
	dst = strconv.AppendInt(dst, mk.Upto.Off, 10)
	dst = append(dst, '|')
	dst = strconv.AppendUint(dst, mk.Nonce, 10)
	dst = append(dst, '|')
	dst = append(dst, mk.Slots...)
	dst = append(dst, '|')
	if mk.Sent > 0 {
		dst = strconv.AppendInt(dst, mk.Sent, 10)
	}
	dst = append(dst, '|')
	return append(dst, mk.Done...)
}

var errMarkFormat = errors.New("not a checkpoint mark of any version redferry writes")

// decodeMark reads a mark of either version. Done is a copy.
func decodeMark(v []byte) (mark, error) {
	var mk mark
	if len(v) > 0 && v[0] == '{' {
		if err := json.Unmarshal(v, &mk); err != nil {
			return mark{}, err
		}
		if mk.Version != 1 {
			return mark{}, errMarkFormat
		}
		return mk, nil
	}
	var f [6][]byte
	rest := v
	for i := range f {
		j := bytes.IndexByte(rest, '|')
		if j < 0 {
			return mark{}, errMarkFormat
		}
		f[i], rest = rest[:j], rest[j+1:]
	}
	if len(f[0]) != 1 || f[0][0] != markV2 || len(f[1]) != 1 || (f[1][0] != 's' && f[1][0] != 'k') {
		return mark{}, errMarkFormat
	}
	off, err := strconv.ParseInt(string(f[2]), 10, 64)
	if err != nil {
		return mark{}, errMarkFormat
	}
	nonce, err := strconv.ParseUint(string(f[3]), 10, 64)
	if err != nil {
		return mark{}, errMarkFormat
	}
	mk = mark{Version: 2, Upto: position{Streaming: f[1][0] == 's', Off: off}, Nonce: nonce, Slots: string(f[4])}
	if len(f[5]) > 0 {
		if mk.Sent, err = strconv.ParseInt(string(f[5]), 10, 64); err != nil {
			return mark{}, errMarkFormat
		}
	}
	if len(rest) > 0 {
		mk.Done = bytes.Clone(rest)
	}
	return mk, nil
}
