import signal
import sys

from zoo.cli import main

code = main()
# The work is done and reported: a Ctrl-C now must not turn success into a
# crash while the interpreter (and Keras's backends) shut down.
signal.signal(signal.SIGINT, signal.SIG_IGN)
sys.exit(code)
