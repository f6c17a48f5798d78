// Package superfixture serves the superblocks btrfs-progs made for the
// tests of ondisk and ondisk/volume (ondisk/testdata/sb-*.bin) and what
// "btrfs inspect-internal dump-super -f" printed for each, parsed. It
// imports no coldsend package, so that both can use it in their tests.
package superfixture
