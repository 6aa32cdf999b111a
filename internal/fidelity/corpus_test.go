package fidelity

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
)

var entryName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)

func TestCorpusWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range Corpus() {
		switch {
		case !entryName.MatchString(e.Name):
			t.Errorf("entry %q: a name is made of [a-z0-9.-] (keys are Name + \":\")", e.Name)
		case seen[e.Name]:
			t.Errorf("entry %q twice: its keys would mix with the other's", e.Name)
		case e.Command == "" || e.Command != strings.ToLower(e.Command):
			t.Errorf("entry %q: command %q must be the lower case COMMAND name", e.Name, e.Command)
		case e.NotReplayed == "" && len(e.Run) == 0:
			t.Errorf("entry %q runs nothing and gives no reason (NotReplayed)", e.Name)
		case e.NotReplayed != "" && (len(e.Run) > 0 || len(e.Setup) > 0):
			t.Errorf("entry %q is not replayed but has commands", e.Name)
		case e.DB < 0 || e.DB > 15:
			t.Errorf("entry %q: db %d outside the 16 default databases", e.Name, e.DB)
		}
		seen[e.Name] = true
	}
}

// stubSource answers DUMP, DIGEST and FUNCTION DUMP with a stand-in, for
// expanding placeholders without a server.
type stubSource struct{}

func (stubSource) Do(ctx context.Context, _ ...any) *redis.Cmd {
	c := redis.NewCmd(ctx)
	c.SetVal("payload")
	return c
}

func TestCorpusCoversEveryWriteCommand(t *testing.T) {
	corpus := Corpus()
	for _, name := range redistest.All {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := redistest.Start(t, name, redistest.Options{})
			c := s.Client()
			defer c.Close()
			wc, err := ReadWriteCommands(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if len(wc) < 50 {
				t.Fatalf("%s declares only %d write commands: COMMAND not read right", s.Name, len(wc))
			}
			for _, gap := range Uncovered(corpus, s.Name, wc) {
				t.Error(gap)
			}
			checkKeysArePrefixed(ctx, t, c, corpus)
		})
	}
}

// checkKeysArePrefixed asks the server (COMMAND GETKEYS) for the keys of
// every command of the corpus it knows, and fails for a key that does not
// start with its entry's prefix: a difference found there could not be
// traced to the entry.
func checkKeysArePrefixed(ctx context.Context, t *testing.T, c *redis.Client, corpus []Entry) {
	t.Helper()
	now := time.Now()
	checked := 0
	for _, e := range corpus {
		x := &expander{entry: e, src: stubSource{}, now: func() time.Time { return now }}
		for _, cmd := range append(append([]Cmd{}, e.Setup...), e.Run...) {
			if len(cmd) == 0 || strings.HasPrefix(cmd[0], "@") {
				continue
			}
			args, err := x.args(ctx, cmd)
			if err != nil {
				t.Errorf("entry %q: %v", e.Name, err)
				continue
			}
			keys, err := c.Do(ctx, append([]any{"COMMAND", "GETKEYS"}, args...)...).StringSlice()
			if err != nil {
				continue // a command this version lacks, or one without keys
			}
			checked++
			for _, k := range keys {
				if !strings.HasPrefix(k, e.KeyPrefix()) {
					t.Errorf("entry %q: %s uses key %q, not under %q", e.Name, cmd[0], k, e.KeyPrefix())
				}
			}
		}
	}
	if checked < 100 {
		t.Errorf("only %d corpus commands had their keys checked", checked)
	}
}
