package oracle

import "github.com/coldsend/coldsend/internal/sendcheck"

// checkSends regenerates every kernel stream of the scenario in dir that
// sendgen supports and compares the bytes.
func checkSends(dir string) (checked int, err error) {
	fs, streams, err := sendcheck.Scenario(dir)
	if err != nil {
		return 0, err
	}
	for _, s := range streams {
		if err := sendcheck.Stream(fs, s); err != nil {
			return checked, err
		}
		checked++
	}
	return checked, nil
}
