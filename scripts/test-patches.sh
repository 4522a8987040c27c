#!/usr/bin/env bash
# Runs the tests that warren's patches to the modules in third_party add
# (the test files each third_party/NAME-patches/*.patch creates or
# changes), in each module: make test's proof that the patches
# still do what their READMEs say. The modules' own suites are run by hand
# when a patch changes (each README says how).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
status=0
for dir in third_party/*-patches; do
	mod=third_party/$(basename "$dir" -patches)
	[ -d "$mod" ] || continue
	# -race where the patches touch concurrency (goja, regexp2 and wazero
	# run one goroutine's code; goja's tests take a minute under -race)
	case $mod in
	*/badger | */raft | */memberlist) race=-race ;;
	*) race= ;;
	esac
	# package directory -> test names, from the test files the patches touch
	declare -A tests=()
	for f in $(grep -h '^+++ b/.*_test\.go' "$dir"/*.patch 2>/dev/null | sed 's#^+++ b/##' | sort -u); do
		[ -f "$mod/$f" ] || continue
		pkg=./$(dirname "$f")
		names=$(grep -o '^func Test[A-Za-z0-9_]*' "$mod/$f" | sed 's/^func //' | paste -sd'|' -)
		[ -n "$names" ] || continue
		tests[$pkg]="${tests[$pkg]:+${tests[$pkg]}|}$names"
	done
	for pkg in "${!tests[@]}"; do
		echo "$mod $pkg"
		if ! $GO -C "$mod" test -count=1 $race -timeout 10m -run "^(${tests[$pkg]})\$" "$pkg"; then
			status=1
		fi
	done
	unset tests
done
exit $status
