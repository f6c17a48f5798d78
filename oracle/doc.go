// Package oracle holds the kernel oracle: tests that build btrfs scenarios
// with the running kernel (package internal/scenario) and check that
// coldsend reads exactly what the kernel recorded in the manifest
// (internal/fixturecheck).
//
// The tests only run when COLDSEND_ORACLE is set, because they need root,
// loop devices and btrfs:
//
//	COLDSEND_ORACLE=fresh   random scenarios from fresh seeds (make oracle),
//	                        each seed also as a random crash scenario;
//	                        COLDSEND_ORACLE_SEEDS sets how many (default 5)
//	COLDSEND_ORACLE=ci      a fixed list of seeds plus every named scenario
//	                        (make oracle-ci)
//	COLDSEND_ORACLE_SEED=N  only these seeds (comma-separated), in any mode
//	                        (make oracle SEED=N)
//	COLDSEND_ORACLE_KEEP=D  keep the scenario directory of every failing
//	                        case under D for inspection
//	COLDSEND_REQUIRE_ORACLE=1  fail instead of skipping when the machine
//	                        cannot run the oracle
//
// Both modes also build scenarios that commit many times and read them as
// of every recorded commit (the generations case, docs/GENERATIONS.md),
// reporting how many recorded commits survive and how many generations
// the scan finds beyond the backup roots.
//
// The run ends with a line "N passed, M failed"; every failing case names
// its seed and how to rerun it.
package oracle
