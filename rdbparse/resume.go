package rdbparse

// SkipKeysBefore wraps handle so that the events of every key whose record
// starts before off (Event.Offset of its KindKey) are dropped: a replay that
// stopped after applying the key at offset X resumes with
// SkipKeysBefore(X+1, apply) on a fresh decode of the same snapshot. All
// other events (header, aux, selectdb, functions, EOF) pass through.
func SkipKeysBefore(off int64, handle func(*Event) error) func(*Event) error {
	skipping := false
	return func(ev *Event) error {
		switch ev.Kind {
		case KindKey:
			if !skipping && ev.Offset < off {
				skipping = true
			}
		case KindKeyEnd:
			if skipping {
				skipping = false
				return nil
			}
		}
		if skipping {
			return nil
		}
		return handle(ev)
	}
}
