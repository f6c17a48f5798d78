// Package sendcheck regenerates a scenario's kernel send streams with
// sendgen and compares them byte for byte, for the fixture tests and the
// kernel oracle.
package sendcheck
