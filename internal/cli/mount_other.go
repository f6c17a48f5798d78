//go:build !linux && !darwin

package cli

import "errors"

func runMount(e *env, ff *fsFlags, mf *mountFlags, image, mountpoint string) error {
	return errors.New("coldsend mount needs FUSE: Linux, or macOS with macFUSE")
}
