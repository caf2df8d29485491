#!/usr/bin/env python3
"""Counts passed and failed test cases of the test targets named on stdin.

Usage: bazel query 'tests(//...)' | test_summary.py TESTLOGS_DIR
Prints "PASSED FAILED". Each target's test.xml gives its cases (gtest and
pytest write one per test; Bazel writes one for other tests). A target with
no test.xml (it failed to build, or timed out) counts as one failure.
"""
import os
import sys
import xml.etree.ElementTree as ET


def count_target(xml_path):
    try:
        root = ET.parse(xml_path).getroot()
    except (OSError, ET.ParseError):
        return 0, 1
    passed = failed = 0
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is None:
            passed += 1
    if passed == 0 and failed == 0:
        failed = 1
    return passed, failed


def main():
    testlogs = sys.argv[1]
    passed = failed = 0
    for line in sys.stdin:
        label = line.strip()
        if not label.startswith("//"):
            continue
        package, _, name = label[2:].partition(":")
        p, f = count_target(os.path.join(testlogs, package, name, "test.xml"))
        passed += p
        failed += f
    print(passed, failed)


if __name__ == "__main__":
    main()
