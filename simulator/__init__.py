"""The embedded emulator: synthesized runbooks, real handlers, emulated AWS, simulated ACSO production."""

import os
import sys
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # before aws_cdk starts jsii

# Lambda puts the function asset (functions/) on the import path; so does the emulator.
_FUNCTIONS_DIR = str(Path(__file__).resolve().parent.parent / "functions")
if _FUNCTIONS_DIR not in sys.path:
    sys.path.insert(0, _FUNCTIONS_DIR)
