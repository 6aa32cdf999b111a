package fidelity

import (
	"regexp"
	"slices"
	"strconv"
)

// play runs one entry on the source and waits for redferry to apply it.
// When redferry stops, its error names the source offset of the command it
// stopped on: that offset tells which entry stopped it. An error inside a
// transaction can leave the rest of the batch applied (the fence too), so
// the entry at fault may be the one before; this one is then played again
// in the new run.
func (r *pairRun) play(e Entry) { r.playOnce(e, true) }

func (r *pairRun) playOnce(e Entry, retry bool) {
	start := r.sourceOffset()
	refusal := r.runOnSource(e)
	r.spans = append(r.spans, span{entry: e.Name, from: start, to: r.sourceOffset()})
	stop := r.fence(r.opt.ApplyTimeout)
	if stop == nil {
		if refusal != "" {
			r.set(e.Name, NotApplicable, refusal)
		} else {
			r.segment = append(r.segment, e.Name)
		}
		return
	}
	culprit := r.blame(stop, e.Name)
	if culprit == e.Name && refusal != "" {
		r.set(e.Name, NotApplicable, refusal+"; redferry stopped on what the source did accept: "+stop.msg)
	}
	r.endSegment(nil)
	r.restart()
	if culprit != e.Name && retry && r.broken == "" {
		r.playOnce(e, false)
	}
}

// blame gives the entry at the offset redferry's error names (else
// fallback) its stop outcome, and takes it out of the segment.
func (r *pairRun) blame(stop *stopInfo, fallback string) string {
	culprit := r.entryAt(stop.msg)
	if culprit == "" {
		culprit = fallback
	}
	o := StoppedUnclear
	if stop.exited && namesCommand(stop.msg, r.commands) {
		o = Stopped
	}
	r.segment = slices.DeleteFunc(r.segment, func(n string) bool { return n == culprit })
	r.set(culprit, o, stop.msg)
	return culprit
}

// finish checks that redferry still runs after the last entry: a failure
// inside a transaction lets the batch (and the fence) apply before it
// exits.
func (r *pairRun) finish() {
	if r.broken != "" {
		return
	}
	if stop := r.fence(r.opt.ApplyTimeout); stop != nil {
		if last := len(r.spans) - 1; last >= 0 {
			r.blame(stop, r.spans[last].entry)
		}
	}
}

// span is the source offsets an entry's commands took: (from, to].
type span struct {
	entry    string
	from, to int64
}

var offsetInError = regexp.MustCompile(`\b(?:source|stream) offset (\d+)`)

// entryAt finds the entry whose commands hold the source offset named in
// redferry's error ("" when it names none, or one outside every entry).
func (r *pairRun) entryAt(msg string) string {
	m := offsetInError.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	off, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return ""
	}
	for i := len(r.spans) - 1; i >= 0; i-- {
		if sp := r.spans[i]; sp.from < off && off <= sp.to {
			return sp.entry
		}
	}
	return ""
}
