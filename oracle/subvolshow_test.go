package oracle

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// subvolumeShowCase builds a filesystem with quotas, nested subvolumes,
// snapshots of snapshots and a received subvolume, records btrfs
// subvolume show for each while mounted, and compares coldsend
// subvolume show on the unmounted image, both with TZ=UTC. The one line
// that differs on purpose is "Send time", where btrfs-progs 6.2 prints
// the creation time.
func subvolumeShowCase() oracleCase {
	return oracleCase{name: "subvolume-show", run: func(ctx context.Context, t *testing.T) error {
		dir := t.TempDir()
		img, mnt, bin := filepath.Join(dir, "img"), filepath.Join(dir, "m"), filepath.Join(dir, "coldsend")
		sh := func(name string, args ...string) (string, error) {
			cmd := exec.CommandContext(ctx, name, args...)
			cmd.Env = append(os.Environ(), "TZ=UTC")
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Run(); err != nil {
				return "", fmt.Errorf("%s %v: %v\n%s", name, args, err, errOut.Bytes())
			}
			return out.String(), nil
		}
		script := strings.Join([]string{
			"set -e",
			"truncate -s 256M " + img,
			"mkfs.btrfs -q " + img,
			"mkdir " + mnt,
			"mount -o loop " + img + " " + mnt,
			"cd " + mnt,
			"btrfs quota enable .",
			"btrfs -q subvolume create vol",
			"mkdir vol/d && head -c 100000 /dev/urandom > vol/d/f",
			"btrfs -q subvolume create vol/d/nested",
			"btrfs filesystem sync .",
			"btrfs -q subvolume snapshot -r vol snap1",
			"btrfs -q subvolume snapshot snap1 snap2",
			"btrfs qgroup limit 10M vol",
			"mkdir recv && btrfs send -q snap1 | btrfs receive -q recv",
			"btrfs filesystem sync .",
		}, "\n")
		if _, err := sh("bash", "-c", script); err != nil {
			return err
		}
		subvols := []string{"vol", "vol/d/nested", "snap1", "snap2", "recv/snap1"}
		want := map[string]string{}
		for _, sv := range append(subvols, "") {
			out, err := sh("btrfs", "subvolume", "show", filepath.Join(mnt, sv))
			if err != nil {
				exec.Command("umount", mnt).Run()
				return err
			}
			want[sv] = out
		}
		if _, err := sh("umount", mnt); err != nil {
			return err
		}
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/coldsend").CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %v\n%s", err, out)
		}
		for sv, w := range want {
			arg := sv
			if arg == "" {
				arg = "/"
			}
			got, err := sh(bin, "subvolume", "show", img, arg)
			if err != nil {
				return err
			}
			if g, w := withoutSendTime(got), withoutSendTime(w); g != w {
				return fmt.Errorf("subvolume show %s differs from btrfs subvolume show:\ncoldsend:\n%s\nbtrfs:\n%s", arg, g, w)
			}
		}
		t.Logf("coldsend subvolume show equal to btrfs subvolume show for %d subvolumes (quota groups, a received one, the top level)", len(want))
		return nil
	}}
}

func withoutSendTime(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "\tSend time:") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
