package ondisk

import (
	"fmt"
	"math/bits"
)

// Incompat feature bits (BTRFS_FEATURE_INCOMPAT_*).
const (
	IncompatMixedBackref   uint64 = 1 << 0
	IncompatDefaultSubvol  uint64 = 1 << 1
	IncompatMixedGroups    uint64 = 1 << 2
	IncompatCompressLZO    uint64 = 1 << 3
	IncompatCompressZSTD   uint64 = 1 << 4
	IncompatBigMetadata    uint64 = 1 << 5
	IncompatExtendedIref   uint64 = 1 << 6
	IncompatRAID56         uint64 = 1 << 7
	IncompatSkinnyMetadata uint64 = 1 << 8
	IncompatNoHoles        uint64 = 1 << 9
	IncompatMetadataUUID   uint64 = 1 << 10
	IncompatRAID1C34       uint64 = 1 << 11
	IncompatZoned          uint64 = 1 << 12
	IncompatExtentTreeV2   uint64 = 1 << 13
	IncompatRaidStripeTree uint64 = 1 << 14
	IncompatSimpleQuota    uint64 = 1 << 16
	IncompatRemapTree      uint64 = 1 << 17
)

// Compat-ro feature bits (BTRFS_FEATURE_COMPAT_RO_*).
const (
	CompatROFreeSpaceTree      uint64 = 1 << 0
	CompatROFreeSpaceTreeValid uint64 = 1 << 1
	CompatROVerity             uint64 = 1 << 2
	CompatROBlockGroupTree     uint64 = 1 << 3
)

type featureName struct {
	bit  uint64
	name string
}

// Names as mkfs.btrfs -O and /sys/fs/btrfs/features spell them.
var incompatNames = []featureName{
	{IncompatMixedBackref, "mixed_backref"},
	{IncompatDefaultSubvol, "default_subvol"},
	{IncompatMixedGroups, "mixed_groups"},
	{IncompatCompressLZO, "compress_lzo"},
	{IncompatCompressZSTD, "compress_zstd"},
	{IncompatBigMetadata, "big_metadata"},
	{IncompatExtendedIref, "extended_iref"},
	{IncompatRAID56, "raid56"},
	{IncompatSkinnyMetadata, "skinny_metadata"},
	{IncompatNoHoles, "no_holes"},
	{IncompatMetadataUUID, "metadata_uuid"},
	{IncompatRAID1C34, "raid1c34"},
	{IncompatZoned, "zoned"},
	{IncompatExtentTreeV2, "extent_tree_v2"},
	{IncompatRaidStripeTree, "raid_stripe_tree"},
	{IncompatSimpleQuota, "simple_quota"},
	{IncompatRemapTree, "remap_tree"},
}

var compatRONames = []featureName{
	{CompatROFreeSpaceTree, "free_space_tree"},
	{CompatROFreeSpaceTreeValid, "free_space_tree_valid"},
	{CompatROVerity, "verity"},
	{CompatROBlockGroupTree, "block_group_tree"},
}

// Incompat features coldsend reads; any other set bit refuses the
// filesystem.
const supportedIncompat = IncompatMixedBackref | IncompatDefaultSubvol | IncompatMixedGroups |
	IncompatCompressLZO | IncompatCompressZSTD | IncompatBigMetadata | IncompatExtendedIref |
	IncompatRAID56 | IncompatSkinnyMetadata | IncompatNoHoles | IncompatMetadataUUID |
	IncompatRAID1C34 | IncompatSimpleQuota

// refusedIncompat are known features coldsend cannot read, with the
// message that says so.
var refusedIncompat = []struct {
	bit uint64
	msg string
}{
	{IncompatZoned, "zoned filesystems are not supported (finding the current superblock needs zone write pointers)"},
	{IncompatExtentTreeV2, "extent_tree_v2 filesystems are not supported"},
	{IncompatRaidStripeTree, "raid_stripe_tree filesystems are not supported"},
	{IncompatRemapTree, "remap_tree filesystems are not supported"},
}

func featureNames(flags uint64, table []featureName) []string {
	var names []string
	for _, f := range table {
		if flags&f.bit != 0 {
			names = append(names, f.name)
			flags &^= f.bit
		}
	}
	for flags != 0 {
		bit := bits.TrailingZeros64(flags)
		names = append(names, fmt.Sprintf("unknown_bit_%d", bit))
		flags &^= 1 << bit
	}
	return names
}

// IncompatNames lists the incompat features in flags by name, in bit
// order; unknown bits are named unknown_bit_N.
func IncompatNames(flags uint64) []string { return featureNames(flags, incompatNames) }

// CompatRONames lists the compat_ro features in flags like IncompatNames.
func CompatRONames(flags uint64) []string { return featureNames(flags, compatRONames) }

// CheckFeatures decides whether sb's filesystem can be read. It refuses
// unknown incompat bits, the known features listed in refusedIncompat and
// filesystems without mixed back references. Unknown compat_ro and compat
// bits only matter to writers, so they come back as warnings.
func CheckFeatures(sb *Superblock) (warnings []Warning, err error) {
	for _, f := range refusedIncompat {
		if sb.IncompatFlags&f.bit != 0 {
			return nil, unsupportedf("%s", f.msg)
		}
	}
	if unknown := sb.IncompatFlags &^ supportedIncompat; unknown != 0 {
		return nil, unsupportedf("unknown incompat feature bits %#x (%v) are not supported", unknown, IncompatNames(unknown))
	}
	if sb.IncompatFlags&IncompatMixedBackref == 0 {
		return nil, unsupportedf("filesystems without mixed_backref (pre-2.6.31 back references) are not supported")
	}
	var known uint64
	for _, f := range compatRONames {
		known |= f.bit
	}
	if unknown := sb.CompatROFlags &^ known; unknown != 0 {
		warnings = append(warnings, Warning{Kind: WarnFeature, Msg: fmt.Sprintf("unknown compat_ro feature bits %#x (%v); reading anyway", unknown, CompatRONames(unknown))})
	}
	if sb.CompatFlags != 0 {
		warnings = append(warnings, Warning{Kind: WarnFeature, Msg: fmt.Sprintf("unknown compat feature bits %#x; reading anyway", sb.CompatFlags)})
	}
	return warnings, nil
}
