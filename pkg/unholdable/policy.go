// Package unholdable names the kinds of data a target may be unable to
// hold (functions on Redis 6.x, hash field TTLs before Redis 7.4 / Valkey
// 9.0, module values such as vector sets outside Redis 8, the idempotent
// ids of Redis 8.6 streams on targets without XADD IDMP), what to do with
// each (stop, skip, convert: the on-unholdable-* settings), and counts and
// logs what was skipped or converted. The sync (package transform) and
// `redferry verify` (package verify) read the same Policy: what the sync
// leaves out or converts, verify reports as an expected difference.
package unholdable

import (
	"errors"
	"fmt"
	"strings"
)

// Kind is a kind of data some targets cannot hold.
type Kind string

// The kinds.
const (
	// Functions: libraries (FUNCTION LOAD, snapshot function records) on a
	// target without functions (Redis 6.x).
	Functions Kind = "functions"
	// FieldTTL: hash field TTLs on a target without them (before Redis 7.4
	// and Valkey 9.0).
	FieldTTL Kind = "field-ttl"
	// Module: module values (vector sets outside Redis 8, any module the
	// target lacks) and module aux data.
	Module Kind = "module"
	// IDMP: the idempotent ids of Redis 8.6 streams (XADD IDMP, IDMPAUTO,
	// XIDMPRECORD) on a target that cannot record them.
	IDMP Kind = "idmp"
)

// Kinds lists every kind, in the order settings and metrics show them.
var Kinds = []Kind{Functions, FieldTTL, Module, IDMP}

// Action is what happens to data of a kind the target cannot hold.
type Action string

// The actions.
const (
	// Stop: the sync stops with an error naming the key, the command or
	// record, and the source offset (the default).
	Stop Action = "stop"
	// Skip: the data is left out (see Kind.Effect), counted and logged.
	Skip Action = "skip"
	// Convert: the data is kept in a form the target holds, without what
	// it cannot hold (see Kind.Effect), counted and logged.
	Convert Action = "convert"
)

// Setting is the name of the kind's setting: on-unholdable-field-ttl.
func (k Kind) Setting() string { return "on-unholdable-" + string(k) }

// Actions are the actions the kind allows, Stop first.
func (k Kind) Actions() []Action {
	switch k {
	case FieldTTL, IDMP:
		return []Action{Stop, Skip, Convert}
	}
	return []Action{Stop, Skip}
}

// Allows reports whether a is one of the kind's actions.
func (k Kind) Allows(a Action) bool {
	for _, x := range k.Actions() {
		if x == a {
			return true
		}
	}
	return false
}

// Effect says what action a does to data of the kind.
func (k Kind) Effect(a Action) string {
	switch {
	case a == Stop:
		return "stop the sync"
	case k == Functions && a == Skip:
		return "leave the libraries out (FUNCTION commands and snapshot functions are dropped)"
	case k == FieldTTL && a == Skip:
		return "leave out the hash fields that carry a TTL"
	case k == FieldTTL && a == Convert:
		return "keep the hash fields without their TTLs"
	case k == Module && a == Skip:
		return "leave the module's keys and aux data out"
	case k == IDMP && a == Skip:
		return "leave out the stream entries added with XADD IDMP"
	case k == IDMP && a == Convert:
		return "keep the stream entries without their idempotent ids"
	}
	return string(a)
}

// Hint tells how to go on past a stop: the setting and its other values.
func (k Kind) Hint() string {
	var alts []string
	for _, a := range k.Actions()[1:] {
		alts = append(alts, fmt.Sprintf("%q to %s", a, k.Effect(a)))
	}
	return fmt.Sprintf("set %s = %s", k.Setting(), strings.Join(alts, ", or "))
}

// Policy is the action for each kind; an empty action is Stop.
type Policy struct {
	Functions, FieldTTL, Module, IDMP Action
}

// Action returns the action for k.
func (p Policy) Action(k Kind) Action {
	var a Action
	switch k {
	case Functions:
		a = p.Functions
	case FieldTTL:
		a = p.FieldTTL
	case Module:
		a = p.Module
	case IDMP:
		a = p.IDMP
	}
	if a == "" {
		return Stop
	}
	return a
}

// Set sets the action for k.
func (p *Policy) Set(k Kind, a Action) {
	switch k {
	case Functions:
		p.Functions = a
	case FieldTTL:
		p.FieldTTL = a
	case Module:
		p.Module = a
	case IDMP:
		p.IDMP = a
	}
}

// Validate reports every action a kind does not allow, by setting name.
func (p Policy) Validate() error {
	var errs []error
	for _, k := range Kinds {
		if a := p.Action(k); !k.Allows(a) {
			var names []string
			for _, x := range k.Actions() {
				names = append(names, string(x))
			}
			errs = append(errs, fmt.Errorf("%s: %q is not one of %s", k.Setting(), a, strings.Join(names, ", ")))
		}
	}
	return errors.Join(errs...)
}

// Expected is how a difference this policy explains is labelled: the
// setting and its action, e.g. `on-unholdable-field-ttl = convert`. ""
// for Stop: a difference of a kind the sync stops on is never expected.
func (p Policy) Expected(k Kind) string {
	a := p.Action(k)
	if a == Stop {
		return ""
	}
	return k.Setting() + " = " + string(a)
}
