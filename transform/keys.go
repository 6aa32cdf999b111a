package transform

import "strings"

// TouchedKeys returns the positions of the keys a stream command writes or
// reads, from the filter's command table; known is false for commands the
// table does not place (scripts, unknown commands) and for those without
// keys (SELECT, FLUSHALL, PING …). A cluster source uses it to tell which
// shard's keys a command touches.
func TouchedKeys(args [][]byte) (idx []int, known bool) {
	if len(args) == 0 {
		return nil, false
	}
	spec, ok := commandTable[strings.ToLower(string(args[0]))]
	if !ok {
		return nil, false
	}
	switch spec.class {
	case classKeys, classStore:
		idx = spec.keyIndexes(args)
	case classPair, classCopy:
		if len(args) >= 3 {
			idx = []int{1, 2}
		}
	case classMove, classRestore:
		if len(args) >= 2 {
			idx = []int{1}
		}
	case classSort:
		if len(args) >= 2 {
			idx = []int{1}
			for i := 2; i+1 < len(args); i++ {
				if strings.EqualFold(string(args[i]), "store") {
					idx = append(idx, i+1)
				}
			}
		}
	default:
		return nil, false
	}
	return idx, len(idx) > 0
}
