package transform

import (
	"bytes"
	"strings"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/unholdable"
	"github.com/redferry/redferry/sink"
)

// TranslateOptions tune the Translator.
type TranslateOptions struct {
	ReplayPublish bool // replay PUBLISH/SPUBLISH on the target (default: drop them)
	// Source is what the source server is (zero: unknown). Some commands
	// mean different things on different versions: a 7.0+ source sends
	// XCLAIM of a deleted entry to drop it from the PEL, which 6.x keeps.
	Source server.Info
	// Rebuild tunes the commands that rebuild a RESTORE payload the target
	// cannot read (MaxArgs, MaxBytes).
	Rebuild RebuildOptions
	// Unholdable: what to do with commands writing data the target cannot
	// hold (default: stop); also for RESTORE payloads rebuilt by commands.
	Unholdable Unholdable
}

// Translator rewrites commands of the live stream for the target's version,
// by the rows of the translation table (translate_table.go).
type Translator struct {
	caps server.Info
	opt  TranslateOptions
	rows map[string][]translation // the table, by command name
	rb   *Rebuilder               // for RESTORE payloads the target cannot read
}

// NewTranslator returns a Translator for a target with caps.
func NewTranslator(caps server.Info, opt TranslateOptions) *Translator {
	t := &Translator{caps: caps, opt: opt, rows: map[string][]translation{}}
	for _, row := range translationTable() {
		t.rows[row.command] = append(t.rows[row.command], row)
	}
	return t
}

// call is one command being translated.
type call struct {
	name   string   // the command's name, lower case
	args   [][]byte // the command as the source propagated it, or as rewritten so far
	raw    []byte   // its exact RESP bytes; nil once rewritten
	offset int64
	b      *sink.Batch
	next   int // the command's table rows from this one on are still to apply
}

// Translate appends the command to b: raw (its exact RESP bytes, may be nil)
// when no rewrite is needed, else its equivalent for the target. It drops
// PING, REPLCONF, MULTI, EXEC and, unless ReplayPublish, PUBLISH; the caller
// keeps a source transaction within one batch, which the sink applies in one
// MULTI. Commands without a row in the table pass as they are. A command the
// target cannot hold gives an error wrapping ErrUnsupported that names the
// command, the key and the offset.
func (t *Translator) Translate(args [][]byte, raw []byte, offset int64, b *sink.Batch) error {
	if len(args) == 0 {
		return nil
	}
	var nameBuf [24]byte
	name := lower(nameBuf[:0], args[0])
	rows := t.rows[string(name)]
	i := t.rewriting(rows, 0, args)
	if i < 0 {
		t.add(args, raw, offset, b)
		return nil
	}
	c := &call{name: rows[0].command, args: args, raw: raw, offset: offset, b: b, next: i + 1}
	return rows[i].rewrite(t, c)
}

// rewriting returns the first of rows from index from on that rewrites
// args: whose form the command has and the target does not take. -1: none,
// the command goes as it is.
func (t *Translator) rewriting(rows []translation, from int, args [][]byte) int {
	for i := from; i < len(rows); i++ {
		row := rows[i]
		// Cheapest first: the target's answer, then the source's, then the form.
		if row.accepts != nil && row.accepts(t.caps) || row.when != nil && !row.when(t.opt.Source) ||
			row.match != nil && !row.match(args) {
			continue
		}
		return i
	}
	return -1
}

// again goes on with the rows after the current one, for args (the command
// with the current row's rewrite done): rewrites compose.
func (t *Translator) again(c *call, args [][]byte) error {
	c.args, c.raw = args, nil
	rows := t.rows[c.name]
	i := t.rewriting(rows, c.next, args)
	if i < 0 {
		return t.pass(c)
	}
	c.next = i + 1
	return rows[i].rewrite(t, c)
}

// pass sends the command as it is.
func (t *Translator) pass(c *call) error {
	t.add(c.args, c.raw, c.offset, c.b)
	return nil
}

// emit appends one command standing for c.
func (t *Translator) emit(c *call, args ...[]byte) { c.b.Add(c.offset, args...) }

// fail reports a command the target cannot take and no translation carries.
func (t *Translator) fail(c *call, why string) error {
	return unsupported(t.describe(c, why), c.key(), c.offset)
}

// unholdable decides, by the on-unholdable-* setting of kind k, what
// becomes of a command writing data the target cannot hold: an error
// (stop), or the action (skip, convert) for the caller to carry out.
func (t *Translator) unholdable(c *call, k unholdable.Kind, why string) (unholdable.Action, error) {
	return t.opt.Unholdable.decide(k, t.describe(c, why), c.key(), c.offset)
}

func (t *Translator) describe(c *call, why string) string {
	return strings.ToUpper(c.name) + " (" + why + ") on " + t.caps.String()
}

// key is the command's key; nil for FUNCTION (its first argument is a
// subcommand) and FCALL (a function name).
func (c *call) key() []byte {
	switch c.name {
	case "function", "fcall", "fcall_ro":
		return nil
	}
	return key(c.args)
}

func (t *Translator) add(args [][]byte, raw []byte, offset int64, b *sink.Batch) {
	if raw != nil {
		b.AddRaw(offset, raw)
	} else {
		b.Add(offset, args...)
	}
}

func key(args [][]byte) []byte {
	if len(args) > 1 {
		return args[1]
	}
	return nil
}

func lower(dst, s []byte) []byte {
	for _, c := range s {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

func is(a []byte, lowerName string) bool { return bytes.EqualFold(a, []byte(lowerName)) }

// isAny reports whether a is one of the lower-case names.
func isAny(a []byte, names ...string) bool {
	for _, n := range names {
		if is(a, n) {
			return true
		}
	}
	return false
}

// appendStripped appends args without the named options and their value.
func appendStripped(dst, args [][]byte, opts ...string) [][]byte {
	for i := 0; i < len(args); i++ {
		if isAny(args[i], opts...) {
			i++ // the option's value
			continue
		}
		dst = append(dst, args[i])
	}
	return dst
}

// without returns args without the n arguments from i on.
func without(args [][]byte, i, n int) [][]byte {
	out := make([][]byte, 0, len(args)-n)
	out = append(out, args[:i]...)
	return append(out, args[i+n:]...)
}

// withoutFlags returns args without the flags (no value) named, from index from on.
func withoutFlags(args [][]byte, from int, flags ...string) [][]byte {
	out := make([][]byte, 0, len(args))
	out = append(out, args[:min(from, len(args))]...)
	for _, a := range args[min(from, len(args)):] {
		if !isAny(a, flags...) {
			out = append(out, a)
		}
	}
	return out
}

// hasFlag reports whether one of args[from:] is one of the flags.
func hasFlag(args [][]byte, from int, flags ...string) bool {
	for i := from; i < len(args); i++ {
		if isAny(args[i], flags...) {
			return true
		}
	}
	return false
}

// word is a literal argument.
func word(s string) []byte { return []byte(s) }
