package scan

import (
	"sync"
	"time"
)

// dbKey names a key in a db.
type dbKey struct {
	db  int
	key string
}

type dueKey struct {
	dbKey
	due time.Time
}

// dirtySet holds the keys to copy again, each due a delay after its first
// event since it was last copied: the events of a burst of writes to one
// key cost one copy. Keys known to be big wait longer. The set is bounded:
// when it would outgrow max it is dropped whole and the overflow is
// reported, so that the caller runs a new pass instead (memory stays
// bounded whatever the write rate).
type dirtySet struct {
	mu        sync.Mutex
	max       int
	delay     time.Duration
	bigDelay  time.Duration
	keys      map[dbKey]struct{}
	fast      []dueKey // FIFO: due times in order (one delay for all)
	slow      []dueKey // FIFO for big keys
	big       map[dbKey]struct{}
	maxBig    int
	overflows int
	rescan    string // why a new pass is needed ("": it is not)
	wake      chan struct{}
}

func newDirtySet(max int, delay, bigDelay time.Duration) *dirtySet {
	return &dirtySet{max: max, delay: delay, bigDelay: bigDelay, keys: map[dbKey]struct{}{},
		big: map[dbKey]struct{}{}, maxBig: 10000, wake: make(chan struct{}, 1)}
}

func (d *dirtySet) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// mark queues key for a copy, unless it is queued already.
func (d *dirtySet) mark(db int, key string, now time.Time) {
	k := dbKey{db, key}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.keys[k]; ok {
		return
	}
	if len(d.keys) >= d.max {
		d.overflows++
		d.dropLocked()
		d.rescan = "more keys changed than max-dirty allows"
		d.signal()
		return
	}
	d.keys[k] = struct{}{}
	if _, big := d.big[k]; big {
		d.slow = append(d.slow, dueKey{k, now.Add(d.bigDelay)})
	} else {
		d.fast = append(d.fast, dueKey{k, now.Add(d.delay)})
	}
	if len(d.keys) == 1 {
		d.signal()
	}
}

func (d *dirtySet) dropLocked() {
	clear(d.keys)
	d.fast, d.slow = nil, nil
}

// needRescan records that events may have been lost: a new pass is due.
func (d *dirtySet) needRescan(why string) {
	d.mu.Lock()
	if d.rescan == "" {
		d.rescan = why
	}
	d.mu.Unlock()
	d.signal()
}

// takeRescan returns and clears the reason for a new pass.
func (d *dirtySet) takeRescan() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	why := d.rescan
	d.rescan = ""
	return why
}

// setBig remembers whether a key is big (bounded: past maxBig, a big key
// is just not remembered and waits the normal delay).
func (d *dirtySet) setBig(k dbKey, big bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !big {
		delete(d.big, k)
	} else if len(d.big) < d.maxBig {
		d.big[k] = struct{}{}
	}
}

// due removes and returns up to limit keys due at now.
func (d *dirtySet) due(now time.Time, limit int) []dbKey {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []dbKey
	for _, q := range []*[]dueKey{&d.fast, &d.slow} {
		n := 0
		for n < len(*q) && len(out) < limit && !(*q)[n].due.After(now) {
			out = append(out, (*q)[n].dbKey)
			delete(d.keys, (*q)[n].dbKey)
			n++
		}
		*q = (*q)[n:]
		if len(*q) == 0 {
			*q = nil // let the array go
		}
	}
	return out
}

// next returns when the next key is due (zero: none queued).
func (d *dirtySet) next() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	var t time.Time
	for _, q := range [][]dueKey{d.fast, d.slow} {
		if len(q) > 0 && (t.IsZero() || q[0].due.Before(t)) {
			t = q[0].due
		}
	}
	return t
}

func (d *dirtySet) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.keys)
}
