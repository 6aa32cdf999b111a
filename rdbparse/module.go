package rdbparse

import (
	"go.uber.org/zap"
)

// Module serialized value opcodes (rdb.h RDB_MODULE_OPCODE_*).
const (
	modEOF    = 0
	modSInt   = 1
	modUInt   = 2
	modFloat  = 3
	modDouble = 4
	modString = 5
)

const moduleCharset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// moduleName decodes the 9-character name packed into a module type id
// (the upper 54 bits, 6 bits a character; the low 10 bits are the encoding
// version).
func moduleName(dst []byte, id uint64) []byte {
	dst = dst[:0]
	for i := 0; i < 9; i++ {
		dst = append(dst, moduleCharset[(id>>(64-6*(i+1)))&63])
	}
	return dst
}

// skipModuleOpcodes consumes typed module values up to and including the
// EOF opcode.
func (d *Decoder) skipModuleOpcodes(what string) error {
	for {
		off := d.rd.off
		op, err := d.readLen(what + " opcode")
		if err != nil {
			return err
		}
		switch op {
		case modEOF:
			return nil
		case modSInt, modUInt:
			_, err = d.readLen(what + " integer")
		case modFloat:
			_, err = d.readN(4, what+" float")
		case modDouble:
			_, err = d.readN(8, what+" double")
		case modString:
			err = d.skipString(what + " string")
		default:
			return d.corrupt(off, "unknown module opcode %d in %s", op, what)
		}
		if err != nil {
			return err
		}
	}
}

// decodeModuleValue handles RDB_TYPE_MODULE_2: it emits the serialized
// value (module id, typed opcodes, EOF) as raw bytes.
func (d *Decoder) decodeModuleValue() error {
	off := d.rd.off
	d.rd.capture, d.rd.capBuf, d.rd.capErr = true, d.rd.capBuf[:0], false
	id, err := d.readLen("module id")
	if err == nil {
		err = d.skipModuleOpcodes("module value")
	}
	d.rd.capture = false
	if err != nil {
		return err
	}
	if d.rd.capErr {
		return d.corrupt(off, "module value larger than %d bytes", maxBlob)
	}
	if err := d.beginKey("raw", -1); err != nil {
		return err
	}
	d.nameBuf = moduleName(d.nameBuf, id)
	d.ev.Kind = KindModuleValue
	d.ev.Name = d.nameBuf
	d.ev.Value = d.rd.capBuf
	return d.emit()
}

// moduleAux skips a MODULE_AUX record (opcode 247): module id, the "when"
// opcode and value, then typed values up to EOF.
func (d *Decoder) moduleAux(off int64) error {
	id, err := d.readLen("module aux id")
	if err != nil {
		return err
	}
	woff := d.rd.off
	whenOp, err := d.readLen("module aux when opcode")
	if err != nil {
		return err
	}
	if whenOp != modUInt {
		return d.corrupt(woff, "module aux: when opcode %d (expected %d)", whenOp, modUInt)
	}
	if _, err := d.readLen("module aux when"); err != nil {
		return err
	}
	if err := d.skipModuleOpcodes("module aux"); err != nil {
		return err
	}
	d.nameBuf = moduleName(d.nameBuf, id)
	d.log.Debug("read past module aux data", zap.ByteString("module", d.nameBuf), zap.Int64("offset", off))
	d.reset(KindModuleAux, off)
	d.ev.Name = d.nameBuf
	return d.emit()
}

// keyMeta skips Redis 8.6's RDB_OPCODE_KEY_META (243) before a key: a count
// of classes, each a 4-byte class spec and a module-serialized value ending
// with the EOF opcode. The metadata belongs to modules; it is not replayed.
func (d *Decoder) keyMeta(off int64) error {
	n, err := d.count("key metadata class count")
	if err != nil {
		return err
	}
	if n > 64 {
		return d.corrupt(off, "key metadata: %d classes", n)
	}
	for i := uint64(0); i < n; i++ {
		if _, err := d.readN(4, "key metadata class spec"); err != nil {
			return err
		}
		if err := d.skipModuleOpcodes("key metadata"); err != nil {
			return err
		}
	}
	d.log.Warn("skipped key metadata (module key metadata classes)", zap.Int64("offset", off))
	return nil
}

// slotImport skips Valkey 9's RDB_OPCODE_SLOT_IMPORT (243): a job name and
// a count of slot ranges (from, to).
func (d *Decoder) slotImport(off int64) error {
	if err := d.skipString("slot import job"); err != nil {
		return err
	}
	n, err := d.count("slot import range count")
	if err != nil {
		return err
	}
	for i := uint64(0); i < 2*n; i++ {
		if _, err := d.readLen("slot import range"); err != nil {
			return err
		}
	}
	return nil
}
