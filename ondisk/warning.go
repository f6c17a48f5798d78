package ondisk

// WarningKind says what a Warning is about.
type WarningKind int

// The kinds of warnings readers report.
const (
	// WarnFeature: an unknown compat_ro or other feature flag, read anyway.
	WarnFeature WarningKind = iota + 1
	// WarnSuperblock: a superblock copy that is damaged, stale or of
	// another filesystem, or a copy other than the primary in use.
	WarnSuperblock
	// WarnDevice: a device missing (read degraded), smaller than the
	// filesystem recorded, behind on commits, or a replace target.
	WarnDevice
	// WarnRepair: a tree block or data read from another copy or rebuilt
	// from parity because the normal copy failed its checks.
	WarnRepair
	// WarnFilesystem: the filesystem flagged an error, or its records
	// disagree (device counts).
	WarnFilesystem
	// WarnLogTree: a log tree left by an unclean unmount.
	WarnLogTree
	// WarnGeneration: an older commit than the superblock's is being
	// read, or a tree of it could not be and the current one stands in.
	WarnGeneration
)

func (k WarningKind) String() string {
	switch k {
	case WarnFeature:
		return "feature"
	case WarnSuperblock:
		return "superblock"
	case WarnDevice:
		return "device"
	case WarnRepair:
		return "repair"
	case WarnFilesystem:
		return "filesystem"
	case WarnLogTree:
		return "log tree"
	case WarnGeneration:
		return "generation"
	}
	return "warning"
}

// Warning is a finding that does not stop reading, as a value a caller
// can count, filter and summarise; Msg is the whole one-line message.
type Warning struct {
	Kind    WarningKind
	Device  string // the device concerned, "" if none
	Logical uint64 // the logical address concerned, 0 if none
	Tree    uint64 // the tree concerned, 0 if none
	Key     *Key   // the item concerned, nil if none
	Msg     string
}

func (w Warning) String() string { return w.Msg }
