#!/usr/bin/python3
"""The man pages render without a warning, lexgrog finds their NAME, and every option a binary's
--help lists is in its page (and the other way round for the OPTIONS section).

Usage: test_man_pages.py --man-dir DIR --milter PATH --filter PATH --keys PATH --mailbox PATH
"""
import os
import re
import subprocess
import sys
import unittest

ARGS = None
PAGES = ["mdcrypt-milter.8", "mdcrypt-filter.1", "mdcrypt-keys.8", "mdcrypt-mailbox.8", "mdcrypt-milter.toml.5"]


def page(name):
    return os.path.join(ARGS.man_dir, name)


def options_in_help(binary):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, check=False)
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", out.stdout + out.stderr))


def options_in_page(name):
    with open(page(name)) as f:
        text = f.read().replace("\\-", "-")  # roff writes a hyphen-minus as \-
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text))


class ManPages(unittest.TestCase):
    def test_each_page_renders_without_warnings(self):
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "MANWIDTH": "80"}
        for name in PAGES:
            with self.subTest(page=name):
                r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", page(name)],
                                   capture_output=True, text=True, env=env)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr, "")
                self.assertIn("NAME", r.stdout)
                g = subprocess.run(["lexgrog", page(name)], capture_output=True, text=True)
                self.assertEqual(g.returncode, 0, g.stdout + g.stderr)
                self.assertIn(name.split(".")[0], g.stdout)

    def test_every_option_of_a_binary_is_in_its_page(self):
        for binary, name in ((ARGS.milter, "mdcrypt-milter.8"), (ARGS.filter, "mdcrypt-filter.1"),
                             (ARGS.keys, "mdcrypt-keys.8"), (ARGS.mailbox, "mdcrypt-mailbox.8")):
            with self.subTest(page=name):
                in_help = options_in_help(binary)
                self.assertIn("--config", in_help)  # the help was read
                missing = in_help - options_in_page(name)
                self.assertEqual(missing, set(), f"{name} lacks {sorted(missing)}")


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
    import unittest_main  # noqa: E402
    unittest_main.run(sys.modules[__name__], "--man-dir", "--milter", "--filter", "--keys", "--mailbox")
