package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// stringList is a repeatable string flag (--device PATH --device PATH).
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// command is one subcommand: its flag set and what it does with the
// positional arguments left after flags.
type command struct {
	name    string // as typed, e.g. "subvolume list"
	usage   string // arguments synopsis
	summary string
	flags   *flag.FlagSet
	minArgs int
	maxArgs int // -1 for no limit
	run     func(args []string) error
}

func newCommand(name, usage, summary string) *command {
	c := &command{name: name, usage: usage, summary: summary, maxArgs: -1}
	c.flags = flag.NewFlagSet(name, flag.ContinueOnError)
	c.flags.SetOutput(io.Discard)
	return c
}

// help writes the command's usage and flags.
func (c *command) help(w io.Writer) {
	fmt.Fprintf(w, "Usage: coldsend %s %s\n\n%s\n", c.name, c.usage, c.summary)
	var opts []string
	c.flags.VisitAll(func(f *flag.Flag) {
		name := "--" + f.Name
		if len(f.Name) == 1 {
			name = "-" + f.Name
		}
		arg, usage := flag.UnquoteUsage(f)
		if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); !isBool {
			name += " " + strings.ToUpper(arg)
		}
		opts = append(opts, fmt.Sprintf("  %-22s %s", name, usage))
	})
	if len(opts) > 0 {
		fmt.Fprintf(w, "\nOptions:\n%s\n", strings.Join(opts, "\n"))
	}
	fmt.Fprintf(w, "  %-22s %s\n", "-h, --help", "show this help")
}

// parse accepts GNU-style arguments: flags may follow positional
// arguments, short boolean flags may be grouped (-lR), "--" ends flags.
func (c *command) parse(args []string) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case a == "-" || !strings.HasPrefix(a, "-"):
			pos = append(pos, a)
		case a == "-h" || a == "--help":
			return nil, flag.ErrHelp
		default:
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !strings.HasPrefix(a, "--") && len(name) > 1 && c.flags.Lookup(name) == nil {
				// Grouped short flags: -lR is -l -R.
				for _, r := range name {
					flags = append(flags, "-"+string(r))
				}
				continue
			}
			f := c.flags.Lookup(name)
			if f == nil {
				return nil, fmt.Errorf("unknown option %s", a)
			}
			flags = append(flags, a)
			if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); !isBool && !hasValue {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("option %s needs a value", a)
				}
				i++
				flags = append(flags, args[i])
			}
		}
	}
	if err := c.flags.Parse(flags); err != nil {
		return nil, err
	}
	if len(pos) < c.minArgs || (c.maxArgs >= 0 && len(pos) > c.maxArgs) {
		return nil, fmt.Errorf("wrong number of arguments; usage: coldsend %s %s", c.name, c.usage)
	}
	return pos, nil
}
