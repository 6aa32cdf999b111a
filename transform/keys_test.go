package transform

import (
	"reflect"
	"strings"
	"testing"
)

func TestTouchedKeys(t *testing.T) {
	for _, tc := range []struct {
		cmd   string
		want  []int
		known bool
	}{
		{"SET k v", []int{1}, true},
		{"DEL a b c", []int{1, 2, 3}, true},
		{"MSET a 1 b 2", []int{1, 3}, true},
		{"RENAME a b", []int{1, 2}, true},
		{"RESTORE-ASKING k 0 payload REPLACE", []int{1}, true},
		{"ZUNIONSTORE d 2 a b", []int{1, 3, 4}, true},
		{"SORT l BY x STORE d", []int{1, 5}, true},
		{"SELECT 1", nil, false},
		{"FLUSHALL", nil, false},
		{"EVAL script 1 k", nil, false},
		{"NOSUCHCOMMAND k", nil, false},
	} {
		var args [][]byte
		for _, a := range strings.Fields(tc.cmd) {
			args = append(args, []byte(a))
		}
		got, known := TouchedKeys(args)
		if known != tc.known || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("TouchedKeys(%s) = %v, %v; want %v, %v", tc.cmd, got, known, tc.want, tc.known)
		}
	}
}
