# base: correct_loops
# mode: check
# The file defines svm_loss_naive and deletes it at import time: genuinely missing when called, although
# the source has the def. Expected: a message that says both.
del svm_loss_naive
