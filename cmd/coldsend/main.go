// Command coldsend reads unmounted btrfs images and devices: it shows the
// filesystem, lists subvolumes and files and prints file contents, without
// a kernel, a mount or root; and it reads send streams (dump, validate).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const toolUsage = `coldsend: btrfs send without a kernel

Usage: coldsend COMMAND [OPTIONS] ARGS...

Commands:
%s
Run 'coldsend COMMAND --help' for a command's options.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit status: 0 on
// success, 1 on failure (one line on stderr), 2 for usage errors.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) (status int) {
	defer func() {
		// Bad input must never surface as a stack trace.
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "coldsend: internal error: %v (please report this with the command line)\n", r)
			status = 1
		}
	}()
	cmds := commands(stdin, stdout, stderr)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(stdout, toolUsage, commandList(cmds))
		return 0
	}
	if args[0] == "--version" || args[0] == "version" {
		fmt.Fprintln(stdout, "coldsend", version)
		return 0
	}
	for _, c := range cmds {
		words := strings.Fields(c.name)
		if len(args) < len(words) || strings.Join(args[:len(words)], " ") != c.name {
			continue
		}
		pos, err := c.parse(args[len(words):])
		if errors.Is(err, flag.ErrHelp) {
			c.help(stdout)
			return 0
		}
		if err != nil {
			fmt.Fprintf(stderr, "coldsend %s: %v\n", c.name, err)
			return 2
		}
		if err := c.run(pos); err != nil {
			fmt.Fprintf(stderr, "coldsend %s: %s\n", c.name, oneLine(err))
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "coldsend: unknown command %q; run 'coldsend --help'\n", strings.Join(args[:min(2, len(args))], " "))
	return 2
}

func commandList(cmds []*command) string {
	var b strings.Builder
	for _, c := range cmds {
		fmt.Fprintf(&b, "  %-18s %s\n", c.name, firstSentence(c.summary))
	}
	return b.String()
}

// firstSentence shortens a command's summary for the command list.
func firstSentence(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// oneLine keeps an error message on a single line.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

const version = "0.1.0-dev"

func commands(stdin io.Reader, stdout, stderr io.Writer) []*command {
	return []*command{
		showCommand(stdout, stderr),
		subvolumeListCommand(stdout, stderr),
		lsCommand(stdout, stderr),
		catCommand(stdout, stderr),
		sendCommand(stdout, stderr),
		dumpCommand(stdin, stdout, stderr),
		validateCommand(stdin, stdout),
	}
}
