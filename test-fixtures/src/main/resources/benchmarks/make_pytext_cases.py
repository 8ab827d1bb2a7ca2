"""Writes python_str_cases.json: what CPython's str methods, float() and int() return for tricky inputs.

Usage: python3 make_pytext_cases.py > python_str_cases.json   (any CPython 3.8+; written with 3.11)
PyTextTest checks org.mha2mla.evaluation.benchmarks.PyText against it.
"""
import json
import sys

INPUTS = [
    "", " ", "  B  ", "\tE.\n", "\u00a0blue\u00a0", "B\u0085", "B\u200b", "\u3000yes", "a\u2028b\u2029c",
    "\x1c\x1dx\x1e\x1f", "\u202f\u205fz", "one  two\tthree\n", "Stra\u00dfe", "BRAZ\u0130L", "\u0130", "\u03a3\u0391\u03a3",
    "\U0001d401x", "45", " 45 ", "+45", "-0", "1_200", "1__200", "_1", "1_", "4.5e1", ".45e2", "45.", ".", "e5", "1e", "1e1_0",
    "inf", "-Infinity", "nAn", "infinit", "1d", "0x10", "\u0664\u0665", "\u221245", "12.5", "1e400", "-1e400", "4.9e-325",
    "0.1", "2.675", "1,200", "\u00a045\u00a0", "١٢.٥", "+", "-", "--1", "+-1", "1 2", "12.5%",
]


def attempt(f, s):
    try:
        v = f(s)
    except ValueError:
        return None
    if isinstance(v, float):
        return repr(v)
    return v


cases = []
for s in INPUTS:
    cases.append({
        "input": s,
        "strip": s.strip(),
        "split": s.split(),
        "lower": s.lower(),
        "upper": s.upper(),
        "len": len(s),
        "upper_len": len(s.upper()),
        "float": attempt(float, s),
        "int": attempt(int, s),
        "rstrip_percent": s.rstrip("%"),
        "delete_punctuation": s.translate(str.maketrans("", "", __import__("string").punctuation)),
    })
json.dump({"python": sys.version.split()[0], "cases": cases}, sys.stdout, indent=1, ensure_ascii=True)
sys.stdout.write("\n")
