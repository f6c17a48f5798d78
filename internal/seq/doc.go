// Package seq holds helpers for the iter.Seq2[T, error] iterators the
// library returns.
package seq
