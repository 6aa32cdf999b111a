package sink

import (
	"testing"

	"github.com/redferry/redferry/internal/redistest"
)

// unionScript writes KEYS[1] as the union of the sets KEYS[2…] (SUNIONSTORE
// as a script, as the Translator writes the *STORE commands a target lacks).
const unionScript = "redis.call('DEL', KEYS[1]) for i = 2, #KEYS do local m = redis.call('SMEMBERS', KEYS[i]) " +
	"for _, v in ipairs(m) do redis.call('SADD', KEYS[1], v) end end return redis.call('SCARD', KEYS[1])"

// TestLegacyClusterMoves: into a Redis 6.0 cluster, which has no COPY nor
// LMOVE in its COMMAND table, those commands across slots and a script
// marked by StoreScript across slots are carried out slot by slot and end
// as the commands and the script do on a standalone server.
func TestLegacyClusterMoves(t *testing.T) {
	cl := redistest.StartCluster(t, redistest.Redis60, 3, redistest.Options{})
	ref := redistest.Start(t, redistest.Redis70, redistest.Options{})
	ctx := ctx(t)
	c := openCluster(t, cl, Config{CheckpointKey: "redferry:checkpoint:t"})
	cmds := [][]string{
		{"RPUSH", "list:a", "1", "2", "3", "4", "5"},
		{"SADD", "set:a", "x", "y", "z"},
		{"SADD", "set:b", "y", "w"},
		{"SET", "str:a", "hello", "PX", "600000"},
		{"COPY", "str:a", "str:b"},
		{"COPY", "set:a", "set:b", "REPLACE"},
		{"LMOVE", "list:a", "list:b", "LEFT", "RIGHT"},
		{"LMOVE", "list:a", "list:b", "LEFT", "LEFT"},
		{"LMOVE", "list:a", "list:c", "RIGHT", "RIGHT"},
		{"BLMOVE", "list:a", "list:c", "RIGHT", "LEFT", "0"},
		{"SADD", "set:c", "q"},
		{"EVAL", StoreScript(unionScript), "3", "set:u", "set:b", "set:c"},
		{"EVAL", StoreScript(unionScript), "3", "set:c", "set:c", "set:a"},
		{"EVAL", StoreScript(unionScript), "2", "{set:a}u", "set:a"},
		{"APPEND", "str:b", "!"},
	}
	assertClusterRunsLikeStandalone(t, ctx, c, cl, ref, cmds, 5)
}
