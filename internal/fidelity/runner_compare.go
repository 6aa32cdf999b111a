package fidelity

import (
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/verify"
)

// endSegment compares the source with the target and with the control,
// and gives each entry of the segment its outcome. For an isolated entry,
// every difference that was not there at the last compare is its own.
func (r *pairRun) endSegment(isolated *Entry) {
	if len(r.segment) == 0 {
		return
	}
	target, control := r.compareBoth()
	byEntry := func(diffs []verify.Diff, side string) map[string][]verify.Diff {
		out := map[string][]verify.Diff{}
		for _, d := range diffs {
			o := r.owner(d.Key)
			if isolated != nil && (o == isolated.Name || !r.baseline[side][diffID{d.DB, d.Key, d.Kind}]) {
				o = isolated.Name
			}
			out[o] = append(out[o], d)
		}
		return out
	}
	tgt, ctl := byEntry(target, "target"), byEntry(control, "control")
	for _, name := range r.segment {
		switch {
		case len(tgt[name]) == 0:
			r.set(name, Equal, "")
		case len(ctl[name]) > 0:
			r.set(name, Server, "target: "+diffText(tgt[name])+"; native replica: "+diffText(ctl[name]))
		default:
			r.set(name, Differs, diffText(tgt[name]))
		}
	}
	if d := tgt[""]; len(d) > 0 && r.results[SnapshotEntry] == nil {
		r.set(SnapshotEntry, Differs, diffText(d))
	}
	r.baseline = map[string]map[diffID]bool{"target": ids(target), "control": ids(control)}
	r.segment = r.segment[:0]
}

// compareBoth compares the source with the target and, once it has caught
// up, with the control.
func (r *pairRun) compareBoth() (target, control []verify.Diff) {
	r.ctrl.WaitCaughtUp(r.tb, r.src)
	target = r.compare(r.dstC, "target")
	ctrlC := r.ctrl.Client()
	defer ctrlC.Close()
	return target, r.compare(ctrlC, "control")
}

// rebaseline records the differences there are now, so that an isolated
// entry is blamed only for new ones.
func (r *pairRun) rebaseline() {
	target, control := r.compareBoth()
	r.baseline = map[string]map[diffID]bool{"target": ids(target), "control": ids(control)}
}

func ids(diffs []verify.Diff) map[diffID]bool {
	out := make(map[diffID]bool, len(diffs))
	for _, d := range diffs {
		out[diffID{d.DB, d.Key, d.Kind}] = true
	}
	return out
}

// compare runs pkg/verify between the source and other.
func (r *pairRun) compare(other *redis.Client, side string) []verify.Diff {
	rep, err := verify.Compare(r.ctx, r.srcC, other, verify.Options{IgnoreKeys: func(_ int, key string) bool {
		return key == fenceKey || strings.HasPrefix(key, checkpoint.KeyPrefix)
	}})
	if err != nil {
		r.tb.Fatalf("comparing the source with the %s: %v", side, err)
	}
	return rep.Diffs
}

// diffText is a short account of an entry's differences.
func diffText(diffs []verify.Diff) string {
	parts := make([]string, 0, 3)
	for i, d := range diffs {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("(%d more)", len(diffs)-3))
			break
		}
		parts = append(parts, d.String())
	}
	return strings.Join(parts, "; ")
}
