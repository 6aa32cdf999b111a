package status

import (
	"sort"
	"sync"
)

// filteredCounts counts what the filters left out (transform.Filter), by reason.
type filteredCounts struct {
	mu       sync.Mutex
	keys     map[string]int64 // snapshot keys, by reason
	dropped  map[string]int64 // stream commands left out, by reason
	narrowed map[string]int64 // stream commands sent with part of them left out, by reason
}

// AddFilteredKey counts a snapshot key the filters left out.
func (t *Tracker) AddFilteredKey(reason string) { t.filtered.add(&t.filtered.keys, reason) }

// AddFilteredCommand counts a stream command the filters left out whole,
// or, with partial, sent with some of its keys or dbs left out.
func (t *Tracker) AddFilteredCommand(reason string, partial bool) {
	if partial {
		t.filtered.add(&t.filtered.narrowed, reason)
		return
	}
	t.filtered.add(&t.filtered.dropped, reason)
}

func (f *filteredCounts) add(m *map[string]int64, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *m == nil {
		*m = map[string]int64{}
	}
	(*m)[reason]++
}

// FilteredReport is what the filters left out, by reason (db, key, type,
// command, conflict); omitted from /status when nothing was.
type FilteredReport struct {
	Keys             map[string]int64 `json:"keys,omitempty"`
	Commands         map[string]int64 `json:"commands,omitempty"`
	CommandsNarrowed map[string]int64 `json:"commands_narrowed,omitempty"`
}

func (f *filteredCounts) report() *FilteredReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.keys) == 0 && len(f.dropped) == 0 && len(f.narrowed) == 0 {
		return nil
	}
	clone := func(m map[string]int64) map[string]int64 {
		if len(m) == 0 {
			return nil
		}
		out := make(map[string]int64, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return &FilteredReport{Keys: clone(f.keys), Commands: clone(f.dropped), CommandsNarrowed: clone(f.narrowed)}
}

// sortedKeys returns m's keys in order, for stable metrics.
func sortedKeys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
