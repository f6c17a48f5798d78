package receive

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// RecordName is the file in the destination that lists what it received.
const RecordName = ".coldsend-received.json"

// Received is one subvolume a destination received.
type Received struct {
	Name string `json:"name"` // directory under the destination
	// UUID and Ctransid are the stream's (the sender's uuid or received
	// uuid, and ctransid): what a later SNAPSHOT or CLONE names.
	UUID           string `json:"uuid"`
	Ctransid       uint64 `json:"ctransid"`
	ParentUUID     string `json:"parent_uuid,omitempty"`
	ParentCtransid uint64 `json:"parent_ctransid,omitempty"`
	// Complete is set at the stream's END: until then the directory is
	// a partial receive, never a parent.
	Complete bool `json:"complete"`
	// InPlaceOf is the parent an --in-place receive renamed to this one.
	InPlaceOf  string    `json:"in_place_of,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
	// BeganAt is the input offset of the SUBVOL or SNAPSHOT command that
	// began it: a resumed receive whose progress record predates it knows
	// the subvolume before had ended.
	BeganAt int64 `json:"began_at"`
}

// record is the destination's list, kept in RecordName.
type record struct {
	Version    int         `json:"version"`
	Subvolumes []*Received `json:"subvolumes"`
}

const recordVersion = 1

// loadRecord reads the record of the destination root (empty if none).
func loadRecord(dest *os.Root) (*record, error) {
	b, err := dest.ReadFile(RecordName)
	if errors.Is(err, fs.ErrNotExist) {
		return &record{Version: recordVersion}, nil
	}
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", RecordName, err)
	}
	if r.Version != recordVersion {
		return nil, fmt.Errorf("%s: version %d, this coldsend reads version %d", RecordName, r.Version, recordVersion)
	}
	return &r, nil
}

// save writes the record atomically: a temporary file, synced, renamed
// over the old one.
func (r *record) save(dest *os.Root) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := RecordName + ".tmp"
	f, err := dest.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return dest.Rename(tmp, RecordName)
}

// byName finds the entry for directory name.
func (r *record) byName(name string) *Received {
	for _, s := range r.Subvolumes {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// remove drops the entry for name.
func (r *record) remove(name string) {
	for i, s := range r.Subvolumes {
		if s.Name == name {
			r.Subvolumes = append(r.Subvolumes[:i], r.Subvolumes[i+1:]...)
			return
		}
	}
}
