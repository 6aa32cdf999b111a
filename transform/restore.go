package transform

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/unholdable"
	"github.com/redferry/redferry/rdbparse"
	"github.com/redferry/redferry/sink"
)

// Replay modes: how the keys of a snapshot are written to the target.
const (
	// ModeAuto RESTOREs a key when the value is at most RestoreAutoMax
	// bytes: its own payload when the target reads the snapshot's RDB
	// version, else (an older target, or Redis ↔ Valkey) the value
	// re-encoded into RDB types the target loads, with its version
	// (strings, lists, sets, sorted sets, hashes without field TTLs,
	// streams; see payloadEncoder). Other keys are rebuilt by commands.
	ModeAuto = "auto"
	// ModeCommands rebuilds every key element by element.
	ModeCommands = "commands"
	// ModeRestore RESTOREs every key up to RestoreMax bytes (a bigger one is
	// an error); a target older than the snapshot's RDB version is rebuilt
	// by commands all the same.
	ModeRestore = "restore"
)

const (
	// RestoreAutoMax: in auto mode, a serialized value up to this size goes
	// as one RESTORE; memory then holds at most this much of it plus as
	// much of the commands built meanwhile in case it turns out bigger (a
	// key whose commands outgrow this is rebuilt by them, even if its
	// compact serialized form would have fit).
	RestoreAutoMax = 4 << 20
	// RestoreMax is Redis' proto-max-bulk-len: no server takes a bigger
	// RESTORE payload by default.
	RestoreMax = 512 << 20

	// smallString: in auto mode, strings up to this size are SET, not RESTOREd.
	smallString = 4096
)

// RestoreOptions tune a Restorer.
type RestoreOptions struct {
	Mode        string // ModeAuto (default), ModeCommands, ModeRestore
	DeleteFirst bool   // as RebuildOptions.DeleteFirst; RESTORE then also says REPLACE
	// Unholdable: what to do with data the target cannot hold, module
	// values included (default: stop).
	Unholdable Unholdable
	// ProbeRestore tells whether the target can load a payload (see
	// Standalone.ProbeRestore); asked once per module, at its first value.
	// nil: the target loads no module value.
	ProbeRestore func(payload []byte) (ok bool, reason string, err error)
	// RefuseDuplicates makes the target refuse (BUSYKEY) a key the
	// snapshot stores twice in a db, as Redis refuses such a file. For a
	// target that held none of the snapshot's keys; ignored with DeleteFirst.
	RefuseDuplicates bool
	Logger           *zap.Logger
}

// RestoreStats counts how the keys went.
type RestoreStats struct {
	Restored, Rebuilt, SkippedModule int64
	// Reencoded counts the Restored keys whose value was re-encoded for
	// the target (its RESTORE cannot read the snapshot's version).
	Reencoded int64
	// SkippedEmpty counts keys with no element, left out as Redis does.
	SkippedEmpty int64
	// SkippedModuleAux counts module aux records left out (on-unholdable-module = skip).
	SkippedModuleAux int64
	// Guarded counts keys written behind a duplicate guard (RefuseDuplicates).
	Guarded int64
}

// Restorer writes each key of a snapshot either as one RESTORE of its
// serialized value (exact: encodings, LRU/LFU, stream PELs naming deleted
// entries, hash field TTLs, module values) or, where RESTORE is not
// possible, through a Rebuilder. Feed it a decoder whose
// Options.CaptureRaw is CaptureLimit().
//
// A key that may go as RESTORE is rebuilt into a scratch batch meanwhile:
// if its value turns out too big to have been captured, the scratch
// commands are used, so no key is ever decoded twice.
type Restorer struct {
	rb   *Rebuilder
	caps server.Info
	opt  RestoreOptions
	log  *zap.Logger

	version int  // the snapshot's RDB version (VALKEY080: 80)
	allowed bool // the target's RESTORE reads this version, and the mode wants it
	// reencode: the target's RESTORE cannot read this version, and the
	// mode (auto) wants keys re-encoded for it (enc) where they can be.
	reencode bool
	enc      payloadEncoder
	// encoding: the current key goes to enc, not to the Rebuilder (no
	// scratch: should enc give up, it replays what it holds into commands).
	encoding bool

	scratch   sink.Batch
	inScratch bool              // the current key's commands go to scratch
	skipKey   bool              // the current key is dropped (unknown module, skip)
	module    []byte            // the current key's module value, RESTOREd at its end
	modules   map[string]string // module type name -> "" (loadable) or the target's reason
	seen      *keyFilter        // keys written so far (RefuseDuplicates)
	// moduleVersion is the RDB version of module's payload: the snapshot's,
	// or the target's for a vector set converted for it (vectorSetFor).
	moduleVersion int
	// scratchErr is the first error rebuilding the current key into
	// scratch: returned unless the key goes as RESTORE.
	scratchErr error

	Stats RestoreStats
}

// NewRestorer returns a Restorer for a target with caps.
func NewRestorer(caps server.Info, ropt RebuildOptions, opt RestoreOptions) *Restorer {
	if opt.Mode == "" {
		opt.Mode = ModeAuto
	}
	if opt.Logger == nil {
		opt.Logger = zap.NewNop()
	}
	ropt.DeleteFirst = opt.DeleteFirst
	ropt.Unholdable = opt.Unholdable
	return &Restorer{rb: NewRebuilder(caps, ropt), caps: caps, opt: opt, log: opt.Logger.With(zap.String("stage", "restore"))}
}

// CaptureLimit is the Options.CaptureRaw the decoder needs.
func (r *Restorer) CaptureLimit() int {
	switch r.opt.Mode {
	case ModeCommands:
		return 0
	case ModeRestore:
		return RestoreMax
	}
	return RestoreAutoMax
}

// DB and SetDB are the Rebuilder's.
func (r *Restorer) DB() int           { return r.rb.DB() }
func (r *Restorer) SetDB(db int)      { r.rb.SetDB(db) }
func (r *Restorer) Version() int      { return r.version }
func (r *Restorer) UsesRestore() bool { return r.allowed }

// Handle appends the commands for e to b.
func (r *Restorer) Handle(e *rdbparse.Event, b *sink.Batch) error {
	switch e.Kind {
	case rdbparse.KindHeader:
		r.version = e.Version
		r.allowed = r.opt.Mode != ModeCommands && r.caps.AcceptsRDB(e.Version)
		r.reencode = r.opt.Mode == ModeAuto && !r.allowed
		r.enc.limit = RestoreAutoMax
		r.enc.streamType = streamTypeFor(r.caps.RDBVersion())
		switch {
		case r.reencode:
			r.log.Info("the target's RESTORE cannot read this snapshot's RDB version: re-encoding strings, lists, sets, sorted sets, hashes and streams for it, rebuilding other keys by commands",
				zap.String("magic", e.Magic), zap.Int("rdb_version", e.Version), zap.Int("target_rdb_version", r.caps.RDBVersion()),
				zap.Stringer("target", r.caps))
		case r.opt.Mode != ModeCommands && !r.allowed:
			r.log.Info("the target's RESTORE cannot read this snapshot's RDB version: rebuilding every key by commands",
				zap.String("magic", e.Magic), zap.Int("rdb_version", e.Version), zap.Stringer("target", r.caps))
		}
		return nil
	case rdbparse.KindKey:
		r.skipKey, r.module, r.scratchErr = false, r.module[:0], nil
		r.inScratch = r.allowed || r.reencode
		if e.Type == rdbparse.TypeString && e.Len > int64(r.CaptureLimit()) {
			r.inScratch = false // its length says it cannot be captured
		}
		if r.opt.Mode != ModeRestore && e.Type == rdbparse.TypeString && e.Len >= 0 && e.Len <= smallString &&
			e.Idle < 0 && e.Freq < 0 {
			// A small string costs the target less as SET than as RESTORE,
			// and has nothing (no LRU/LFU) that only RESTORE keeps.
			r.inScratch = false
		}
		r.encoding = r.inScratch && r.reencode && r.enc.begin(e.Type)
		if r.reencode && (!r.encoding || e.Type != rdbparse.TypeStream) {
			// A stream goes on being rebuilt into scratch, as the encoder
			// cannot give its events back (see stopEncoding).
			r.inScratch = false
		}
		if !r.encoding {
			r.enc.abandon()
		}
		r.scratch.Reset()
		r.rb.releaseNotes(false)
		r.rb.holdNotes = r.inScratch              // counted once the key turns out rebuilt
		if err := r.rb.Handle(e, b); err != nil { // SELECT, DEL: needed either way
			return err
		}
		r.guardDuplicate(e, b)
		return nil
	case rdbparse.KindModuleValue:
		return r.moduleValue(e)
	case rdbparse.KindModuleAux:
		return r.moduleAux(e)
	case rdbparse.KindKeyEnd:
		if e.Empty {
			return r.skipEmpty(e)
		}
		return r.endKey(e, b)
	}
	if !e.Kind.InKey() {
		return r.rb.Handle(e, b)
	}
	if r.skipKey {
		return nil
	}
	if r.encoding && !r.inScratch {
		if r.enc.add(e) {
			return nil
		}
		return r.stopEncoding(e, b)
	}
	if !r.inScratch {
		return r.rb.Handle(e, b)
	}
	if r.opt.Mode == ModeRestore {
		return nil // the value is RESTOREd or the key fails: no commands
	}
	if r.encoding && !r.enc.add(e) {
		r.encoding = false // an IDMP state, or too big: rebuilt by the scratch commands
		r.enc.abandon()
	}
	if err := r.rb.Handle(e, &r.scratch); err != nil && r.scratchErr == nil {
		// Only an error if the key is not RESTOREd after all (its value
		// may hold what RESTORE copies and commands cannot).
		r.scratchErr = err
	}
	if r.scratch.Size() > RestoreAutoMax {
		// Too big to have been captured: go on with commands.
		if r.scratchErr != nil {
			return r.scratchErr
		}
		b.Append(&r.scratch)
		r.scratch.Reset()
		r.inScratch, r.encoding = false, false
		r.enc.abandon()
		r.rb.releaseNotes(true)
	}
	return nil
}

// stopEncoding: the current key cannot be re-encoded after all (a hash
// field TTL, or a value over RestoreAutoMax): the elements encoded so far,
// then e, are rebuilt by commands, and so is the rest of the key.
func (r *Restorer) stopEncoding(e *rdbparse.Event, b *sink.Batch) error {
	r.encoding = false
	err := r.enc.replay(e, func(el *rdbparse.Event) error { return r.rb.Handle(el, b) })
	r.enc.abandon()
	if err != nil {
		return err
	}
	return r.rb.Handle(e, b)
}

func (r *Restorer) moduleValue(e *rdbparse.Event) error {
	value, version, _, err := vectorSetFor(r.caps, string(e.Name), e.Value, r.version)
	if err != nil {
		return r.unknownModule(e, fmt.Sprintf("module value (module %q) on %s: %v", e.Name, r.caps, err))
	}
	if !r.caps.AcceptsRDB(version) {
		return r.unknownModule(e, fmt.Sprintf("module value (module %q) into %s, whose RESTORE cannot read RDB version %d", e.Name, r.caps, r.version))
	}
	r.module = append(append(r.module[:0], e.TypeByte), value...)
	r.moduleVersion = version
	reason, known := r.modules[string(e.Name)]
	if !known {
		reason = "no way to ask the target"
		if r.opt.ProbeRestore != nil {
			ok, why, err := r.opt.ProbeRestore(AppendDumpPayload(nil, r.module, r.moduleVersion))
			if err != nil {
				return fmt.Errorf("sink: trying a module value (module %q) on the target: %w", e.Name, err)
			}
			reason = why
			if ok {
				reason = ""
			}
		}
		if r.modules == nil {
			r.modules = map[string]string{}
		}
		r.modules[string(e.Name)] = reason
	}
	if reason != "" {
		r.module = r.module[:0]
		return r.unknownModule(e, fmt.Sprintf("module value (module %q) that %s cannot load (%s)", e.Name, r.caps, reason))
	}
	return nil
}

// unknownModule: a module value the target cannot load is a stop (load the
// module into the target, or set on-unholdable-module) or left out.
func (r *Restorer) unknownModule(e *rdbparse.Event, what string) error {
	if _, err := r.opt.Unholdable.decide(unholdable.Module, what, e.Key, e.Offset); err != nil {
		return fmt.Errorf("%w (or load the module into the target)", err)
	}
	r.skipKey = true
	r.Stats.SkippedModule++
	return nil
}

func (r *Restorer) endKey(e *rdbparse.Event, b *sink.Batch) error {
	var payload []byte
	version := r.version
	switch {
	case r.skipKey:
	case len(r.module) > 0:
		payload, version = r.module, r.moduleVersion
	case r.encoding:
		payload, version = r.enc.value(), r.caps.RDBVersion()
		r.encoding = false
		r.Stats.Reencoded++
	case r.inScratch && r.allowed && e.Raw != nil:
		payload = e.Raw
	case r.inScratch && r.opt.Mode == ModeRestore:
		return fmt.Errorf("sink: key %q (snapshot byte %d) is larger than %d bytes, too big for one RESTORE: use replay-mode = \"auto\"",
			e.Key, e.Offset, RestoreMax)
	}
	if payload != nil || r.skipKey {
		// Close the Rebuilder's key; its commands are not needed.
		r.scratch.Reset()
		err := r.rb.Handle(e, &r.scratch)
		r.scratch.Reset()
		r.rb.releaseNotes(false) // nothing skipped or converted: RESTOREd, or left out whole
		if err != nil || r.skipKey {
			return err
		}
		r.restore(e, payload, version, b)
		r.Stats.Restored++
		return nil
	}
	r.Stats.Rebuilt++
	r.rb.releaseNotes(true)
	if r.inScratch {
		if r.scratchErr != nil {
			return r.scratchErr
		}
		if err := r.rb.Handle(e, &r.scratch); err != nil {
			return err
		}
		b.Append(&r.scratch)
		r.scratch.Reset()
		r.inScratch = false
		return nil
	}
	return r.rb.Handle(e, b)
}

// restore appends RESTORE key ttl payload ABSTTL [IDLETIME s|FREQ f] [REPLACE].
func (r *Restorer) restore(e *rdbparse.Event, value []byte, version int, b *sink.Batch) {
	n := 5
	if e.Idle >= 0 || e.Freq >= 0 {
		n += 2
	}
	if r.opt.DeleteFirst {
		n++
	}
	b.BeginCommand(n)
	b.Arg([]byte("RESTORE"))
	b.Arg(e.Key)
	b.Arg(strconv.AppendInt(nil, max(e.ExpireAt, 0), 10))
	b.ArgFunc(len(value)+10, func(dst []byte) []byte { return AppendDumpPayload(dst, value, version) })
	b.Arg([]byte("ABSTTL"))
	switch {
	case e.Idle >= 0:
		b.Arg([]byte("IDLETIME"))
		b.Arg(strconv.AppendInt(nil, e.Idle, 10))
	case e.Freq >= 0:
		b.Arg([]byte("FREQ"))
		b.Arg(strconv.AppendInt(nil, int64(e.Freq), 10))
	}
	if r.opt.DeleteFirst {
		b.Arg([]byte("REPLACE"))
	}
	b.EndCommand(e.Offset)
}

// AppendDumpPayload appends the DUMP/RESTORE payload of value (the type
// byte and the serialized value, as stored in an RDB): value, the RDB
// version as 2 bytes little endian, and the CRC64 of all that, little endian.
func AppendDumpPayload(dst, value []byte, version int) []byte {
	start := len(dst)
	dst = append(dst, value...)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(version))
	return binary.LittleEndian.AppendUint64(dst, rdbparse.CRC64(0, dst[start:]))
}
