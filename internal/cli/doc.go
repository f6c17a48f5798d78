// Package cli is coldsend's command line, on spf13/cobra and pflag:
// getopt-style flags as btrfs-progs users type them, help, shell
// completion (with subvolume paths read from the image on the line) and
// man pages. cmd/coldsend is a one-line main around Main; the man page
// generator imports NewRoot's tree through ManPages.
//
// It may import every package of the module; nothing imports it but
// cmd/coldsend and internal/cmd/genman.
package cli
