package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// restore applies the filters and the db map of the config file, and
// verify with the same file compares what they take: equal, while a verify
// without them finds the keys left out.
func TestRestoreAndVerifyWithFilters(t *testing.T) {
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	fill(t, src, 400) // dbs 0, 1 and 2
	file := saveRDB(t, src)
	conf := filepath.Join(t.TempDir(), "redferry.toml")
	if err := os.WriteFile(conf, []byte(`source = "`+src.URL()+`"
target = "`+dst.URL()+`"
filter-dbs = [0, 2]
db-map = "2:5"
filter-keys-deny = ["glob:wl:[13]:*"]
filter-types-drop = ["stream"]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := run(t, 2*time.Minute, "restore", "--config", conf, file)
	if code != 0 || !strings.Contains(out, `"filtered_out"`) {
		t.Fatalf("restore with filters exited %d:\n%s", code, out)
	}
	keys := func(db int) int64 {
		c := dst.ClientDB(db)
		defer c.Close()
		n, err := c.DBSize(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if keys(0) == 0 || keys(5) == 0 || keys(1) != 0 || keys(2) != 0 {
		t.Fatalf("target keys by db: 0:%d 1:%d 2:%d 5:%d; want db 0 and 5 (from 2) only", keys(0), keys(1), keys(2), keys(5))
	}
	out, code = run(t, time.Minute, "verify", "--config", conf)
	if code != 0 {
		t.Fatalf("verify with the restore's filters exited %d:\n%s", code, out)
	}
	out, code = run(t, time.Minute, "verify", "--source", src.URL(), "--target", dst.URL())
	if code != 1 || !strings.Contains(out, "missing") {
		t.Fatalf("verify without the filters exited %d, want 1 with missing keys:\n%s", code, out)
	}
}
