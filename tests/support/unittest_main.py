"""The one main of the command-line test scripts (filter, keytool): parses their options, runs the
module's unittest cases and prints the "N passed, N failed" line CI reads. Fails when nothing ran."""
import argparse
import sys
import unittest


def run(module, *options):
    """options: the required --name options of the script. Sets module.ARGS; exits with the result."""
    parser = argparse.ArgumentParser()
    for option in options:
        parser.add_argument(option, required=True)
    module.ARGS, rest = parser.parse_known_args()
    runner = unittest.main(module=module, argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    r = runner.result
    failed = len(r.failures) + len(r.errors)
    print(f"{r.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed or r.testsRun == 0 else 0)
