from perpscope.cli import main

raise SystemExit(main())
