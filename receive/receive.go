package receive

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/coldsend/coldsend/internal/destfs"

	"github.com/coldsend/coldsend/stream"
)

// Options select how streams are applied.
type Options struct {
	// Chain stops at the first END, as btrfs receive -e does: what follows
	// it is not read. Otherwise every stream of a concatenated input is
	// received.
	Chain bool
	// InPlace makes a snapshot by renaming its parent's directory instead
	// of copying it: a destination that keeps only the latest.
	InPlace bool
	// Strict makes whatever the destination cannot take an error instead
	// of a line of the summary.
	Strict bool
	// Log, when set, gets "At subvol NAME" / "At snapshot NAME" lines, as
	// btrfs receive prints them.
	Log io.Writer
	// Resume continues an interrupted receive into the destination: the
	// input must start with the last command the destination applied
	// (send --resume-from ResumePoint), which is checked and skipped; the
	// commands after it that the interrupted receive may already have
	// applied are applied again, harmlessly.
	Resume bool
}

// Error is a failure to apply a command: where it is in the input and
// what it was.
type Error struct {
	Offset int64 // of the command in the (decompressed) input
	Index  int   // 1-based over the whole input
	Cmd    stream.Cmd
	Path   string // as the stream names it
	Err    error
}

func (e *Error) Error() string {
	where := fmt.Sprintf("stream offset %d, command %d (%s", e.Offset, e.Index, e.Cmd)
	if e.Path != "" {
		where += " " + e.Path
	}
	return where + "): " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrIncomplete marks a receive that stopped before the END of a
// subvolume: its directory stays marked incomplete in the record.
var ErrIncomplete = errors.New("the subvolume is incomplete")

// Receive applies the streams read from src under the directory dest,
// which must exist. It returns what it did, also when it fails.
func Receive(src io.Reader, dest string, opts Options) (*Summary, error) {
	root, err := os.OpenRoot(dest)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	rec, err := loadRecord(root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dest, err)
	}
	if err := restoreLinkTimes(root); err != nil {
		return nil, fmt.Errorf("%s: %w", dest, err)
	}
	r := &receiver{opts: opts, dest: root, destName: dest, rec: rec, sum: &Summary{Skipped: map[Skip]int{}}}
	defer r.closeSubvol()
	prev, err := readProgress(root)
	if err != nil {
		return r.sum, fmt.Errorf("%s: %w", dest, err)
	}
	rd := stream.NewReader(src)
	switch {
	case opts.Resume && prev == nil && r.incompleteName() == "":
		return r.sum, fmt.Errorf("%s has no interrupted receive to resume", dest)
	case opts.Resume && prev == nil:
		// Interrupted before it applied a command: start again.
		r.replay = true
	case opts.Resume:
		rd = stream.Resume(src, prev.Offset, prev.Index, prev.Version)
		if err := r.reopen(prev); err != nil {
			return r.sum, err
		}
	case prev != nil:
		return r.sum, fmt.Errorf("%s holds an interrupted receive%s: resume it (coldsend receive --resume-point %s gives the offset for send --resume-from; then receive --resume), or remove what it left before receiving anew",
			dest, r.incompleteName(), dest)
	}
	if r.progress, err = openProgress(root); err != nil {
		return r.sum, err
	}
	err = r.run(rd, prev)
	if perr := r.progress.close(err == nil); err == nil {
		err = perr
	}
	return r.sum, err
}

// incompleteName names the subvolume an interrupted receive left, for a
// message.
func (r *receiver) incompleteName() string {
	for _, s := range r.rec.Subvolumes {
		if !s.Complete {
			return fmt.Sprintf(" of %s", s.Name)
		}
	}
	return ""
}

// reopen takes up where an interrupted receive last recorded progress
// prev. The record is saved before the progress at a subvolume's end and
// beginning, so it can be ahead: a subvolume it lists as complete, or
// one begun after prev, means the rest of the subvolume prev was in had
// been applied and is skipped.
func (r *receiver) reopen(prev *Progress) error {
	r.replay = true
	if prev.Cmd == stream.CmdEnd {
		return nil // between subvolumes
	}
	for _, s := range r.rec.Subvolumes {
		if s.Complete {
			continue
		}
		if s.BeganAt > prev.Offset {
			break
		}
		root, err := r.dest.OpenRoot(s.Name)
		if err != nil {
			return err
		}
		r.cur = &subvolume{root: root, entry: s}
		return nil
	}
	r.skipEnded = true
	return nil
}

// receiver is the state of one Receive.
type receiver struct {
	opts     Options
	dest     *os.Root
	destName string
	rec      *record
	sum      *Summary

	cur      *subvolume // being received, nil between streams
	progress *progressFile
	// replay tolerates commands an interrupted receive already applied
	// (Options.Resume), until the resumed subvolume's END.
	replay bool
	// skipEnded skips, resuming, the rest of a subvolume the interrupted
	// receive completed after its last progress record.
	skipEnded bool
	sources   map[string]*os.Root // clone sources by record name
	wfile     *os.File            // the write cache: one open file
	wpath     string              // its path in cur
	cmd       *stream.Command     // being applied
}

// subvolume is the one being received.
type subvolume struct {
	root  *os.Root
	entry *Received
}

func (r *receiver) run(sr *stream.Reader, prev *Progress) error {
	seen := false
	for {
		c, err := sr.Next()
		if err == io.EOF {
			if !seen {
				return errors.New("empty stream: no send stream in the input")
			}
			return nil
		}
		if err != nil && err != io.EOF && r.opts.Resume && prev != nil && !seen {
			return fmt.Errorf("the input does not continue the interrupted receive into %s, which last applied %s (command %d) at offset %d: %w", r.destName, prev.Cmd, prev.Index, prev.Offset, err)
		}
		if err == nil && r.opts.Resume && prev != nil && !seen {
			// The resumed input starts with the last command applied.
			if c.Offset != prev.Offset || c.Index != prev.Index || c.Cmd != prev.Cmd || c.CRC != prev.CRC {
				return fmt.Errorf("the input does not continue the interrupted receive into %s: it starts with %s (command %d, crc %#08x) at offset %d, where %s last applied %s (command %d, crc %#08x) at offset %d",
					r.destName, c.Cmd, c.Index, c.CRC, c.Offset, r.destName, prev.Cmd, prev.Index, prev.CRC, prev.Offset)
			}
			seen = true
			continue
		}
		if err != nil {
			if r.cur != nil {
				return fmt.Errorf("%w; %s/%s is left marked incomplete", err, r.destName, r.cur.entry.Name)
			}
			return err
		}
		seen = true
		if r.skipEnded {
			if c.Cmd != stream.CmdSubvol && c.Cmd != stream.CmdSnapshot {
				r.skipEnded = c.Cmd != stream.CmdEnd
				continue
			}
			r.skipEnded = false
		}
		r.cmd = c
		r.sum.Commands++
		if err := r.apply(c); err != nil {
			e := &Error{Offset: c.Offset, Index: c.Index, Cmd: c.Cmd, Path: c.CString(stream.AttrPath), Err: err}
			if r.cur != nil && c.Cmd != stream.CmdSubvol && c.Cmd != stream.CmdSnapshot {
				return fmt.Errorf("%w; %s/%s is left marked incomplete", e, r.destName, r.cur.entry.Name)
			}
			return e
		}
		boundary := c.Cmd == stream.CmdEnd || c.Cmd == stream.CmdSubvol || c.Cmd == stream.CmdSnapshot
		if err := r.progress.record(c, boundary); err != nil {
			return fmt.Errorf("recording progress in %s: %w", r.destName, err)
		}
		if c.Cmd == stream.CmdEnd && r.opts.Chain {
			return nil
		}
	}
}

func (r *receiver) apply(c *stream.Command) error {
	if c.Version > 2 {
		return fmt.Errorf("stream version %d is not supported (btrfs receive refuses it too)", c.Version)
	}
	switch c.Cmd {
	case stream.CmdSubvol:
		return r.subvol(c)
	case stream.CmdSnapshot:
		return r.snapshot(c)
	case stream.CmdEnd:
		return r.end()
	}
	if r.cur == nil {
		return errors.New("a command outside a subvolume (no SUBVOL or SNAPSHOT before it)")
	}
	p, err := streamPath(c.CString(stream.AttrPath))
	if err != nil {
		return err
	}
	sv := r.cur.root
	if r.replay {
		if done, err := r.alreadyApplied(c, p); done || err != nil {
			return err
		}
	}
	switch c.Cmd {
	case stream.CmdMkfile:
		f, err := sv.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		return f.Close()
	case stream.CmdMkdir:
		return sv.Mkdir(p, 0o700)
	case stream.CmdMknod:
		mode := uint32(c.U64(stream.AttrMode))
		err := destfs.Mknod(sv, p, mode, c.U64(stream.AttrRdev))
		if errors.Is(err, syscall.EINVAL) && isDeviceMode(mode) {
			return r.placeholder(err, p, SkipDeviceNumber, nil)
		}
		return r.orPlaceholder(err, p, SkipDevice, nil)
	case stream.CmdMkfifo:
		return r.orPlaceholder(destfs.Mkfifo(sv, p), p, SkipSpecial, nil)
	case stream.CmdMksock:
		return r.orPlaceholder(destfs.Mksock(sv, p), p, SkipSpecial, nil)
	case stream.CmdSymlink:
		target := c.CString(stream.AttrPathLink)
		err := sv.Symlink(target, p)
		if errors.Is(err, syscall.ENAMETOOLONG) && len(target) > 0 && len(path.Base(p)) < 256 {
			return r.placeholder(err, p, SkipSymlinkLong, []byte(target))
		}
		return r.orPlaceholder(err, p, SkipSymlink, []byte(target))
	case stream.CmdRename:
		to, err := streamPath(c.CString(stream.AttrPathTo))
		if err != nil {
			return err
		}
		r.closeWrite()
		return sv.Rename(p, to)
	case stream.CmdLink:
		from, err := streamPath(c.CString(stream.AttrPathLink))
		if err != nil {
			return err
		}
		return sv.Link(from, p)
	case stream.CmdUnlink:
		r.closeWrite()
		if fi, err := sv.Lstat(p); err != nil {
			return err
		} else if fi.IsDir() {
			return fmt.Errorf("unlink %s: is a directory", p)
		}
		return sv.Remove(p)
	case stream.CmdRmdir:
		r.closeWrite()
		if fi, err := sv.Lstat(p); err != nil {
			return err
		} else if !fi.IsDir() {
			return fmt.Errorf("rmdir %s: not a directory", p)
		}
		return sv.Remove(p)
	case stream.CmdSetXattr:
		err := destfs.SetXattr(sv, p, c.CString(stream.AttrXattrName), c.Bytes(stream.AttrXattrData))
		return r.xattrResult(err, c.CString(stream.AttrXattrName))
	case stream.CmdRemoveXattr:
		err := destfs.RemoveXattr(sv, p, c.CString(stream.AttrXattrName))
		if errors.Is(err, destfs.ErrNoXattr) {
			// The sender had it; only a receive that could not store it
			// (a refused namespace or size, summed up then) leaves it out.
			return r.skip(SkipXattrAbsent, err)
		}
		return r.xattrResult(err, c.CString(stream.AttrXattrName))
	case stream.CmdWrite:
		f, err := r.writeFile(p)
		if err != nil {
			return err
		}
		data := c.Bytes(stream.AttrData)
		n, err := f.WriteAt(data, int64(c.U64(stream.AttrFileOffset)))
		r.sum.DataBytes += int64(n)
		return err
	case stream.CmdClone:
		return r.clone(c, p)
	case stream.CmdTruncate:
		f, err := r.writeFile(p)
		if err != nil {
			return err
		}
		return f.Truncate(int64(c.U64(stream.AttrSize)))
	case stream.CmdChmod:
		return sv.Chmod(p, destfs.FileMode(uint32(c.U64(stream.AttrMode))))
	case stream.CmdChown:
		err := sv.Lchown(p, int(c.U64(stream.AttrUID)), int(c.U64(stream.AttrGID)))
		if destfs.IsPermission(err) || destfs.IsUnsupported(err) {
			return r.skip(SkipChown, err)
		}
		return err
	case stream.CmdUtimes:
		at, mt := c.Time(stream.AttrAtime), c.Time(stream.AttrMtime)
		if err := destfs.Utimes(sv, p, toTime(at), toTime(mt)); err != nil {
			return err
		}
		if clamped, err := timesClamped(sv, p, at, mt); err != nil {
			return err
		} else if clamped {
			if err := r.skip(SkipTimeRange, nil); err != nil {
				return err
			}
		}
		if c.Has(stream.AttrOtime) {
			return r.skip(SkipOtime, nil)
		}
		return nil
	case stream.CmdUpdateExtent:
		return r.skip(SkipUpdateExtent, nil)
	case stream.CmdFallocate:
		f, err := r.writeFile(p)
		if err != nil {
			return err
		}
		return destfs.Fallocate(f, uint32(c.U64(stream.AttrFallocateMode)), int64(c.U64(stream.AttrFileOffset)), int64(c.U64(stream.AttrSize)))
	case stream.CmdFileattr:
		return r.skip(SkipFileattr, nil)
	case stream.CmdEncodedWrite:
		return r.encodedWrite(c, p)
	}
	return fmt.Errorf("command %s is not supported", c.Cmd)
}

// alreadyApplied reports whether c, replayed after an interruption, was
// applied before it: a made name that exists with the type it makes, a
// rename done, a link made, a name already removed. Commands that give
// the same result applied twice (writes, metadata) need no such test.
func (r *receiver) alreadyApplied(c *stream.Command, p string) (bool, error) {
	sv := r.cur.root
	fi, err := sv.Lstat(p)
	exists := err == nil
	switch c.Cmd {
	case stream.CmdMkfile, stream.CmdMknod, stream.CmdMkfifo, stream.CmdMksock:
		return exists && !fi.IsDir(), nil
	case stream.CmdMkdir:
		return exists && fi.IsDir(), nil
	case stream.CmdSymlink:
		return exists, nil
	case stream.CmdUnlink, stream.CmdRmdir:
		return !exists, nil
	case stream.CmdRename:
		to, err := streamPath(c.CString(stream.AttrPathTo))
		if err != nil {
			return false, err
		}
		_, toErr := sv.Lstat(to)
		return !exists && toErr == nil, nil
	case stream.CmdLink:
		from, err := streamPath(c.CString(stream.AttrPathLink))
		if err != nil || !exists {
			return false, err
		}
		ffi, err := sv.Lstat(from)
		return err == nil && os.SameFile(fi, ffi), nil
	}
	return false, nil
}

// streamPath checks a path the stream names, relative to the subvolume:
// "" is the subvolume's own directory; absolute paths and ".." are
// refused (the kernel never sends them), and os.Root keeps symlinks
// from leading out.
func streamPath(p string) (string, error) {
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return ".", nil
	}
	if strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("absolute path %q in the stream", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", fmt.Errorf("path %q in the stream goes up with \"..\"", p)
		}
	}
	return path.Clean(p), nil
}

// subvolName checks the name of a SUBVOL or SNAPSHOT: one path component
// that is not the record.
func subvolName(p string) (string, error) {
	p = strings.TrimSuffix(p, "/")
	switch {
	case p == "" || p == "." || p == "..":
		return "", fmt.Errorf("subvolume name %q", p)
	case strings.Contains(p, "/"):
		return "", fmt.Errorf("subvolume name %q has a '/'", p)
	case strings.HasPrefix(p, RecordName), p == ProgressName, p == LinkTimesName:
		return "", fmt.Errorf("subvolume name %q is one of the destination's own files", p)
	}
	return p, nil
}

// isDeviceMode reports whether st_mode m is a character or block device.
func isDeviceMode(m uint32) bool {
	const typeMask, chr, blk = 0o170000, 0o020000, 0o060000
	return m&typeMask == chr || m&typeMask == blk
}

func toTime(t stream.Timespec) time.Time { return time.Unix(t.Sec, int64(t.Nsec)) }

// timesClamped reports whether p kept other times than at and mt, which
// utimensat set without complaint: filesystems clamp what they cannot
// store (ext4 before 1901-12-13). Only times outside 32-bit seconds are
// looked at again; every filesystem stores the others.
func timesClamped(root *os.Root, p string, at, mt stream.Timespec) (bool, error) {
	in32 := func(t stream.Timespec) bool { return t.Sec >= math.MinInt32 && t.Sec <= math.MaxInt32 }
	if in32(at) && in32(mt) {
		return false, nil
	}
	fi, err := root.Lstat(p)
	if err != nil {
		return false, err
	}
	gotA, gotM := destfs.TimesOf(fi)
	return !gotM.Equal(toTime(mt)) || destfs.TimesHaveAtime && !gotA.Equal(toTime(at)), nil
}

// skip counts one thing not applied; with Strict, a loss is an error.
func (r *receiver) skip(k Skip, err error) error {
	if r.opts.Strict && !k.informational() {
		if err == nil {
			return errors.New(k.String())
		}
		return fmt.Errorf("%s: %w", k, err)
	}
	r.sum.Skipped[k]++
	if !k.informational() && len(r.sum.Details) < maxDetails && r.cur != nil {
		d := Skipped{Kind: k, Subvol: r.cur.entry.Name, Path: r.cmd.CString(stream.AttrPath), Err: err}
		if r.cmd.Has(stream.AttrXattrName) {
			d.Xattr = r.cmd.CString(stream.AttrXattrName)
		}
		r.sum.Details = append(r.sum.Details, d)
	}
	return nil
}

// orPlaceholder handles a special file the OS or the privileges do not
// allow: an empty regular file (holding content, for a symlink) takes its
// place so that the commands after it still find a file there.
func (r *receiver) orPlaceholder(err error, p string, k Skip, content []byte) error {
	if err == nil || !destfs.IsPermission(err) && !destfs.IsUnsupported(err) {
		return err
	}
	return r.placeholder(err, p, k, content)
}

// placeholder makes the regular file that stands for what err refused.
func (r *receiver) placeholder(err error, p string, k Skip, content []byte) error {
	if serr := r.skip(k, err); serr != nil {
		return serr
	}
	f, cerr := r.cur.root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if cerr != nil {
		return cerr
	}
	_, werr := f.Write(content)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

// xattrResult classifies a failed xattr change.
func (r *receiver) xattrResult(err error, name string) error {
	switch {
	case err == nil:
		return nil
	case destfs.IsPermission(err) && (strings.HasPrefix(name, "trusted.") || strings.HasPrefix(name, "security.")):
		return r.skip(SkipXattrPriv, err)
	case destfs.IsUnsupported(err):
		return r.skip(SkipXattrFS, err)
	case errors.Is(err, syscall.E2BIG) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.ERANGE):
		// Filesystems bound xattr values (ext4 to a block without
		// ea_inode); a full disk would fail the next write anyway.
		return r.skip(SkipXattrSize, err)
	}
	return err
}

// writeFile returns the open file at p, reusing the last one opened (the
// kernel sends a file's writes together).
func (r *receiver) writeFile(p string) (*os.File, error) {
	if r.wfile != nil && r.wpath == p {
		return r.wfile, nil
	}
	r.closeWrite()
	f, err := destfs.OpenRegular(r.cur.root, p, os.O_WRONLY)
	if err != nil {
		return nil, err
	}
	r.wfile, r.wpath = f, p
	return f, nil
}

// closeWrite drops the write cache: a rename or unlink may change what
// its path names.
func (r *receiver) closeWrite() error {
	if r.wfile == nil {
		return nil
	}
	err := r.wfile.Close()
	r.wfile, r.wpath = nil, ""
	return err
}

// closeSubvol releases the current subvolume's handles.
func (r *receiver) closeSubvol() {
	r.closeWrite()
	if r.cur != nil {
		r.cur.root.Close()
		r.cur = nil
	}
	for _, s := range r.sources {
		s.Close()
	}
	r.sources = nil
}
