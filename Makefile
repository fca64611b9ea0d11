# Lifeboat: the two commands of the README, and two more.
.PHONY: demo test package bench

demo:     ## every function against the local AWS emulator, printing the report emails
	scripts/demo.sh

test:     ## fmt, clippy -D warnings, all tests, template checks (what CI runs)
	scripts/test.sh

package:  ## sam build (cargo-lambda, arm64) into target/sam
	scripts/package.sh

bench:    ## performance figures for docs/PERFORMANCE.md (not a test)
	scripts/bench.sh
