import sys

from azura.cli import main

sys.exit(main())
