package config

import (
	"errors"
	"fmt"

	"github.com/redferry/redferry/transform"
)

// FilterSettings choose what of the source is copied, and into which target
// db (transform.Filter). sync, restore and scan apply them; verify compares
// what they take.
type FilterSettings struct {
	FilterDBs          []int    `toml:"filter-dbs" help:"source dbs to copy (default: every db), e.g. 0,3"`
	DBMap              string   `toml:"db-map" help:"source db:target db pairs, e.g. \"0:1,3:0\" (a db not named keeps its number)"`
	FilterKeysAllow    []string `toml:"filter-keys-allow" help:"copy only keys matching one of these: prefix:<text>, glob:<pattern> or regex:<expression> (repeat the flag)"`
	FilterKeysDeny     []string `toml:"filter-keys-deny" help:"leave out keys matching one of these (same forms as filter-keys-allow)"`
	FilterCommandsDrop []string `toml:"filter-commands-drop" help:"commands of the stream to leave out, e.g. publish,xtrim"`
	FilterTypesDrop    []string `toml:"filter-types-drop" help:"key types to leave out, in the snapshot and the stream: string, list, set, zset, hash, stream, module"`
	OnFilterConflict   string   `toml:"on-filter-conflict" help:"a command the filters cannot apply (it crosses their boundary, or is a script called as such): stop (default) or skip"`
}

// Filter compiles the filter settings; nil when they filter nothing.
func (c *Config) Filter() (*transform.Filter, error) {
	m, err := transform.ParseDBMap(c.DBMap)
	if err != nil {
		return nil, fmt.Errorf("db-map: %w", err)
	}
	return transform.NewFilter(transform.FilterOptions{DBs: c.FilterDBs, DBMap: m, KeysAllow: c.FilterKeysAllow,
		KeysDeny: c.FilterKeysDeny, CommandsDrop: c.FilterCommandsDrop, TypesDrop: c.FilterTypesDrop,
		SkipConflicts: c.OnFilterConflict == "skip"})
}

func (c *Config) validateFilter() error {
	var errs []error
	if c.OnFilterConflict != "stop" && c.OnFilterConflict != "skip" {
		errs = append(errs, fmt.Errorf("on-filter-conflict: %q is not one of stop, skip", c.OnFilterConflict))
	}
	if _, err := c.Filter(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// LimitSettings cap the writes to the target; both change at run time
// through the status server (PUT /limits).
type LimitSettings struct {
	MaxOpsPerSecond   int64 `toml:"max-ops-per-second" help:"at most this many commands per second to the target (0: no limit)"`
	MaxBytesPerSecond int64 `toml:"max-bytes-per-second" help:"at most this many bytes per second to the target (0: no limit)"`
}

func (c *Config) validateLimits() error {
	var errs []error
	if c.MaxOpsPerSecond < 0 {
		errs = append(errs, fmt.Errorf("max-ops-per-second: must be >= 0, got %d", c.MaxOpsPerSecond))
	}
	if c.MaxBytesPerSecond < 0 {
		errs = append(errs, fmt.Errorf("max-bytes-per-second: must be >= 0, got %d", c.MaxBytesPerSecond))
	}
	return errors.Join(errs...)
}
