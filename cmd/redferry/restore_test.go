package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/verify"
)

// saveRDB SAVEs s and returns the path of its dump.rdb.
func saveRDB(t *testing.T, s *redistest.Server) string {
	t.Helper()
	c := s.Client()
	defer c.Close()
	if err := c.Save(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(s.Dir, "dump.rdb")
}

func assertEqual(t *testing.T, src, dst *redistest.Server) {
	t.Helper()
	sc, dc := src.Client(), dst.Client()
	defer sc.Close()
	defer dc.Close()
	rep, err := verify.Compare(context.Background(), sc, dc, verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equal() {
		t.Fatalf("%d differences: %v", rep.DiffCount, rep.Diffs)
	}
}

// runStdin runs redferry with stdin fed from a file.
func runStdin(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	f, err := os.Open(stdin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "REDFERRY_LOG_FORMAT=json")
	var out bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, &out, &out
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), 0
}

// TestRestoreFile: a filled server's dump.rdb restored into another
// version (upgrade by RESTORE, downgrade re-encoded, from stdin) equals
// it; a non-empty target needs --flush-target or --merge.
func TestRestoreFile(t *testing.T) {
	cases := []struct {
		src, dst string
		stdin    bool
		mode     string
	}{
		{redistest.Redis70, redistest.Valkey91, false, "auto"},
		{redistest.Valkey91, redistest.Redis70, true, "auto"},
		{redistest.Redis60, redistest.Redis80, false, "commands"},
	}
	for _, tc := range cases {
		t.Run(tc.src+"->"+tc.dst, func(t *testing.T) {
			src := redistest.Start(t, tc.src, redistest.Options{})
			dst := redistest.Start(t, tc.dst, redistest.Options{Password: "pw-dst"})
			fill(t, src, 400)
			file := saveRDB(t, src)
			args := []string{"restore", "--target", dst.URL(), "--replay-mode", tc.mode}
			var out string
			var code int
			if tc.stdin {
				out, code = runStdin(t, file, append(args, "-")...)
			} else {
				out, code = run(t, 2*time.Minute, append(args, file)...)
			}
			if code != 0 {
				t.Fatalf("restore exited %d:\n%s", code, out)
			}
			if strings.Contains(out, "pw-dst") {
				t.Fatalf("the log shows the password:\n%s", out)
			}
			if !strings.Contains(out, "restore done") {
				t.Fatalf("no summary:\n%s", out)
			}
			assertEqual(t, src, dst)

			out, code = run(t, time.Minute, append(args, file)...)
			if code != 1 || !strings.Contains(out, "--flush-target") || !strings.Contains(out, "--merge") {
				t.Fatalf("restore into a non-empty target: exit %d:\n%s", code, out)
			}
			for _, flag := range []string{"--merge", "--flush-target"} {
				if out, code = run(t, 2*time.Minute, append(args, flag, file)...); code != 0 {
					t.Fatalf("restore %s exited %d:\n%s", flag, code, out)
				}
				assertEqual(t, src, dst)
			}
		})
	}
}

// TestRDBInspect: text and JSON list every key with its type, encoding,
// size and expiry; the RESP form piped through redis-cli --pipe into a
// fresh server rebuilds the same data.
func TestRDBInspect(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	c := src.Client()
	defer c.Close()
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	for _, err := range []error{
		c.Set(ctx, "s", "hello", 0).Err(), c.PExpireAt(ctx, "s", exp).Err(),
		c.RPush(ctx, "l", "a", "b", "c").Err(), c.HSet(ctx, "h", "f", "v").Err(),
		c.ZAdd(ctx, "z", redisZ(1.5, "m")).Err(), c.SAdd(ctx, "i", 1, 2, 3, 4).Err(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	fill(t, src, 200)
	file := saveRDB(t, src)

	out, code := run(t, time.Minute, "rdb", "inspect", file)
	if code != 0 {
		t.Fatalf("inspect exited %d:\n%s", code, out)
	}
	for _, want := range []string{
		"db\ttype\tencoding\tsize\texpire_at\tkey\n",
		"0\tstring\tembstr\t5\t" + exp.UTC().Format("2006-01-02T15:04:05.000Z") + "\t\"s\"\n",
		"0\tlist\tquicklist\t3\t-\t\"l\"\n", "0\thash\tlistpack\t1\t-\t\"h\"\n",
		"0\tzset\tlistpack\t1\t-\t\"z\"\n", "0\tset\tintset\t4\t-\t\"i\"\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q", want)
		}
	}
	if n := strings.Count(out, "\n"); int64(n) != 1+totalKeys(t, src) {
		t.Errorf("inspect printed %d lines", n)
	}

	out, code = run(t, time.Minute, "rdb", "inspect", "--format", "json", file)
	if code != 0 {
		t.Fatalf("inspect --format json exited %d:\n%s", code, out)
	}
	found := false
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var k struct { // fresh for each line: a field absent from it stays zero
			DB       int    `json:"db"`
			Key      string `json:"key"`
			Type     string `json:"type"`
			Size     int64  `json:"size"`
			ExpireAt int64  `json:"expire_at_ms"`
		}
		if err := json.Unmarshal([]byte(line), &k); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if k.Key == "s" {
			found = k.Type == "string" && k.Size == 5 && k.ExpireAt == exp.UnixMilli()
		}
	}
	if !found {
		t.Fatalf("json output lacks key s with its expiry:\n%.2000s", out)
	}

	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	bin, err := redistest.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	cli := filepath.Join(filepath.Dir(bin), "tools", "redis-cli")
	pipe := exec.Command("bash", "-c", `"$0" rdb inspect --format resp --for redis-7.0 "$1" | "$2" -p "$3" --pipe`,
		binary, file, cli, dst.Addr[strings.LastIndex(dst.Addr, ":")+1:])
	if out, err := pipe.CombinedOutput(); err != nil || !strings.Contains(string(out), "errors: 0") {
		t.Fatalf("inspect | redis-cli --pipe: %v\n%s", err, out)
	}
	assertEqual(t, src, dst)
}

func redisZ(score float64, member string) redis.Z { return redis.Z{Score: score, Member: member} }

// totalKeys counts the keys of every db.
func totalKeys(t *testing.T, s *redistest.Server) int64 {
	var n int64
	for db := 0; db < 16; db++ {
		c := s.ClientDB(db)
		n += c.DBSize(context.Background()).Val()
		c.Close()
	}
	return n
}

// TestRDBCorruptFile: a truncated snapshot fails inspect and restore with
// exit 1 and the byte offset where it broke.
func TestRDBCorruptFile(t *testing.T) {
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	fill(t, src, 50)
	data, err := os.ReadFile(saveRDB(t, src))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.rdb")
	if err := os.WriteFile(cut, data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	for _, args := range [][]string{{"rdb", "inspect", cut}, {"restore", "--target", dst.URL(), cut}} {
		out, code := run(t, time.Minute, args...)
		if code != 1 || !strings.Contains(out, "at byte") || !strings.Contains(out, "cut.rdb") {
			t.Errorf("%v: exit %d:\n%s", args, code, out)
		}
	}
}
