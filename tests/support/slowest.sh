#!/usr/bin/env bash
# Print the slowest tests of a run from the test runner's JUnit report,
# so that CI's time budget stays visible, then the run's totals as the
# closing line.
#   slowest.sh JUNIT.xml [N]
set -euo pipefail
report=$1
count=${2:-15}
[ -f "$report" ] || { echo "slowest: no report at $report" >&2; exit 0; }
python3 - "$report" "$count" <<'PY'
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
cases = []
failed = skipped = 0
for case in root.iter("testcase"):
    t = float(case.get("time") or 0)
    cases.append((t, case.get("name", "?")))
    if case.find("failure") is not None or case.find("error") is not None:
        failed += 1
    elif case.find("skipped") is not None:
        skipped += 1
cases.sort(reverse=True)
total = sum(t for t, _ in cases)
print(f"slowest {min(len(cases), int(sys.argv[2]))} of {len(cases)} tests "
      f"({total:.0f} s of test time in all):")
for t, name in cases[: int(sys.argv[2])]:
    print(f"  {t:8.1f} s  {name}")
passed = len(cases) - failed - skipped
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY
