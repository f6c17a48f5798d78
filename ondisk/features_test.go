package ondisk

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestFeatureNames(t *testing.T) {
	got := IncompatNames(IncompatMixedBackref | IncompatNoHoles | IncompatRAID1C34 | 1<<15 | 1<<40)
	want := []string{"mixed_backref", "no_holes", "raid1c34", "unknown_bit_15", "unknown_bit_40"}
	if !slices.Equal(got, want) {
		t.Errorf("IncompatNames = %v, want %v", got, want)
	}
	got = CompatRONames(CompatROFreeSpaceTree | CompatROFreeSpaceTreeValid | CompatROVerity | CompatROBlockGroupTree | 1<<9)
	want = []string{"free_space_tree", "free_space_tree_valid", "verity", "block_group_tree", "unknown_bit_9"}
	if !slices.Equal(got, want) {
		t.Errorf("CompatRONames = %v, want %v", got, want)
	}
	if IncompatNames(0) != nil {
		t.Errorf("IncompatNames(0) = %v", IncompatNames(0))
	}
}

func TestCheckFeatures(t *testing.T) {
	const base = IncompatMixedBackref
	supported := IncompatDefaultSubvol | IncompatMixedGroups | IncompatCompressLZO | IncompatCompressZSTD |
		IncompatBigMetadata | IncompatExtendedIref | IncompatRAID56 | IncompatSkinnyMetadata | IncompatNoHoles |
		IncompatMetadataUUID | IncompatRAID1C34 | IncompatSimpleQuota
	for _, tc := range []struct {
		name     string
		incompat uint64
		compatRO uint64
		compat   uint64
		errSub   string // "" means readable
		warnSub  string
	}{
		{name: "everything supported", incompat: base | supported,
			compatRO: CompatROFreeSpaceTree | CompatROFreeSpaceTreeValid | CompatROVerity | CompatROBlockGroupTree},
		{name: "zoned", incompat: base | IncompatZoned, errSub: "zoned filesystems are not supported"},
		{name: "extent tree v2", incompat: base | IncompatExtentTreeV2, errSub: "extent_tree_v2 filesystems are not supported"},
		{name: "raid stripe tree", incompat: base | IncompatRaidStripeTree, errSub: "raid_stripe_tree filesystems are not supported"},
		{name: "remap tree", incompat: base | IncompatRemapTree, errSub: "remap_tree filesystems are not supported"},
		{name: "unknown bit", incompat: base | 1<<15, errSub: "unknown incompat feature bits 0x8000 ([unknown_bit_15])"},
		{name: "unknown high bit", incompat: base | IncompatNoHoles | 1<<63, errSub: "unknown_bit_63"},
		{name: "old backrefs", incompat: IncompatNoHoles, errSub: "without mixed_backref"},
		{name: "unknown compat_ro", incompat: base, compatRO: CompatROVerity | 1<<20, warnSub: "unknown compat_ro feature bits 0x100000 ([unknown_bit_20])"},
		{name: "unknown compat", incompat: base, compat: 1, warnSub: "unknown compat feature bits 0x1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb := &Superblock{IncompatFlags: tc.incompat, CompatROFlags: tc.compatRO, CompatFlags: tc.compat}
			warns, err := CheckFeatures(sb)
			if tc.errSub != "" {
				if err == nil || !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tc.errSub) {
					t.Errorf("got %v, want ErrUnsupported containing %q", err, tc.errSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var msgs []string
			for _, w := range warns {
				msgs = append(msgs, w.Msg)
			}
			if got := strings.Join(msgs, "\n"); tc.warnSub == "" && got != "" || !strings.Contains(got, tc.warnSub) {
				t.Errorf("warnings %q, want %q", got, tc.warnSub)
			}
		})
	}
}
