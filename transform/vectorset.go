package transform

import (
	"fmt"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/rdbparse"
)

// rdbTypeModule2 is RDB_TYPE_MODULE_2, the type byte of a module value.
const rdbTypeModule2 = 7

// vectorSetFor returns a module value (module id, typed opcodes, EOF) of
// RDB version version in a form the target loads, and the RDB version its
// payload should say. A vector set for a Redis 8 target goes in the
// target's own RDB version when it cannot read version (the module's
// serialization does not depend on it), its nodes in serialization version
// 0 when the target loads no other (rdbparse.VectorSetNodesV0); any other
// value is returned as it is. changed reports a rewrite.
func vectorSetFor(caps server.Info, module string, value []byte, version int) (out []byte, outVersion int, changed bool, err error) {
	if module != rdbparse.VectorSetModule || !caps.VectorSets() {
		return value, version, false, nil
	}
	out, outVersion = value, version
	if !caps.AcceptsRDB(version) {
		outVersion, changed = caps.RDBVersion(), true
	}
	if !caps.VectorSetNodesV1() {
		v0, conv, err := rdbparse.VectorSetNodesV0(value)
		if err != nil {
			return nil, 0, false, fmt.Errorf("a vector set whose nodes %s cannot load, and that redferry cannot convert: %w", caps, err)
		}
		if conv {
			out, changed = v0, true
		}
	}
	return out, outVersion, changed, nil
}

// restoreVectorSet rewrites RESTORE k ttl payload … of a vector set whose
// payload the target cannot load as it is (vectorSetFor): the same RESTORE
// with the payload converted. ok is false for any other payload.
func (t *Translator) restoreVectorSet(c *call, version int) (ok bool, err error) {
	payload := c.args[3]
	if !t.caps.VectorSets() || len(payload) == 0 || payload[0] != rdbTypeModule2 {
		return false, nil
	}
	var typeByte byte
	var name string
	var value []byte
	err = rdbparse.DecodeDump(c.args[1], payload, rdbparse.Options{}, func(e *rdbparse.Event) error {
		if e.Kind == rdbparse.KindModuleValue {
			typeByte, name, value = e.TypeByte, string(e.Name), append([]byte(nil), e.Value...)
		}
		return nil
	})
	if err != nil || value == nil {
		return false, nil // not a module value after all: the other paths judge it
	}
	out, outVersion, changed, err := vectorSetFor(t.caps, name, value, version)
	if err != nil {
		return true, fmt.Errorf("%s (key %q, source offset %d): %w", upper(c.name), c.args[1], c.offset, err)
	}
	if !changed {
		return false, nil
	}
	args := append([][]byte{}, c.args...)
	args[3] = AppendDumpPayload(nil, append([]byte{typeByte}, out...), outVersion)
	t.emit(c, args...)
	return true, nil
}
