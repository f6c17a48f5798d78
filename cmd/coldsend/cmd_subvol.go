package main

import (
	"encoding/json"
	"io"

	"github.com/coldsend/coldsend/internal/seq"
	"github.com/coldsend/coldsend/ondisk"
)

func subvolumeListCommand(stdout, stderr io.Writer) *command {
	c := newCommand("subvolume list", "[--json] [--device PATH]... IMAGE", "List subvolumes and snapshots with their paths from the top level.")
	var ff fsFlags
	ff.register(c)
	asJSON := c.flags.Bool("json", false, "print a JSON array")
	c.minArgs, c.maxArgs = 1, 1
	c.run = func(args []string) error {
		fs, err := ff.open(args[0], stderr)
		if err != nil {
			return err
		}
		defer fs.Close()
		svs, err := seq.Collect(fs.Subvolumes())
		if err != nil {
			return err
		}
		type row struct {
			ID           uint64 `json:"id"`
			Generation   uint64 `json:"generation"`
			TopLevel     uint64 `json:"top_level"`
			Path         string `json:"path"`
			UUID         string `json:"uuid"`
			ParentUUID   string `json:"parent_uuid"`
			ReceivedUUID string `json:"received_uuid"`
			ReadOnly     bool   `json:"readonly"`
			Ctransid     uint64 `json:"ctransid"`
			Otransid     uint64 `json:"otransid"`
		}
		var rows []row
		for _, sv := range svs {
			if sv.ID == ondisk.FSTreeObjectID {
				continue // the top level is not listed, as with btrfs subvolume list
			}
			rows = append(rows, row{
				ID: sv.ID, Generation: sv.Item.Generation, TopLevel: sv.TopLevel, Path: sv.Path,
				UUID: uuidOrDash(sv.Item.UUID), ParentUUID: uuidOrDash(sv.Item.ParentUUID),
				ReceivedUUID: uuidOrDash(sv.Item.ReceivedUUID), ReadOnly: sv.ReadOnly(),
				Ctransid: sv.Item.Ctransid, Otransid: sv.Item.Otransid,
			})
		}
		if *asJSON {
			if rows == nil {
				rows = []row{}
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(rows)
		}
		w := &errWriter{w: stdout}
		w.printf("%-6s %-6s %-9s %-36s %-36s %-36s %-3s %s\n", "ID", "gen", "top level", "uuid", "parent uuid", "received uuid", "ro", "path")
		for _, r := range rows {
			ro := "-"
			if r.ReadOnly {
				ro = "ro"
			}
			w.printf("%-6d %-6d %-9d %-36s %-36s %-36s %-3s %s\n", r.ID, r.Generation, r.TopLevel, r.UUID, r.ParentUUID, r.ReceivedUUID, ro, escapeName([]byte(r.Path)))
		}
		return w.err
	}
	return c
}

func uuidOrDash(u ondisk.UUID) string {
	if u.IsZero() {
		return "-"
	}
	return u.String()
}
