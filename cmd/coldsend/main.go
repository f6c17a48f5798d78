// Command coldsend reads unmounted btrfs images and devices: it shows the
// filesystem, lists subvolumes and files, prints file contents and writes
// btrfs send streams byte for byte as the kernel does, without a kernel,
// a mount or root; and it reads send streams (dump, validate). The
// command line lives in internal/cli.
package main

import "github.com/coldsend/coldsend/internal/cli"

func main() { cli.Main() }
