from modelbox.cli import main

raise SystemExit(main())
