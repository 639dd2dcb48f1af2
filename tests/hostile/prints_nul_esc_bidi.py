# base: correct_loops
# mode: grade
# A correct submission that prints NUL, ESC (a terminal escape) and a bidi override, at import and in
# a call. PostgreSQL's JSONB refused the report ("\u0000 cannot be converted to text"); the terminal
# and the page showed the raw escapes. Expected: full marks, the output shown escaped.
import sys as _sys

print("import:\x00NUL \x1b[2J\x1b]0;owned\x07 ESC \u202eevil\u202c bidi \x9b C1 \r CR")
_sys.stderr.write("stderr:\x00\x1b[31m red\u2066isolate\u2069\n")

_correct_naive = svm_loss_naive


def svm_loss_naive(W, X, y, reg):
    print("call:\x00\x1b[1A\u202e")
    return _correct_naive(W, X, y, reg)
