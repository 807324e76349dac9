from aftersales_kit.cli import main

raise SystemExit(main())
