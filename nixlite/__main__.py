from nixlite.cli import main

raise SystemExit(main())
