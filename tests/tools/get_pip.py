"""ansible-test's pip bootstrap script, offline (make sanity installs it as ~/.ansible/test/cache/get_pip_<ver>.py).

ansible-test fetches get-pip.py from a host this machine cannot reach, and runs it as __main__ in each new test
venv with get-pip.py's arguments. This does what get-pip.py does with the copy of pip it embeds: it runs pip from
the wheel of that version beside this file (downloaded by make sanity from the package index) and installs the
packages asked for. get-pip.py's own --no-setuptools and --no-wheel mean "not those too": pip takes no such option.
"""

import glob
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = os.path.splitext(os.path.basename(__file__))[0][len("get_pip_"):].replace("_", ".")

wheels = sorted(glob.glob(os.path.join(HERE, "pip-%s-*.whl" % VERSION)))
if not wheels:
    sys.exit("no pip %s wheel in %s: make sanity downloads it" % (VERSION, HERE))
sys.path.insert(0, wheels[0])

from pip._internal.cli.main import main  # noqa: E402 - importable only from the wheel put on sys.path above

sys.exit(main(["install"] + [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]))
