package receive

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/coldsend/coldsend/stream"
)

// subvol begins a full stream: DEST/<name>, empty. The record lists it
// (incomplete) before the directory exists, so that an interruption at any
// point leaves something a resumed receive recognises.
func (r *receiver) subvol(c *stream.Command) error {
	name, _, err := r.begin(c)
	if err != nil {
		return err
	}
	e := r.newEntry(name, c, "", 0)
	if err := r.rec.save(r.dest); err != nil {
		return err
	}
	// A new subvolume's root directory is 0755, as btrfs makes it; the
	// stream's CHMOD and CHOWN follow.
	if err := r.dest.Mkdir(name, 0o755); err != nil {
		return err
	}
	return r.open(e)
}

// snapshot begins an incremental stream: DEST/<name> as a copy of the
// parent the stream names, found among the complete subvolumes DEST
// received by uuid and ctransid.
func (r *receiver) snapshot(c *stream.Command) error {
	name, movedAlready, err := r.begin(c)
	if err != nil {
		return err
	}
	uuid, ctransid := c.UUID(stream.AttrCloneUUID).String(), c.U64(stream.AttrCloneCtransid)
	if movedAlready {
		// An interrupted --in-place receive renamed the parent already.
		e := r.rec.byName(name)
		r.rec.remove(e.InPlaceOf)
		return r.open(e)
	}
	parent, err := r.findSubvol(uuid, ctransid, "parent")
	if err != nil {
		return err
	}
	e := r.newEntry(name, c, uuid, ctransid)
	if r.opts.InPlace {
		e.InPlaceOf = parent.Name
	}
	if err := r.rec.save(r.dest); err != nil {
		return err
	}
	if r.opts.InPlace {
		if err := r.dest.Rename(parent.Name, name); err != nil {
			return err
		}
		r.rec.remove(parent.Name)
	} else {
		if err := r.dest.Mkdir(name, 0o700); err != nil {
			return err
		}
		reflinked, err := copyTree(r.dest, parent.Name, name)
		if err != nil {
			return fmt.Errorf("copying the parent %s to %s: %w", parent.Name, name, err)
		}
		if !reflinked {
			r.skip(SkipReflink, nil)
		}
	}
	return r.open(e)
}

// begin checks that no subvolume is open and that the new one's name is
// free. Resuming, a subvolume an interrupted receive began is removed to
// begin again, unless it is the parent an --in-place receive had already
// renamed (movedAlready).
func (r *receiver) begin(c *stream.Command) (name string, movedAlready bool, err error) {
	if r.cur != nil {
		// btrfs send -e joins subvolumes with no END between them: the
		// next one begins where the last one ended.
		if err := r.end(); err != nil {
			return "", false, err
		}
	}
	name, err = subvolName(c.CString(stream.AttrPath))
	if err != nil {
		return "", false, err
	}
	if e := r.rec.byName(name); r.replay && e != nil && !e.Complete {
		if _, err := r.dest.Lstat(name); e.InPlaceOf != "" && err == nil {
			return name, true, nil
		}
		if err := r.dest.RemoveAll(name); err != nil {
			return "", false, err
		}
		r.rec.remove(name)
	}
	if _, err := r.dest.Lstat(name); err == nil {
		return "", false, fmt.Errorf("%s/%s already exists", r.destName, name)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	if r.opts.Log != nil {
		what := "subvol"
		if c.Cmd == stream.CmdSnapshot {
			what = "snapshot"
		}
		fmt.Fprintf(r.opts.Log, "At %s %s\n", what, name)
	}
	return name, false, nil
}

// newEntry adds the new subvolume to the record, incomplete.
func (r *receiver) newEntry(name string, c *stream.Command, parentUUID string, parentCtransid uint64) *Received {
	e := &Received{Name: name, UUID: c.UUID(stream.AttrUUID).String(), Ctransid: c.U64(stream.AttrCtransid),
		ParentUUID: parentUUID, ParentCtransid: parentCtransid, ReceivedAt: time.Now().UTC(), BeganAt: c.Offset}
	r.rec.remove(name) // a stale entry, its directory removed by hand
	r.rec.Subvolumes = append(r.rec.Subvolumes, e)
	return e
}

// open makes e's directory the subvolume being received.
func (r *receiver) open(e *Received) error {
	root, err := r.dest.OpenRoot(e.Name)
	if err != nil {
		return err
	}
	r.cur = &subvolume{root: root, entry: e}
	r.sum.Subvolumes = append(r.sum.Subvolumes, e.Name)
	return r.rec.save(r.dest)
}

// end completes the current subvolume.
func (r *receiver) end() error {
	if r.cur == nil {
		return errors.New("END outside a subvolume")
	}
	if err := r.closeWrite(); err != nil {
		return err
	}
	r.cur.entry.Complete = true
	err := r.rec.save(r.dest)
	r.closeSubvol()
	r.replay = false
	return err
}

// findSubvol finds the complete received subvolume with the stream uuid
// and ctransid a SNAPSHOT or CLONE names.
func (r *receiver) findSubvol(uuid string, ctransid uint64, what string) (*Received, error) {
	var incomplete, other *Received
	for _, s := range r.rec.Subvolumes {
		switch {
		case s.UUID != uuid:
		case !s.Complete:
			incomplete = s
		case s.Ctransid != ctransid:
			other = s
		default:
			return s, nil
		}
	}
	switch {
	case other != nil:
		return nil, fmt.Errorf("the %s (uuid %s) was received into %s at ctransid %d, the stream needs ctransid %d", what, uuid, other.Name, other.Ctransid, ctransid)
	case incomplete != nil:
		return nil, fmt.Errorf("the %s (uuid %s) is %s/%s, whose receive did not complete", what, uuid, r.destName, incomplete.Name)
	}
	return nil, fmt.Errorf("no %s with uuid %s (ctransid %d) was received into %s", what, uuid, ctransid, r.destName)
}

// cloneSource opens the subvolume a CLONE reads from: the current one,
// or one DEST received.
func (r *receiver) cloneSource(c *stream.Command) (*os.Root, error) {
	uuid, ctransid := c.UUID(stream.AttrCloneUUID).String(), c.U64(stream.AttrCloneCtransid)
	if uuid == r.cur.entry.UUID {
		return r.cur.root, nil
	}
	s, err := r.findSubvol(uuid, ctransid, "clone source")
	if err != nil {
		return nil, err
	}
	if root, ok := r.sources[s.Name]; ok {
		return root, nil
	}
	root, err := r.dest.OpenRoot(s.Name)
	if err != nil {
		return nil, err
	}
	if r.sources == nil {
		r.sources = map[string]*os.Root{}
	}
	r.sources[s.Name] = root
	return root, nil
}
