import sys

from void_daemon.cli import main

sys.exit(main())
