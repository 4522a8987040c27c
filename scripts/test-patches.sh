#!/usr/bin/env bash
# Runs the tests that warren's patches to the modules in third_party add
# (each `func TestX` a third_party/NAME-patches/*.patch adds to a test
# file), in each module: make test's proof that the patches still do what
# their READMEs say. The modules' own suites are run by hand when a patch
# changes (each README says how).
#
#   scripts/test-patches.sh               every patched module
#   scripts/test-patches.sh raft badger   only these
#   scripts/test-patches.sh -raft         all but these
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
only=() skip=()
for a in "$@"; do
	case $a in
	-*) skip+=("${a#-}") ;;
	*) only+=("$a") ;;
	esac
done
status=0
for dir in third_party/*-patches; do
	name=$(basename "$dir" -patches)
	mod=third_party/$name
	[ -d "$mod" ] || continue
	if [ ${#only[@]} -gt 0 ] && [[ " ${only[*]} " != *" $name "* ]]; then continue; fi
	if [ ${#skip[@]} -gt 0 ] && [[ " ${skip[*]} " == *" $name "* ]]; then continue; fi
	# -race where the patches touch concurrency (goja, regexp2 and wazero
	# run one goroutine's code; goja's tests take a minute under -race)
	case $name in
	badger | raft | memberlist) race=-race ;;
	*) race= ;;
	esac
	# "pkg name" for each test function a patch adds
	pairs=$(awk '
		/^\+\+\+ b\// { f = substr($2, 3); next }
		f ~ /_test\.go$/ && match($0, /^\+func Test[A-Za-z0-9_]*\(/) {
			d = f; sub(/\/?[^\/]*$/, "", d); if (d == "") d = "."
			print "./" d, substr($0, RSTART + 6, RLENGTH - 7)
		}' "$dir"/*.patch | sort -u)
	[ -n "$pairs" ] || continue
	for pkg in $(echo "$pairs" | cut -d' ' -f1 | sort -u); do
		names=$(echo "$pairs" | awk -v p="$pkg" '$1 == p { print $2 }' | paste -sd'|' -)
		echo "$mod $pkg"
		if ! $GO -C "$mod" test -count=1 $race -timeout 10m -run "^($names)\$" "$pkg"; then
			status=1
		fi
	done
done
exit $status
