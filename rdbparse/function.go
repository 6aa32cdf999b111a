package rdbparse

// functionPreGA reads a function library record of the Redis 7.0 release
// candidates (opcode 246): the library name, the engine name, a flag and
// maybe a description, then the code. Redis 7.0 GA loads it as the library
// "#!<engine> name=<library>\n<code>" and drops the description; Redis 7.2
// and later refuse it. It is emitted as that KindFunction.
func (d *Decoder) functionPreGA(off int64) error {
	var err error
	if d.nameBuf, err = d.readString(d.nameBuf, "pre-GA function library name"); err != nil {
		return err
	}
	if d.blobBuf, err = d.readString(d.blobBuf, "pre-GA function engine name"); err != nil {
		return err
	}
	hasDesc, err := d.readLen("pre-GA function description flag")
	if err != nil {
		return err
	}
	if hasDesc != 0 {
		if err := d.skipString("pre-GA function description"); err != nil {
			return err
		}
	}
	if d.valBuf, err = d.readString(d.valBuf, "pre-GA function code"); err != nil {
		return err
	}
	d.reset(KindFunction, off)
	d.arena = append(append(d.arena[:0], "#!"...), d.blobBuf...)
	d.arena = append(append(d.arena, " name="...), d.nameBuf...)
	d.arena = append(append(d.arena, '\n'), d.valBuf...)
	d.ev.Value = d.arena
	return d.emit()
}
