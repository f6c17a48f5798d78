// Command genman writes coldsend's man pages (make man).
//
//	genman -o DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/coldsend/coldsend/internal/cli"
)

func main() {
	dir := flag.String("o", "out/man", "directory to write the pages into")
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "genman:", err)
		os.Exit(1)
	}
	if err := cli.ManPages(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "genman:", err)
		os.Exit(1)
	}
}
