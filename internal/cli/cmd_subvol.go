package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/seq"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// subvolRow is one subvolume as list prints it; absent UUIDs and times
// are null in JSON.
type subvolRow struct {
	ID           uint64     `json:"id"`
	Generation   uint64     `json:"generation"`
	Cgen         uint64     `json:"cgen"` // generation at creation (otransid)
	TopLevel     uint64     `json:"top_level"`
	Otime        *time.Time `json:"otime"`
	Flags        []string   `json:"flags"`
	Path         string     `json:"path"`
	UUID         *string    `json:"uuid"`
	ParentUUID   *string    `json:"parent_uuid"`
	ReceivedUUID *string    `json:"received_uuid"`
	ReadOnly     bool       `json:"readonly"`
	Snapshot     bool       `json:"snapshot"`
	Ctransid     uint64     `json:"ctransid"`
	Otransid     uint64     `json:"otransid"`

	path []byte // raw, for sorting and printing
}

func newSubvolRow(sv *fstree.Subvolume) subvolRow {
	r := subvolRow{
		ID: sv.ID, Generation: sv.Item.Generation, Cgen: sv.Item.Otransid, TopLevel: sv.TopLevel,
		Otime: timeOrNil(sv.Item.Otime), Flags: []string{}, Path: sv.Path,
		UUID: uuidOrNil(sv.Item.UUID), ParentUUID: uuidOrNil(sv.Item.ParentUUID), ReceivedUUID: uuidOrNil(sv.Item.ReceivedUUID),
		ReadOnly: sv.ReadOnly(), Snapshot: sv.IsSnapshot(), Ctransid: sv.Item.Ctransid, Otransid: sv.Item.Otransid,
		path: []byte(sv.Path),
	}
	if r.ReadOnly {
		r.Flags = append(r.Flags, "readonly")
	}
	return r
}

func uuidOrNil(u ondisk.UUID) *string {
	if u.IsZero() {
		return nil
	}
	s := u.String()
	return &s
}

func timeOrNil(t item.Timespec) *time.Time {
	if t.Sec == 0 && t.Nsec == 0 {
		return nil
	}
	v := time.Unix(t.Sec, int64(t.Nsec)).UTC()
	return &v
}

// subvolSortKeys are btrfs subvolume list --sort's keys.
var subvolSortKeys = map[string]func(a, b *subvolRow) int{
	"rootid": func(a, b *subvolRow) int { return cmp.Compare(a.ID, b.ID) },
	"gen":    func(a, b *subvolRow) int { return cmp.Compare(a.Generation, b.Generation) },
	"ogen":   func(a, b *subvolRow) int { return cmp.Compare(a.Cgen, b.Cgen) },
	"path":   func(a, b *subvolRow) int { return strings.Compare(string(a.path), string(b.path)) },
}

// parseSort turns "gen,-rootid" into a comparison, as btrfs-progs reads
// --sort: keys in order of precedence, '-' for descending.
func parseSort(spec string) (func(a, b subvolRow) int, error) {
	type key struct {
		cmp  func(a, b *subvolRow) int
		desc bool
	}
	var keys []key
	for _, f := range strings.Split(spec, ",") {
		desc := strings.HasPrefix(f, "-")
		name := strings.TrimLeft(f, "+-")
		c, ok := subvolSortKeys[name]
		if !ok {
			return nil, &usageError{fmt.Sprintf("--sort %q: unknown key %q (rootid, gen, ogen, path, each may start with + or -)", spec, name)}
		}
		keys = append(keys, key{c, desc})
	}
	return func(a, b subvolRow) int {
		for _, k := range keys {
			if r := k.cmp(&a, &b); r != 0 {
				if k.desc {
					return -r
				}
				return r
			}
		}
		return 0
	}, nil
}

func subvolumeListCommand(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "list [-s] [-r] [-o] [--sort KEYS] [--json] [--device PATH]... IMAGE [SUBVOL]",
		Short: "List subvolumes and snapshots with their paths from the top level",
		Long: "List subvolumes and snapshots with their paths from the top level, as\n" +
			"btrfs subvolume list does: -s only snapshots, -r only read-only ones, -o only\n" +
			"those directly below SUBVOL (default: the top level). Times are local (TZ).",
		Args:              args(1, 2),
		ValidArgsFunction: completeImageThenSubvols,
	}
	ff := newFSFlags(c, false)
	fl := c.Flags()
	asJSON := fl.Bool("json", false, "print a JSON array (absent UUIDs and times are null, otime in UTC)")
	snapshots := fl.BoolP("snapshots-only", "s", false, "only snapshots")
	readOnly := fl.BoolP("readonly", "r", false, "only read-only subvolumes")
	below := fl.BoolP("only-below", "o", false, "only subvolumes directly below SUBVOL (default: the top level)")
	sortSpec := fl.String("sort", "rootid", "sort by `KEYS`: rootid, gen, ogen, path, comma-separated, each may start with - (descending)")
	_ = c.RegisterFlagCompletionFunc("sort", cobra.FixedCompletions([]string{"rootid", "gen", "ogen", "path", "-rootid", "-gen", "-ogen", "-path"}, cobra.ShellCompDirectiveNoFileComp))
	c.RunE = func(_ *cobra.Command, args []string) error {
		order, err := parseSort(*sortSpec)
		if err != nil {
			return err
		}
		if len(args) == 2 && !*below {
			return &usageError{"a SUBVOL argument needs -o"}
		}
		fs, err := ff.open(args[0], e.stderr)
		if err != nil {
			return err
		}
		defer fs.Close()
		parent := uint64(ondisk.FSTreeObjectID)
		if len(args) == 2 {
			sv, err := fs.ResolveSubvol(args[1])
			if err != nil {
				return err
			}
			parent = sv.ID
		}
		svs, err := seq.Collect(fs.Subvolumes())
		if err != nil {
			return err
		}
		rows := []subvolRow{}
		for _, sv := range svs {
			switch {
			case sv.ID == ondisk.FSTreeObjectID: // not listed, as with btrfs subvolume list
			case *snapshots && !sv.IsSnapshot():
			case *readOnly && !sv.ReadOnly():
			case *below && sv.TopLevel != parent:
			default:
				rows = append(rows, newSubvolRow(sv))
			}
		}
		slices.SortStableFunc(rows, order)
		if *asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(rows)
		}
		zone := e.zone()
		w := &errWriter{w: e.stdout}
		w.printf("%-6s %-6s %-6s %-9s %-19s %-8s %-36s %-36s %-36s %s\n", "ID", "gen", "cgen", "top level", "otime", "flags", "uuid", "parent uuid", "received uuid", "path")
		for _, r := range rows {
			otime := "-"
			if r.Otime != nil {
				otime = r.Otime.In(zone).Format(time.DateTime)
			}
			flags := "-"
			if len(r.Flags) > 0 {
				flags = strings.Join(r.Flags, ",")
			}
			w.printf("%-6d %-6d %-6d %-9d %-19s %-8s %-36s %-36s %-36s %s\n", r.ID, r.Generation, r.Cgen, r.TopLevel, otime, flags,
				orDash(r.UUID), orDash(r.ParentUUID), orDash(r.ReceivedUUID), escapeName(r.path))
		}
		return w.err
	}
	return c
}

func orDash(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func subvolumeShowCommand(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "show [--device PATH]... IMAGE SUBVOL",
		Short: "Show a subvolume's details, as btrfs subvolume show",
		Long: "Show a subvolume's details with the fields of 'btrfs subvolume show'\n" +
			"(btrfs-progs 6.2): name, UUIDs, creation time, IDs, generations, flags,\n" +
			"send and receive transids and times, its snapshots, and its quota group\n" +
			"when quotas are enabled. Unlike btrfs-progs 6.2, which prints the creation\n" +
			"time there, 'Send time' is the subvolume's own. Times are local (TZ).",
		Args:              args(2, 2),
		ValidArgsFunction: completeImageThenSubvols,
	}
	ff := newFSFlags(c, false)
	c.RunE = func(_ *cobra.Command, args []string) error {
		fs, err := ff.open(args[0], e.stderr)
		if err != nil {
			return err
		}
		defer fs.Close()
		target, err := fs.ResolveSubvol(args[1])
		if err != nil {
			return err
		}
		svs, err := seq.Collect(fs.Subvolumes())
		if err != nil {
			return err
		}
		var sv *fstree.Subvolume
		for _, s := range svs {
			if s.ID == target.ID {
				sv = s
			}
		}
		if sv == nil {
			return fmt.Errorf("%s: subvolume %d is not in the root tree's list (being deleted?)", args[1], target.ID)
		}
		zone := e.zone()
		when := func(t item.Timespec) string {
			if t.Sec == 0 {
				return "-"
			}
			return time.Unix(t.Sec, 0).In(zone).Format("2006-01-02 15:04:05 -0700")
		}
		uuid := func(u ondisk.UUID) string {
			if u.IsZero() {
				return "-"
			}
			return u.String()
		}
		name, path := string(sv.Name), sv.Path
		if sv.ID == ondisk.FSTreeObjectID {
			name, path = "<FS_TREE>", "/"
		}
		flags := "-"
		if sv.ReadOnly() {
			flags = "readonly"
		}
		w := &errWriter{w: e.stdout}
		w.printf("%s\n", escapeName([]byte(path)))
		w.printf("\tName: \t\t\t%s\n", escapeName([]byte(name)))
		w.printf("\tUUID: \t\t\t%s\n", uuid(sv.Item.UUID))
		w.printf("\tParent UUID: \t\t%s\n", uuid(sv.Item.ParentUUID))
		w.printf("\tReceived UUID: \t\t%s\n", uuid(sv.Item.ReceivedUUID))
		w.printf("\tCreation time: \t\t%s\n", when(sv.Item.Otime))
		w.printf("\tSubvolume ID: \t\t%d\n", sv.ID)
		w.printf("\tGeneration: \t\t%d\n", sv.Item.Generation)
		w.printf("\tGen at creation: \t%d\n", sv.Item.Otransid)
		w.printf("\tParent ID: \t\t%d\n", sv.TopLevel)
		w.printf("\tTop level ID: \t\t%d\n", sv.TopLevel)
		w.printf("\tFlags: \t\t\t%s\n", flags)
		w.printf("\tSend transid: \t\t%d\n", sv.Item.Stransid)
		w.printf("\tSend time: \t\t%s\n", when(sv.Item.Stime))
		w.printf("\tReceive transid: \t%d\n", sv.Item.Rtransid)
		w.printf("\tReceive time: \t\t%s\n", when(sv.Item.Rtime))
		w.printf("\tSnapshot(s):\n")
		if !sv.Item.UUID.IsZero() {
			for _, s := range svs {
				if s.Item.ParentUUID == sv.Item.UUID {
					w.printf("\t\t\t\t%s\n", escapeName([]byte(s.Path)))
				}
			}
		}
		q, err := quotaGroup(fs.FS, sv.ID)
		if err != nil {
			return err
		}
		if q != nil {
			limit := func(v uint64) string {
				if v == 0 {
					return "-"
				}
				return humanSize(v)
			}
			w.printf("\tQuota group:\t\t0/%d\n", sv.ID)
			w.printf("\t  Limit referenced:\t%s\n", limit(q.limit.MaxReferenced))
			w.printf("\t  Limit exclusive:\t%s\n", limit(q.limit.MaxExclusive))
			w.printf("\t  Usage referenced:\t%s\n", humanSize(q.info.Referenced))
			w.printf("\t  Usage exclusive:\t%s\n", humanSize(q.info.Exclusive))
		}
		return w.err
	}
	return c
}

// qgroup is the level-0 quota group of a subvolume.
type qgroup struct {
	info  item.QgroupInfo
	limit item.QgroupLimit
}

// quotaGroup reads qgroup 0/id from the quota tree; nil when quotas are
// off (no quota tree) or the qgroup does not exist.
func quotaGroup(fs *fstree.FS, id uint64) (*qgroup, error) {
	t, err := fs.Tree(ondisk.QuotaTreeObjectID)
	if fstree.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var q qgroup
	found := false
	for it, err := range t.ObjectItems(0, ondisk.QgroupInfoKey) {
		if err != nil {
			return nil, err
		}
		if it.Key.Offset != id {
			continue
		}
		if q.info, err = item.ParseQgroupInfo(it.Data); err != nil {
			return nil, fmt.Errorf("quota tree, key %v: %w", it.Key, err)
		}
		found = true
	}
	if !found {
		return nil, nil
	}
	for it, err := range t.ObjectItems(0, ondisk.QgroupLimitKey) {
		if err != nil {
			return nil, err
		}
		if it.Key.Offset == id {
			if q.limit, err = item.ParseQgroupLimit(it.Data); err != nil {
				return nil, fmt.Errorf("quota tree, key %v: %w", it.Key, err)
			}
		}
	}
	return &q, nil
}
