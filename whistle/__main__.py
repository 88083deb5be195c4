from whistle.cli import main

raise SystemExit(main())
