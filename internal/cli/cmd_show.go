package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/coldsend/coldsend/ondisk"
)

func showCommand(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:               "show [--device PATH]... IMAGE",
		Short:             "Show the filesystem: identity, sizes, features, devices and chunk profiles",
		Args:              args(1, 1),
		ValidArgsFunction: completeImage,
	}
	ff := newFSFlags(c, false)
	c.RunE = func(_ *cobra.Command, args []string) error {
		fs, err := ff.open(args[0], e.stderr)
		if err != nil {
			return err
		}
		defer fs.Close()
		vol := fs.Volume()
		sb := vol.Super()
		w := &errWriter{w: e.stdout}
		w.printf("Label: %s  uuid: %s\n", quoteLabel(sb.Label), sb.FSID)
		if sb.MetadataFSID() != sb.FSID {
			w.printf("\tMetadata uuid: %s\n", sb.MetadataFSID())
		}
		w.printf("\tGeneration: %d\n", sb.Generation)
		if fs.Generation() != sb.Generation {
			w.printf("\tReading generation: %d (an older commit)\n", fs.Generation())
		}
		w.printf("\tSector size: %d  Node size: %d  Checksum: %s\n", sb.SectorSize, sb.NodeSize, sb.CsumType)
		w.printf("\tTotal bytes: %s  Bytes used: %s\n", humanSize(sb.TotalBytes), humanSize(sb.BytesUsed))
		w.printf("\tIncompat features: %s\n", orNone(ondisk.IncompatNames(sb.IncompatFlags)))
		w.printf("\tCompat_ro features: %s\n", orNone(ondisk.CompatRONames(sb.CompatROFlags)))
		if sb.LogRoot != 0 {
			w.printf("\tLog tree: present at logical %d (not replayed; subvolumes %v)\n", sb.LogRoot, fs.LogTreeOf)
		}
		w.printf("\tDevices: %d\n", sb.NumDevices)
		for _, d := range vol.Devices() {
			where := d.Name
			if !d.Present {
				where = "MISSING"
			}
			w.printf("\t  devid %d size %s used %s uuid %s path %s\n", d.DevID, humanSize(d.Item.TotalBytes), humanSize(d.Item.BytesUsed), d.UUID, where)
		}
		w.printf("\tChunks:\n")
		type group struct {
			name  string
			size  uint64
			count int
		}
		groups := map[string]*group{}
		for _, ch := range vol.Chunks() {
			name := fmt.Sprintf("%s, %s", ondisk.BlockGroupTypeName(ch.Type), ondisk.ProfileName(ch.Type))
			g := groups[name]
			if g == nil {
				g = &group{name: name}
				groups[name] = g
			}
			g.size += ch.Length
			g.count++
		}
		var names []string
		for n := range groups {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			g := groups[n]
			w.printf("\t  %-26s total=%s in %d chunk(s)\n", g.name+":", humanSize(g.size), g.count)
		}
		return w.err
	}
	return c
}

func quoteLabel(l string) string {
	if l == "" {
		return "none"
	}
	return "'" + l + "'"
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " ")
}

// humanSize formats bytes the way btrfs-progs does by default (binary
// units, two decimals).
func humanSize(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.2f%s", f, units[i])
}

// errWriter remembers the first write error so printing code stays flat.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
