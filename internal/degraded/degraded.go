package degraded

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/fixturecheck"
	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/internal/sendcheck"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// How a device is damaged.
type How string

const (
	Omitted How = "omitted" // not given to Open at all
	Zeroed  How = "zeroed"  // every byte zero but the superblock copies
	Random  How = "random"  // pseudo-random bytes but the superblock copies
)

// Damage is one degraded case: the devices (by devid) damaged, and how.
type Damage struct {
	Devids []uint64
	How    How
}

func (d Damage) String() string {
	ids := make([]string, len(d.Devids))
	for i, id := range d.Devids {
		ids[i] = fmt.Sprint(id)
	}
	return fmt.Sprintf("devid %s %s", strings.Join(ids, "+"), d.How)
}

// Cases lists the damage a profile with the given number of devices must
// survive: every device alone and, where the profile keeps two parities
// or three copies, every pair.
func Cases(profile string, devids []uint64, hows []How) []Damage {
	var sets [][]uint64
	for _, id := range devids {
		sets = append(sets, []uint64{id})
	}
	if profile == "raid6" || profile == "raid1c3" || profile == "raid1c4" {
		for i, a := range devids {
			for _, b := range devids[i+1:] {
				sets = append(sets, []uint64{a, b})
			}
		}
	}
	var out []Damage
	for _, s := range sets {
		for _, h := range hows {
			out = append(out, Damage{Devids: s, How: h})
		}
	}
	return out
}

// Applies reports whether the degraded checks can judge the scenario:
// several devices, all shipped, data, metadata and system profiles that
// keep every byte with a device gone, and every file's data checksummed
// (without a checksum a wiped copy of data cannot be told from a good one,
// by coldsend or the kernel).
func Applies(sc *manifest.Scenario) bool {
	ok := func(p string) bool {
		switch strings.ToLower(p) {
		case "raid1", "raid1c3", "raid1c4", "raid10", "raid5", "raid6":
			return true
		}
		return false
	}
	if len(sc.Devices) < 2 || len(sc.Missing) > 0 || !ok(sc.DataProfile) || !ok(sc.MetadataProfile) || !ok(sc.SystemProfile) {
		return false
	}
	for _, o := range []string{sc.KernelMountOptions, sc.MountOptions} {
		if strings.Contains(o, "nodatasum") || strings.Contains(o, "nodatacow") {
			return false
		}
	}
	const fsNoCOW = 0x00800000 // FS_NOCOW_FL
	for _, sv := range sc.Subvolumes {
		for _, e := range sv.Entries {
			if e.Flags&fsNoCOW != 0 {
				return false
			}
		}
	}
	return true
}

// wiped serves a device whose bytes were all replaced, except its
// superblock copies, which keep it a member of the filesystem.
type wiped struct {
	base   io.ReaderAt
	size   int64
	random bool
	seed   uint64
}

func (w *wiped) ReadAt(p []byte, off int64) (int, error) {
	if w.random {
		for i := range p {
			p[i] = noise(w.seed, uint64(off)+uint64(i))
		}
	} else {
		clear(p)
	}
	for _, sb := range ondisk.SuperblockOffsets {
		lo, hi := max(sb, off), min(sb+ondisk.SuperblockSize, off+int64(len(p)))
		if lo < hi {
			if _, err := w.base.ReadAt(p[lo-off:hi-off], lo); err != nil && !errors.Is(err, io.EOF) {
				return 0, err
			}
		}
	}
	if off+int64(len(p)) > w.size {
		n := max(w.size-off, 0)
		return int(n), io.EOF
	}
	return len(p), nil
}

// noise is a pseudo-random byte for position pos (splitmix64 of the 8-byte
// word, so reads at any offset agree).
func noise(seed, pos uint64) byte {
	z := seed + (pos>>3)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], z)
	return b[pos&7]
}

// Scenario is a fixture loaded once for many degraded opens.
type Scenario struct {
	Dir      string
	Manifest *manifest.Scenario
	devs     map[uint64]*volume.Device // intact, by devid
	streams  []fixturestreams.Stream
}

// Load reads the scenario in dir into memory.
func Load(dir string) (*Scenario, error) {
	sc, err := manifest.Load(dir)
	if err != nil {
		return nil, err
	}
	s := &Scenario{Dir: dir, Manifest: sc, devs: map[uint64]*volume.Device{}}
	for _, d := range sc.Devices {
		dev, err := imagefile.Load(filepath.Join(dir, d.File))
		if err != nil {
			return nil, err
		}
		s.devs[d.DevID] = dev
	}
	all, err := fixturestreams.Scenario(dir)
	if err != nil {
		return nil, err
	}
	for _, st := range all {
		if sendcheck.Supported(st) {
			s.streams = append(s.streams, st)
		}
	}
	return s, nil
}

// Devids lists the scenario's devices.
func (s *Scenario) Devids() []uint64 {
	var ids []uint64
	for _, d := range s.Manifest.Devices {
		ids = append(ids, d.DevID)
	}
	return ids
}

// Open opens the filesystem with damage applied; warnings are returned.
func (s *Scenario) Open(d Damage) (*fstree.FS, []string, error) {
	var devs []*volume.Device
	for _, id := range s.Devids() {
		dev := s.devs[id]
		if slices.Contains(d.Devids, id) {
			switch d.How {
			case Omitted:
				continue
			case Zeroed, Random:
				dev = &volume.Device{Name: dev.Name, Size: dev.Size, R: &wiped{base: dev.R, size: dev.Size, random: d.How == Random, seed: id}}
			}
		}
		devs = append(devs, dev)
	}
	var warns []string
	warn := func(w ondisk.Warning) { warns = append(warns, w.Msg) }
	fs, err := fstree.New(devs, fstree.Options{Warn: warn})
	return fs, warns, err
}

// Result counts what one damage case compared.
type Result struct {
	Files, Streams int
}

// Check opens the scenario with damage d and compares every entry (file
// contents by sha256) with the manifest and every supported kernel stream
// with sendgen's.
func (s *Scenario) Check(d Damage) (Result, error) {
	var r Result
	fs, warns, err := s.Open(d)
	if err != nil {
		return r, fmt.Errorf("%s: opening: %w", d, err)
	}
	if diffs := fixturecheck.Compare(fs, s.Manifest); len(diffs) > 0 {
		return r, fmt.Errorf("%s: %d difference(s) from the kernel's reading:\n  %s", d, len(diffs), strings.Join(diffs, "\n  "))
	}
	for _, sv := range s.Manifest.Subvolumes {
		for _, e := range sv.Entries {
			if e.Type == "file" {
				r.Files++
			}
		}
	}
	for _, st := range s.streams {
		if err := sendcheck.Stream(fs, st); err != nil {
			return r, fmt.Errorf("%s: %w", d, err)
		}
		r.Streams++
	}
	if d.How == Omitted {
		all := strings.Join(warns, "\n")
		for _, id := range d.Devids {
			if !strings.Contains(all, fmt.Sprintf("devid %d", id)) {
				return r, fmt.Errorf("%s: the missing device was not reported; warnings %q", d, warns)
			}
		}
	}
	return r, nil
}

// CheckAll runs every case of the scenario in dir that Applies to: each
// device (RAID6, RAID1C3/C4: each pair too) omitted, zeroed and random. It
// returns how many cases ran and what they compared, or the first failure.
func CheckAll(dir string) (cases int, total Result, err error) {
	s, err := Load(dir)
	if err != nil {
		return 0, total, err
	}
	if !Applies(s.Manifest) {
		return 0, total, nil
	}
	for _, d := range Cases(s.Manifest.DataProfile, s.Devids(), []How{Omitted, Zeroed, Random}) {
		r, err := s.Check(d)
		if err != nil {
			return cases, total, fmt.Errorf("%s: %w", s.Manifest.Name, err)
		}
		cases++
		total.Files += r.Files
		total.Streams += r.Streams
	}
	return cases, total, nil
}
