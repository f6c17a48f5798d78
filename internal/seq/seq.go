package seq

import "iter"

// Collect gathers what s yields until its first error.
func Collect[T any](s iter.Seq2[T, error]) ([]T, error) {
	var out []T
	for v, err := range s {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}
