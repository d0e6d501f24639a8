"""Native tests of src/logic.py (`spore module test`); the twin suite
(host/tests/it/twins.rs) checks the built component against the Rust module."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import logic  # noqa: E402


def report(reporter, price):
    return reporter.to_bytes(8, "little") + price.to_bytes(8, "little", signed=True)


class LogicTest(unittest.TestCase):
    def test_drops_an_outlier(self):
        data = b"".join(report(i, p) for i, p in enumerate([100, 101, 102, 99, 10000]))
        out = logic.compute(data)
        self.assertEqual(int.from_bytes(out[0:8], "little", signed=True), 100)
        self.assertEqual((out[8], out[12]), (4, 1))

    def test_rejects_with_the_rust_twins_reasons(self):
        with self.assertRaisesRegex(logic.Malformed, "^input length 1 is not a multiple of 16$"):
            logic.compute(b"x")
        with self.assertRaisesRegex(logic.Malformed, "^no price reports$"):
            logic.compute(b"")
        with self.assertRaisesRegex(logic.Malformed, "^reporter 7 reported more than once$"):
            logic.compute(report(7, 1) + report(7, 2))


if __name__ == "__main__":
    unittest.main()
