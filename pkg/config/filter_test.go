package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// The filter and limit settings come from the file, the environment (a TOML
// array or comma-separated) and repeated flags, and compile into a filter.
func TestFilterSettingsLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "redferry.toml")
	conf := `source = "redis://a:1"
target = "redis://b:2"
filter-dbs = [0, 3]
db-map = "0:1,3:0"
filter-keys-allow = ["prefix:user:", "regex:^s[0-9]{1,3}$"]
filter-types-drop = ["stream"]
max-ops-per-second = 500
`
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"REDFERRY_FILTER_KEYS_DENY": `["regex:^user:[0-9]{1,2}$", "prefix:user:tmp:"]`,
		"REDFERRY_FILTER_COMMANDS_DROP": "publish, xtrim", "REDFERRY_MAX_BYTES_PER_SECOND": "1000000"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	scratch := Default()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	scratch.RegisterFlags(fs)
	if err := fs.Parse([]string{"--filter-keys-allow", "glob:a,b*", "--filter-keys-allow", "prefix:user:", "--filter-dbs", "0,3"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file, lookup, fs)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"filter-dbs", c.FilterDBs, []int{0, 3}},
		{"filter-keys-allow (flags, a comma kept)", c.FilterKeysAllow, []string{"glob:a,b*", "prefix:user:"}},
		{"filter-keys-deny (env TOML array)", c.FilterKeysDeny, []string{"regex:^user:[0-9]{1,2}$", "prefix:user:tmp:"}},
		{"filter-commands-drop (env list)", c.FilterCommandsDrop, []string{"publish", "xtrim"}},
		{"filter-types-drop (file)", c.FilterTypesDrop, []string{"stream"}},
		{"max-ops-per-second", c.MaxOpsPerSecond, int64(500)},
		{"max-bytes-per-second", c.MaxBytesPerSecond, int64(1000000)},
	}
	for _, ch := range checks {
		if !equalAny(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	f, err := c.Filter()
	if err != nil || f == nil {
		t.Fatalf("Filter() = %v, %v", f, err)
	}
	if to, ok := f.TargetDB(3); !ok || to != 0 {
		t.Errorf("db 3 goes to %d (taken %v), want 0", to, ok)
	}
	if f.KeyName([]byte("user:12")) || !f.KeyName([]byte("user:123")) || !f.KeyName([]byte("a,bc")) {
		t.Error("the allow and deny lists from flags and environment do not apply")
	}
}

func equalAny(a, b any) bool {
	switch x := a.(type) {
	case []int:
		return slices.Equal(x, b.([]int))
	case []string:
		return slices.Equal(x, b.([]string))
	}
	return a == b
}

func TestFilterSettingsValidate(t *testing.T) {
	c := Default()
	c.Source, c.Target = "redis://a:1", "redis://b:2"
	c.FilterKeysAllow = []string{"user:*"}
	c.DBMap = "0:1"
	c.OnFilterConflict = "ignore"
	c.MaxOpsPerSecond = -1
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted broken filter settings")
	}
	for _, want := range []string{"filter-keys-allow", "db-map", "on-filter-conflict", "max-ops-per-second"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error does not name %s:\n%v", want, err)
		}
	}
}
