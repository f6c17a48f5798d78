package receive

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"time"

	"github.com/coldsend/coldsend/stream"
)

// ProgressName is the file in the destination where a receive records,
// after every command it applies, which one that was: where an
// interrupted receive resumes.
const ProgressName = ".coldsend-progress"

// progressSize is the record's size: one small write, which a killed
// process cannot leave half done.
const progressSize = 64

// progressMagic opens the progress record.
const progressMagic = "CSRPROG1"

// syncEvery is how often the progress (and what it describes) is made
// durable, besides every subvolume boundary.
const syncEvery = 2 * time.Second

// Progress is the last command a receive applied.
type Progress struct {
	Offset  int64 // of the command in the input
	Index   int   // 1-based over the input
	Version uint32
	Cmd     stream.Cmd
	CRC     uint32
}

// progressFile keeps the record up to date.
type progressFile struct {
	f        *os.File
	dest     *os.Root
	lastSync time.Time
	buf      [progressSize]byte
}

func openProgress(dest *os.Root) (*progressFile, error) {
	f, err := dest.OpenFile(ProgressName, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return &progressFile{f: f, dest: dest, lastSync: time.Now()}, nil
}

// record notes that c was applied; sync makes it durable now.
func (p *progressFile) record(c *stream.Command, sync bool) error {
	b := p.buf[:]
	clear(b)
	copy(b, progressMagic)
	binary.LittleEndian.PutUint64(b[8:], uint64(c.Offset))
	binary.LittleEndian.PutUint64(b[16:], uint64(c.Index))
	binary.LittleEndian.PutUint32(b[24:], c.Version)
	binary.LittleEndian.PutUint16(b[28:], uint16(c.Cmd))
	binary.LittleEndian.PutUint32(b[32:], c.CRC)
	binary.LittleEndian.PutUint32(b[60:], crc32.ChecksumIEEE(b[:60]))
	if _, err := p.f.WriteAt(b, 0); err != nil {
		return err
	}
	if sync || time.Since(p.lastSync) >= syncEvery {
		// What the record says was applied must reach the disk first.
		if err := syncDest(p.dest); err != nil {
			return err
		}
		if err := p.f.Sync(); err != nil {
			return err
		}
		p.lastSync = time.Now()
	}
	return nil
}

// close ends the record: removed after a whole receive.
func (p *progressFile) close(done bool) error {
	err := p.f.Close()
	if done {
		if rerr := p.dest.Remove(ProgressName); err == nil {
			err = rerr
		}
	}
	return err
}

// readProgress reads the destination's progress record; nil if none.
func readProgress(dest *os.Root) (*Progress, error) {
	b, err := dest.ReadFile(ProgressName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, nil // made, and nothing applied yet
	}
	if len(b) < progressSize || string(b[:8]) != progressMagic || binary.LittleEndian.Uint32(b[60:]) != crc32.ChecksumIEEE(b[:60]) {
		return nil, fmt.Errorf("%s is damaged", ProgressName)
	}
	return &Progress{
		Offset:  int64(binary.LittleEndian.Uint64(b[8:])),
		Index:   int(binary.LittleEndian.Uint64(b[16:])),
		Version: binary.LittleEndian.Uint32(b[24:]),
		Cmd:     stream.Cmd(binary.LittleEndian.Uint16(b[28:])),
		CRC:     binary.LittleEndian.Uint32(b[32:]),
	}, nil
}

// ResumePoint returns where an interrupted receive into dest resumes: the
// offset of the last command it applied, which a resumed stream (send
// --resume-from) must start with, so that Receive with Options.Resume can
// check it continues the same stream; 0 when it stopped before applying
// any. ok is false when dest has nothing to resume.
func ResumePoint(dest string) (offset int64, ok bool, err error) {
	root, err := os.OpenRoot(dest)
	if err != nil {
		return 0, false, err
	}
	defer root.Close()
	p, err := readProgress(root)
	if err != nil {
		return 0, false, err
	}
	if p != nil {
		return p.Offset, true, nil
	}
	rec, err := loadRecord(root)
	if err != nil {
		return 0, false, err
	}
	for _, s := range rec.Subvolumes {
		if !s.Complete {
			return 0, true, nil
		}
	}
	return 0, false, nil
}
