package sink

import (
	"bytes"
	"strings"
)

// A target without a *STORE command (ZRANGESTORE, ZDIFFSTORE, GEOSEARCHSTORE
// BYBOX into Redis 6.0; BITOP's operations new in 8.2 into older servers)
// gets a script in its place from the Translator. In
// a cluster its keys may be in different slots, which no script can span;
// a script marked by StoreScript is carried out as the *STORE commands are
// (storeMove): its source keys copied into dst's slot, the script run there.

// storeScriptTag starts a script that writes KEYS[1] from the other KEYS,
// which it only reads, and touches no other key. It is a Lua comment.
const storeScriptTag = "--redferry: writes KEYS[1] from the other KEYS only\n"

// StoreScript marks script (EVAL script n dst src…) as writing KEYS[1]
// from the other KEYS only, so that a cluster target may run it in dst's
// slot on copies of the other keys.
func StoreScript(script string) string { return storeScriptTag + script }

// isStoreScript reports whether args is an EVAL of a script StoreScript marked.
func isStoreScript(args [][]byte) bool {
	return len(args) > 1 && strings.EqualFold(string(args[0]), "eval") && bytes.HasPrefix(args[1], []byte(storeScriptTag))
}
