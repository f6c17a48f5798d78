//go:build !linux && !darwin

package cli

func runMount(e *env, ff *fsFlags, mf *mountFlags, image, mountpoint string) error {
	return errNoFUSE
}
